"""The events of a GA4 Measurement Protocol request (:mod:`collector.mp`): each event's
name, params, items and time, validated and mapped onto Hit fields."""

from __future__ import annotations

from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import orjson

from collector import mp_rules as R
from collector.mp_parser import (
    EXCEEDED_MAX_ENTITIES,
    ITEMS_PATH,
    NAME_INVALID,
    NAME_RESERVED,
    PARAMS_PATH,
    PROTOCOL,
    VALUE_INVALID,
    VALUE_OUT_OF_BOUNDS,
    VALUE_REQUIRED,
    MpEvent,
    Parser,
    Stamp,
)
from collector.mp_rules import Kind
from lambdalytics.hit import Item, derived_hit_id, random_hit_id


def events(p: Parser, events: Any, shared: dict[str, Any], stamp: Stamp, client_id: str) -> None:
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


def _event(p: Parser, i: int, event: Any, shared: dict[str, Any], request_stamp: Stamp,
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


def _params(p: Parser, at: str, name: str, params: dict[str, Any], fields: dict[str, Any]) -> None:
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


def _items(p: Parser, at: str, value: Any) -> tuple[Item, ...]:
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


def _item(p: Parser, at: str, raw: Any) -> Item | None:
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
