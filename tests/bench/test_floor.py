"""bench.serve --mode floor: the hit routes answered at once with the collector's own answer
bytes, the other routes by the bare app — a reference that must answer as the collector
would, or its figure means nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.http import GIF, NO_CACHE
from tests.bench.serving import bench_server


@pytest.fixture
def floor(tmp_path: Path) -> Iterator[str]:
    with bench_server(tmp_path / "server.log", "--mode", "floor") as (base, _):
        yield base


def test_the_floor_answers_hits_as_the_collector_and_the_rest_as_the_bare_app(floor: str) -> None:
    with httpx.Client(base_url=floor) as client:  # one keep-alive connection throughout
        for _ in range(3):
            got = client.get("/collect?v=1&tid=UA-1-1&cid=1&t=pageview")
            assert (got.status_code, got.content) == (200, GIF)
            assert got.headers["content-type"] == "image/gif"
            assert {name.decode(): got.headers[name.decode()] for name, _ in NO_CACHE} == {
                name.decode(): value.decode() for name, value in NO_CACHE}
            assert "date" in got.headers
            posted = client.post("/batch", content=b"v=1&t=pageview\nv=1&t=event")
            assert (posted.status_code, posted.content) == (200, b"")
            assert client.get("/healthz").status_code == 204
