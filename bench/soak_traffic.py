"""The soak's load generator: UA, gtag.js and GA4 Measurement Protocol requests, every hit
with a load-generator id, retried as a real tag or server would retry them.

Hit ``n`` is marked by its page path ``/soak/<n>`` (UA ``dp``; gtag ``dl``; MP
``page_location``), and carries its protocol's retry nonce (UA ``z``; gtag ``_p`` + ``_s``
and its line; MP ``timestamp_micros`` and its event index), so a retried hit gets the same
``hit_id`` and the archive keeps it once. Requests by share of hits: UA ``/collect`` 30 %, UA
``/batch`` of 5 10 %, gtag with one event 20 %, gtag batched (3 events per body) 10 %, MP with
1–3 events 30 %. Each comes from one of the test addresses in X-Forwarded-For (the collector
trusts one hop), so the soak can look for them at rest.

What is retried, as MP clients and our tracker do: 429 and 503 (after Retry-After, capped at
2 s), connection errors and requests without an answer (on the other collector, as a load
balancer would send them). gtag.js and analytics.js do not retry; a soak hit that is never
acknowledged counts as unacknowledged, not lost. Any other status is final.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import orjson

from bench.soak_stack import GA4_ID, UA_ID

# documentation ranges (RFC 5737, 3849): never a real client's, easy to look for at rest
ADDRESSES = tuple(f"203.0.113.{i}" for i in range(11, 19)) + tuple(
    f"2001:db8:5eed::{i:x}" for i in range(1, 5))
AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Safari/537.36")
HOST = "soak.example"
UNREACHABLE_S = 120  # no collector reachable this long: the run fails rather than spin
# (kind, hits per request, share of requests) — shares of hits as the docstring says
MIX: tuple[tuple[str, int, float], ...] = (
    ("ua", 1, 30), ("ua_batch", 5, 2), ("gtag", 1, 20), ("gtag_batch", 3, 3.33), ("mp", 2, 15))


@dataclass
class Request:
    kind: str
    ids: range
    path: str
    body: bytes
    content_type: str
    address: str


def _ua(n: int, cid: str) -> str:
    return (f"v=1&tid={UA_ID}&cid={cid}&t=pageview&dh={HOST}&dp=%2Fsoak%2F{n}&dt=Soak&z=s{n}")


def requests(start: int, secret: str, seed: int = 26) -> Iterator[Request]:
    """Requests forever, from hit ``start``: the kinds of :data:`MIX` drawn by their shares."""
    rng = random.Random(seed)
    kinds = [k for k, _, _ in MIX]
    sizes = [n for _, n, _ in MIX]
    weights = [w for _, _, w in MIX]
    n = start
    for load in itertools.count(1):
        pick = rng.choices(range(len(kinds)), weights=weights)[0]
        kind, size = kinds[pick], sizes[pick]
        if kind == "mp":
            size = rng.randint(1, 3)
        ids = range(n, n + size)
        n += size
        visitor = rng.randrange(5000)
        cid = f"{1000 + visitor}.{1765000000 + visitor}"
        address = ADDRESSES[visitor % len(ADDRESSES)]
        if kind in ("ua", "ua_batch"):
            text = "\n".join(_ua(i, cid) for i in ids)
            yield Request(kind, ids, "/collect" if size == 1 else "/batch", text.encode(),
                          "text/plain", address)
        elif kind.startswith("gtag"):
            query = (f"v=2&tid={GA4_ID}&cid={cid}&sid={1765000000 + visitor}&sct=1&seg=1"
                     f"&_p={seed}{load}&_s=1&ul=en-us&sr=1920x1080")
            lines = [f"en=page_view&dl={quote(f'https://{HOST}/soak/{i}', safe='')}&dt=Soak"
                     for i in ids]
            if size == 1:
                yield Request(kind, ids, f"/g/collect?{query}&{lines[0]}", b"", "text/plain",
                              address)
            else:
                yield Request(kind, ids, f"/g/collect?{query}", "\n".join(lines).encode(),
                              "text/plain", address)
        else:
            body = orjson.dumps({
                "client_id": cid, "timestamp_micros": int(time.time() * 1e6),
                "events": [{"name": "soak_event", "params": {
                    "page_location": f"https://{HOST}/soak/{i}", "session_id": str(visitor),
                    "engagement_time_msec": 100}} for i in ids]})
            yield Request(kind, ids, f"/mp/collect?measurement_id={GA4_ID}&api_secret={secret}",
                          body, "application/json", address)


@dataclass
class Traffic:
    """What was sent and answered. ``acked[n]`` is 1 once hit n was answered 2xx."""

    hits: int = 0  # hits sent at least once
    requests: int = 0
    attempts: int = 0
    retries: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # per attempt: "200", "no answer"
    by_kind: Counter[str] = field(default_factory=Counter)  # hits per kind
    latencies: list[float] = field(default_factory=list)
    acked: bytearray = field(default_factory=bytearray)
    given_up: int = 0  # hits never acknowledged (a final non-2xx, or the run ended first)
    answered: float = field(default_factory=time.monotonic)  # when an answer last came

    def ack(self, ids: range) -> None:
        if len(self.acked) < ids.stop:
            self.acked.extend(bytes(ids.stop - len(self.acked) + 100_000))
        for i in ids:
            self.acked[i] = 1

    @property
    def acknowledged(self) -> int:
        return self.acked.count(1)


async def _exchange(stream: tuple[asyncio.StreamReader, asyncio.StreamWriter], host: str,
                    req: Request) -> tuple[int, float]:
    reader, writer = stream
    head = (f"POST {req.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {AGENT}\r\n"
            f"X-Forwarded-For: {req.address}\r\nContent-Type: {req.content_type}\r\n"
            f"Content-Length: {len(req.body)}\r\n\r\n")
    writer.write(head.encode() + req.body)
    status = int((await reader.readline()).split()[1])
    length, retry_after = 0, 0.0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
        elif name.lower() == b"retry-after":
            retry_after = float(value)
    await reader.readexactly(length)
    return status, retry_after


async def drive(urls: list[str], secret: str, *, hits: int, connections: int,
                traffic: Traffic, deadline: float, rate: float | None = None) -> None:
    """Send ``hits`` hits over ``connections`` keep-alive connections (connection k starts on
    urls[k % len] and moves to the next when its collector cannot be reached), retrying as the
    module docstring says until acknowledged or ``deadline`` (monotonic) passes."""
    source = requests(0, secret)
    began = time.monotonic()

    async def connection(k: int) -> None:
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        target = k % len(urls)
        while traffic.hits < hits:
            req = next(source)
            traffic.hits += len(req.ids)
            traffic.requests += 1
            traffic.by_kind[req.kind] += len(req.ids)
            if rate:
                await asyncio.sleep(began + traffic.hits / rate - time.monotonic())
            first = True
            while True:
                if time.monotonic() > deadline:
                    traffic.given_up += len(req.ids)
                    break
                if not first:
                    traffic.retries += 1
                first = False
                host, port = urls[target].removeprefix("http://").split(":")
                if stream is None:
                    try:
                        stream = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)
                    except (OSError, TimeoutError):  # down or restarting: the other one
                        traffic.statuses["connection refused"] += 1
                        target = (target + 1) % len(urls)
                        if time.monotonic() - traffic.answered > UNREACHABLE_S:
                            raise RuntimeError(f"no collector answered for {UNREACHABLE_S} s") from None
                        await asyncio.sleep(0.05)
                        continue
                traffic.attempts += 1
                started = time.monotonic()
                try:
                    status, retry_after = await asyncio.wait_for(
                        _exchange(stream, host, req), 90)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, IndexError, ValueError):
                    traffic.statuses["no answer"] += 1
                    stream[1].close()
                    stream = None
                    target = (target + 1) % len(urls)
                    continue
                traffic.answered = time.monotonic()
                traffic.latencies.append(time.monotonic() - started)
                traffic.statuses[str(status)] += 1
                if 200 <= status < 300:
                    traffic.ack(req.ids)
                    break
                if status in (429, 503):
                    await asyncio.sleep(min(retry_after or 0.5, 2.0) * random.uniform(0.5, 1.0))
                    continue
                traffic.given_up += len(req.ids)  # final: counted in statuses
                break
        if stream is not None:
            stream[1].close()

    await asyncio.gather(*(connection(k) for k in range(connections)))
