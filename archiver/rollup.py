"""Per-minute rollups of one cut (DESIGN.md contract 4): pure, no I/O.

Exactly-once by construction: each cut's contribution to a (property, UTC minute) is its own
DynamoDB item, keyed ``pk = "{property_id}#{minute}"``, ``sk = "{shard_id}#{first_seq}"``.
The same cut always gives the same key and the same bytes, so a replayed cut overwrites its
item with identical data, and readers :func:`merge` the items of a minute (or of many
minutes: a 30-minute realtime view is the merge of 30 minutes' items).

What one :class:`MinuteRollup` counts, for one property and minute:

- ``hits``; ``pageviews`` (types pageview and screenview); ``events`` (type event); hits by
  ``types``; ``bots`` (hits whose ``bot_reason`` is set: bot-flagged hits that were kept
  because the property does not filter bots);
- ``visitors``: a HyperLogLog sketch of ``client_id`` (Apache DataSketches), mergeable across
  cuts and minutes;
- bounded top-N maps (N = :data:`TOP_N` by default, ties broken by key, so the same counts
  always keep the same keys):

  - ``pages``: pageviews by ``page_path`` (a screenview without one: ``screen_name``);
  - ``sources``: pageviews by traffic source: ``campaign_source`` (the site's own utm/cs tag)
    else ``referrer_source`` (the collector's referrer classification), else ``(direct)`` for
    no referrer, ``(internal)`` for a referral from the site itself, ``(not set)`` otherwise;
  - ``countries`` (``geo_country``), ``devices`` (``device_category``) and ``browsers``
    (``browser``): all hits;
  - a missing value counts under ``(not set)``, so each map's counts add up to its base
    (pageviews or hits), and ``base − sum(map)`` is the "everything else" the truncation left out;

- ``filtered``: requests filtered by reason (from the collector's FilteredCount records).
  Counters whose claimed id resolved to no property go to the property ``_unknown``, which
  also keeps ``claimed``: the top-N tracking ids that were claimed (``(not set)`` for none);
- ``agents``: bot-filtered hits by agent family (the counters' ``agent``: "Instagram on
  Android (crawler:…)"), so a real browser filtered by mistake shows.

**The top-N maps are approximate.** Each cut keeps only its own top N, and a merge sums those
and keeps the top N again: a key that just misses the top N of every cut is never counted,
and a kept key's count can be low by what it had in the cuts where it was left out. Counts of
``hits``, ``pageviews``, ``events``, ``types``, ``bots`` and ``filtered`` are exact.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import datasketches

from lambdalytics.archive_layout import UNKNOWN_PROPERTY
from lambdalytics.records import FilteredCount

__all__ = [
    "KEY_MAX", "LG_K", "MAX_ITEM_BYTES", "NOT_SET", "TOP_N", "VISITORS_REL_ERR",
    "VISITORS_REL_ERR_MERGED", "MinuteRollup", "MinuteView", "RollupInputError", "build",
    "item_size", "merge", "to_item",
]

TOP_N: Final = 20
NOT_SET: Final = "(not set)"
DIRECT: Final = "(direct)"
INTERNAL: Final = "(internal)"
KEY_MAX: Final = 512  # characters of a top-map key kept (a page path can be 2 KB)
MAX_ITEM_BYTES: Final = 64 * 1024  # DynamoDB allows 400 KB; every KB written is one WCU
ITEM_VERSION: Final = 1

# Visitors sketch. lg_k = 12 (4,096 buckets) with 4-bit buckets (HLL_4): the compact bytes
# are at most ~2.1 KB (3 WCU counting the rest of a busy item) once a cut sees more than
# a few hundred client ids, and ~4 bytes per id below that (exact there: list/set mode);
# relative error about 1.3% (1σ), 2.6% at 2σ for one sketch, 3.2% at 2σ after unions.
# lg_k = 11 would halve the bytes at 3.6%/4.5%; lg_k = 13+ costs 4 KB+ per busy item for
# precision a realtime visitor count does not need. HLL_6/HLL_8 cost 1.5×/2× the bytes for
# the same error (they only update faster, which does not matter next to the dict work).
LG_K: Final = 12
_HLL_TYPE: Final = datasketches.tgt_hll_type.HLL_4
# relative error bounds at 2σ (DataSketches' own tables), for one sketch and for a union
VISITORS_REL_ERR: Final = abs(float(datasketches.hll_sketch.get_rel_err(True, False, LG_K, 2)))
VISITORS_REL_ERR_MERGED: Final = abs(float(datasketches.hll_sketch.get_rel_err(True, True, LG_K, 2)))

_MINUTE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}\Z")
_NO_SOURCE: Final[dict[Any, str]] = {"direct": DIRECT, "internal": INTERNAL}
# the top maps, in item order; "types" is bounded the same way (hit types come from records)
MAPS: Final = ("types", "pages", "sources", "countries", "devices", "browsers", "filtered",
               "claimed", "agents")
COUNTS: Final = ("hits", "pageviews", "events", "bots")


class RollupInputError(ValueError):
    """A hit or counter without a usable property id or time (the archiver validates records
    before they get here, so this is a bug upstream, not bad traffic)."""


@dataclass(frozen=True, slots=True)
class MinuteRollup:
    """One cut's contribution to one property's UTC minute. Maps are ordered by rank."""

    property_id: str
    minute: str  # "YYYY-MM-DDTHH:MM", UTC
    hits: int = 0
    pageviews: int = 0
    events: int = 0
    bots: int = 0
    visitors: bytes = b""  # compact HLL sketch of client ids; b"" when the cut saw none
    types: Mapping[str, int] = field(default_factory=dict)
    pages: Mapping[str, int] = field(default_factory=dict)
    sources: Mapping[str, int] = field(default_factory=dict)
    countries: Mapping[str, int] = field(default_factory=dict)
    devices: Mapping[str, int] = field(default_factory=dict)
    browsers: Mapping[str, int] = field(default_factory=dict)
    filtered: Mapping[str, int] = field(default_factory=dict)
    claimed: Mapping[str, int] = field(default_factory=dict)
    agents: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MinuteView:
    """Merged rollup items (one minute, or a range). ``visitors`` is a rounded estimate;
    the maps are approximate top-N, ordered by rank (see the module docstring)."""

    items: int = 0  # how many cut items were merged
    hits: int = 0
    pageviews: int = 0
    events: int = 0
    bots: int = 0
    visitors: int = 0
    types: Mapping[str, int] = field(default_factory=dict)
    pages: Mapping[str, int] = field(default_factory=dict)
    sources: Mapping[str, int] = field(default_factory=dict)
    countries: Mapping[str, int] = field(default_factory=dict)
    devices: Mapping[str, int] = field(default_factory=dict)
    browsers: Mapping[str, int] = field(default_factory=dict)
    filtered: Mapping[str, int] = field(default_factory=dict)
    claimed: Mapping[str, int] = field(default_factory=dict)
    agents: Mapping[str, int] = field(default_factory=dict)


class _Acc:
    """Mutable counts while a cut is being built; frozen into a MinuteRollup at the end."""

    __slots__ = ("agents", "bots", "browsers", "claimed", "countries", "devices", "events",
                 "filtered", "hits", "key", "pages", "pageviews", "sketch", "sources", "types")

    def __init__(self, key: tuple[str, str]) -> None:
        property_id, minute = key
        if not isinstance(property_id, str) or not property_id:
            raise RollupInputError(f"property id {property_id!r} is not a non-empty string")
        if not isinstance(minute, str) or not _MINUTE.match(minute):
            raise RollupInputError(f"time {minute!r} does not start with YYYY-MM-DDTHH:MM")
        self.key = key
        self.hits = self.pageviews = self.events = self.bots = 0
        self.types: dict[Any, int] = {}  # "type" is whatever the record holds
        self.pages: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        self.countries: dict[str, int] = {}
        self.devices: dict[str, int] = {}
        self.browsers: dict[str, int] = {}
        self.filtered: dict[str, int] = {}
        self.claimed: dict[str, int] = {}
        self.agents: dict[str, int] = {}
        self.sketch: Any = None

    def freeze(self, top_n: int) -> MinuteRollup:
        property_id, minute = self.key
        sketch = self.sketch
        return MinuteRollup(
            property_id, minute, self.hits, self.pageviews, self.events, self.bots,
            b"" if sketch is None else bytes(sketch.serialize_compact()),
            *(_top(getattr(self, name), top_n) for name in MAPS),
        )


def build(hits: Iterable[Mapping[str, Any]], counters: Iterable[FilteredCount] = (), *,
          top_n: int = TOP_N) -> dict[tuple[str, str], MinuteRollup]:
    """The rollups of one cut, keyed by (property id, minute).

    ``hits`` are decoded canonical hits (JSON objects as :func:`lambdalytics.hit.encode`
    writes them); the minute is the first 16 characters of ``event_time``. Counters go to
    their own property, or to ``_unknown``. The archiver's hot path: plain dicts, no Hit
    objects, one dict lookup per hit for its rollup.
    """
    accs: dict[tuple[str, str], _Acc] = {}
    get = accs.get
    for hit in hits:
        try:
            key = (hit["property_id"], hit["event_time"][:16])
        except (KeyError, TypeError) as exc:
            raise RollupInputError(f"not a canonical hit (property_id, event_time): {exc}") from exc
        acc = get(key)
        if acc is None:
            acc = accs[key] = _Acc(key)
        acc.hits += 1
        g = hit.get
        kind = g("type")
        d = acc.types
        d[kind] = d.get(kind, 0) + 1
        if kind == "pageview" or kind == "screenview":
            acc.pageviews += 1
            k = g("page_path") or g("screen_name") or NOT_SET
            d = acc.pages
            d[k] = d.get(k, 0) + 1
            k = g("campaign_source") or g("referrer_source") or \
                _NO_SOURCE.get(g("referrer_medium"), NOT_SET)
            d = acc.sources
            d[k] = d.get(k, 0) + 1
        elif kind == "event":
            acc.events += 1
        if g("bot_reason"):
            acc.bots += 1
        k = g("geo_country") or NOT_SET
        d = acc.countries
        d[k] = d.get(k, 0) + 1
        k = g("device_category") or NOT_SET
        d = acc.devices
        d[k] = d.get(k, 0) + 1
        k = g("browser") or NOT_SET
        d = acc.browsers
        d[k] = d.get(k, 0) + 1
        cid = g("client_id")
        if cid and isinstance(cid, str):
            sketch = acc.sketch
            if sketch is None:
                sketch = acc.sketch = datasketches.hll_sketch(LG_K, _HLL_TYPE)
            sketch.update(cid)
    for c in counters:
        minute = c.minute[:16] if isinstance(c.minute, str) else c.minute
        key = (c.property_id or UNKNOWN_PROPERTY, minute)
        acc = get(key)
        if acc is None:
            acc = accs[key] = _Acc(key)
        d = acc.filtered
        d[c.reason] = d.get(c.reason, 0) + c.count
        if not c.property_id:
            k = c.tracking_id or NOT_SET
            d = acc.claimed
            d[k] = d.get(k, 0) + c.count
        if c.agent:
            d = acc.agents
            d[c.agent] = d.get(c.agent, 0) + c.count
    return {key: acc.freeze(top_n) for key, acc in accs.items()}


def _rank(kv: tuple[str, int]) -> tuple[int, str]:
    return -kv[1], kv[0]


def _top(counts: Mapping[Any, int], n: int) -> dict[str, int]:
    """The n largest counts, ties broken by key; keys made strings of at most KEY_MAX
    characters (counts of keys that become equal are added together first)."""
    if not all(type(k) is str and len(k) <= KEY_MAX for k in counts):
        clean: dict[str, int] = {}
        for k, v in counts.items():
            s = (k if isinstance(k, str) else str(k))[:KEY_MAX]
            clean[s] = clean.get(s, 0) + v
        counts = clean
    if len(counts) <= n:
        return dict(sorted(counts.items(), key=_rank))
    return dict(heapq.nsmallest(n, counts.items(), key=_rank))


# --- the DynamoDB item ----------------------------------------------------------------------


def to_item(rollup: MinuteRollup, *, shard_id: str, first_seq: str, last_seq: str,
            expires_at: int) -> dict[str, Any]:
    """The rollup as one DynamoDB item (low-level AttributeValue form), deterministic: the
    same rollup and cut give an equal dict, so a replay rewrites identical bytes.

    Empty maps and an empty sketch are left out. If the item would exceed
    :data:`MAX_ITEM_BYTES`, the largest map is halved (lowest ranks dropped) until it fits.
    """
    item: dict[str, Any] = {
        "pk": {"S": f"{rollup.property_id}#{rollup.minute}"},
        "sk": {"S": f"{shard_id}#{first_seq}"},
        "last_seq": {"S": last_seq},
        "expires_at": {"N": str(int(expires_at))},
        "v": {"N": str(ITEM_VERSION)},
    }
    for name in COUNTS:
        item[name] = {"N": str(getattr(rollup, name))}
    if rollup.visitors:
        item["visitors"] = {"B": rollup.visitors}
    maps = {name: getattr(rollup, name) for name in MAPS}
    while True:
        for name in MAPS:
            m = maps[name]
            if m:
                item[name] = {"M": {k: {"N": str(v)} for k, v in m.items()}}
            else:
                item.pop(name, None)
        size = item_size(item)
        if size <= MAX_ITEM_BYTES:
            return item
        biggest = max(MAPS, key=lambda name: (item_size({name: item[name]}) if name in item else 0))
        m = maps[biggest]
        if not m:  # nothing left to drop (cannot happen: the rest is a few KB)
            raise RollupInputError(f"rollup item of {size} bytes cannot be made to fit")
        maps[biggest] = dict(list(m.items())[: len(m) // 2])


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "N":
        return _number_size(v)
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(x) for k, x in v.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(x) for x in v)
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in v)
    if kind == "NS":
        return sum(_number_size(s) for s in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    raise ValueError(f"unknown AttributeValue type {kind!r}")


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it (attribute names plus values; maps and lists add
    3 bytes and 1 byte per element; numbers 1 byte per two significant digits plus 1)."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


# --- the read side --------------------------------------------------------------------------


def merge(items: Iterable[Mapping[str, Any]], *, top_n: int = TOP_N) -> MinuteView:
    """Merge rollup items (AttributeValue form, as Query returns them): counts and maps are
    summed (then the maps cut to the top ``top_n``), visitor sketches unioned. Items with the
    same (pk, sk) count once. Works across minutes as well as within one."""
    unique: dict[tuple[str, str], Mapping[str, Any]] = {}
    for item in items:
        unique[(item["pk"]["S"], item["sk"]["S"])] = item
    counts = dict.fromkeys(COUNTS, 0)
    maps: dict[str, dict[str, int]] = {name: {} for name in MAPS}
    union: Any = None
    for item in unique.values():
        for name in COUNTS:
            value = item.get(name)
            if value is not None:
                counts[name] += int(value["N"])
        for name in MAPS:
            value = item.get(name)
            if value is not None:
                d = maps[name]
                for k, v in value["M"].items():
                    d[k] = d.get(k, 0) + int(v["N"])
        sketch = item.get("visitors")
        if sketch is not None:
            if union is None:
                union = datasketches.hll_union(LG_K)
            union.update(datasketches.hll_sketch.deserialize(bytes(sketch["B"])))
    visitors = 0 if union is None else round(union.get_estimate())
    return MinuteView(len(unique), counts["hits"], counts["pageviews"], counts["events"],
                      counts["bots"], visitors, *(_top(maps[name], top_n) for name in MAPS))
