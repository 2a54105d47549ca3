"""`lambdalytics compact` then `lambdalytics query` over the lake, on moto and on a directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from lambdalytics.cli import main
from lambdalytics.hit import Hit
from tests import lake_support

DAY = datetime(2026, 11, 2, tzinfo=UTC)  # long closed


def hits(n: int, prop: str = "p1", day: datetime = DAY) -> list[Hit]:
    return [Hit(hit_id=f"{prop}{day.day:02d}{i:028x}", property_id=prop, type="pageview",
                received_time=day + timedelta(minutes=i), event_time=day + timedelta(minutes=i),
                client_id=f"c{i % 3}", page_path="/") for i in range(n)]


@pytest.fixture
def env(moto_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LAMBDALYTICS_RESOURCE_PREFIX", prefix)
    monkeypatch.setenv("LAMBDALYTICS_AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("LAMBDALYTICS_AWS_REGION", "us-east-1")
    s3 = boto3.client("s3", endpoint_url=moto_url)
    s3.create_bucket(Bucket=f"{prefix}-archive")
    lake_support.archive(s3, f"{prefix}-archive", "", hits(70) + hits(5, "p2")
                         + hits(4, day=DAY + timedelta(days=1)))
    return moto_url


def test_compact_then_query_the_events(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["compact", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert sorted((d["property_id"], d["date"], d["rows"]) for d in report["days"]) == [
        ("p1", "2026-11-02", 70), ("p1", "2026-11-03", 4), ("p2", "2026-11-02", 5)]
    assert report["through"] == {"p1": "2026-11-03", "p2": "2026-11-02"}

    main(["query", "SELECT property, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"])
    assert capsys.readouterr().out.splitlines() == ["property\tn", "p1\t74", "p2\t5"]
    main(["query", "SELECT count(*) AS n FROM lake"])
    assert capsys.readouterr().out.splitlines() == ["n", "79"]

    main(["compact"])  # nothing left to do
    assert capsys.readouterr().out.splitlines()[-1] == "0 days compacted, 3 up to date, 0 not closed yet"


def test_one_property_and_date(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["compact", "--property", "p1", "--date", "2026-11-03"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("p1\t2026-11-03\t4 rows\t0 duplicates dropped\t")
    assert out[-1] == "1 days compacted, 0 up to date, 0 not closed yet"


def test_an_open_day_is_refused(env: str) -> None:
    today = datetime.now(UTC).date().isoformat()
    with pytest.raises(SystemExit, match=rf"^error: {today} is not closed yet"):
        main(["compact", "--date", today])


def test_a_local_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for key, body in lake_support.process_objects("", hits(12)).items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(body)
    main(["compact", "--location", str(tmp_path)])
    assert capsys.readouterr().out.splitlines()[-1] == \
        "1 days compacted, 0 up to date, 0 not closed yet"
    assert (tmp_path / "lake/property=p1/date=2026-11-02/hits.parquet").is_file()
    main(["query", "--location", str(tmp_path), "SELECT count(*) AS n FROM events"])
    assert capsys.readouterr().out.splitlines() == ["n", "12"]


def test_report_over_the_lake(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["compact"])
    capsys.readouterr()
    main(["report", "overview", "--property", "p1", "--from", "2026-11-02", "--to", "2026-11-03",
          "--timezone", "UTC", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    this = doc["rows"][0]
    assert (this["visitors"], this["pageviews"]) == (3, 74)
    assert doc["engine"] == "duckdb"
    main(["report", "pages", "--property", "p1", "--from", "2026-11-02", "--to", "2026-11-02",
          "--timezone", "UTC", "--format", "csv"])
    assert capsys.readouterr().out.splitlines() == ["page_path,pageviews,visitors", "/,70,3"]


def test_report_for_a_property_the_table_does_not_have(env: str) -> None:
    main(["bootstrap"])  # the properties table, without p1 in it
    with pytest.raises(SystemExit, match="no property 'p1' in the properties table"):
        main(["report", "overview", "--property", "p1", "--from", "2026-11-02",
              "--to", "2026-11-03"])


def test_compact_switches_the_athena_views(env: str, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    athena = boto3.client("athena", endpoint_url=env)
    workgroup = "wg-" + env.rsplit(":", 1)[1] + "-" + str(id(capsys))
    athena.create_work_group(Name=workgroup, Configuration={
        "ResultConfiguration": {"OutputLocation": "s3://results/"}})
    monkeypatch.setenv("LAMBDALYTICS_ATHENA_WORKGROUP", workgroup)
    main(["compact", "--athena"])
    assert capsys.readouterr().out.splitlines()[-1].startswith("athena: views events, events_ga4")
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    sent = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]
    events = next(q for q in sent if '"events" AS' in q)
    assert """("property" = 'p1' AND "date" <= '2026-11-03')""" in events
    assert """("property" = 'p2' AND "date" <= '2026-11-02')""" in events
    assert any("events_ga4" in q for q in sent)
