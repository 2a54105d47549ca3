"""A small HTTP/1.1 load generator that counts every answer exactly (for the Kinesis check).

``python -m bench.loadgen --url http://127.0.0.1:N --requests FILE --connections C
--duration S [--rate R] [--start N]`` prints one JSON object: requests sent and answered, 2xx / other /
failed counts, the achieved rate, and latency percentiles in milliseconds.

Two modes:

- closed loop (no ``--rate``): ``C`` keep-alive connections, each sending its next request
  as soon as the previous answer is in, for ``S`` seconds (what wrk does);
- open loop (``--rate R``): requests are due at a fixed ``R`` per second whatever the
  server does, on up to ``C`` connections; a request's latency is counted from when it was
  due, not from when a connection was free, so queueing is not hidden (as wrk2 does).

Unlike wrk, it stops by sending nothing new at the deadline and then waiting for every
answer still owed, so the 2xx count is exactly the number of hits the collector accepted.
Requests come from the tab-separated file of :mod:`bench.hits` (with their User-Agent,
X-Forwarded-For and Origin headers), cycled in order from request ``--start`` on (so that
several loads of one server continue one stream); its body field backslash-escaped
(:func:`unescape_body`, for gtag's batched bodies: bench/ga4_hits.py), a Measurement Protocol
body sent as ``application/json``. Only loopback URLs are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import resource
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from bench.hits import read_tsv

LOOPBACK = ("127.0.0.1", "localhost", "::1")

# The request file's body field: backslash-escaped, so that a body with newlines (gtag's
# batches) fits on its line. A UA payload, percent-encoded, has no backslash: it is unchanged.
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPED = re.compile(r"[\\\n\r\t]")
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


def escape_body(body: str) -> str:
    """A body as the request file's body field holds it (one line, no tab)."""
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group(0)], body)


def unescape_body(field: str) -> str:
    """The inverse of :func:`escape_body`; a backslash before any other character stays."""
    if "\\" not in field:
        return field
    return _UNESCAPE.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(0)), field)


