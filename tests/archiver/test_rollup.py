"""Per-minute rollups, the pure part: counts, top-N maps, the visitors sketch, items, merge."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver import rollup
from archiver.rollup import NOT_SET, MinuteRollup, RollupInputError, build, merge, to_item
from lambdalytics.hit import Hit, encode
from lambdalytics.records import FilteredCount

T0 = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)
SEQ = "49680632588535316085919846550877609791615911292630466562"


def hit(n: int = 0, **fields: Any) -> dict[str, Any]:
    """A hit as the archiver sees it: the canonical Hit's JSON, decoded."""
    fields.setdefault("property_id", "p1")
    fields.setdefault("event_time", T0)
    fields.setdefault("client_id", f"{n}.1700000000")
    return orjson.loads(encode(Hit(hit_id=f"{n:032x}", **fields)))  # type: ignore[no-any-return]


def item(r: MinuteRollup, first: str = SEQ, shard: str = "shardId-000000000000") -> dict[str, Any]:
    return to_item(r, shard_id=shard, first_seq=first, last_seq=first + "9", expires_at=1_900_000_000)


def test_counts_equal_the_hits_given() -> None:
    hits = [
        hit(1, type="pageview", page_path="/", geo_country="DE", device_category="desktop",
            browser="Firefox", campaign_source="newsletter", referrer_source="gmail",
            referrer_medium="email"),
        hit(2, type="pageview", page_path="/a", geo_country="DE", browser="Chrome",
            referrer_source="google", referrer_medium="search"),
        hit(3, type="screenview", screen_name="Home", referrer_medium="direct"),
        hit(4, type="pageview", page_path="/a", referrer_medium="internal",
            bot_reason="crawler list", is_bot=True, device_category="bot"),
        hit(5, type="event", event_category="video", event_action="play", page_path="/a"),
        hit(6, type="timing", timing_category="x", timing_variable="y", timing_time_ms=3),
        hit(1, type="event", event_time=T0 + timedelta(seconds=59)),  # same minute, same client
    ]
    (key, r), = build(hits).items()
    assert key == ("p1", "2026-11-28T03:00")
    assert (r.property_id, r.minute) == key
    assert (r.hits, r.pageviews, r.events, r.bots) == (7, 4, 2, 1)
    assert r.types == {"event": 2, "pageview": 3, "screenview": 1, "timing": 1}
    assert r.pages == {"/a": 2, "/": 1, "Home": 1}  # pageviews only; screen name for screens
    assert r.sources == {"(direct)": 1, "(internal)": 1, "google": 1, "newsletter": 1}
    assert r.countries == {NOT_SET: 5, "DE": 2}
    assert r.devices == {NOT_SET: 5, "bot": 1, "desktop": 1}
    assert r.browsers == {NOT_SET: 5, "Chrome": 1, "Firefox": 1}
    assert r.filtered == {}
    assert r.claimed == {}
    assert r.agents == {}
    assert merge([item(r)]).visitors == 6


def test_hits_split_by_property_and_minute() -> None:
    hits = [hit(i, property_id=f"p{i % 3}", event_time=T0 + timedelta(seconds=20 * i))
            for i in range(12)]
    out = build(hits)
    expected = Counter((h["property_id"], h["event_time"][:16]) for h in hits)
    assert {k: r.hits for k, r in out.items()} == dict(expected)
    assert sum(r.hits for r in out.values()) == 12


def test_filtered_counters_by_reason_and_unknown_property() -> None:
    counters = [
        FilteredCount("p1", "UA-1-1", "bot", "2026-11-28T03:00Z", 5,
                      "Other on Other (crawler:Googlebot)"),
        FilteredCount("p1", "UA-1-1", "hostname", "2026-11-28T03:00Z", 2),
        FilteredCount("p1", "UA-1-1", "bot", "2026-11-28T03:00Z", 1,
                      "Instagram on Android (crawler:AP3A.240617.008)"),
        FilteredCount("p1", "UA-1-2", "bot", "2026-11-28T03:00Z", 2,
                      "Other on Other (crawler:Googlebot)"),
        FilteredCount(None, "UA-999-1", "unknown_property", "2026-11-28T03:00Z", 7),
        FilteredCount(None, "", "unknown_property", "2026-11-28T03:00Z", 3),
        FilteredCount(None, "G-XYZ", "unknown_property", "2026-11-28T03:01Z", 1),
    ]
    out = build([hit(1)], counters)
    p1 = out[("p1", "2026-11-28T03:00")]
    assert p1.hits == 1
    assert p1.filtered == {"bot": 8, "hostname": 2}
    assert p1.claimed == {}
    assert p1.agents == {"Other on Other (crawler:Googlebot)": 7,
                         "Instagram on Android (crawler:AP3A.240617.008)": 1}
    merged = merge([item(p1)])
    assert merged.agents == p1.agents
    unknown = out[("_unknown", "2026-11-28T03:00")]
    assert unknown.hits == 0
    assert unknown.filtered == {"unknown_property": 10}
    assert unknown.claimed == {"UA-999-1": 7, NOT_SET: 3}
    assert out[("_unknown", "2026-11-28T03:01")].claimed == {"G-XYZ": 1}


