"""Slow and never-ending requests (collector.server's ConnectionGuard): each times out or is
refused, and a bounded slowloris on loopback does not starve normal hits.

The guard's deadlines are shortened here (1.5 s, swept every 0.25 s) so that the module runs
in seconds; the production values are the class's (30 s a request, 65 s a connection that
sends nothing, swept each second)."""

from __future__ import annotations

import contextlib
import selectors
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from collector.http import GIF
from collector.server import MAX_HEADERS, ConnectionGuard
from tests.hostile.conftest import address, collector_settings
from tests.hostile.wire import Wire
from tests.support import UA_TID, RunningCollector, create_stack, running_collector

TIMEOUT = 1.5
SWEEP = 0.25
HIT = f"/collect?v=1&tid={UA_TID}&cid=1.2&t=pageview&dp=%2Fp"


@pytest.fixture(scope="module")
def slow_collector(moto_url: str, module_env: None) -> Iterator[RunningCollector]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ConnectionGuard, "request_timeout", TIMEOUT)
        mp.setattr(ConnectionGuard, "idle_timeout", TIMEOUT)  # production: keep-alive's 65 s
        mp.setattr(ConnectionGuard, "sweep_every", SWEEP)
        settings = collector_settings(moto_url)
        create_stack(settings, [UA_TID])
        with running_collector(settings) as running:
            yield running


@pytest.fixture
def wire(slow_collector: RunningCollector) -> Iterator[Wire]:
    w = Wire(address(slow_collector))
    yield w
    w.close()


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_connection_that_never_sends_is_closed(wire: Wire) -> None:
    start = time.monotonic()
    assert wire.closed_within(TIMEOUT + 2 * SWEEP + 1)
    assert time.monotonic() - start >= TIMEOUT - SWEEP
    assert wire.buffer == b""  # closed without an answer: there was no request


@pytest.mark.parametrize("head", [
    f"GET {HIT} HTTP/1.1\r\nHost: x\r\nUser-Agent: slow".encode(),  # a hit's head
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1",  # an ASGI route's head
    f"GET {HIT}".encode(),  # the request line itself
])
def test_a_head_trickled_forever_gets_408(wire: Wire, head: bytes) -> None:
    start = time.monotonic()
    still_sending = wire.trickle(head + b"x" * 40, every=0.05)
    assert not still_sending, "the connection outlived the deadline"
    status, headers, _ = wire.answer()
    assert (status, headers["connection"]) == (408, "close")
    assert TIMEOUT - SWEEP <= time.monotonic() - start <= TIMEOUT + 4 * SWEEP + 1
    assert wire.closed_within(2)


@pytest.mark.parametrize("path", ["/collect", "/mp/collect?api_secret=x", "/healthz"])
def test_a_body_trickled_forever_gets_408(wire: Wire, path: str) -> None:
    wire.send(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode())
    assert not wire.trickle(b"v" * 100, every=0.05)
    status = wire.answer()[0]
    # /healthz (GET only) answers 405 without reading the body: the rest times out, closed
    assert status == (405 if path == "/healthz" else 408)
    start = time.monotonic()
    assert not wire.trickle(b"v" * 100, every=0.05)  # what is still sent: closed
    assert time.monotonic() - start <= TIMEOUT + 4 * SWEEP + 1
    assert wire.closed_within(1)


def test_a_slow_request_within_the_deadline_is_answered(wire: Wire) -> None:
    request = f"GET {HIT} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert wire.trickle(request[:-1], every=TIMEOUT * 0.6 / len(request), step=1)
    wire.send(request[-1:])
    assert wire.answer()[0:3:2] == (200, GIF)


