"""Universal Analytics endpoints: /collect (/r/collect, /j/collect), /batch, /debug/collect.

Answers as DESIGN.md's table: a 2xx for every hit Google would take the request for (valid
or not); invalid, unknown-property, disabled-property and disallowed-hostname hits are
counted by reason and not forwarded; 429 + Retry-After when a property is over its rate
limit in this task; 503 + Retry-After when Kinesis cannot take them; /debug/collect explains
every problem of every hit in Google's ``hitParsingResult`` format and never forwards
anything (nor takes from the rate limit).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import orjson

from collector import ua
from collector.enrich import REFERRER_SPAM
from collector.errors import Unavailable
from collector.http import GIF, NO_CACHE, RawRequest, Response, cors
from collector.ingest import (
    BATCH_TOO_LARGE,
    DISABLED_PROPERTY,
    INVALID_HIT,
    TOO_LARGE,
    UNKNOWN_PROPERTY,
    Incoming,
    Ingest,
    Outcome,
    Taken,
)
from collector.policy import DEFAULT_PRECISION, DISALLOWED_HOSTNAME, Policy
from collector.privacy import truncate_ip
from lambdalytics import hit as hitmod

MAX_POST_BYTES = 8192  # one payload
MAX_GET_URL_BYTES = 8000  # the whole encoded URL of a GET
MAX_BATCH_HITS = 20
MAX_BATCH_BYTES = 16 * 1024
PROTOCOL = "ua"

COLLECT_PATHS: frozenset[str] = frozenset({"/collect", "/r/collect", "/j/collect"})
BATCH_PATH: str = "/batch"
DEBUG_PATH: str = "/debug/collect"


def payloads(request: RawRequest) -> tuple[list[bytes], str | None]:
    """The hit payloads of a request, and the size problem that invalidates all of them."""
    if request.path == BATCH_PATH:
        lines = [line for line in request.body.split(b"\n") if line.strip()]
        if len(lines) > MAX_BATCH_HITS:
            return lines, f"A batch holds at most {MAX_BATCH_HITS} hits; this one has {len(lines)}."
        if len(request.body) > MAX_BATCH_BYTES:
            return lines, (f"A batch is at most {MAX_BATCH_BYTES} bytes; this one has "
                           f"{len(request.body)}.")
        longest = max((len(line) for line in lines), default=0)
        if longest > MAX_POST_BYTES:
            return lines, (f"A batch payload is at most {MAX_POST_BYTES} bytes; this batch has "
                           f"one of {longest}.")
        return lines, None
    if request.method == "POST" and request.body:
        if len(request.body) > MAX_POST_BYTES:
            return [request.body], (f"The payload is {len(request.body)} bytes; at most "
                                    f"{MAX_POST_BYTES} are allowed.")
        return [request.body], None
    url_bytes = len(request.path) + 1 + len(request.query)
    if url_bytes > MAX_GET_URL_BYTES:
        return [request.query], (f"The URL is {url_bytes} bytes; at most {MAX_GET_URL_BYTES} "
                                 "are allowed.")
    return [request.query], None


def _hit_id(payload: bytes, parsed: ua.ParsedHit) -> str:
    """Deterministic from the nonce z and the payload (less qt, which a retry may update)."""
    if not parsed.nonce:
        return hitmod.random_hit_id()
    if payload.find(b"qt=") >= 0:  # not "in", which raises and clears a TypeError first
        payload = b"&".join(p for p in payload.split(b"&") if not p.startswith(b"qt="))
    if payload.isascii():  # its latin-1 text encodes back to the same bytes: hash them as they are
        return hitmod.derived_hit_id_bytes(b"ua", payload)
    return hitmod.derived_hit_id("ua", payload.decode("latin-1"))


def _fields(parsed: ua.ParsedHit, payload: bytes, request: RawRequest) -> dict[str, Any]:
    fields = parsed.fields
    fields["hit_id"] = _hit_id(payload, parsed)
    received = hitmod.utc_ms(request.received)
    fields["received_time"] = received
    # exactly received − qt (subtracting seconds as a float first can be off by 1 ms)
    fields["event_time"] = (received - timedelta(milliseconds=parsed.queue_time_ms)
                            if parsed.queue_time_ms else received)
    fields["tracking_id"] = parsed.tracking_id
    fields["protocol"] = PROTOCOL
    return fields


def incoming(request: RawRequest) -> list[Incoming]:
    """The request's hits as the tail takes them (each payload too large, when the request
    is: counted under its claimed id)."""
    raw, size_problem = payloads(request)
    if size_problem is not None:
        reason = BATCH_TOO_LARGE if request.path == BATCH_PATH else TOO_LARGE
        return [Incoming(_claimed_tid(payload), problem=reason) for payload in raw or [b""]]
    hits = []
    for payload in raw:
        parsed = ua.parse_payload(payload)
        if not parsed.valid:
            hits.append(Incoming(parsed.tracking_id, problem=INVALID_HIT))
            continue
        hits.append(Incoming(parsed.tracking_id, _fields(parsed, payload, request),
                             ip_override=parsed.ip_override, ua_override=parsed.ua_override,
                             anonymize=parsed.anonymize_ip))
    return hits


async def handle(ingest: Ingest, request: RawRequest) -> Response:
    """/collect, /r/collect, /j/collect and /batch."""
    taken = await ingest.take(PROTOCOL, request, incoming(request))
    return refusal(request, taken) or _ok(request, taken.cors)


def _claimed_tid(payload: bytes) -> str:
    start = payload.find(b"tid=")
    if start < 0 or (start > 0 and payload[start - 1:start] != b"&"):
        return ""
    end = payload.find(b"&", start)
    return payload[start + 4:end if end >= 0 else None][:64].decode("ascii", "replace")


def _ok(request: RawRequest, granted: bool) -> Response:
    if not request.origin:  # nothing to add: the same answer every time (never modified)
        return _GET_OK if request.method == "GET" else _POST_OK
    if request.method == "GET":
        return cors(request, Response(200, GIF, b"image/gif", list(NO_CACHE)), granted)
    # a POST answer is never cached anyway; one header keeps old proxies honest
    return cors(request, Response(200, b"", None, [NO_CACHE[0]]), granted)


_GET_OK = Response(200, GIF, b"image/gif", list(NO_CACHE))
_POST_OK = Response(200, b"", None, [NO_CACHE[0]])


# a tag on another origin may read Retry-After (our tracker honours it)
_EXPOSE = (b"access-control-expose-headers", b"retry-after")


def refusal(request: RawRequest, taken: Taken) -> Response | None:
    """The 429 or 503 a request's hits got from the tail (every protocol's), else None."""
    if taken.wait:
        return rate_limited(request, taken.wait, taken.cors)
    if taken.unavailable is not None:
        return unavailable(request, taken.unavailable, taken.cors)
    return None


def rate_limited(request: RawRequest, wait: float, granted: bool = True) -> Response:
    return cors(request, Response(429, b"Too Many Requests\n", b"text/plain; charset=utf-8",
                                  [(b"retry-after", str(max(1, math.ceil(wait))).encode()),
                                   _EXPOSE]), granted)


def unavailable(request: RawRequest, exc: Unavailable, granted: bool = True) -> Response:
    return cors(request, Response(503, b"Service Unavailable\n", b"text/plain; charset=utf-8",
                                  [(b"retry-after", str(exc.retry_after).encode()), _EXPOSE]),
                granted)


async def debug(ingest: Ingest, request: RawRequest) -> Response:
    """/debug/collect: every problem of every hit, Google's JSON, nothing forwarded."""
    raw, size_problem = payloads(request)
    parsed_hits = [] if size_problem is not None else [ua.parse_payload(p) for p in raw]
    hits = [Incoming(p.tracking_id, _fields(p, payload, request), ip_override=p.ip_override,
                     ua_override=p.ua_override, anonymize=p.anonymize_ip)
            if p.valid else Incoming(p.tracking_id, problem=INVALID_HIT)
            for p, payload in zip(parsed_hits, raw if parsed_hits else [], strict=True)]
    taken = await ingest.take(PROTOCOL, request, hits, record=False)
    if taken.unavailable is not None:
        return unavailable(request, taken.unavailable, taken.cors)
    results: list[dict[str, Any]] = []
    for i, payload in enumerate(raw):
        text = payload.decode("utf-8", "replace")
        messages: list[ua.Message] = []
        if size_problem is not None:
            messages.append(ua.Message("ERROR", "VALUE_OUT_OF_BOUNDS", size_problem))
        else:
            parsed, out = parsed_hits[i], taken.outcomes[i]
            messages.extend(parsed.messages)
            if parsed.valid:
                messages.extend(_outcome_messages(parsed, out, request))
            ip, overridden = ingest.enricher.address(request, parsed.ip_override)
            if (parsed.anonymize_ip or overridden) and ip:
                messages.extend(_anonymized_message(ip, out.policy))
        valid = not any(m.type == "ERROR" for m in messages)
        results.append({"valid": valid, "hit": f"{request.path}?{text}",
                        "parserMessage": [m.json() for m in messages]})
    n = len(results)
    body = {
        "hitParsingResult": results,
        "parserMessage": [{"messageType": "INFO",
                           "description": f"Found {n} hit{'s' if n != 1 else ''} in the request."}],
    }
    return cors(request, Response(200, orjson.dumps(body), b"application/json; charset=utf-8",
                                  list(NO_CACHE)), taken.cors)


