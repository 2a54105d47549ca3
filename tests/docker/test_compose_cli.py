"""`lambdalytics compose bootstrap | welcome` (lambdalytics.compose) on moto: what the
bootstrap makes, that a second run keeps it, and what the banner says."""

from __future__ import annotations

import argparse

import pytest

from lambdalytics import aws, cli, compose
from lambdalytics.properties import PropertyStore
from lambdalytics.settings import CommonSettings


@pytest.fixture
def common(moto_url: str, prefix: str) -> CommonSettings:
    return CommonSettings(resource_prefix=prefix, aws_endpoint_url=moto_url,
                          aws_region="us-east-1")


async def test_bootstrap_makes_the_stack_once(common: CommonSettings,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    await compose.provision(common, shard_count=1)
    first = await compose._read_secrets(common)
    await compose.provision(common, shard_count=1)  # idempotent: same token, same secret
    token, secret = await compose._read_secrets(common)
    assert (token, secret) == first
    assert len(token) >= 32
    async with aws.client(aws.session(), "dynamodb", common) as ddb:
        prop = await PropertyStore(ddb, common.resources.properties.name).lookup(
            compose.DEMO_TRACKING_ID)
    assert prop is not None
    assert prop.property_id == compose.DEMO_PROPERTY
    assert prop.verify_secret(secret) is not None  # the printed secret is the registered one
    args = cli.parser().parse_args(["compose", "welcome"])
    text = compose.banner(common, args, token, secret)
    assert f"http://localhost:8081/#token={token}" in text
    assert f"api_secret={secret}" in text
    assert "http://localhost:8080/collect?v=1&tid=UA-100000-1" in text


def test_welcome_gives_up_on_a_service_that_never_answers() -> None:
    with pytest.raises(SystemExit, match="did not answer 200 within 1 s"):
        compose.wait_for(["http://127.0.0.1:9/readyz"], timeout=1)


def test_the_cli_has_the_compose_actions() -> None:
    p = cli.parser()
    assert p.parse_args(["compose", "bootstrap", "--shards", "4"]).shards == 4
    demo = p.parse_args(["compose", "demo"])
    assert isinstance(demo, argparse.Namespace)
    assert demo.collector_url == "http://collector:8080"
