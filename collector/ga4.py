"""GA4 endpoints: /g/collect (gtag.js as browsers send it), /mp/collect and /debug/mp/collect
(the GA4 Measurement Protocol).

Each is its protocol's parser (:mod:`collector.gtag`, :mod:`collector.mp`) and an answer
over the one tail every protocol shares (:meth:`collector.ingest.Ingest.take`), as
DESIGN.md's table says: 204 for every request Google would take (valid or not: invalid
events are dropped and counted by reason), 429 + Retry-After when the property is over its
rate limit, 503 + Retry-After when Kinesis cannot take the events. /debug/mp/collect
answers Google's ``validationMessages`` and forwards nothing.

A Measurement Protocol request authenticates with its API secret (checked against the
property's secrets, in constant time), so the property's allowed hostnames do not apply to
it: a server sends it, with no Origin and often no page. Its ``device`` object and
``user_location`` win over detection from the agent and the address.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from collector import gtag, mp
from collector.collect import refusal, unavailable
from collector.http import NO_CACHE, RawRequest, Response, cors
from collector.ingest import (
    DISABLED_PROPERTY,
    INVALID_API_SECRET,
    INVALID_HIT,
    UNKNOWN_PROPERTY,
    Incoming,
    Ingest,
    Taken,
)

GTAG_PATH = "/g/collect"
MP_PATH = "/mp/collect"
MP_DEBUG_PATH = "/debug/mp/collect"

# the MP ``device`` object's fields: the sender's word wins over detection from the agent
DEVICE_OVERRIDES = frozenset({"device_category", "language", "screen_resolution", "os",
                              "os_version", "device_model", "device_brand", "browser",
                              "browser_version"})


def _received(request: RawRequest) -> datetime:
    return datetime.fromtimestamp(request.received, UTC)


def _answer(request: RawRequest, taken: Taken) -> Response:
    # an Origin the property does not allow gets no CORS grant (Taken.cors): its page may not
    # read the answer; the hits were filtered and counted all the same
    return refusal(request, taken) or cors(request, Response(204, headers=[NO_CACHE[0]]),
                                           taken.cors)


def gtag_incoming(request: RawRequest) -> list[Incoming]:
    """The request's events as the tail takes them; one whose only problem is a missing
    ``cid`` is valid for a cookieless property (the collector makes the id: our tracker
    sends none there), invalid for any other."""
    out = []
    for e in gtag.parse_request(request.query, request.body, received=_received(request)):
        if e.valid or e.problems == [gtag.NO_CLIENT_ID]:
            out.append(Incoming(e.tracking_id, e.fields, hints=e.hints,
                                needs_client_id=not e.valid))
        else:
            out.append(Incoming(e.tracking_id, problem=INVALID_HIT))
    return out


async def handle_gtag(ingest: Ingest, request: RawRequest) -> Response:
    """/g/collect: query-only hits and batched bodies, one event per line."""
    return _answer(request, await ingest.take(gtag.PROTOCOL, request, gtag_incoming(request)))


def mp_incoming(parsed: mp.MpRequest) -> list[Incoming]:
    """The request's events as the tail takes them; an invalid request is one invalid hit."""
    if parsed.problem is not None:
        return [Incoming(parsed.tracking_id, problem=INVALID_HIT)]
    hits = []
    for event in parsed.events:
        fields = event.fields
        overrides = {k: fields.pop(k) for k in DEVICE_OVERRIDES & fields.keys()}
        hits.append(Incoming(parsed.tracking_id, fields, ip_override=parsed.ip_override,
                             ua_override=parsed.ua_override, secret=parsed.api_secret,
                             overrides=overrides or None))
    hits += [Incoming(parsed.tracking_id, problem=INVALID_HIT) for _ in parsed.dropped]
    return hits


def _mp_request(request: RawRequest) -> mp.MpRequest:
    return mp.parse_request(request.query, request.body, received=_received(request))


async def handle_mp(ingest: Ingest, request: RawRequest) -> Response:
    """/mp/collect: 204 whatever the payload, as Google; the events go through the tail."""
    return _answer(request, await ingest.take(mp.PROTOCOL, request,
                                              mp_incoming(_mp_request(request))))


async def debug_mp(ingest: Ingest, request: RawRequest) -> Response:
    """/debug/mp/collect: Google's validationMessages; nothing forwarded or counted. Beyond
    Google's validation server, it also says when the property is unknown or disabled, the
    API secret is not the property's, or an event would be filtered (bot, spam)."""
    parsed = _mp_request(request)
    messages = list(parsed.messages)
    granted = True
    if parsed.problem is None and parsed.events:
        taken = await ingest.take(mp.PROTOCOL, request, mp_incoming(parsed), record=False)
        if taken.unavailable is not None:
            return unavailable(request, taken.unavailable, taken.cors)
        messages += _outcome_messages(parsed, taken)
        granted = taken.cors
    body = {"validationMessages": [m.json() for m in messages]}
    return cors(request, Response(200, orjson.dumps(body), b"application/json; charset=utf-8",
                                  list(NO_CACHE)), granted)


def _outcome_messages(parsed: mp.MpRequest, taken: Taken) -> list[mp.ValidationMessage]:
    reasons = [out.reason for out in taken.outcomes[:len(parsed.events)]]
    first = next((r for r in reasons if r is not None), None)
    if first in (UNKNOWN_PROPERTY, DISABLED_PROPERTY):
        what = "is not registered with this collector" if first == UNKNOWN_PROPERTY \
            else "belongs to a disabled property"
        name = "firebase_app_id" if parsed.tracking_id[:1].isdigit() else "measurement_id"
        return [mp.ValidationMessage(name, f"The value provided for parameter [{name}] "
                                     f"({parsed.tracking_id}) {what}; the events are not "
                                     "recorded.", "VALUE_INVALID")]
    if first == INVALID_API_SECRET:
        return [mp.ValidationMessage("api_secret", "The value provided for parameter "
                                     "[api_secret] is not an API secret of this property; "
                                     "the events are not recorded.", "VALUE_INVALID")]
    out: list[mp.ValidationMessage] = []
    for event, outcome in zip(parsed.events, taken.outcomes, strict=False):
        if outcome.reason is not None:
            why = (f"comes from a bot ({outcome.bot_reason})" if outcome.bot_reason
                   else f"is filtered ({outcome.reason})")
            out.append(mp.ValidationMessage(
                "events", f"Event at index: [{event.index}] {why}; it is not recorded.",
                "VALUE_INVALID"))
    return out
