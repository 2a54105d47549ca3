from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from lambdalytics import archive_layout as layout
from lambdalytics.hit import HIT_TYPES, Hit

SEG = ("shardId-000000000001-49590338271490256608559692538361571095921575989136588898-"
       "49590338271490256608559692540925702759324208523137515618")


def test_hits_key_is_the_contract_layout() -> None:
    seg = layout.segment_name("shardId-000000000001", "17", "42")
    assert seg == "shardId-000000000001-17-42"
    assert layout.hits_key("", "p1a2b3", "pageview", "2026-11-28", seg) == (
        "hits/property=p1a2b3/type=pageview/date=2026-11-28/shardId-000000000001-17-42.json.gz")
    assert layout.hits_key("tenant/a/", "p1", "event", date(2026, 1, 2), seg) == (
        "tenant/a/hits/property=p1/type=event/date=2026-01-02/shardId-000000000001-17-42.json.gz")


def test_keyword_arguments_match_the_brief() -> None:
    key = layout.hits_key(archive_prefix="x/", property_id="p1", type="item", date="2026-11-28",
                          segment="s-1-1")
    assert key == "x/hits/property=p1/type=item/date=2026-11-28/s-1-1.json.gz"


def test_date_is_the_utc_date_of_an_aware_datetime() -> None:
    late_in_new_york = datetime(2026, 11, 28, 22, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert layout.date_value(late_in_new_york) == "2026-11-29"
    assert layout.date_value(datetime(2026, 11, 28, 23, 59, 59, 999000, tzinfo=UTC)) == "2026-11-28"
    with pytest.raises(ValueError, match="naive"):
        layout.date_value(datetime(2026, 11, 28, 12))
    for bad in ("2026-1-2", "20261128", "2026-11-28/x", "../2026-11-28"):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            layout.date_value(bad)
    with pytest.raises(ValueError, match="not a calendar date"):
        layout.date_value("2026-02-30")


def test_hits_key_for_takes_property_type_and_event_date_from_the_hit() -> None:
    hit = Hit(property_id="p9", type="transaction",
              event_time=datetime(2026, 11, 27, 23, 59, 59, 999000, tzinfo=UTC),
              received_time=datetime(2026, 11, 28, 0, 0, 1, tzinfo=UTC))
    assert layout.hits_key_for("", hit, "shardId-0-5-9") == (
        "hits/property=p9/type=transaction/date=2026-11-27/shardId-0-5-9.json.gz")


def test_filtered_and_rejected_keys() -> None:
    assert layout.filtered_key("", "p1", "2026-11-28", "s-1-2") == (
        "filtered/property=p1/date=2026-11-28/s-1-2.json.gz")
    assert layout.filtered_key("a/", None, "2026-11-28", "s-1-2") == (
        "a/filtered/property=_unknown/date=2026-11-28/s-1-2.json.gz")
    assert layout.filtered_key("a/", layout.UNKNOWN_PROPERTY, "2026-11-28", "s-1-2") == (
        "a/filtered/property=_unknown/date=2026-11-28/s-1-2.json.gz")
    assert layout.rejected_key("a/", "2026-11-28", "s-1-2") == "a/rejected/date=2026-11-28/s-1-2.json.gz"


@pytest.mark.parametrize("bad", [
    "", "P1", "p 1", "p/1", "p=1", "p.1", "p1/../x", "_unknown", "_x", "-p", "é", "p\n", "x" * 65,
    "p1%2F", "p1*",
])
def test_unsafe_property_ids_are_rejected_not_escaped(bad: str) -> None:
    with pytest.raises(ValueError, match="partition value"):
        layout.hits_key("", bad, "pageview", "2026-11-28", "s-1-1")
    if bad != layout.UNKNOWN_PROPERTY:  # the one reserved value a counter may carry
        with pytest.raises(ValueError, match="partition value"):
            layout.filtered_key("", bad, "2026-11-28", "s-1-1")


def test_every_hit_type_is_a_partition_value_and_nothing_else_is() -> None:
    for t in HIT_TYPES:
        assert layout.partition_value("type", layout.hit_type(t)) == t
    for bad in ("PAGEVIEW", "page_view", "custom", ""):
        with pytest.raises(ValueError, match="type"):
            layout.hits_key("", "p1", bad, "2026-11-28", "s-1-1")


@pytest.mark.parametrize("bad", ["a", "/a/", "a//", "./", "a/../", "a=b/", "a b/", "/"])
def test_archive_prefix_must_be_empty_or_clean_and_end_with_a_slash(bad: str) -> None:
    with pytest.raises(ValueError, match="archive prefix"):
        layout.hits_key(bad, "p1", "pageview", "2026-11-28", "s-1-1")


def test_segment_name_is_validated() -> None:
    assert layout.segment_name("shardId-000000000000", "1", "1") == "shardId-000000000000-1-1"
    for args in (("shard/1", "1", "2"), ("_shard", "1", "2"), ("", "1", "2")):
        with pytest.raises(ValueError, match="shard id"):
            layout.segment_name(*args)
    for args in (("s", "a", "2"), ("s", "-1", "2"), ("s", "1", "")):
        with pytest.raises(ValueError, match="sequence number"):
            layout.segment_name(*args)
    with pytest.raises(ValueError, match="first sequence number 3 > last 2"):
        layout.segment_name("s", "3", "2")
    for seg in ("", ".hidden-1-2", "_x-1-2", "s-1-2.json", "s/x-1-2", "s 1", "x" * 301):
        with pytest.raises(ValueError, match="segment"):
            layout.hits_key("", "p1", "pageview", "2026-11-28", seg)
    # any safe name passes, so partition values can be checked with a placeholder segment
    assert layout.hits_key("", "p1", "pageview", "2026-11-28", "check").endswith("/check.json.gz")


def test_real_kinesis_sequence_numbers_fit() -> None:
    first, last = SEG.split("-")[2:]
    seg = layout.segment_name("shardId-000000000001", first, last)
    assert seg == SEG
    key = layout.hits_key("", "p1", "pageview", "2026-11-28", seg)
    assert len(key.encode()) < 1024  # S3's key limit


def test_parse_key_inverts_every_writer() -> None:
    keys = [
        layout.hits_key("pre/", "p1", "event", "2026-11-28", "s-1-2"),
        layout.filtered_key("pre/", "p1", "2026-11-28", "s-1-2"),
        layout.filtered_key("pre/", None, "2026-11-28", "s-1-2"),
        layout.rejected_key("pre/", "2026-11-28", "s-1-2"),
    ]
    parsed = [layout.parse_key("pre/", k) for k in keys]
    assert parsed[0] == layout.ParsedKey(
        "hits", (("property", "p1"), ("type", "event"), ("date", "2026-11-28")), "s-1-2")
    assert parsed[1].table == "filtered"
    assert parsed[1].value("property") == "p1"
    assert parsed[2].value("property") == "_unknown"
    assert parsed[3] == layout.ParsedKey("rejected", (("date", "2026-11-28"),), "s-1-2")


@pytest.mark.parametrize("key", [
    "pre/hits/property=p1/type=event/date=2026-11-28/s-1-2.json",
    "pre/hits/type=event/property=p1/date=2026-11-28/s-1-2.json.gz",
    "pre/hits/property=P1/type=event/date=2026-11-28/s-1-2.json.gz",
    "pre/hits/property=p1/type=event/s-1-2.json.gz",
    "pre/lake/property=p1/date=2026-11-28/x.parquet",
    "other/hits/property=p1/type=event/date=2026-11-28/s-1-2.json.gz",
    "pre/rejected/date=2026-11-28/x/s-1-2.json.gz",
    "pre/hits",
])
def test_parse_key_rejects_what_no_writer_writes(key: str) -> None:
    with pytest.raises(ValueError, match=r"archive object key|expected|not under|partition value"):
        layout.parse_key("pre/", key)


def test_locations() -> None:
    assert layout.archive_root("lambdalytics-archive") == "s3://lambdalytics-archive/"
    assert layout.hits_location("b-1", "x/y/") == "s3://b-1/x/y/hits/"
    assert layout.filtered_location("b-1") == "s3://b-1/filtered/"
    assert layout.rejected_location("b-1", "x/") == "s3://b-1/x/rejected/"
    assert layout.table_location("/tmp/archive", "hits") == "/tmp/archive/hits/"
    for bad in ("B", "ab", "a_b", "a..b", "-ab"):
        with pytest.raises(ValueError, match="bucket"):
            layout.archive_root(bad)
    assert layout.table_location("s3://b/", "lake") == "s3://b/lake/"
    with pytest.raises(ValueError, match="table"):
        layout.table_location("s3://b/", "lake-manifests")


def test_lake_keys() -> None:
    assert layout.lake_key("x/", "p1", "2026-11-28") == "x/lake/property=p1/date=2026-11-28/hits.parquet"
    assert layout.lake_manifest_key("", "p1", "2026-11-28") == \
        "lake-manifests/property=p1/date=2026-11-28.json"
    assert layout.lake_through_key("", "p1") == "lake-manifests/property=p1/through.json"
    assert layout.hits_property_prefix("x/", "p1") == "x/hits/property=p1/"
    for bad in ("P1", "_unknown", "a/b"):
        with pytest.raises(ValueError, match="partition value"):
            layout.lake_key("", bad, "2026-11-28")
    with pytest.raises(ValueError, match="date"):
        layout.lake_key("", "p1", "2026-13-01")


def test_a_key_is_under_its_table_location() -> None:
    key = layout.hits_key("x/", "p1", "pageview", "2026-11-28", "s-1-1")
    assert f"s3://bkt/{key}".startswith(layout.hits_location("bkt", "x/"))
    key = layout.filtered_key("x/", None, "2026-11-28", "s-1-1")
    assert f"s3://bkt/{key}".startswith(layout.filtered_location("bkt", "x/"))
