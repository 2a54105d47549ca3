"""Collectors on loopback for the hostile-input tests, one per module and answering path."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from collector.settings import CollectorSettings
from tests.support import UA_TID, RunningCollector, create_stack, isolate_aws_env, running_collector

GA4_TID = "G-HOSTILE001"

# the three ways a hit request can be answered: by the HTTP protocol itself
# (collector.protocol), by the edge's lean ASGI path, by the FastAPI routes
PATHS: dict[str, dict[str, bool]] = {
    "protocol": {}, "edge": {"hit_protocol": False}, "fastapi": {"fast_path": False},
}


@pytest.fixture(scope="module")
def module_env() -> Iterator[None]:
    """conftest's AWS isolation, for a collector that lives as long as the module."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_aws_env(mp)
        yield


def collector_settings(moto_url: str, **extra: object) -> CollectorSettings:
    return CollectorSettings(
        resource_prefix="t" + secrets.token_hex(5), aws_endpoint_url=moto_url,
        aws_region="us-east-1", sink_max_in_flight=1, sink_linger_ms=5, log_format="text",
        **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def collector(moto_url: str, module_env: None) -> Iterator[RunningCollector]:
    """One collector (the default path: the hit protocol) with two registered properties."""
    settings = collector_settings(moto_url)
    create_stack(settings, [UA_TID, GA4_TID])
    with running_collector(settings) as running:
        yield running


def address(running: RunningCollector) -> tuple[str, int]:
    host, port = running.url.removeprefix("http://").split(":")
    return host, int(port)
