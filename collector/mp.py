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

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from collector import mp_rules as R
from collector.mp_rules import Kind
from lambdalytics.hit import Item, derived_hit_id, random_hit_id, utc_ms
from lambdalytics.properties import FIREBASE_APP_ID, GA4_MEASUREMENT_ID

MAX_BODY_BYTES = 130_000  # "Post body must be smaller than 130kBs": 130,000 bytes still pass
PROTOCOL = "ga4mp"

VALUE_INVALID, VALUE_REQUIRED, VALUE_OUT_OF_BOUNDS = "VALUE_INVALID", "VALUE_REQUIRED", "VALUE_OUT_OF_BOUNDS"
NAME_INVALID, NAME_RESERVED, EXCEEDED_MAX_ENTITIES = "NAME_INVALID", "NAME_RESERVED", "EXCEEDED_MAX_ENTITIES"
NAME_DUPLICATED = "NAME_DUPLICATED"
PARAMS_PATH, ITEMS_PATH = "events.params", "events.params.items"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ValidationMessage:
    field_path: str
    description: str
    validation_code: str  # VALUE_INVALID, VALUE_REQUIRED, NAME_INVALID, NAME_RESERVED, …

    def json(self) -> dict[str, str]:
        return {"fieldPath": self.field_path, "description": self.description,
                "validationCode": self.validation_code}


@dataclass(slots=True)
class MpEvent:
    index: int  # position in events[]
    fields: dict[str, Any]  # Hit fields of this event, ready for the tail


@dataclass(slots=True)
class MpRequest:
    tracking_id: str = ""  # measurement_id or firebase_app_id as sent; "" when neither or both
    api_secret: str = ""
    events: list[MpEvent] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    problem: str | None = None  # the whole request is invalid: a short reason
    messages: list[ValidationMessage] = field(default_factory=list)
    ip_override: str | None = None
    ua_override: str | None = None


@dataclass(frozen=True, slots=True)
class _Stamp:
    raw: int | float | None  # as sent, for the hit id; None when absent or not a number
    time: datetime | None  # the event time it gives; None: fall back
    reject: bool = False  # ENFORCE_RECOMMENDATIONS: what takes this stamp is dropped


_NO_STAMP = _Stamp(None, None)


