"""`lambdalytics query` against moto: an empty archive answers with no rows, an archive it
cannot read is an error — never an empty answer that looks like no traffic."""

from __future__ import annotations

import boto3
import pytest

from lambdalytics.cli import main


@pytest.fixture
def env(moto_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LAMBDALYTICS_RESOURCE_PREFIX", prefix)
    monkeypatch.setenv("LAMBDALYTICS_AWS_ENDPOINT_URL", moto_url)
    return moto_url


def test_an_empty_archive_has_no_rows(env: str, prefix: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("s3", endpoint_url=env).create_bucket(Bucket=f"{prefix}-archive")
    main(["query", "SELECT count(*) AS n FROM hits"])
    assert capsys.readouterr().out.splitlines() == ["n", "0"]


def test_a_missing_bucket_is_an_error(env: str) -> None:
    with pytest.raises(SystemExit, match=r"^error: no bucket s3://nope/"):
        main(["query", "SELECT count(*) FROM hits", "--bucket", "nope"])


def test_an_unreachable_endpoint_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDALYTICS_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(SystemExit, match=r"^error: cannot read s3://lambdalytics-archive/"):
        main(["query", "SELECT count(*) FROM hits"])
