"""GA4 Measurement Protocol: one ``POST /mp/collect`` (or ``/debug/mp/collect``) request → the
Hit fields of each event to forward, and every problem found, in Google's debug format.

Pure (no I/O), table-driven from :mod:`collector.mp_rules` (STYLE.md §3); never raises. The
tail checks the API secret against the property and sets ``property_id``; here only presence.

Descriptions: only these are Google's verbatim (ga-protocols.md §2.6): "Post body must be
smaller than 130kBs", "Measurement requires a client_id.", "Unable to find non-empty parameter
[api_secret] value in request." (and the same for [measurement_id]), and the documented
``_badEventName`` example ("Event at index: [0] has invalid name [_badEventName]. Names must
start with an alphabetic character.", NAME_INVALID). "Only alphanumeric characters and
underscores are allowed." is from responses recorded by a third party. Every other text follows
their pattern, and the code Google gives for each other limit is not confirmed (§5). Ours:
counts → EXCEEDED_MAX_ENTITIES, value lengths → VALUE_OUT_OF_BOUNDS, names (their length too)
→ NAME_INVALID, reserved names → NAME_RESERVED, missing → VALUE_REQUIRED, wrong type or format
→ VALUE_INVALID. NAME_DUPLICATED is never produced: orjson keeps the last of duplicated keys.

Behaviour (``validation_behavior``, or camelCase ``validationBehavior``; RELAXED by default):
- the whole request is invalid (``problem`` set, nothing forwarded, ``dropped`` empty: the tail
  counts the request once) for a missing api_secret, a missing, malformed or doubled stream id,
  a body over :data:`MAX_BODY_BYTES` or not a JSON object, no client id, no events;
- an event is dropped in both behaviours when it is not an object, its name is missing, bad or
  reserved, or its ``params`` is not an object; events past the 25th are dropped;
- a param, item or item param over a limit, badly named or of the wrong type is ignored under
  RELAXED (message recorded, event kept) and drops the event under ENFORCE_RECOMMENDATIONS;
- ``timestamp_micros`` (per event: ``events[i].timestamp_micros``, else in its params; then the
  request's; then the receive time) more than 60 s ahead of us (our clock-skew allowance) is
  ignored under RELAXED, older than 72 h is clamped to receive time − 72 h with no message; under
  ENFORCE either drops the event (a user property's drops the property);
- request-level values (user_id, user_properties, consent, user_location, device, …) that are
  wrong are ignored with a message in both behaviours: they are not events;
- bool params are stored as the strings "true" / "false" (not a documented type, §2.7); null,
  objects and arrays (other than ``items``) are the wrong type; a null user property is
  skipped silently (Firebase's way to clear one); empty strings are left unset;
- ``user_data`` (hashed PII) is checked to be an object and never stored; ``device.*`` and
  ``user_location.*`` fields override the tail's User-Agent and IP lookups; ``ip_override`` and
  ``user_agent`` are passed on as sent (Google ignores them when user_location / device is set).
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from typing import Any
from urllib.parse import parse_qsl

import orjson

from collector import mp_rules as R
from collector.mp_events import events
from collector.mp_parser import (
    EXCEEDED_MAX_ENTITIES,
    ITEMS_PATH,
    MAX_BODY_BYTES,
    NAME_DUPLICATED,
    NAME_INVALID,
    NAME_RESERVED,
    PARAMS_PATH,
    PROTOCOL,
    VALUE_INVALID,
    VALUE_OUT_OF_BOUNDS,
    VALUE_REQUIRED,
    MpEvent,
    MpRequest,
    Parser,
    ValidationMessage,
)
from lambdalytics.properties import FIREBASE_APP_ID, GA4_MEASUREMENT_ID

__all__ = [
    "EXCEEDED_MAX_ENTITIES", "ITEMS_PATH", "MAX_BODY_BYTES", "NAME_DUPLICATED", "NAME_INVALID",
    "NAME_RESERVED", "PARAMS_PATH", "PROTOCOL", "VALUE_INVALID", "VALUE_OUT_OF_BOUNDS",
    "VALUE_REQUIRED", "MpEvent", "MpRequest", "ValidationMessage", "debug_body", "parse_request",
]


def parse_request(query: bytes, body: bytes, *, received: datetime) -> MpRequest:
    """Parse and validate one request (``received``: the aware UTC receive time). Never raises."""
    request = MpRequest()
    p = Parser(request, received)
    _query(p, query)
    data = _body(p, body)
    if data is not None:
        _request(p, data)
    if request.problem is not None:
        request.events.clear()
        request.dropped.clear()
    return request


def debug_body(request: MpRequest) -> bytes:
    """The ``/debug/mp/collect`` response body, Google's shape."""
    return orjson.dumps({"validationMessages": [m.json() for m in request.messages]})


