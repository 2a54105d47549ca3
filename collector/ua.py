"""Universal Analytics Measurement Protocol v1: one payload → fields of a Hit, and every problem.

Table-driven (STYLE.md §3): each parameter is declared once in :data:`PARAMS` (name, Hit
field, kind, maximum length); :data:`REQUIRED` says which hit types need which parameters.
The same message list drives ``/debug/collect`` and the filtered-traffic counters, so what
debug says is exactly what production did. Parsing never raises: problems are messages.

Decisions where Google did not document (reference/ga-protocols.md §4, §5):
- over-long values are truncated to the documented maximum (a WARN, the hit stays valid);
- a pageview needs ``dl`` or ``dp`` (the validator accepted ``dp`` alone);
- ``cid`` or ``uid`` is required, not both;
- unknown parameters (analytics.js internals such as ``_v``, ``_u``, ``jid``) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from fast_query_parsers import parse_query_string

from lambdalytics.hit import HIT_TYPES, Item, Promotion
from lambdalytics.properties import UA_TRACKING_ID

MAX_QUEUE_TIME_MS = 4 * 3600 * 1000  # Google: hits queued longer "may not be processed"
INDEX_MAX = 200
HELP = "Please see http://goo.gl/a8d4RP#{p} for details."


class Kind(Enum):
    TEXT = "text"
    INT = "integer"  # non-negative integer
    NUM = "number"  # currency / metric: a decimal number
    BOOL = "boolean"  # 0 or 1


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    field: str  # Hit field (or Item / Promotion field for indexed params)
    kind: Kind = Kind.TEXT
    max_len: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    type: str  # ERROR | WARN | INFO
    code: str  # VALUE_INVALID | VALUE_REQUIRED | VALUE_OUT_OF_BOUNDS | VALUE_MODIFIED | …
    description: str
    parameter: str | None = None

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"messageType": self.type, "description": self.description,
                               "messageCode": self.code}
        if self.parameter is not None:
            out["parameter"] = self.parameter
        return out


def _p(name: str, fld: str, kind: Kind = Kind.TEXT, max_len: int | None = None) -> Param:
    return Param(name, fld, kind, max_len)


T, INT, N, B = Kind.TEXT, Kind.INT, Kind.NUM, Kind.BOOL

# Plain parameters → Hit fields (reference/ga-protocols.md §1.5).
PARAMS: dict[str, Param] = {p.name: p for p in (
    _p("ds", "data_source"), _p("cid", "client_id"), _p("uid", "user_id"),
    _p("ni", "non_interaction", B), _p("npa", "non_personalized_ads", B),
    # traffic sources
    _p("dr", "page_referrer", T, 2048), _p("cn", "campaign_name", T, 100),
    _p("cs", "campaign_source", T, 100), _p("cm", "campaign_medium", T, 50),
    _p("ck", "campaign_term", T, 500), _p("cc", "campaign_content", T, 500),
    _p("ci", "campaign_id", T, 100), _p("gclid", "gclid"), _p("dclid", "dclid"),
    # system info
    _p("sr", "screen_resolution", T, 20), _p("vp", "viewport_size", T, 20),
    _p("de", "document_encoding", T, 20), _p("sd", "screen_colors", T, 20),
    _p("ul", "language", T, 20), _p("je", "java_enabled", B), _p("fl", "flash_version", T, 20),
    # content
    _p("dl", "page_location", T, 2048), _p("dh", "page_hostname", T, 100),
    _p("dp", "page_path", T, 2048), _p("dt", "page_title", T, 1500),
    _p("cd", "screen_name", T, 2048), _p("linkid", "link_id"),
    # apps
    _p("an", "app_name", T, 100), _p("aid", "app_id", T, 150), _p("av", "app_version", T, 100),
    _p("aiid", "app_installer_id", T, 150),
    # events
    _p("ec", "event_category", T, 150), _p("ea", "event_action", T, 500),
    _p("el", "event_label", T, 500), _p("ev", "event_value", INT),
    # classic ecommerce (ti ta tr ts tt also serve enhanced ecommerce purchase / refund)
    _p("ti", "transaction_id", T, 500), _p("ta", "transaction_affiliation", T, 500),
    _p("tr", "transaction_revenue", N), _p("ts", "transaction_shipping", N),
    _p("tt", "transaction_tax", N), _p("tcc", "transaction_coupon", T, 500),
    _p("in", "item_name", T, 500), _p("ip", "item_price", N), _p("iq", "item_quantity", INT),
    _p("ic", "item_code", T, 500), _p("iv", "item_category", T, 500),
    _p("cu", "currency", T, 10),
    # enhanced ecommerce
    _p("pa", "product_action"), _p("pal", "product_action_list", T, 500),
    _p("cos", "checkout_step", INT), _p("col", "checkout_option", T, 500),
    _p("promoa", "promotion_action"),
    # social, timing, exceptions
    _p("sn", "social_network", T, 50), _p("sa", "social_action", T, 50),
    _p("st", "social_target", T, 2048),
    _p("utc", "timing_category", T, 150), _p("utv", "timing_variable", T, 500),
    _p("utt", "timing_time_ms", INT), _p("utl", "timing_label", T, 500),
    _p("plt", "perf_page_load_ms", INT), _p("dns", "perf_dns_ms", INT),
    _p("pdt", "perf_page_download_ms", INT), _p("rrt", "perf_redirect_ms", INT),
    _p("tcp", "perf_tcp_connect_ms", INT), _p("srt", "perf_server_response_ms", INT),
    _p("dit", "perf_dom_interactive_ms", INT), _p("clt", "perf_content_load_ms", INT),
    _p("exd", "exception_description", T, 150), _p("exf", "exception_fatal", B),
    # experiments
    _p("xid", "experiment_id", T, 40), _p("xvar", "experiment_variant"),
)}

# The text parameters (most of them) as the parse loop reads them: name → (field, max_len or 0).
_TEXT_PARAMS: dict[str, tuple[str, int]] = {
    p.name: (p.field, p.max_len or 0) for p in PARAMS.values() if p.kind is Kind.TEXT}

# Parameters handled by the parser itself rather than copied into a field.
CONTROL = frozenset({"v", "tid", "t", "qt", "z", "aip", "uip", "ua", "sc", "geoid"})

# Hit types and the parameters each one needs, beyond v, tid, cid|uid and t.
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "pageview": (("dl", "dp"),),  # one of the group
    "screenview": (),
    "event": (("ec",), ("ea",)),
    "transaction": (("ti",),),
    "item": (("ti",), ("in",)),
    "social": (("sn",), ("sa",), ("st",)),
    "exception": (),
    "timing": (("utc",), ("utv",), ("utt",)),
}

PRODUCT_ACTIONS = frozenset(
    {"detail", "click", "add", "remove", "checkout", "checkout_option", "purchase", "refund"}
)
PROMO_ACTIONS = frozenset({"view", "promo_click"})

# Indexed parameters: products pr<n>…, impressions il<l>nm / il<l>pi<p>…, promotions promo<n>…,
# custom dimensions / metrics cd<n> / cm<n>, content groups cg<1-5>.
ITEM_PARAMS: dict[str, Param] = {p.name: p for p in (
    _p("id", "item_id", T, 500), _p("nm", "item_name", T, 500), _p("br", "item_brand", T, 500),
    _p("ca", "item_category", T, 500), _p("va", "item_variant", T, 500),
    _p("pr", "price", N), _p("qt", "quantity", INT), _p("cc", "coupon", T, 500),
    _p("ps", "position", INT),
)}
PROMO_PARAMS: dict[str, Param] = {p.name: p for p in (
    _p("id", "promotion_id"), _p("nm", "promotion_name"), _p("cr", "creative"),
    _p("ps", "position"),
)}
_INDEXED = re.compile(
    r"^(?:(cd|cm|cg)([0-9]+)"
    r"|pr([0-9]+)(id|nm|br|ca|va|pr|qt|cc|ps|cd[0-9]+|cm[0-9]+)"
    r"|il([0-9]+)(?:nm|pi([0-9]+)(id|nm|br|ca|va|pr|ps|cd[0-9]+|cm[0-9]+))"
    r"|promo([0-9]+)(id|nm|cr|ps))\Z"
)


def _index(digits: str) -> int:
    """An index as sent; one too long for int() (4,300 digits) is simply out of bounds."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 9 else INDEX_MAX + 1


