"""`lambdalytics ddl` prints what lambdalytics.ddl generates, for every engine."""

from __future__ import annotations

import json

import pytest
import sqlglot

from lambdalytics.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    main(["ddl", *args])
    return capsys.readouterr().out


def test_athena_for_the_configured_bucket(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDALYTICS_RESOURCE_PREFIX", "acme")
    out = run(capsys, "--engine", "athena", "--database", "analytics")
    statements = [s for s in out.split(";\n") if s.strip()]
    assert len(statements) == 3  # hits, filtered and the lake
    assert "s3://acme-archive/hits/" in out
    assert "s3://acme-archive/lake/property=${property}/date=${date}/" in out
    assert "'projection.enabled'='true'" in out.replace(" ", "")
    for s in statements:
        sqlglot.parse_one(s, read="athena")


def test_trino_adds_the_partition_sync(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "--engine", "trino", "--table", "hits", "--bucket", "my-archive",
              "--archive-prefix", "ga/")
    assert "external_location = 's3://my-archive/ga/hits/'" in out.replace("  ", " ")
    assert "sync_partition_metadata" in out


def test_glue_is_json_and_duckdb_a_view(capsys: pytest.CaptureFixture[str]) -> None:
    table_input = json.loads(run(capsys, "--engine", "glue", "--table", "hits"))
    assert table_input["Name"] == "hits"
    assert [k["Name"] for k in table_input["PartitionKeys"]] == ["property", "type", "date"]
    assert "CREATE OR REPLACE VIEW" in run(capsys, "--engine", "duckdb", "--location", "/tmp/a/")
