"""Over the hard cap: DESIGN.md's table answers 413 "without reading further", on each of
the three answering paths. A URL over 64 KiB (what httptools can parse) is over the cap too:
413, not uvicorn's ``400 Invalid HTTP request received``."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from collector.http import GIF
from collector.server import URL_CAP
from tests.hostile.conftest import PATHS, address, collector_settings
from tests.hostile.wire import Wire
from tests.support import UA_TID, create_stack, running_collector

CAP = 256 * 1024  # CollectorSettings.max_body_bytes' default
HIT = f"v=1&tid={UA_TID}&cid=1.2&t=pageview&dp=%2Fp".encode()


@pytest.fixture(scope="module", params=PATHS, ids=list(PATHS))
def where(request: pytest.FixtureRequest, moto_url: str, module_env: None) -> Iterator[tuple[str, int]]:
    settings = collector_settings(moto_url, **PATHS[request.param])
    create_stack(settings, [UA_TID])
    with running_collector(settings) as running:
        yield address(running)


@pytest.fixture
def wire(where: tuple[str, int]) -> Iterator[Wire]:
    w = Wire(where)
    yield w
    w.close()


def _get(target: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("path", [b"/collect", b"/g/collect", b"/healthz", b"/nowhere"])
@pytest.mark.parametrize("extra", [1, 10_000, 300_000])
def test_a_url_over_the_cap_gets_413_and_the_connection_closes(wire: Wire, path: bytes,
                                                               extra: int) -> None:
    query = HIT + b"&_pad=" + b"x" * (URL_CAP - len(path) - len(HIT) - 7 + extra)
    target = path + b"?" + query
    assert len(target) == URL_CAP + extra
    wire.send(_get(target))
    status, headers, body = wire.answer()
    assert status == 413, body
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert orjson.loads(body)["status"] == 413
    assert wire.closed_within(5)


def test_a_url_at_the_cap_is_read(wire: Wire) -> None:
    """At the cap the URL is parsed: a GET hit over Google's 8,000 bytes is invalid, 2xx."""
    query = HIT + b"&_pad=" + b"x" * (URL_CAP - len(b"/collect?") - len(HIT) - 6)
    wire.send(_get(b"/collect?" + query))
    status, _, body = wire.answer()
    assert (status, body) == (200, GIF)


def _trickle_chunks(wire: Wire, path: bytes) -> int:
    """A chunked body sent 16 KiB at a time until answered; how much was sent."""
    wire.send(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (16 * 1024, b"a" * 16 * 1024)
    sent = 0
    for _ in range(64):  # 1 MiB in all, were it all sent
        wire.send(chunk)
        sent += 16 * 1024
        if wire.answered_or_closed(0.02):
            break
    return sent


def test_a_declared_body_over_the_cap_is_refused_before_it_is_sent(
        wire: Wire, where: tuple[str, int]) -> None:
    wire.send(b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (CAP + 1))
    assert wire.answered_or_closed(5), "no answer before the body"
    status, headers, body = wire.answer()
    assert status == 413
    assert b"cap" in body
    # the same answer as a body refused once it streamed past the cap
    streamed = Wire(where)
    try:
        _trickle_chunks(streamed, b"/collect")
        _, streamed_headers, streamed_body = streamed.answer()
    finally:
        streamed.close()
    assert (headers["content-type"], body) == (streamed_headers["content-type"], streamed_body)
    assert headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", [b"/collect", b"/batch", b"/mp/collect?api_secret=x"])
def test_a_chunked_body_trickled_past_the_cap_is_refused_before_its_end(wire: Wire,
                                                                       path: bytes) -> None:
    sent = _trickle_chunks(wire, path)
    assert sent < 2 * CAP, "the collector read on well past its cap"
    status, _, _ = wire.answer()
    assert status == 413