_INDEXED_PREFIXES = ("cd", "cm", "cg", "pr", "il", "promo")


@dataclass(slots=True)
class ParsedHit:
    """What one payload says: Hit fields, control values, and every problem found."""

    fields: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    tracking_id: str = ""
    hit_type: str = ""
    nonce: str | None = None  # z
    queue_time_ms: int = 0
    ip_override: str | None = None  # uip
    ua_override: str | None = None  # ua
    anonymize_ip: bool = False  # aip present (or uip given)

    @property
    def valid(self) -> bool:
        return not any(m.type == "ERROR" for m in self.messages)

    def error(self, code: str, param: str | None, description: str) -> None:
        self.messages.append(Message("ERROR", code, description, param))


def _help(param: str) -> str:
    return HELP.format(p=param)


def _invalid(h: ParsedHit, param: str) -> None:
    h.error("VALUE_INVALID", param,
            f"The value provided for parameter '{param}' is invalid. {_help(param)}")


def _bounds(h: ParsedHit, param: str) -> None:
    h.error("VALUE_OUT_OF_BOUNDS", param,
            f"The value provided for parameter '{param}' is out of bounds. {_help(param)}")


def _convert(h: ParsedHit, name: str, spec: Param, value: str) -> Any:
    """The value of one parameter, or None after recording why it could not be used."""
    kind = spec.kind
    if kind is Kind.TEXT:
        if spec.max_len is not None and len(value.encode("utf-8", "surrogatepass")) > spec.max_len:
            value = value.encode("utf-8", "surrogatepass")[: spec.max_len].decode("utf-8", "ignore")
            h.messages.append(Message(
                "WARN", "VALUE_MODIFIED",
                f"The value provided for parameter '{name}' is longer than {spec.max_len} bytes "
                f"and was truncated. {_help(name)}", name))
        return value
    if kind is Kind.BOOL:
        if value in ("1", "0"):
            return value == "1"
        _invalid(h, name)
        return None
    if kind is Kind.INT:
        if value.isascii() and value.isdigit() and len(value) <= 18:
            return int(value)
        if value.isascii() and value.lstrip("-").isdigit():
            _bounds(h, name)
        else:
            _invalid(h, name)
        return None
    # Kind.NUM: a finite decimal number, no exponent, no thousands separators
    try:
        if not _NUMBER.match(value):
            raise ValueError(value)
        return float(value)
    except ValueError:
        _invalid(h, name)
        return None