class ConnectionFailed(Exception):
    pass


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time; answers need a Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None:
            return
        buf = self._buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17:stop if stop >= 0 else None])
        total = end + 4 + length
        if len(buf) < total:
            return
        del buf[:total]
        self._waiter = None
        if not waiter.done():
            waiter.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionFailed(str(exc or "closed by server")))
        self._waiter = None

    def send(self, data: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        assert self._waiter is None
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiter = fut
        self.transport.write(data)
        return fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass
class Tally:
    sent: int = 0
    ok2xx: int = 0
    other_status: int = 0
    failed: int = 0  # connection errors, or no answer after the grace period
    latencies_us: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def answered(self, status: int, latency_us: int) -> None:
        self.latencies_us.append(latency_us)
        if 200 <= status < 300:
            self.ok2xx += 1
        else:
            self.other_status += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1


def encode_requests(path: Path, host: str) -> list[bytes]:
    out: list[bytes] = []
    for r in read_tsv(path):
        lines = [f"{r.method} {r.target} HTTP/1.1", f"Host: {host}", f"User-Agent: {r.user_agent}"]
        if r.forwarded_for:
            lines.append(f"X-Forwarded-For: {r.forwarded_for}")
        if r.origin:
            lines.append(f"Origin: {r.origin}")
        body = unescape_body(r.body).encode()
        if r.method != "GET":
            json_body = r.target.startswith(("/mp/", "/debug/mp/"))
            lines += [f"Content-Type: {'application/json' if json_body else 'text/plain;charset=UTF-8'}",
                      f"Content-Length: {len(body)}"]
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return out


def rotated(requests: list[bytes], start: int) -> list[bytes]:
    """The list cycled from position ``start``."""
    at = start % len(requests) if requests else 0
    return requests[at:] + requests[:at]


async def _connect(host: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(Connection, host, port)
    return proto


async def closed_loop(host: str, port: int, requests: list[bytes], connections: int,
                      duration: float, tally: Tally) -> float:
    cycle = itertools.cycle(requests)
    clock = time.perf_counter
    deadline = clock() + duration

    async def worker() -> None:
        conn: Connection | None = None
        while clock() < deadline:
            if conn is None or conn.closed:
                try:
                    conn = await _connect(host, port)
                except OSError:
                    tally.failed += 1
                    await asyncio.sleep(0.05)
                    continue
            data = next(cycle)
            tally.sent += 1
            started = clock()
            try:
                status = await conn.send(data)
            except ConnectionFailed:
                tally.failed += 1
                conn = None
                continue
            tally.answered(status, int((clock() - started) * 1e6))
        if conn is not None:
            conn.close()

    started = clock()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return clock() - started


async def open_loop(host: str, port: int, requests: list[bytes], connections: int,
                    duration: float, rate: float, tally: Tally) -> float:
    cycle = itertools.cycle(requests)
    clock = time.perf_counter
    idle: deque[Connection] = deque()
    backlog: deque[tuple[bytes, float]] = deque()  # due but no free connection yet
    opened = 0
    running: set[asyncio.Task[None]] = set()

    async def run(conn: Connection | None, data: bytes, due: float) -> None:
        nonlocal opened
        while True:
            try:
                if conn is None or conn.closed:
                    conn = await _connect(host, port)
                status = await conn.send(data)
            except (OSError, ConnectionFailed):
                tally.failed += 1
                opened -= 1
                return
            tally.answered(status, int((clock() - due) * 1e6))
            if not backlog:
                idle.append(conn)
                return
            data, due = backlog.popleft()  # keep the connection busy with what waits

    start = clock()
    total = int(duration * rate)
    for i in range(total):
        due = start + i / rate
        wait = due - clock()
        if wait > 0.0005:
            await asyncio.sleep(wait)
        data = next(cycle)
        tally.sent += 1
        if idle:
            conn: Connection | None = idle.popleft()
        elif opened < connections:
            opened += 1
            conn = None
        else:
            backlog.append((data, due))
            continue
        task = asyncio.create_task(run(conn, data, due))
        running.add(task)
        task.add_done_callback(running.discard)
    while running:
        await asyncio.gather(*list(running))
    for conn in idle:
        conn.close()
    return clock() - start


def percentile(sorted_values: list[int], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index] / 1000


async def run(url: str, requests_file: Path, connections: int, duration: float,
              rate: float | None, grace: float, start: int = 0) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if host not in LOOPBACK:
        raise SystemExit(f"refusing to load anything but loopback, not {host!r}")
    requests = rotated(encode_requests(requests_file, parts.netloc), start)
    if not requests:
        raise SystemExit(f"no requests in {requests_file}")
    tally = Tally()
    before = resource.getrusage(resource.RUSAGE_SELF)
    if rate is None:
        job = closed_loop(host, port, requests, connections, duration, tally)
    else:
        job = open_loop(host, port, requests, connections, duration, rate, tally)
    try:
        elapsed = await asyncio.wait_for(job, duration + grace)
    except TimeoutError:
        elapsed = duration + grace
        # what was sent and never answered; a 2xx may still come, so the check will differ
        tally.failed += tally.sent - tally.ok2xx - tally.other_status - tally.failed
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    lat = sorted(tally.latencies_us)
    answered = tally.ok2xx + tally.other_status
    return {
        "mode": "closed" if rate is None else "open", "connections": connections,
        "target_rate": rate, "duration_s": round(elapsed, 3), "sent": tally.sent,
        "answered": answered, "ok2xx": tally.ok2xx, "other_status": tally.other_status,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "failed": tally.failed, "rps": answered / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(lat, 50), "p90_ms": percentile(lat, 90),
        "p99_ms": percentile(lat, 99), "max_ms": lat[-1] / 1000 if lat else float("nan"),
        "cpu_s": round(cpu, 3),  # this process's CPU time while it sent load
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=None, help="requests/s (open loop)")
    parser.add_argument("--grace", type=float, default=20.0,
                        help="seconds past the duration to wait for answers still owed")
    parser.add_argument("--start", type=int, default=0,
                        help="the position in the file of the first request")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        result = asyncio.run(run(args.url, args.requests, args.connections, args.duration,
                                 args.rate, args.grace, args.start))
    else:
        result = uvloop.run(run(args.url, args.requests, args.connections, args.duration,
                                args.rate, args.grace, args.start))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
