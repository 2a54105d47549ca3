"""The demo's present: a few hits a second through the whole pipeline, so realtime moves.

Sessions of :class:`lambdalytics.demo.traffic.Traffic` start at random (a Poisson process of
``rate`` hits a second on average over the sites' shares) and their requests are sent when
they are due, over HTTP to the collector, as the tags would send them — ``GET /collect``,
``POST /g/collect`` with the site's Origin, the backends' ``POST /mp/collect`` — each with
the visitor's address in X-Forwarded-For (the demo's collector trusts one proxy hop, so it
geolocates them as it would behind a load balancer). From there, Kinesis, the archiver, S3
and the rollups, like any hit.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time

import aiohttp
from yarl import URL

from lambdalytics.demo.traffic import HITS_PER_SESSION, DemoRequest, Traffic

log = logging.getLogger(__name__)

NOISE = 0.04


class Live:
    def __init__(self, collector_url: str, secrets: dict[str, str], *, rate: float = 3.0,
                 seed: int = 7) -> None:
        self.url = collector_url.rstrip("/")
        self.traffic = Traffic(seed, secrets)
        self.rate = rate
        self.sent = 0
        self.failed = 0
        self._queue: list[tuple[float, int, DemoRequest]] = []
        self._order = itertools.count()

    def _start_session(self, now: float) -> None:
        traffic, rng = self.traffic, self.traffic.rng
        if rng.random() < NOISE:
            requests = traffic.noise(now)
        else:
            site = rng.choices(traffic.sites, [s.share for s in traffic.sites])[0]
            requests = traffic.session(site, now)
        for r in requests:
            heapq.heappush(self._queue, (r.at, next(self._order), r))

    async def run(self) -> None:
        """Until cancelled."""
        rng = self.traffic.rng
        sessions_per_s = self.rate / HITS_PER_SESSION
        next_session = time.time()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            while True:
                now = time.time()
                while next_session <= now:
                    self._start_session(next_session)
                    next_session += rng.expovariate(sessions_per_s)
                while self._queue and self._queue[0][0] <= now:
                    await self._send(http, heapq.heappop(self._queue)[2])
                due = min(next_session, self._queue[0][0] if self._queue else next_session)
                await asyncio.sleep(max(0.0, due - time.time()))

    async def _send(self, http: aiohttp.ClientSession, r: DemoRequest) -> None:
        headers = {"User-Agent": r.user_agent, "X-Forwarded-For": r.address}
        if r.origin:
            headers["Origin"] = r.origin
        if r.body:
            headers["Content-Type"] = "application/json" if r.path == "/mp/collect" \
                else "text/plain;charset=UTF-8"
        url = URL(f"{self.url}{r.path}?{r.query.decode()}", encoded=True)  # as the tag encoded it
        try:
            async with http.request(r.method, url, data=r.body or None, headers=headers) as resp:
                await resp.read()
                ok = resp.status < 300
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            self.sent += 1
            return
        self.failed += 1
        if self.failed in (1, 100, 10_000):
            log.warning("demo: %d live hits not taken by the collector so far", self.failed)