_NUMBER = re.compile(r"^-?[0-9]{1,15}(?:\.[0-9]{1,15})?\Z")


def payload_pairs(payload: bytes) -> list[tuple[str, str]]:
    """The decoded ``(key, value)`` pairs of one payload (a query string or a POST body)."""
    payload = payload.strip(b"\r")
    found = parse_query_string(payload, "&")
    if found or payload.isascii():
        return found
    # a raw byte that is not UTF-8 (Latin-1 sent unencoded) makes fast-query-parsers return
    # nothing: parse pair by pair, the bad pair left whole in its key as fast-query-parsers
    # does for a bad percent escape (parse reports it), the others still read
    return [pair for part in payload.split(b"&") if part
            for pair in parse_query_string(part, "&") or [(part.decode("latin-1"), "")]]


def parse_payload(payload: bytes) -> ParsedHit:
    """:func:`parse` of the payload's :func:`payload_pairs`; in the compiled build most payloads are
    read by the native scan (collector/uascan.pyx) instead, to the same result."""
    if _SCAN is not None:
        scanned = _SCAN(payload)
        if scanned is not None:
            fields, version, tracking_id, hit_type, nonce, queue_ms, uip, ua, aip, rest = scanned
            h = ParsedHit(fields=fields, tracking_id=tracking_id, hit_type=hit_type, nonce=nonce,
                          queue_time_ms=queue_ms, ip_override=uip, ua_override=ua,
                          anonymize_ip=aip)
            items: dict[tuple[str, int, int], dict[str, Any]] = {}
            promos: dict[int, dict[str, Any]] = {}
            if rest is not None:
                for key, value in rest:
                    _indexed(h, key, value, items, promos)
            _finish(h, version, items, promos)
            return h
    return parse(payload_pairs(payload))