def test_top_n_is_bounded_and_deterministic() -> None:
    hits = []
    for page in range(100):  # /p000 … /p099: counts 1..4 with many ties
        hits += [hit(len(hits), type="pageview", page_path=f"/p{page:03d}")
                 for _ in range(1 + page % 4)]
    r = build(hits, top_n=5)[("p1", "2026-11-28T03:00")]
    # four-count pages are /p003, /p007, …; ties go to the smaller key
    assert r.pages == {"/p003": 4, "/p007": 4, "/p011": 4, "/p015": 4, "/p019": 4}
    assert list(r.pages) == sorted(r.pages)
    shuffled = hits[:]
    random.Random(7).shuffle(shuffled)
    again = build(shuffled, top_n=5)[("p1", "2026-11-28T03:00")]
    assert list(again.pages.items()) == list(r.pages.items())
    assert len(build(hits)[("p1", "2026-11-28T03:00")].pages) == rollup.TOP_N


def test_item_is_deterministic_and_keyed_by_cut() -> None:
    hits = [hit(i, type="pageview", page_path=f"/{i % 7}", geo_country="FR") for i in range(300)]
    a = item(build(hits)[("p1", "2026-11-28T03:00")])
    b = item(build([dict(h) for h in hits])[("p1", "2026-11-28T03:00")])
    assert a == b
    assert orjson.dumps(a, option=orjson.OPT_SORT_KEYS, default=bytes.hex) == \
        orjson.dumps(b, option=orjson.OPT_SORT_KEYS, default=bytes.hex)
    assert a["pk"] == {"S": "p1#2026-11-28T03:00"}
    assert a["sk"] == {"S": f"shardId-000000000000#{SEQ}"}
    assert a["last_seq"] == {"S": SEQ + "9"}
    assert a["expires_at"] == {"N": "1900000000"}
    assert a["hits"] == {"N": "300"}
    assert isinstance(a["visitors"]["B"], bytes)


def test_visitors_within_documented_error_for_20000_clients() -> None:
    rng = random.Random(20_000)
    ids = [f"{rng.getrandbits(31)}.{rng.getrandbits(31)}" for _ in range(20_000)]
    assert len(set(ids)) == 20_000
    hits = [hit(i, client_id=c) for i, c in enumerate(ids)]
    whole = merge([item(build(hits)[("p1", "2026-11-28T03:00")])]).visitors
    assert abs(whole - 20_000) <= rollup.VISITORS_REL_ERR * 20_000, whole
    # the same clients over four cuts (each seen twice): the union's error bound
    cuts = [build(hits[i::4] + hits[i::4])[("p1", "2026-11-28T03:00")] for i in range(4)]
    merged = merge([item(c, first=str(i)) for i, c in enumerate(cuts)])
    assert abs(merged.visitors - 20_000) <= rollup.VISITORS_REL_ERR_MERGED * 20_000
    assert merged.hits == 40_000


@pytest.mark.parametrize("n", [0, 1, 2, 10, 57, 100, 250])
def test_visitors_exact_for_small_counts(n: int) -> None:
    hits = [hit(i % n if n else 0, client_id=f"c{i % n}" if n else None) for i in range(3 * n + 1)]
    (r,) = build(hits).values()
    assert merge([item(r)]).visitors == n
    assert (r.visitors == b"") == (n == 0)


def test_merge_of_split_inputs_equals_build_of_the_whole() -> None:
    rng = random.Random(3)
    hits = [hit(i, client_id=f"c{rng.randrange(40)}", type=rng.choice(["pageview", "event"]),
                page_path=f"/{rng.randrange(8)}", geo_country=rng.choice(["DE", "FR", None]),
                event_time=T0 + timedelta(seconds=rng.randrange(180)), property_id=f"p{i % 2}")
            for i in range(500)]
    counters = [FilteredCount(None, "UA-9-1", "unknown_property", "2026-11-28T03:01Z", 2)] * 5
    whole = build(hits, counters)
    parts = [build(hits[:100], counters[:2]), build(hits[100:450]), build(hits[450:], counters[2:])]
    for key, r in whole.items():
        one = merge([item(r)])
        split = merge([item(p[key], first=str(i)) for i, p in enumerate(parts) if key in p])
        assert split.items == sum(key in p for p in parts)
        assert dataclasses.replace(split, items=1) == one, key


def test_merge_across_minutes_and_duplicate_items_count_once() -> None:
    hits = [hit(i, client_id=f"c{i % 5}", event_time=T0 + timedelta(minutes=i % 30))
            for i in range(90)]
    items = [item(r) for r in build(hits).values()]
    view = merge(items + items[:3])  # the same (pk, sk) twice is one cut
    assert (view.items, view.hits, view.visitors) == (30, 90, 5)
    assert merge([]) == rollup.MinuteView()