def _query(p: Parser, query: bytes) -> None:
    q: dict[str, str] = {}
    for key, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True,
                                errors="replace"):
        q.setdefault(key, value)  # the first of a repeated parameter wins
    p.req.api_secret = q.get("api_secret", "")
    if not p.req.api_secret:
        p.fail("missing api_secret", VALUE_REQUIRED, "api_secret",
               "Unable to find non-empty parameter [api_secret] value in request.")
    mid, fid = q.get("measurement_id", ""), q.get("firebase_app_id", "")
    if mid and fid:
        p.fail("both measurement_id and firebase_app_id", VALUE_INVALID, "firebase_app_id",
               "Only one of parameters [measurement_id] and [firebase_app_id] may be set in a request.")
    elif not (mid or fid):
        p.fail("missing measurement_id", VALUE_REQUIRED, "measurement_id",
               "Unable to find non-empty parameter [measurement_id] value in request.")
    else:
        name, pattern = (("firebase_app_id", FIREBASE_APP_ID) if fid
                         else ("measurement_id", GA4_MEASUREMENT_ID))
        p.req.tracking_id, p.app = mid or fid, bool(fid)
        if not pattern.match(p.req.tracking_id):
            p.fail(f"invalid {name}", VALUE_INVALID, name,
                   f"Parameter [{name}] has invalid value [{R.show(p.req.tracking_id)}].")


def _body(p: Parser, body: bytes) -> dict[str, Any] | None:
    if len(body) > MAX_BODY_BYTES:
        p.fail("body too large", VALUE_OUT_OF_BOUNDS, "", "Post body must be smaller than 130kBs")
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        p.fail("invalid JSON", VALUE_INVALID, "", "Unable to parse the request body as JSON.")
        return None
    if not isinstance(data, dict):
        p.fail("body not an object", VALUE_INVALID, "", "The request body must be a JSON object.")
        return None
    return data


def _request(p: Parser, data: dict[str, Any]) -> None:
    behavior = data.get("validation_behavior") or data.get("validationBehavior") or R.RELAXED
    if behavior not in (R.RELAXED, R.ENFORCE):
        p.msg(VALUE_INVALID, "validation_behavior",
              f"Parameter [validation_behavior] has invalid value [{R.show(behavior)}]. "
              "Values must be RELAXED or ENFORCE_RECOMMENDATIONS.")
    p.enforce = behavior == R.ENFORCE
    shared: dict[str, Any] = {"protocol": PROTOCOL, "tracking_id": p.req.tracking_id,
                              "received_time": p.received}
    client_id = _client_id(p, data)
    if client_id:
        shared["client_id"] = client_id
    user_id = _string(p, data, "user_id")
    if user_id is not None and len(user_id) > R.USER_ID_MAX:
        p.msg(VALUE_OUT_OF_BOUNDS, "user_id",
              f"Parameter [user_id] has a value longer than {R.USER_ID_MAX} characters.")
    elif user_id:
        shared["user_id"] = user_id
    stamp = p.stamp(data.get("timestamp_micros"), "timestamp_micros", "Measurement")
    _user_properties(p, _object(p, data, "user_properties"), shared)
    _consent(p, data, shared)
    _mapped(p, _object(p, data, "user_location"), "user_location", "User location",
            R.LOCATION_FIELDS, shared)
    _mapped(p, _object(p, data, "device"), "device", "Device", R.DEVICE_FIELDS, shared)
    _object(p, data, "user_data")  # hashed PII: checked, never stored
    p.req.ip_override = _string(p, data, "ip_override") or None
    p.req.ua_override = _string(p, data, "user_agent") or None
    events(p, data.get("events"), shared, stamp, client_id)


