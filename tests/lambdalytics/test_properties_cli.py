"""`lambdalytics properties …` against moto: plain output, secrets once, retention applied."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path

import boto3
import pytest

from dashboard.settings import AdminSettings
from lambdalytics import aws, bootstrap
from lambdalytics.cli import main
from lambdalytics.resources import BucketSpec


@pytest.fixture
def env(moto_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> AdminSettings:
    monkeypatch.setenv("LAMBDALYTICS_RESOURCE_PREFIX", prefix)
    monkeypatch.setenv("LAMBDALYTICS_AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("LAMBDALYTICS_AWS_REGION", "us-east-1")
    settings = AdminSettings()

    async def provision() -> None:
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            for table in (settings.resources.properties, settings.resources.rollups):
                await bootstrap.ensure_table(ddb, table)
        async with aws.client(aws.session(), "s3", settings) as s3:
            await bootstrap.ensure_bucket(s3, BucketSpec(settings.resources.archive.name),
                                          "us-east-1")

    asyncio.run(provision())
    return settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[list[str]]:
    main(["properties", *argv])
    return [line.split("\t") for line in capsys.readouterr().out.splitlines()]


def field(rows: list[list[str]], key: str) -> str:
    return next(r[1] for r in rows if r[0] == key)


def test_create_show_update_secrets_delete(env: AdminSettings,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    rows = run(capsys, "create", "--name", "Shop", "--firebase-platform", "web",
               "--timezone", "Europe/Berlin", "--retention-days", "14",
               "--goal", "docs:page_path:prefix:/docs/", "--allowed-hostname", "*.shop.example")
    pid = field(rows, "property_id")
    secret = field(rows, "api_secret")
    assert field(rows, "ua_tracking_id").startswith("UA-")
    assert field(rows, "measurement_id").startswith("G-")
    assert field(rows, "goal") == "docs:page_path:prefix:/docs/"
    shown = run(capsys, "show", pid)
    assert secret not in json.dumps(shown)
    assert field(shown, "timezone") == "Europe/Berlin"
    s3 = boto3.client("s3", endpoint_url=env.aws_endpoint_url, region_name="us-east-1")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=env.resources.archive.name)["Rules"]
    assert {r["Expiration"]["Days"] for r in rules} == {14}

    updated = run(capsys, "update", pid, "--retention-days", "none", "--currency", "JPY",
                  "--clear-goals")
    assert (field(updated, "retention_days"), field(updated, "currency")) == ("none", "JPY")
    assert not any(r[0] == "goal" for r in updated)
    run(capsys, "disable", pid)
    assert run(capsys, "list")[0][:2] == [pid, "disabled"]
    run(capsys, "enable", pid)

    added = run(capsys, "secrets", "add", pid, "--label", "ci")
    listed = run(capsys, "secrets", "list", pid)
    assert {r[0] for r in listed} == {field(rows, "api_secret_id"), field(added, "api_secret_id")}
    run(capsys, "secrets", "revoke", pid, field(rows, "api_secret_id"))
    assert [r[0] for r in run(capsys, "secrets", "list", pid)] == [field(added, "api_secret_id")]

    assert run(capsys, "delete", pid, "--yes")[0][:2] == ["deleted", pid]
    with pytest.raises(SystemExit, match="no property"):
        run(capsys, "show", pid)


def test_import_and_register_keep_existing_ids(env: AdminSettings,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("ImportedSecret000001\n\n"))
    rows = run(capsys, "import", "--name", "Old", "--property-id", "old",
               "--tracking-id", "UA-99-1", "--tracking-id", "G-OLD9999999",
               "--api-secrets-from-stdin")
    assert field(rows, "ua_tracking_id") == "UA-99-1"
    assert len([r for r in rows if r[0] == "api_secret_id"]) == 1
    assert "ImportedSecret000001" not in json.dumps(rows)
    registered = run(capsys, "register", "--name", "My site", "--tracking-id", "UA-123456-1")
    assert registered[0][1:] == ["My site", "UA-123456-1"]  # the README's one-line output
    with pytest.raises(SystemExit, match="already registered: UA-99-1"):
        run(capsys, "register", "--name", "again", "--tracking-id", "UA-99-1")
    main(["properties", "list", "--json"])
    listed = json.loads(capsys.readouterr().out)
    assert sorted(p["property_id"] for p in listed)[0] == "old"
    assert "digest" not in json.dumps(listed)


def test_no_aws_region_is_a_one_line_error(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LAMBDALYTICS_AWS_REGION", "LAMBDALYTICS_AWS_ENDPOINT_URL", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(SystemExit, match=r"^error: no AWS region: set LAMBDALYTICS_AWS_REGION"):
        main(["properties", "list"])


def test_an_emulator_endpoint_needs_no_region(env: AdminSettings,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """As `lambdalytics local` prints it: the endpoint and keys, no region anywhere."""
    for name in ("LAMBDALYTICS_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    rows = run(capsys, "create", "--name", "No region")
    assert field(rows, "name") == "No region"


def test_tracking_ids_add_and_remove(env: AdminSettings,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    pid = run(capsys, "register", "--name", "Old", "--tracking-id", "UA-900-1")[0][0]
    rows = run(capsys, "tracking-ids", "add", pid, "--tracking-id", "UA-900-2", "--issue", "ga4")
    assert [r[1] for r in rows if r[0] == "ua_tracking_id"] == ["UA-900-1", "UA-900-2"]
    assert re.fullmatch(r"G-[A-Z0-9]{10}", field(rows, "measurement_id"))
    rows = run(capsys, "tracking-ids", "remove", pid, "UA-900-1")
    assert [r[1] for r in rows if r[0] == "ua_tracking_id"] == ["UA-900-2"]
    with pytest.raises(SystemExit, match="already registered: UA-900-2"):
        run(capsys, "register", "--name", "again", "--tracking-id", "UA-900-2")
    with pytest.raises(SystemExit, match="has no tracking id UA-900-1"):
        run(capsys, "tracking-ids", "remove", pid, "UA-900-1")