def test_a_keep_alive_connection_is_left_to_uvicorns_timer(wire: Wire) -> None:
    for _ in range(2):
        wire.send(f"GET {HIT} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert wire.answer()[0] == 200
        assert not wire.closed_within(TIMEOUT + 3 * SWEEP)  # idle between requests: kept


def test_a_busy_connection_caught_mid_request_is_not_refused(
        wire: Wire, slow_collector: RunningCollector) -> None:
    """More than the read cap over one keep-alive connection, each request sent in two parts
    so that sweeps catch it mid-request: the cap counts a request, not the connection."""
    body = f"v=1&tid={UA_TID}&cid=1.2&t=pageview&dp=%2Fp&_pad=".encode() + b"x" * 60_000
    head = f"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    sent = 0
    while sent < 3 * slow_collector.server.config.http_protocol_class.read_cap:
        wire.send(head + body[:30_000])
        time.sleep(0.01)
        wire.send(body[30_000:])
        assert wire.answer()[0] == 200
        sent += len(head) + len(body)


def test_too_many_header_fields_get_431(wire: Wire) -> None:
    wire.send(b"GET /collect HTTP/1.1\r\nHost: x\r\n"
              + b"".join(b"X-%d: y\r\n" % i for i in range(MAX_HEADERS + 1)))
    assert wire.answered_or_closed(TIMEOUT)
    assert wire.answer()[0] == 431


def test_a_head_that_never_ends_is_refused_and_memory_stays_bounded(
        slow_collector: RunningCollector) -> None:
    before = rss_bytes()
    w = Wire(address(slow_collector))
    w.send(f"GET {HIT} HTTP/1.1\r\nHost: x\r\nX-Flood: ".encode())
    block = b"f" * 65536
    sent, peak = 0, before
    deadline = time.monotonic() + 10
    with contextlib.suppress(OSError):
        while time.monotonic() < deadline:
            w.sock.sendall(block)
            sent += len(block)
            if sent % (1 << 20) == 0:
                peak = max(peak, rss_bytes())
    grew = peak - before
    took = time.monotonic() - (deadline - 10)
    print(f"endless head: refused after {sent >> 10} KiB sent in {took:.2f} s; "
          f"RSS peaked {grew >> 10} KiB up")
    assert took < TIMEOUT, f"still reading after {sent} bytes: not refused before the deadline"
    assert w.answered_or_closed(2)
    assert w.buffer.startswith(b"HTTP/1.1 413 "), w.buffer[:100]
    # what arrives within one sweep (0.25 s here), copied by httptools as it grows
    assert grew < 128 * 1024 * 1024, f"RSS grew by {grew} bytes ({sent} sent)"
    w.close()


class Slowloris:
    """``n`` connections trickling a never-ending head a byte per ``every`` seconds, each
    reopened when the collector closes it, from one thread."""

    def __init__(self, where: tuple[str, int], n: int, every: float) -> None:
        self.where, self.n, self.every = where, n, every
        self.stop = threading.Event()
        self.opened = 0
        self.thread = threading.Thread(target=self._run, name="slowloris", daemon=True)

    def _open(self, sel: selectors.DefaultSelector) -> None:
        s = socket.create_connection(self.where)
        s.setblocking(False)
        s.send(b"GET /collect?v=1 HTTP/1.1\r\nHost: x\r\n")
        sel.register(s, selectors.EVENT_READ)
        self.opened += 1

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for _ in range(self.n):
            self._open(sel)
        while not self.stop.is_set():
            for key, _ in sel.select(timeout=0):  # answered (408) or closed: reopen
                sel.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                self._open(sel)
            for key in list(sel.get_map().values()):
                with contextlib.suppress(OSError):
                    key.fileobj.send(b"a")  # type: ignore[union-attr]
            time.sleep(self.every)
        for key in list(sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]


def _latencies(client: httpx.Client, n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        r = client.get(f"{HIT}&z={i}")
        out.append(time.perf_counter() - start)
        assert r.status_code == 200, r.status_code
    return out


def test_a_bounded_slowloris_does_not_starve_normal_hits(slow_collector: RunningCollector) -> None:
    with httpx.Client(base_url=slow_collector.url, timeout=10) as client:
        baseline = _latencies(client, 100)
        attack = Slowloris(address(slow_collector), 200, every=0.1)
        attack.thread.start()
        try:
            time.sleep(0.5)
            under = _latencies(client, 300)  # a few seconds: past the deadline, reopened
        finally:
            attack.stop.set()
            attack.thread.join(10)
    p50, p99 = statistics.median(baseline), sorted(under)[int(len(under) * 0.99)]
    assert attack.opened > 200, "the deadline never closed a slowloris connection"
    assert p99 < max(20 * p50, 0.25), (p50, p99)
    connections = slow_collector.server.server_state.connections
    deadline = time.monotonic() + TIMEOUT + 2
    while len(connections) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(connections) <= 1
