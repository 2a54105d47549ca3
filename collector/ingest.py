"""Protocol-independent tail of every hit: property check and policy, rate limit, enrichment
in turns, canonical Hit, sink, counting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collector.errors import SinkUnavailable, Unavailable
from collector.policy import Policy, policy_of
from collector.properties import Stale
from collector.ratelimit import RateLimiter
from lambdalytics import hit as hitmod

if TYPE_CHECKING:
    from collector.enrich import Enrichment
    from collector.enrich import Verdict as Found
    from collector.filtered import FilteredCounters
    from collector.http import RawRequest
    from collector.metrics import Metrics
    from collector.policy import Precision
    from collector.properties import PropertyCache
    from collector.sink import GroupCommitSink
    from lambdalytics.properties import Property

UNKNOWN_PROPERTY = "unknown_property"
DISABLED_PROPERTY = "disabled_property"
INVALID_HIT = "invalid_hit"
TOO_LARGE = "payload_too_large"
BATCH_TOO_LARGE = "batch_too_large"
BOT_FLAGGED = "bot_flagged"  # a bot forwarded with its flag (its policy did not filter it), counted
RATE_LIMITED = "rate_limited"  # answered 429: refused, and counted per property too


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a claimed tracking id may be forwarded, and if not, why."""

    property: Property | None
    reason: str | None  # None = forward (as far as the property's state goes)
    policy: Policy | None = None  # set for every known property


_UNKNOWN = Verdict(None, UNKNOWN_PROPERTY)


class Enriching:
    """One hit waiting for its enrichment (:meth:`Ingest.enrich`): its fields (enriched in
    place) and the hit's own inputs besides its request; ``found`` is set once it ran."""

    def __init__(self, fields: dict[str, Any], *, ip_override: str | None,
                 ua_override: str | None, anonymize: bool, precision: Precision,
                 bot_policy: str | None) -> None:
        self.fields = fields
        self.ip_override = ip_override
        self.ua_override = ua_override
        self.anonymize = anonymize
        self.precision = precision
        self.bot_policy = bot_policy
        self.found: Found | None = None


class Ingest:
    def __init__(self, sink: GroupCommitSink, properties: PropertyCache,
                 counters: FilteredCounters, metrics: Metrics, enricher: Enrichment,
                 limiter: RateLimiter | None = None) -> None:
        self.sink = sink
        self.properties = properties
        self.counters = counters
        self.metrics = metrics
        self.enricher = enricher
        self.limiter = limiter or RateLimiter()
        # property id → the verdict for the Property object cached now (a new object, after
        # the cache refreshed, gets a new verdict: its policy may have changed)
        self._verdicts: dict[str, Verdict] = {}
        # the requests whose hits wait for this loop turn's enrichment (see enrich)
        self._turn: list[tuple[RawRequest, list[Enriching], asyncio.Future[None]]] = []

    async def check(self, tracking_id: str) -> Verdict:
        """Raises PropertiesUnavailable when the table is down and nothing is cached."""
        return self._verdict(await self.properties.resolve(tracking_id))

    def check_fresh(self, tracking_id: str) -> Verdict | None:
        """:meth:`check`'s answer when the property cache has a fresh one, else None (then
        await :meth:`check`): no coroutine for the common hit."""
        prop = self.properties.fresh(tracking_id)
        return None if isinstance(prop, Stale) else self._verdict(prop)

    def _verdict(self, prop: Property | None) -> Verdict:
        if prop is None:
            return _UNKNOWN
        last = self._verdicts.get(prop.property_id)
        if last is not None and last.property is prop:
            return last
        verdict = Verdict(prop, None if prop.enabled else DISABLED_PROPERTY, policy_of(prop))
        self._verdicts[prop.property_id] = verdict
        return verdict

    def admit(self, protocol: str, hits: list[tuple[str, str, int | None]]) -> float:
        """The rate limits of a request's forwardable hits, as (claimed tracking id,
        property id, the property's rate limit): 0.0 when they pass (tokens taken), else the
        seconds to wait; then every hit is refused and counted as ``rate_limited``."""
        demand: dict[str, tuple[int, int]] | None = None
        for _tid, pid, rate in hits:
            if rate is not None:
                if demand is None:
                    demand = {}
                demand[pid] = (rate, demand[pid][1] + 1 if pid in demand else 1)
        if demand is None:
            return 0.0
        wait = self.limiter.admit(demand)
        if wait:
            self.refused(protocol, RATE_LIMITED, len(hits))
            for tid, pid, _rate in hits:
                self.counters.add(pid, tid, RATE_LIMITED)
        return wait

    def filtered(self, protocol: str, property_id: str | None, tracking_id: str, reason: str,
                 n: int = 1, *, agent: str | None = None) -> None:
        """Count filtered hits; ``agent`` is a bot-filtered hit's agent family."""
        self.counters.add(property_id, tracking_id, reason, n, agent)
        self.metrics.hits_filtered.labels(protocol, reason).inc(n)

    def refused(self, protocol: str, reason: str, n: int = 1) -> None:
        self.metrics.hits_refused.labels(protocol, reason).inc(n)

    def enrich(self, request: RawRequest, hits: list[Enriching]) -> asyncio.Future[None]:
        """Enrich a request's hits together with every other request's that asks in the same
        turn of the event loop; the future resolves (or raises what enrichment raised) once
        they are done. Back to back, the uncached work keeps the CPU caches it needs: an
        uncached user agent took 48-68 µs parsed right after another and 140-220 µs with a
        few requests' work between (ua-parser's automata, the GeoIP tree and the enricher's
        code are evicted). docs/benchmarks.md, "Enrichment in turns, and PutRecords calls
        passed on at once"."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._turn.append((request, hits, done))
        if len(self._turn) == 1:  # the turn's first: its enrichment runs after the others ask
            loop.call_soon(self._enrich_turn)
        return done

    def _enrich_turn(self) -> None:
        turn, self._turn = self._turn, []
        apply = self.enricher.apply
        for request, hits, done in turn:
            try:
                for hit in hits:
                    hit.found = apply(hit.fields, request, ip_override=hit.ip_override,
                                      ua_override=hit.ua_override, anonymize=hit.anonymize,
                                      precision=hit.precision, bot_policy=hit.bot_policy)
            except Exception as exc:  # that request fails (its handler raises it), not the turn
                if not done.done():
                    done.set_exception(exc)
                continue
            if not done.done():  # cancelled: its request has gone
                done.set_result(None)

    def submit(self, fields: dict[str, Any]) -> asyncio.Future[None]:
        """Queue one hit; the future resolves once it is in Kinesis. Raises Overloaded."""
        key = fields.get("client_id") or fields.get("user_id") or fields["hit_id"]
        return self.sink.put(hitmod.encode_fields(fields), key)

    async def wait(self, protocol: str, futures: list[asyncio.Future[None]]) -> None:
        """Wait until every hit is in Kinesis; raises SinkUnavailable if any is not."""
        if not futures:
            return
        if len(futures) == 1:  # the common request: one hit, no gather
            try:
                await futures[0]
            except Unavailable:
                self.refused(protocol, "sink_unavailable")
                raise
            self.metrics.accepted(protocol)
            return
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        accepted = len(results) - len(failed)
        if accepted:
            self.metrics.accepted(protocol, accepted)
        if failed:
            self.refused(protocol, "sink_unavailable", len(failed))
            first = failed[0]
            if isinstance(first, Unavailable):
                raise first
            raise SinkUnavailable(str(first))