def test_item_size_bounded_with_100000_distinct_pages() -> None:
    hits = [{"property_id": "p1", "event_time": "2026-11-28T03:00:00.000Z", "type": "pageview",
             "client_id": f"c{i}", "page_path": f"/{i:06d}/" + "x" * 1500,
             "geo_country": f"{i % 250:03d}", "browser": f"b{i % 1000}" + "y" * 600,
             "referrer_source": f"s{i}" + "z" * 90} for i in range(100_000)]
    r = build(hits)[("p1", "2026-11-28T03:00")]
    assert r.hits == r.pageviews == 100_000
    assert len(r.pages) == rollup.TOP_N
    assert all(len(k) <= rollup.KEY_MAX for k in r.pages)
    it = item(r)
    assert rollup.item_size(it) <= rollup.MAX_ITEM_BYTES
    assert len(it["pages"]["M"]) >= 1
    view = merge([it])
    assert view.hits == 100_000
    assert abs(view.visitors - 100_000) <= rollup.VISITORS_REL_ERR * 100_000
    # a typical busy cut stays within a few KB even at the default N
    typical = [dict(h, page_path=f"/{i % 500}", browser=f"b{i % 9}",
                    referrer_source=f"s{i % 40}") for i, h in enumerate(hits[:5_000])]
    assert rollup.item_size(item(build(typical)[("p1", "2026-11-28T03:00")])) < 4 * 1024


def test_item_size_counts_as_dynamodb_bills() -> None:
    assert rollup.item_size({"a": {"S": "xyz"}}) == 4
    assert rollup.item_size({"n": {"N": "12345"}}) == 1 + 3 + 1
    assert rollup.item_size({"n": {"N": "-100"}}) == 1 + 1 + 1
    assert rollup.item_size({"b": {"B": b"\x00" * 10}}) == 11
    assert rollup.item_size({"m": {"M": {"k": {"N": "7"}}}}) == 1 + 3 + (1 + 1 + 2)


@pytest.mark.parametrize("bad", [
    {"event_time": "2026-11-28T03:00:00Z"},  # no property
    {"property_id": "p1"},  # no time
    {"property_id": "p1", "event_time": None},
    {"property_id": "p1", "event_time": "yesterday"},
    {"property_id": 5, "event_time": "2026-11-28T03:00:00Z"},
    {"property_id": "", "event_time": "2026-11-28T03:00:00Z"},
])
def test_hits_without_property_or_time_are_an_input_error(bad: dict[str, Any]) -> None:
    with pytest.raises(RollupInputError):
        build([hit(1), bad])


# --- the property: any split into cuts, merged, equals building all at once -----------------

_hits = st.lists(st.builds(
    lambda n, kind, page, country, browser, source, medium, bot, minute, prop: hit(
        n, type=kind, page_path=page, geo_country=country, browser=browser,
        campaign_source=source, referrer_medium=medium, bot_reason=bot,
        event_time=T0 + timedelta(minutes=minute), property_id=prop),
    st.integers(0, 30), st.sampled_from(["pageview", "screenview", "event", "timing"]),
    st.sampled_from([None, "/", "/a", "/b"]), st.sampled_from([None, "DE", "US"]),
    st.sampled_from([None, "Chrome"]), st.sampled_from([None, "google", "mail"]),
    st.sampled_from([None, "direct", "internal", "referral"]), st.sampled_from([None, "ua"]),
    st.integers(0, 2), st.sampled_from(["p1", "p2"]),
), max_size=60)
_counters = st.lists(st.builds(
    FilteredCount, st.sampled_from([None, "p1"]), st.sampled_from(["", "UA-1-1", "G-2"]),
    st.sampled_from(["bot", "spam"]), st.sampled_from(["2026-11-28T03:00Z", "2026-11-28T03:02Z"]),
    st.integers(1, 1000)), max_size=10)


@settings(max_examples=150, deadline=None)
@given(_hits, _counters, st.lists(st.integers(0, 60), max_size=6), st.data())
def test_any_split_into_cuts_merges_to_the_whole(hits: list[dict[str, Any]],
                                                 counters: list[FilteredCount],
                                                 cuts: list[int], data: st.DataObject) -> None:
    bounds = sorted({0, len(hits), *(min(c, len(hits)) for c in cuts)})
    counter_cut = data.draw(st.integers(0, len(counters)))
    parts = [build(hits[a:b]) for a, b in itertools.pairwise(bounds)]
    parts += [build((), counters[:counter_cut]), build((), counters[counter_cut:])]
    whole = build(hits, counters)
    assert {k for p in parts for k in p} == set(whole)
    for key, r in whole.items():
        split = merge([item(p[key], first=str(i)) for i, p in enumerate(parts) if key in p])
        assert split.items >= 1
        assert dataclasses.replace(split, items=1) == merge([item(r)])