def _string(p: Parser, data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    p.msg(VALUE_INVALID, key, f"Parameter [{key}] has invalid value [{R.show(value)}]. It must be a string.")
    return None


def _object(p: Parser, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None or isinstance(value, dict):
        return value or {}
    p.msg(VALUE_INVALID, key, f"Parameter [{key}] has invalid value [{R.show(value)}]. It must be an object.")
    return {}


def _client_id(p: Parser, data: dict[str, Any]) -> str:
    keys = ("app_instance_id",) if p.app else ("client_id",) if p.req.tracking_id else (
        "client_id", "app_instance_id")
    key = next((k for k in keys if data.get(k) is not None), keys[0])
    value = data.get(key)
    if value is None or value == "":
        p.fail(f"missing {key}", VALUE_REQUIRED, key, "Measurement requires an app_instance_id."
               if key == "app_instance_id" else "Measurement requires a client_id.")
    elif not isinstance(value, str):
        p.fail(f"invalid {key}", VALUE_INVALID, key,
               f"Parameter [{key}] has invalid value [{R.show(value)}]. It must be a string.")
    elif key == "app_instance_id" and not R.APP_INSTANCE_ID.match(value):
        p.fail(f"invalid {key}", VALUE_INVALID, key, f"Parameter [{key}] has invalid value "
               f"[{R.show(value)}]. It must be 32 hexadecimal characters.")
    else:
        return value
    return ""


def _user_properties(p: Parser, props: dict[str, Any], shared: dict[str, Any]) -> None:
    path = "user_properties"
    if len(props) > R.MAX_USER_PROPERTIES:
        p.msg(EXCEEDED_MAX_ENTITIES, path, f"Measurement has [{len(props)}] user properties. "
              f"At most {R.MAX_USER_PROPERTIES} user properties are allowed.")
    for name, entry in islice(props.items(), R.MAX_USER_PROPERTIES):
        why = R.name_problem(name, R.USER_PROPERTY_NAME_MAX)
        shown = R.show(name)
        if name in R.RESERVED_USER_PROPERTY_NAMES or name.startswith(R.RESERVED_USER_PROPERTY_PREFIXES):
            p.msg(NAME_RESERVED, path, f"User property has reserved name [{shown}].")
        elif why:
            p.msg(NAME_INVALID, path, f"User property has invalid name [{shown}]. {why}")
        elif not isinstance(entry, dict):
            p.msg(VALUE_INVALID, path, f"User property [{name}] has invalid value [{R.show(entry)}]. "
                  "It must be an object with a value.")
        elif "value" not in entry:
            p.msg(VALUE_REQUIRED, path, f"User property [{name}] requires a value.")
        elif not p.stamp(entry.get("timestamp_micros"), path, f"User property [{name}]").reject:
            value = R.param_value(entry["value"], None)
            if entry["value"] is None or value == "":
                continue  # null clears a user property (Firebase): nothing to store
            if value is None:
                p.msg(VALUE_INVALID, path, f"User property [{name}] has invalid value "
                      f"[{R.show(entry['value'])}].")
            elif isinstance(value, float):
                shared.setdefault("user_properties_num", {})[name] = value
            elif len(value) > R.USER_PROPERTY_VALUE_MAX:
                p.msg(VALUE_OUT_OF_BOUNDS, path, f"User property [{name}] has a value longer than "
                      f"{R.USER_PROPERTY_VALUE_MAX} characters.")
            else:
                shared.setdefault("user_properties", {})[name] = value


def _consent(p: Parser, data: dict[str, Any], shared: dict[str, Any]) -> None:
    npa = data.get("non_personalized_ads")
    if isinstance(npa, bool):
        shared["non_personalized_ads"] = npa
    elif npa is not None:
        p.msg(VALUE_INVALID, "non_personalized_ads", "Parameter [non_personalized_ads] has invalid "
              f"value [{R.show(npa)}]. It must be a boolean.")
    consent = _object(p, data, "consent")
    parts = []
    for key in R.CONSENT_KEYS:
        value = consent.get(key)
        if isinstance(value, str) and value in R.CONSENT_VALUES:
            parts.append(f"{key}={value}")
            if key == "ad_personalization" and value == "DENIED":
                shared["non_personalized_ads"] = True
        elif key in consent:
            p.msg(VALUE_INVALID, "consent", f"Consent [{key}] has invalid value [{R.show(value)}]. "
                  "Values must be GRANTED or DENIED.")
    if parts:
        shared["consent_state"] = ";".join(parts)


_FORMATS = {"country_id": R.COUNTRY_ID, "region_id": R.REGION_ID,
            "screen_resolution": R.SCREEN_RESOLUTION}


def _mapped(p: Parser, obj: dict[str, Any], path: str, subject: str, table: dict[str, str],
            shared: dict[str, Any]) -> None:
    """user_location / device: string values onto their Hit fields (unknown keys ignored)."""
    for key, value in obj.items():
        fld = table.get(key)
        if fld is None or value is None or value == "":
            continue
        pattern = _FORMATS.get(key)
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            p.msg(VALUE_INVALID, path, f"{subject} [{key}] has invalid value [{R.show(value)}].")
        elif fld:
            shared[fld] = value.upper() if key in ("country_id", "region_id") else (
                value.lower() if key == "category" else value)