def parse(pairs: Iterable[tuple[str, str]]) -> ParsedHit:
    """Parse one hit's decoded ``(key, value)`` pairs. Never raises."""
    h = ParsedHit()
    f = h.fields
    version: str | None = None
    items: dict[tuple[str, int, int], dict[str, Any]] = {}
    promos: dict[int, dict[str, Any]] = {}
    given = pairs if isinstance(pairs, list) else list(pairs)
    unique = dict(given)  # payload order; a repeated key would keep its last value
    if len(unique) != len(given):
        unique = {}
        for key, value in given:  # first value of a repeated key wins, as for Google's parser
            unique.setdefault(key, value)
    text_get = _TEXT_PARAMS.get
    params_get = PARAMS.get
    for key, value in unique.items():
        text = text_get(key)
        if text is not None:  # most parameters: a text field
            if value:
                # cheap checks first: only a value that may be over max_len bytes is measured
                limit = text[1]
                if limit and len(value) * 4 > limit and (
                        len(value) > limit or len(value.encode("utf-8", "surrogatepass")) > limit):
                    value = _convert(h, key, PARAMS[key], value)
                if value:
                    f[text[0]] = value
            continue
        spec = params_get(key)
        if spec is not None:
            if value:
                converted = _convert(h, key, spec, value)
                if converted is not None:
                    f[spec.field] = converted
            continue
        if key in CONTROL:
            version = _control(h, key, value, version)
        elif key[:1] == "_":
            continue  # analytics.js internals (_v, _s, _u, _gid, …): ignored, as Google does
        elif "=" in key:
            # fast-query-parsers leaves a pair it cannot decode as UTF-8 whole in the key
            h.error("VALUE_INVALID", None, "A parameter is not valid UTF-8 percent-encoding.")
        elif key.startswith(_INDEXED_PREFIXES):
            _indexed(h, key, value, items, promos)
    _finish(h, version, items, promos)
    return h


def _control(h: ParsedHit, key: str, value: str, version: str | None) -> str | None:
    if key == "v":
        return value
    if key == "tid":
        h.tracking_id = value
    elif key == "t":
        h.hit_type = value
    elif key == "z":
        h.nonce = value
    elif key == "qt":
        if not (value.isascii() and value.isdigit()):
            _invalid(h, "qt")
        elif len(value) > 10 or int(value) > MAX_QUEUE_TIME_MS:
            _bounds(h, "qt")
        else:
            h.queue_time_ms = int(value)
    elif key == "aip":
        h.anonymize_ip = True  # presence counts: aip=, aip=0, aip=1 all anonymise
    elif key == "uip":
        if value:
            h.ip_override = value
            h.anonymize_ip = True
    elif key == "ua":
        if value:
            h.ua_override = value
    elif key == "sc":
        if value in ("start", "end"):
            h.fields["session_control"] = value
    elif key == "geoid" and len(value) == 2 and value.isascii() and value.isalpha():
        h.fields["geo_country"] = value.upper()
    return version


