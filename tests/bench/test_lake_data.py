"""Smoke test of bench/lake_data.py on ~10k hits: the archive it writes is one the archiver
would write (keys, lines, objects, gzip bytes), the same for any number of workers, its
summary is what the files hold, and the query layer's DuckDB views read it. Speeds are
never asserted."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import duckdb
import orjson
import pytest

from archiver.processor import GZIP_LEVEL, DuplicateWindow, Record, process
from bench import lake_data
from bench.lake_sessions import Unit
from bench.lake_traffic import Params, build
from lambdalytics import archive_layout, ddl, hit

PARAMS = Params(hits=10_000, days=3, properties=3, shards=2, cut=600)
Contents = dict[str, tuple[archive_layout.ParsedKey, list[bytes]]]  # key → (parsed, lines)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "summary.json"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("lake")
    world, total = lake_data.generate(PARAMS, lake_data.Target(out=root), workers=1)
    return root, lake_data.summary(world, total)


@pytest.fixture(scope="module")
def contents(archive: tuple[Path, dict[str, Any]]) -> Contents:
    root, _ = archive
    out = {}
    for key, body in _files(root).items():
        parsed = archive_layout.parse_key("", key)  # ValueError for a key the archiver would not write
        raw = gzip.decompress(body)
        assert gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0) == body  # the archiver's gzip
        assert raw.endswith(b"\n")
        out[key] = (parsed, raw[:-1].split(b"\n"))
    return out


def test_keys_and_lines_are_the_archivers(contents: Contents) -> None:
    tables = Counter(parsed.table for parsed, _ in contents.values())
    assert set(tables) == {"hits", "filtered"}
    for parsed, lines in contents.values():
        shard, first, last = parsed.segment.split("-")[1:]
        assert shard.isdigit()
        assert len(first) == len(last) == 56
        assert first <= last
        for line in lines:
            if parsed.table == "hits":
                h = hit.decode(line)
                assert hit.encode(h) == line  # byte for byte what the collector writes
                assert (h.property_id, h.type, h.event_time.date().isoformat()) == (
                    parsed.value("property"), parsed.value("type"), parsed.value("date"))
                assert len(h.hit_id) == 32
            else:
                counter = orjson.loads(line)
                assert counter["record"] == "filtered"
                assert counter["minute"][:10] == parsed.value("date")
                assert (counter["property_id"] or "_unknown") == parsed.value("property")


def test_objects_are_what_the_archiver_processor_makes() -> None:
    """One unit's records through archiver.processor.process, cut as the generator cuts them:
    the same keys and the same bytes (and the duplicate window drops none: the retried
    copies come later than it looks back)."""
    world = build(PARAMS)
    day, shard = 1, 0
    records, _ = Unit(world, day, shard).run()
    ours = {key: body for _, key, body, _ in lake_data.objects(PARAMS, day, shard, records)}
    theirs: dict[str, bytes] = {}
    window = DuplicateWindow(600_000)
    for start, end in lake_data.cuts(PARAMS, day, shard, len(records)):
        batch = [Record(lake_data.sequence(shard, day, i), received, data)
                 for i, (received, _, data) in enumerate(records[start:end], start)]
        out = process(batch, shard_id=lake_data.shard_id(shard), first=batch[0].sequence,
                      last=batch[-1].sequence, window=window)
        assert out.duplicates == 0
        assert out.rejected == 0
        theirs.update(out.objects)
    assert theirs == ours


def test_the_same_archive_for_any_number_of_workers(archive: tuple[Path, dict[str, Any]],
                                                     tmp_path: Path) -> None:
    root, summary = archive
    world, total = lake_data.generate(PARAMS, lake_data.Target(out=tmp_path), workers=2)
    assert lake_data.summary(world, total) == summary
    assert _files(tmp_path) == _files(root)


def test_summary_is_what_the_files_hold(archive: tuple[Path, dict[str, Any]],
                                        contents: Contents) -> None:
    _, summary = archive
    lines: Counter[tuple[str, str]] = Counter()
    ids: dict[tuple[str, str], set[str]] = {}
    types: Counter[tuple[str, str, str]] = Counter()
    late: Counter[tuple[str, str]] = Counter()
    bots: Counter[tuple[str, str]] = Counter()
    cents: Counter[tuple[str, str]] = Counter()
    filtered: Counter[tuple[str, str, str]] = Counter()
    objects: Counter[str] = Counter()
    for parsed, body in contents.values():
        objects[parsed.table] += 1
        for line in body:
            obj = orjson.loads(line)
            if parsed.table == "filtered":
                filtered[(parsed.value("property"), parsed.value("date"), obj["reason"])] += obj["count"]
                continue
            key = (obj["property_id"], obj["event_time"][:10])
            lines[key] += 1
            if obj["hit_id"] in ids.setdefault(key, set()):
                continue  # a retried copy: same id, same event time, later receive time
            ids[key].add(obj["hit_id"])
            types[(*key, obj["type"])] += 1
            late[key] += obj["event_time"][:10] < obj["received_time"][:10]
            bots[key] += bool(obj.get("is_bot"))
            if obj["type"] == "transaction":
                cents[key] += round(obj["transaction_revenue"] * 100)
    by_property = summary["by_property"]
    assert sum(len(v) for v in ids.values()) == summary["totals"]["hits"] == PARAMS.hits
    for (pid, date), n in lines.items():
        day = by_property[pid]["by_date"][date]
        assert day["lines"] == n
        assert day["hits"] == len(ids[(pid, date)])
        assert day["duplicates"] == n - len(ids[(pid, date)])
        assert day["late_hits"] == late[(pid, date)]
        assert day["bot_flagged_hits"] == bots[(pid, date)]
        assert day["revenue_cents"] == cents[(pid, date)]
        assert day["types"] == {t: c for (p, d, t), c in types.items() if (p, d) == (pid, date)}
        assert day["pageviews"] == types[(pid, date, "pageview")]
    assert sum(len(p["by_date"]) for p in by_property.values()) == len(lines)
    totals = summary["totals"]
    assert totals["duplicates"] > 0
    assert totals["late_hits"] > 0
    assert totals["bot_flagged_hits"] > 0
    assert totals["transactions"] > 0
    assert totals["objects"] == dict(objects)
    assert {(p, d, r): n for p, days in summary["filtered"].items() for d, reasons in days.items()
            for r, n in reasons.items()} == dict(filtered)
    assert {r for _, _, r in filtered} >= {"bot", "bot_flagged", "referrer_spam", "unknown_property"}
    # one bot_flagged count per flagged bot hit forwarded (retried copies are not counted again)
    assert sum(n for (_, _, r), n in filtered.items() if r == "bot_flagged") == totals["bot_flagged_hits"]


def test_duckdb_landing_views_read_it(archive: tuple[Path, dict[str, Any]]) -> None:
    root, summary = archive
    conn = duckdb.connect()
    assert ddl.create_duckdb_views(conn, f"{root}/")["hits"]
    rows = conn.sql('SELECT property, "date", count(*), count(DISTINCT hit_id), '
                    "count(DISTINCT hit_id) FILTER (WHERE type = 'pageview') "
                    'FROM hits GROUP BY ALL').fetchall()
    assert {(p, d): (n, distinct, views) for p, d, n, distinct, views in rows} == {
        (pid, date): (day["lines"], day["hits"], day["pageviews"])
        for pid, prop in summary["by_property"].items() for date, day in prop["by_date"].items()}
    filtered = conn.sql('SELECT property, reason, sum("count") FROM filtered GROUP BY ALL').fetchall()
    expected: Counter[tuple[str, str]] = Counter()
    for prop, days in summary["filtered"].items():
        for reasons in days.values():
            for reason, n in reasons.items():
                expected[(prop, reason)] += n
    assert {(p, r): n for p, r, n in filtered} == dict(expected)


def test_the_command_writes_to_s3_and_a_directory_alike(moto_url: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.create_bucket(Bucket="lake-smoke")
    code = lake_data.main(["--hits", "1.5k", "--days", "2", "--properties", "2", "--shards", "1",
                           "--out", str(tmp_path / "a"), "--bucket", "lake-smoke", "--prefix", "bench/",
                           "--endpoint-url", moto_url, "--workers", "1"])
    assert code == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["totals"]["hits"] == 1500
    assert json.loads((tmp_path / "a" / "summary.json").read_text()) == summary
    local = _files(tmp_path / "a")
    listed = s3.list_objects_v2(Bucket="lake-smoke", Prefix="bench/", MaxKeys=1000)
    remote = {o["Key"][len("bench/"):]: s3.get_object(Bucket="lake-smoke", Key=o["Key"])["Body"].read()
              for o in listed.get("Contents", [])}
    assert remote == local
    # an existing archive is never written into
    assert lake_data.main(["--hits", "1k", "--days", "1", "--out", str(tmp_path / "a")]) == 2