class _Parser:
    def __init__(self, request: MpRequest, received: datetime) -> None:
        self.req = request
        self.received = utc_ms(received.timestamp())
        self.now_us = (received - _EPOCH) // timedelta(microseconds=1)
        self.app = False  # a firebase_app_id stream
        self.enforce = False
        self.drop = False  # the event being parsed is to be dropped

    def msg(self, code: str, path: str, description: str) -> None:
        self.req.messages.append(ValidationMessage(path, description, code))

    def fail(self, problem: str, code: str, path: str, description: str) -> None:
        self.msg(code, path, description)
        self.req.problem = self.req.problem or problem

    def malformed(self, code: str, path: str, description: str) -> None:
        self.msg(code, path, description)
        self.drop = True

    def bad(self, code: str, path: str, description: str) -> None:
        """RELAXED ignores the value; ENFORCE_RECOMMENDATIONS drops its event."""
        self.msg(code, path, description)
        self.drop = self.drop or self.enforce

    def stamp(self, value: Any, path: str, subject: str) -> _Stamp:
        if value is None:
            return _NO_STAMP
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.msg(VALUE_INVALID, path, f"{subject} has invalid timestamp_micros [{R.show(value)}]. "
                     "It must be a number of microseconds since the Unix epoch.")
            return _Stamp(None, None, self.enforce)
        us = int(value)
        if us > self.now_us + R.CLOCK_SKEW_US:
            self.msg(VALUE_OUT_OF_BOUNDS, path, f"{subject} has timestamp_micros [{us}] in the future.")
            return _Stamp(value, None, self.enforce)
        if us < self.now_us - R.BACKDATE_MAX_US:
            if not self.enforce:
                return _Stamp(value, self.received - timedelta(hours=72))
            self.msg(VALUE_OUT_OF_BOUNDS, path,
                     f"{subject} has timestamp_micros [{us}] more than 72 hours in the past.")
            return _Stamp(value, None, True)
        return _Stamp(value, _EPOCH + timedelta(milliseconds=us // 1000))


def parse_request(query: bytes, body: bytes, *, received: datetime) -> MpRequest:
    """Parse and validate one request (``received``: the aware UTC receive time). Never raises."""
    request = MpRequest()
    p = _Parser(request, received)
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


def _query(p: _Parser, query: bytes) -> None:
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


def _body(p: _Parser, body: bytes) -> dict[str, Any] | None:
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


def _request(p: _Parser, data: dict[str, Any]) -> None:
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
    _events(p, data.get("events"), shared, stamp, client_id)


def _string(p: _Parser, data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    p.msg(VALUE_INVALID, key, f"Parameter [{key}] has invalid value [{R.show(value)}]. It must be a string.")
    return None


def _object(p: _Parser, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None or isinstance(value, dict):
        return value or {}
    p.msg(VALUE_INVALID, key, f"Parameter [{key}] has invalid value [{R.show(value)}]. It must be an object.")
    return {}


def _client_id(p: _Parser, data: dict[str, Any]) -> str:
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


def _user_properties(p: _Parser, props: dict[str, Any], shared: dict[str, Any]) -> None:
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


def _consent(p: _Parser, data: dict[str, Any], shared: dict[str, Any]) -> None:
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


def _mapped(p: _Parser, obj: dict[str, Any], path: str, subject: str, table: dict[str, str],
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


def _events(p: _Parser, events: Any, shared: dict[str, Any], stamp: _Stamp, client_id: str) -> None:
    if not isinstance(events, list) or not events:
        if isinstance(events, list) or events is None:
            p.fail("no events", VALUE_REQUIRED, "events", "Measurement requires at least one event.")
        else:
            p.fail("events not an array", VALUE_INVALID, "events",
                   f"Parameter [events] has invalid value [{R.show(events)}]. It must be an array.")
        return
    if len(events) > R.MAX_EVENTS:
        p.msg(EXCEEDED_MAX_ENTITIES, "events", f"Measurement has [{len(events)}] events. "
              f"At most {R.MAX_EVENTS} events are allowed per request.")
    for i, event in enumerate(events[: R.MAX_EVENTS]):
        fields = _event(p, i, event, shared, stamp, client_id)
        if fields is None:
            p.req.dropped.append(i)
        else:
            p.req.events.append(MpEvent(i, fields))
    p.req.dropped.extend(range(R.MAX_EVENTS, len(events)))


def _event(p: _Parser, i: int, event: Any, shared: dict[str, Any], request_stamp: _Stamp,
           client_id: str) -> dict[str, Any] | None:
    at = f"Event at index: [{i}]"
    p.drop = False
    if not isinstance(event, dict):
        p.msg(VALUE_INVALID, "events", f"{at} has invalid value [{R.show(event)}]. It must be an object.")
        return None
    name = event.get("name")
    why = R.name_problem(name, R.NAME_MAX) if isinstance(name, str) and name else None
    if name is None or name == "":
        p.malformed(VALUE_REQUIRED, "events", f"{at} requires a name.")
    elif not isinstance(name, str):
        p.malformed(VALUE_INVALID, "events",
                    f"{at} has invalid name [{R.show(name)}]. Names must be strings.")
    elif why:
        p.malformed(NAME_INVALID, "events", f"{at} has invalid name [{R.show(name)}]. {why}")
    elif name in R.RESERVED_EVENT_NAMES:
        p.malformed(NAME_RESERVED, "events", f"{at} has reserved name [{name}].")
    elif name in R.APP_ONLY_EVENT_NAMES and not p.app:
        p.malformed(NAME_RESERVED, "events", f"{at} has reserved name [{name}]. "
                    "It is only allowed for app streams.")
    params = event.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        p.malformed(VALUE_INVALID, PARAMS_PATH, f"{at} has invalid params [{R.show(params)}]. "
                    "Params must be an object.")
        return None
    own = p.stamp(event.get("timestamp_micros", params.get("timestamp_micros")), "events", at)
    if own.reject or (own.time is None and request_stamp.reject):
        p.drop = True
    fields = {k: dict(v) if isinstance(v, dict) else v for k, v in shared.items()}
    event_name = name if isinstance(name, str) else ""
    fields["event_name"] = event_name
    fields["type"] = R.HIT_TYPE_BY_EVENT.get(event_name, "event")
    fields["event_time"] = own.time or request_stamp.time or p.received
    _params(p, at, event_name, params, fields)
    if p.drop:
        return None
    raw = own.raw if own.raw is not None else request_stamp.raw
    fields["hit_id"] = random_hit_id()
    if raw is not None:
        try:
            canonical = orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:  # nested deeper than orjson writes: no stable id
            return fields
        fields["hit_id"] = derived_hit_id(PROTOCOL, p.req.tracking_id, client_id, str(raw), str(i),
                                          canonical)
    return fields


def _params(p: _Parser, at: str, name: str, params: dict[str, Any], fields: dict[str, Any]) -> None:
    if len(params) > R.MAX_PARAMS:
        p.bad(EXCEEDED_MAX_ENTITIES, PARAMS_PATH,
              f"{at} has [{len(params)}] params. At most {R.MAX_PARAMS} params are allowed per event.")
    text: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for key, value in islice(params.items(), R.MAX_PARAMS):
        if key == "timestamp_micros":
            continue  # the event's time, not a param
        spec = R.PARAMS.get(key)
        if key == "value":
            spec = ("transaction_revenue" if name in R.REVENUE_EVENTS else "", Kind.NUM)
        limit = 0 if key in R.LENGTH_EXEMPT else R.VALUE_MAX_BY_PARAM.get(key, R.PARAM_VALUE_MAX)
        why = R.name_problem(key, R.NAME_MAX)
        if key in R.RESERVED_PARAM_NAMES or key.startswith(R.RESERVED_PARAM_PREFIXES):
            p.bad(NAME_RESERVED, PARAMS_PATH, f"{at} has param with reserved name [{R.show(key)}].")
        elif why:
            p.bad(NAME_INVALID, PARAMS_PATH, f"{at} has param with invalid name [{R.show(key)}]. {why}")
        elif key == "items":
            items = _items(p, at, value)
            if items:
                fields["items"] = items
        elif limit and isinstance(value, str) and len(value) > limit:
            p.bad(VALUE_OUT_OF_BOUNDS, PARAMS_PATH,
                  f"{at} has param [{key}] with a value longer than {limit} characters.")
        elif (converted := R.param_value(value, spec)) is None:
            p.bad(VALUE_INVALID, PARAMS_PATH, f"{at} has param [{key}] with invalid value [{R.show(value)}].")
        elif converted == "":
            continue
        elif spec and spec[0]:
            fields[spec[0]] = converted
        elif isinstance(converted, float):
            numbers[key] = converted
        else:
            text[key] = converted
    if text:
        fields["event_params"] = text
    if numbers:
        fields["event_params_num"] = numbers
    location = fields.get("page_location")
    if location:
        try:
            parts = urlsplit(location)
            host = parts.hostname
        except ValueError:
            return
        if host:
            fields["page_hostname"] = host
        if parts.path:
            fields["page_path"] = parts.path


def _items(p: _Parser, at: str, value: Any) -> tuple[Item, ...]:
    if not isinstance(value, list):
        p.bad(VALUE_INVALID, ITEMS_PATH, f"{at} has invalid items [{R.show(value)}]. "
              "Items must be an array of objects.")
        return ()
    if len(value) > R.MAX_ITEMS:
        p.bad(EXCEEDED_MAX_ENTITIES, ITEMS_PATH,
              f"{at} has [{len(value)}] items. At most {R.MAX_ITEMS} items are allowed per event.")
    out = []
    for j, raw in enumerate(value[: R.MAX_ITEMS]):
        item = _item(p, f"{at} item at index: [{j}]", raw)
        if item is not None:
            out.append(item)
    return tuple(out)


def _item(p: _Parser, at: str, raw: Any) -> Item | None:
    if not isinstance(raw, dict):
        p.bad(VALUE_INVALID, ITEMS_PATH, f"{at} has invalid value [{R.show(raw)}]. It must be an object.")
        return None
    custom = [k for k in raw if k not in R.ITEM_FIELDS and k not in R.STANDARD_ITEM_PARAMS]
    if len(custom) > R.MAX_CUSTOM_ITEM_PARAMS:
        p.bad(EXCEEDED_MAX_ENTITIES, ITEMS_PATH, f"{at} has [{len(custom)}] custom params. "
              f"At most {R.MAX_CUSTOM_ITEM_PARAMS} custom item params are allowed.")
    ignored = set(custom[R.MAX_CUSTOM_ITEM_PARAMS:])
    values: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for key, value in raw.items():
        why = R.name_problem(key, R.NAME_MAX)
        spec = R.ITEM_FIELDS.get(key)
        if key in ignored:
            continue
        if why:
            p.bad(NAME_INVALID, ITEMS_PATH, f"{at} has param with invalid name [{R.show(key)}]. {why}")
        elif isinstance(value, str) and len(value) > R.PARAM_VALUE_MAX:
            p.bad(VALUE_OUT_OF_BOUNDS, ITEMS_PATH,
                  f"{at} has param [{key}] with a value longer than {R.PARAM_VALUE_MAX} characters.")
        elif (converted := R.convert(value, spec[1]) if spec else R.as_text(value)) is None:
            p.bad(VALUE_INVALID, ITEMS_PATH, f"{at} has param [{key}] with invalid value [{R.show(value)}].")
        elif converted != "":
            if spec:
                values[spec[0]] = converted
            else:
                extra[key] = converted
    if "item_id" not in values and "item_name" not in values:
        p.bad(VALUE_REQUIRED, ITEMS_PATH, f"{at} requires an item_id or item_name.")
        return None
    return Item(list_kind="product", params=extra, **values)