def _outcome_messages(parsed: ua.ParsedHit, out: Outcome, request: RawRequest) -> list[ua.Message]:
    """What production decides for a valid hit: its property, hostname, bot or spam verdict."""
    if out.reason in (UNKNOWN_PROPERTY, DISABLED_PROPERTY):
        return [_property_message(parsed.tracking_id, out.reason)]
    if out.reason == DISALLOWED_HOSTNAME:
        return [_hostname_message(out.where or "page", parsed, request)]
    if out.reason == REFERRER_SPAM:
        return [ua.Message("WARN", "HIT_FILTERED", "The referrer is on the referrer-spam list; "
                           "the hit is not recorded.", "dr")]
    if out.reason is not None:
        return [ua.Message("WARN", "HIT_FILTERED", f"The hit comes from a bot "
                           f"({out.bot_reason}); it is not recorded.", "ua")]
    if out.bot_reason is not None:
        return [ua.Message("INFO", "HIT_FLAGGED", f"The hit comes from a bot "
                           f"({out.bot_reason}); it is recorded flagged.", "ua")]
    return []


def _anonymized_message(ip: str, policy: Policy | None) -> list[ua.Message]:
    prefixes = (policy.precision if policy is not None else DEFAULT_PRECISION).prefixes
    if prefixes is None:
        return [ua.Message("INFO", "VALUE_MODIFIED", "IP Address from this hit is not kept "
                           "(the property keeps no address).", "aip")]
    masked = truncate_ip(ip, *prefixes)
    if masked is None:
        return []
    return [ua.Message("INFO", "VALUE_MODIFIED",
                       f"IP Address from this hit was anonymized to {masked}.", "aip")]


def _hostname_message(where: str, parsed: ua.ParsedHit, request: RawRequest) -> ua.Message:
    if where == "origin":
        return ua.Message("WARN", "HIT_FILTERED", f"The request's Origin ({request.origin}) is "
                          "not among the property's allowed hostnames; the hit is not recorded.")
    host = parsed.fields.get("page_hostname")
    if host is None:
        return ua.Message("WARN", "HIT_FILTERED", "The hit names no page hostname (dh or dl) and "
                          "the property allows only some; the hit is not recorded.", "dh")
    return ua.Message("WARN", "HIT_FILTERED", f"The page hostname ({host}) is not among the "
                      "property's allowed hostnames; the hit is not recorded.", "dh")


def _property_message(tracking_id: str, reason: str) -> ua.Message:
    if reason == "disabled_property":
        what = "belongs to a disabled property"
    else:
        what = "is not registered with this collector"
    return ua.Message("ERROR", "VALUE_INVALID",
                      f"The value provided for parameter 'tid' ({tracking_id}) {what}; the hit "
                      f"is not recorded. {ua.HELP.format(p='tid')}", "tid")