def _indexed(h: ParsedHit, key: str, value: str,
             items: dict[tuple[str, int, int], dict[str, Any]],
             promos: dict[int, dict[str, Any]]) -> None:
    m = _INDEXED.match(key)
    if m is None:
        return  # not one of ours (e.g. analytics.js internals): ignored, as Google does
    simple, sidx, pidx, pfield, lidx, lpidx, lpfield, midx, mfield = m.groups()
    if simple is not None:
        idx = _index(sidx)
        limit = 5 if simple == "cg" else INDEX_MAX
        if not 1 <= idx <= limit:
            _bounds(h, key)
        elif simple == "cd":
            _store_map(h, "custom_dimensions", str(idx), key, _convert(h, key, _CD, value))
        elif simple == "cm":
            if value != "":
                _store_map(h, "custom_metrics", str(idx), key, _convert(h, key, _CM, value))
        else:
            text = _convert(h, key, _CG, value)
            if text:
                h.fields[f"content_group_{idx}"] = text
        return
    if pidx is not None:
        _item_field(h, key, value, items, ("product", _index(pidx), 0), pfield)
    elif lidx is not None:
        if lpidx is None:
            if not 1 <= _index(lidx) <= INDEX_MAX:
                _bounds(h, key)
                return
            listed = items.setdefault(("impression_list", _index(lidx), 0), {})
            if value:
                listed["list_name"] = _convert(h, key, _LIST_NAME, value)
        else:
            _item_field(h, key, value, items, ("impression", _index(lidx), _index(lpidx)), lpfield)
    else:
        idx = _index(midx)
        if not 1 <= idx <= INDEX_MAX:
            _bounds(h, key)
            return
        spec = PROMO_PARAMS[mfield]
        converted = _convert(h, key, Param(key, spec.field, Kind.TEXT, 500), value)
        if converted:
            promos.setdefault(idx, {})[spec.field] = converted


_CD = Param("cd", "", Kind.TEXT, 150)
_CM = Param("cm", "", Kind.NUM)
_CG = Param("cg", "", Kind.TEXT, 100)
_LIST_NAME = Param("il", "", Kind.TEXT, 500)


def _store_map(h: ParsedHit, fld: str, index: str, key: str, value: Any) -> None:
    if value is None or value == "":
        return
    h.fields.setdefault(fld, {})[index] = value


def _item_field(h: ParsedHit, key: str, value: str,
                items: dict[tuple[str, int, int], dict[str, Any]],
                where: tuple[str, int, int], name: str) -> None:
    kind, a, b = where
    if not 1 <= a <= INDEX_MAX or (kind == "impression" and not 1 <= b <= INDEX_MAX):
        _bounds(h, key)
        return
    if value == "":
        return
    item = items.setdefault(where, {})
    if name.startswith(("cd", "cm")):
        sub = _index(name[2:])
        if not 1 <= sub <= INDEX_MAX:
            _bounds(h, key)
            return
        spec = _CD if name.startswith("cd") else _CM
        converted = _convert(h, key, spec, value)
        if converted is not None:
            item.setdefault("params", {})[name] = str(converted) if spec is _CM else converted
        return
    spec = ITEM_PARAMS[name]
    converted = _convert(h, key, spec, value)
    if converted is not None:
        item[spec.field] = converted


