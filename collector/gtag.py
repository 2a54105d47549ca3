"""gtag.js hits to ``/g/collect`` (reference/ga-protocols.md §3): one request → its events on
the Hit, with every problem found. Pure (no I/O), table-driven, never raises.

An empty or blank body: one event, from the query. Otherwise each non-blank body line is one
event, its params the query's overridden by the line's (§3.2); payloads decode as UA's do,
invalid UTF-8 replaced. ``problems`` is what invalidates an event (counted, not forwarded);
``notes`` what was dropped or cut, as GA4 processing silently drops what exceeds its limits.

Decisions where Google documents nothing (§3.4, §5):
- :data:`MAX_EVENTS` (GA4 MP's figure) events per request: later lines are invalid, unread;
  ``index`` is the line's number in the body, blank lines counted;
- within a payload a repeated key keeps its first value (as UA); an empty value is absent,
  but ``_fv`` / ``_ss`` count by presence;
- ``cid`` may be missing only on a cookieless ping. ``gcs`` is ``G1``, the ad_storage digit,
  the analytics_storage digit (1 granted, 0 denied): analytics denied is ``gcs[3] == "0"``
  (G100, G110). Sources: d8a ``pkg/protocol/ga4/columns_privacy.go`` (ads / analytics storage
  at gcs[2] / gcs[3]); conma.lat "GCS codes G100, G111". ``gcd`` has no Hit field: ignored;
- lengths are characters; long values are cut, but a ``uid`` over 256 is dropped (a cut id
  is someone else's); ``cid``, ``sid`` and click ids are not cut;
- ep./epn. count together to 25, in payload order; a bad name or an epn. that is no finite
  number is dropped and not counted; likewise up./upn.;
- transaction_* come from ep./epn. on purchase and refund only (elsewhere ``value``,
  ``coupon`` … stay event params); ``dp`` sets ``page_path`` as ``dh`` sets ``page_hostname``;
- an item needs ``id`` or ``nm``; ≤ 27 custom params per item (help centre; MP says 10, §4.8);
- unknown params (``gtm``, ``tag_exp``, ``_eu``, ``tfd``, ``gcd`` …) are ignored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from collector.device import MAX_BRANDS, MAX_HINT_LENGTH
from collector.ua import from_location, payload_pairs
from lambdalytics.hit import Item, derived_hit_id, random_hit_id, utc_ms

PROTOCOL = "gtag"
MAX_EVENTS = 25  # per request
MAX_EVENT_PARAMS = MAX_USER_PROPERTIES = 25  # per event
MAX_ITEM_INDEX, MAX_ITEM_PARAMS = 200, 27  # pr1…pr200; custom params per item
VALUE_MAX, USER_PROPERTY_VALUE_MAX, USER_ID_MAX = 100, 36, 256  # characters

TRACKING_ID = re.compile(r"G-[A-Z0-9]+\Z")
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}\Z")  # events, params, item params
USER_PROPERTY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,23}\Z")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?\Z")
_COUNT = re.compile(r"[0-9]{1,18}\Z")
_HIT_TYPES = {"page_view": "pageview", "purchase": "transaction"}
_TRANSACTIONS = frozenset({"purchase", "refund"})

# Text parameters → (Hit field, maximum length in characters; 0: none).
TEXT: dict[str, tuple[str, int]] = {
    "cid": ("client_id", 0), "sid": ("session_id", 0),
    "dl": ("page_location", 1000), "dr": ("page_referrer", 420), "dt": ("page_title", 300),
    "dh": ("page_hostname", VALUE_MAX), "dp": ("page_path", 1000),
    "ul": ("language", VALUE_MAX), "sr": ("screen_resolution", VALUE_MAX),
    "cs": ("campaign_source", VALUE_MAX), "cm": ("campaign_medium", VALUE_MAX),
    "cn": ("campaign_name", VALUE_MAX), "cc": ("campaign_content", VALUE_MAX),
    "ck": ("campaign_term", VALUE_MAX), "ci": ("campaign_id", VALUE_MAX),
    "gclid": ("gclid", 0), "dclid": ("dclid", 0),
    "gcs": ("consent_state", VALUE_MAX), "cu": ("currency", VALUE_MAX),
}
COUNTS: dict[str, str] = {"sct": "session_number", "_et": "engagement_time_ms"}
FLAGS: dict[str, str] = {"_fv": "first_visit", "_ss": "session_start"}
# Event params that are transaction fields on purchase / refund: ep. ones, then epn. ones.
TRANSACTION_TEXT = {"transaction_id": "transaction_id", "affiliation": "transaction_affiliation",
                    "coupon": "transaction_coupon"}
TRANSACTION_NUM = {"value": "transaction_revenue", "tax": "transaction_tax",
                   "shipping": "transaction_shipping"}
# Item keys (pr<n> = key value ~ key value …) → (Item field or params name, kind).
ITEM_KEYS: dict[str, tuple[str, str]] = {
    "id": ("item_id", "text"), "nm": ("item_name", "text"), "br": ("item_brand", "text"),
    "ca": ("item_category", "text"), "va": ("item_variant", "text"), "cp": ("coupon", "text"),
    "ln": ("list_name", "text"), "pr": ("price", "number"), "qt": ("quantity", "count"),
    "lp": ("position", "count"), **{f"c{n}": (f"item_category{n}", "param") for n in range(2, 6)},
    **{key: (name, "param") for key, name in (
        ("li", "item_list_id"), ("ds", "discount"), ("af", "affiliation"), ("lo", "location_id"),
        ("cn", "creative_name"), ("cs", "creative_slot"), ("pi", "promotion_id"),
        ("pn", "promotion_name"))},
}
_CUSTOM = re.compile(r"([kv])([0-9]+)(.*)\Z", re.DOTALL)
HINT_PARAMS = frozenset({"uaa", "uab", "uafvl", "uamb", "uam", "uap", "uapv", "uaw"})
# the one problem a cookieless property forgives: the collector derives the id itself
NO_CLIENT_ID = "parameter 'cid' is required unless analytics_storage is denied (gcs)"


@dataclass(slots=True)
class GtagEvent:
    index: int  # body line index (0 for a query-only hit)
    tracking_id: str  # tid as sent ("" when missing)
    fields: dict[str, Any]  # Hit fields, only set ones
    problems: list[str]  # non-empty: the event is invalid (counted, not forwarded)
    hints: tuple[bytes, ...] | None  # collector.device.hint_values order; None: no uaa… params
    notes: list[str] = field(default_factory=list)  # what was dropped or cut

    @property
    def valid(self) -> bool:
        return not self.problems


def parse_request(query: bytes, body: bytes, *, received: datetime) -> list[GtagEvent]:
    """The events of one ``/g/collect`` request. Never raises."""
    at = utc_ms(received.timestamp())
    shared, replaced = _params(query)
    hints = _hints(shared)  # a line rarely sends its own: then it keeps the query's
    if not body.strip():
        return [_event(0, shared, replaced, at, hints)]
    events: list[GtagEvent] = []
    for index, raw in enumerate(body.split(b"\n")):
        line = raw.strip(b"\r")
        if not line.strip():
            continue
        if len(events) >= MAX_EVENTS:
            events.append(GtagEvent(index, shared.get("tid", ""), {}, [
                f"more than {MAX_EVENTS} events in one request: line {index} was not read"], None))
            continue
        own, line_replaced = _params(line)
        p = {**shared, **own}
        events.append(_event(index, p, replaced or line_replaced, at,
                             hints if HINT_PARAMS.isdisjoint(own) else _hints(p)))
    return events


def _params(payload: bytes) -> tuple[dict[str, str], bool]:
    """Decoded parameters, the first value of a repeated key winning; and whether invalid
    UTF-8 was replaced. fast-query-parsers leaves a pair it cannot decode whole in its key."""
    if payload.isascii():
        pairs = payload_pairs(payload)
        if not any("=" in key for key, _ in pairs):
            return _first(pairs), False
    decoded = [(_decode(key), _decode(value)) for key, _, value in
               (part.partition(b"=") for part in payload.split(b"&") if part)]
    return _first(decoded), any("\ufffd" in k + v for k, v in decoded)


def _decode(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")


def _first(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def _event(index: int, p: dict[str, str], replaced: bool, at: datetime,
           hints: tuple[bytes, ...] | None) -> GtagEvent:
    tid = p.get("tid", "")
    ev = GtagEvent(index, tid, {"protocol": PROTOCOL}, [], hints)
    f = ev.fields
    if replaced:
        ev.notes.append("invalid UTF-8 in the payload was replaced")
    version = p.get("v")
    if version is None:
        ev.problems.append("parameter 'v' is required")
    elif version != "2":
        ev.problems.append(f"parameter 'v' must be 2, not {_shown(version)}")
    if not tid:
        ev.problems.append("parameter 'tid' (measurement id) is required")
    elif not TRACKING_ID.match(tid):
        ev.problems.append(f"parameter 'tid' is not a G-… measurement id: {_shown(tid)}")
    else:
        f["tracking_id"] = tid
    name = p.get("en", "")
    if not name:
        ev.problems.append("parameter 'en' (event name) is required")
    elif not NAME.match(name):
        ev.problems.append(f"event name {_shown(name)} must be a letter then up to 39 letters, "
                           "digits or underscores")
    else:
        f["event_name"] = name
        f["type"] = _HIT_TYPES.get(name, "event")
    f["hit_id"] = (derived_hit_id(PROTOCOL, tid, p.get("cid", ""), p["_p"], p["_s"], str(index), name)
                   if p.get("_p") and p.get("_s") else random_hit_id())
    f["received_time"] = f["event_time"] = at
    params: list[tuple[str, str]] = []
    items: dict[int, str] = {}
    for key, value in p.items():
        if key in FLAGS:
            f[FLAGS[key]] = True  # presence counts, as gtag sends _fv=1 / _ss=1
        elif not value:
            continue
        elif key in TEXT:
            fld, limit = TEXT[key]
            f[fld] = _cut(ev, key, value.lower() if key == "ul" else value, limit)
        elif key in COUNTS:
            if _COUNT.match(value):
                f[COUNTS[key]] = int(value)
            else:
                ev.notes.append(f"{key}: not a non-negative integer, dropped")
        elif key.startswith(("ep.", "epn.", "up.", "upn.")):
            params.append((key, value))
        elif key[:2] == "pr" and key[2:].isdigit() and key.isascii():
            if len(key) <= 5 and 1 <= int(key[2:]) <= MAX_ITEM_INDEX:
                items[int(key[2:])] = value
            else:
                ev.notes.append(f"{_shown(key)}: item index out of 1–{MAX_ITEM_INDEX}, dropped")
        elif key == "uid":
            if len(value) <= USER_ID_MAX:
                f["user_id"] = value
            else:
                ev.notes.append(f"uid: longer than {USER_ID_MAX} characters, dropped")
        elif key == "seg":
            f["session_engaged"] = value == "1"
        elif key == "npa" and value in ("0", "1"):
            f["non_personalized_ads"] = value == "1"
    if "client_id" not in f and not _cookieless(p.get("gcs", "")):
        ev.problems.append(NO_CLIENT_ID)
    _event_params(ev, params, name in _TRANSACTIONS)
    if items:
        built = [_item(ev, f"pr{i}", items[i]) for i in sorted(items)]
        if found := tuple(i for i in built if i is not None):
            f["items"] = found
    if "page_location" in f and ("page_hostname" not in f or "page_path" not in f):
        from_location(f)
    return ev


def _cookieless(gcs: str) -> bool:
    """analytics_storage denied: ``G1`` + ad_storage + analytics_storage digit 0."""
    return len(gcs) == 4 and gcs[:2] == "G1" and gcs[3] == "0"


def _shown(value: str) -> str:
    return repr(value[:40] + "…" if len(value) > 40 else value)


def _cut(ev: GtagEvent, label: str, value: str, limit: int) -> str:
    if limit and len(value) > limit:
        ev.notes.append(f"{_shown(label)}: longer than {limit} characters, truncated")
        return value[:limit]
    return value


def _number(value: str) -> float | None:
    number = float(value) if _NUMBER.match(value) else math.nan
    return number if math.isfinite(number) else None


def _event_params(ev: GtagEvent, params: list[tuple[str, str]], transaction: bool) -> None:
    """ep. / epn. → event params (or transaction fields), up. / upn. → user properties."""
    f = ev.fields
    counts = {"e": 0, "u": 0}
    for key, value in params:
        prefix, _, name = key.partition(".")
        user, numeric = prefix[0] == "u", prefix.endswith("n")
        if not (USER_PROPERTY_NAME if user else NAME).match(name):
            ev.notes.append(f"{_shown(key)}: not a valid name, dropped")
            continue
        number = _number(value) if numeric else None
        if numeric and number is None:
            ev.notes.append(f"{_shown(key)}: not a number, dropped")
            continue
        if counts[prefix[0]] == MAX_EVENT_PARAMS:  # == MAX_USER_PROPERTIES
            ev.notes.append(f"{_shown(key)}: over 25 {'user properties' if user else 'params'}, dropped")
            continue
        counts[prefix[0]] += 1
        if user:
            target = "user_properties_num" if numeric else "user_properties"
            f.setdefault(target, {})[name] = (
                number if numeric else _cut(ev, key, value, USER_PROPERTY_VALUE_MAX))
        elif numeric:
            if transaction and name in TRANSACTION_NUM:
                f[TRANSACTION_NUM[name]] = number
            else:
                f.setdefault("event_params_num", {})[name] = number
        elif transaction and name in TRANSACTION_TEXT:
            f[TRANSACTION_TEXT[name]] = _cut(ev, key, value, VALUE_MAX)
        else:
            f.setdefault("event_params", {})[name] = _cut(ev, key, value, VALUE_MAX)


def _item(ev: GtagEvent, label: str, raw: str) -> Item | None:
    """One ``pr<n>`` value: ``~``-separated ``<key><value>`` parts, custom params as
    ``k<i><name>~v<i><value>``."""
    values: dict[str, Any] = {}
    params: dict[str, str] = {}
    names: dict[str, str] = {}
    custom_values: list[tuple[str, str]] = []
    for part in raw.split("~"):
        key, value = part[:2], part[2:]
        if (m := _CUSTOM.match(part)) is not None:
            if m.group(1) == "v":
                custom_values.append((m.group(2), m.group(3)))
            elif m.group(3):
                names.setdefault(m.group(2), m.group(3))
        elif key in ITEM_KEYS and value:
            fld, kind = ITEM_KEYS[key]
            if kind in ("text", "param"):
                (values if kind == "text" else params)[fld] = _cut(ev, label + key, value, VALUE_MAX)
                continue
            number = _number(value) if kind == "number" else int(value) if _COUNT.match(value) else None
            if number is None:
                ev.notes.append(f"{label}{key}: not a {kind}, dropped")
            else:
                values[fld] = number
    custom = 0
    for digits, rest in custom_values:
        # v<i><value>: <i> is the longest prefix of the digits that some k<i> names
        index = next((digits[:n] for n in range(len(digits), 0, -1) if digits[:n] in names), None)
        if index is None:
            ev.notes.append(f"{label}: custom value v{_shown(digits)} has no name, dropped")
            continue
        name, value = names[index], digits[len(index):] + rest
        if value and (not NAME.match(name) or custom == MAX_ITEM_PARAMS):
            ev.notes.append(f"{label}: custom param {_shown(name)} invalid or over 27, dropped")
        elif value:
            custom += 1
            params[name] = _cut(ev, f"{label}.{name}", value, VALUE_MAX)
    if "item_id" not in values and "item_name" not in values:
        ev.notes.append(f"{label}: an item needs id or nm, dropped")
        return None
    return Item(list_kind="product", params=params, **values)


def _hints(p: dict[str, str]) -> tuple[bytes, ...] | None:
    """The uaa… params as the six Sec-CH-UA header values (hint_values order), in structured-
    field syntax, read as ClientHints.from_gtag_params reads them: ClientHints.from_values gives
    the same hints, for values whose header form is Latin-1 within MAX_HINT_LENGTH (all real ones)."""
    if HINT_PARAMS.isdisjoint(p):
        return None
    brands: list[str] = []
    full: list[str] = []
    for item in p.get("uafvl", "")[:MAX_HINT_LENGTH].split("|")[:MAX_BRANDS]:
        brand, _, version = item.rpartition(";")
        brand = unquote(brand)
        if brand.strip():
            full.append(f"{_sf(brand)};v={_sf(version)}")
            brands.append(f"{_sf(brand)};v={_sf(version.strip()[:32].partition('.')[0])}")
    mobile = {"1": "?1", "0": "?0"}.get(p.get("uamb", "").strip(), "")
    platform, platform_version, model = (
        _sf(p.get(n, "")[:MAX_HINT_LENGTH].strip()) for n in ("uap", "uapv", "uam"))
    values = (", ".join(brands), mobile, platform, platform_version, model, ", ".join(full))
    return tuple(v.encode("latin-1", "replace")[:MAX_HINT_LENGTH] for v in values)


def _sf(value: str) -> str:
    """An RFC 8941 string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