def _finish(h: ParsedHit, version: str | None,
            items: dict[tuple[str, int, int], dict[str, Any]],
            promos: dict[int, dict[str, Any]]) -> None:
    f = h.fields
    if version is None:
        h.error("VALUE_REQUIRED", "v",
                f"A value is required for parameter 'v'. {_help('v')}")
    elif version != "1":
        _invalid(h, "v")
    if not h.tracking_id:
        h.error("VALUE_REQUIRED", "tid",
                f"Tracking Id is a required field for this hit. {_help('tid')}")
    elif not UA_TRACKING_ID.fullmatch(h.tracking_id):
        _invalid(h, "tid")
    if "client_id" not in f and "user_id" not in f:
        h.error("VALUE_REQUIRED", "cid",
                f"A value is required for parameter 'cid' or 'uid'. {_help('cid')}")
    if not h.hit_type:
        h.error("VALUE_REQUIRED", "t", f"A value is required for parameter 't'. {_help('t')}")
    elif h.hit_type not in REQUIRED:
        _invalid(h, "t")
    else:
        for group in REQUIRED[h.hit_type]:
            if not any(PARAMS[p].field in f for p in group):
                shown = "' or '".join(group)
                h.error("VALUE_REQUIRED", group[0],
                        f"A value is required for parameter '{shown}' on {h.hit_type} hits. "
                        f"{_help(group[0])}")
    if any(k in f for k in ("app_version", "app_id", "app_installer_id")) and "app_name" not in f:
        h.error("VALUE_REQUIRED", "an",
                f"A value is required for parameter 'an' when app fields are set. {_help('an')}")
    pa = f.get("product_action")
    if pa is not None and pa not in PRODUCT_ACTIONS:
        _invalid(h, "pa")
        del f["product_action"]
    promoa = f.get("promotion_action")
    if promoa is not None and promoa not in PROMO_ACTIONS:
        _invalid(h, "promoa")
        del f["promotion_action"]
    if h.hit_type == "exception" and "exception_fatal" not in f:
        f["exception_fatal"] = True  # exf defaults to 1
    if "page_location" in f and ("page_hostname" not in f or "page_path" not in f):
        from_location(f)
    if items:
        f["items"] = _build_items(items)
    if promos:
        f["promotions"] = tuple(Promotion(**promos[i]) for i in sorted(promos))
    if h.hit_type and h.hit_type in HIT_TYPES:
        f["type"] = h.hit_type


def from_location(f: dict[str, Any]) -> None:
    """Host and path of ``dl`` where ``dh`` / ``dp`` were not sent (the common case, so the
    plain ``scheme://host[:port]/path?query`` shape is split by hand; others go to urlsplit)."""
    location: str = f["page_location"]
    scheme_end = location.find("://")
    rest = location[scheme_end + 3:]
    if (location[:scheme_end].lower() not in ("http", "https")
            or "@" in rest or "[" in rest or "]" in rest or "\\" in rest):
        _from_location_slow(f)
        return
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if 0 <= i < end:
            end = i
    host = rest[:end].split(":", 1)[0]
    if "%" in host:  # urlsplit keeps what follows a '%' (an IPv6 zone) as written
        _from_location_slow(f)
        return
    host = host.lower()
    path = rest[end:]
    for sep in "?#":
        i = path.find(sep)
        if i >= 0:
            path = path[:i]
    if "page_hostname" not in f and host:
        f["page_hostname"] = host
    if "page_path" not in f and path:
        f["page_path"] = path


def _from_location_slow(f: dict[str, Any]) -> None:
    try:
        parts = urlsplit(f["page_location"])
        hostname = parts.hostname
    except ValueError:
        return
    if "page_hostname" not in f and hostname:
        f["page_hostname"] = hostname
    if "page_path" not in f and parts.path:
        f["page_path"] = parts.path


def _build_items(items: dict[tuple[str, int, int], dict[str, Any]]) -> tuple[Item, ...]:
    out: list[Item] = []
    for (kind, a, _b), values in sorted(items.items()):
        if kind == "impression_list":
            continue
        if kind == "impression":
            list_name = items.get(("impression_list", a, 0), {}).get("list_name")
            out.append(Item(list_kind="impression", list_name=list_name, **values))
        else:
            out.append(Item(list_kind="product", **values))
    return tuple(out)


# What the native scan answers: fields, v, tid, t, z, qt in ms, uip, ua, aip, and the
# product, impression and promotion pairs it leaves to _indexed.
Scanned = tuple[dict[str, Any], str | None, str, str, str | None, int, str | None, str | None,
                bool, list[tuple[str, str]] | None]


def _native_scan() -> Callable[[bytes], Scanned | None] | None:
    """collector.uascan's scan loaded with this module's table, when the build has it."""
    try:
        from collector import uascan
    except ImportError:  # the pure Python build
        return None
    uascan.init({p.name: (p.field, p.kind.value, p.max_len or 0) for p in PARAMS.values()},
                sorted(CONTROL), MAX_QUEUE_TIME_MS)
    return uascan.scan


_SCAN = _native_scan()
