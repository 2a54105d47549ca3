"""Protocol-independent tail of every hit: property check and policy, rate limit, enrichment
in turns, canonical Hit, sink, counting.

One way through (DESIGN.md): a protocol module parses a request into :class:`Incoming` hits
(Hit fields so far, or the problem that makes one invalid), :meth:`Ingest.take` takes them
through the property check, the API secret where the protocol has one, the allowed
hostnames, the rate limit, enrichment, the sink and the counters, and answers a
:class:`Taken`: an :class:`Outcome` per hit, or the 429 / 503 the whole request gets. The
protocol module only formats the answer (GIF, 204, debug JSON). ``record=False`` (the debug
endpoints) decides the same without forwarding, counting or taking from the rate limit."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collector.enrich import BOT
from collector.errors import PropertiesUnavailable, SinkUnavailable, Unavailable
from collector.filtered import agent_family
from collector.policy import DISALLOWED_HOSTNAME, Policy, hostname_problem, origin_host, policy_of
from collector.properties import Stale
from collector.ratelimit import RateLimiter, TokenBucket
from collector.visitor import DailySalts, day_of, visitor_id
from lambdalytics import hit as hitmod
from lambdalytics.properties import valid_tracking_id
from lambdalytics.property_policy import hostname_allowed

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
INVALID_API_SECRET = "invalid_api_secret"  # noqa: S105 (a filter reason) GA4 MP: no secret matches
# lookups a second (and at most a second's worth at once), per collector task, of the ids that
# invalid hits claim and the property cache has no fresh answer for (Ingest.claimed)
CLAIM_LOOKUPS_PER_S = 10.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a claimed tracking id may be forwarded, and if not, why."""

    property: Property | None
    reason: str | None  # None = forward (as far as the property's state goes)
    policy: Policy | None = None  # set for every known property


_UNKNOWN = Verdict(None, UNKNOWN_PROPERTY)


class Incoming:
    """One parsed hit of any protocol, as :meth:`Ingest.take` takes it: the claimed tracking
    id and either the Hit fields so far (everything but ``property_id`` and enrichment) or
    the ``problem`` (a filter reason: invalid_hit, payload_too_large, …) that makes it
    invalid. ``hints``: client hints from the payload (gtag's uaa… params) in place of the
    request's headers; ``secret``: an API secret the property must have (GA4 MP);
    ``overrides``: Hit fields the sender set that enrichment must not replace (MP device);
    ``needs_client_id``: it has none, so it is invalid unless the property is cookieless."""

    __slots__ = ("anonymize", "fields", "hints", "ip_override", "needs_client_id", "overrides",
                 "problem", "secret", "tracking_id", "ua_override")

    def __init__(self, tracking_id: str, fields: dict[str, Any] | None = None, *,
                 problem: str | None = None, ip_override: str | None = None,
                 ua_override: str | None = None, anonymize: bool = False,
                 hints: tuple[bytes, ...] | None = None, secret: str | None = None,
                 overrides: dict[str, Any] | None = None, needs_client_id: bool = False) -> None:
        self.tracking_id = tracking_id
        self.fields = fields
        self.problem = problem if fields is not None else problem or INVALID_HIT
        self.ip_override = ip_override
        self.ua_override = ua_override
        self.anonymize = anonymize
        self.hints = hints
        self.secret = secret
        self.overrides = overrides
        self.needs_client_id = needs_client_id


class Outcome:
    """What became of one hit: ``reason`` None means forwarded (with ``record=False``: would
    be); else the filter reason it was counted under. ``where``: for disallowed_hostname,
    ``page`` or ``origin``; ``bot_reason`` for every bot, forwarded or not; ``policy`` for
    every hit of a known property."""

    __slots__ = ("bot_reason", "policy", "reason", "where")

    def __init__(self) -> None:
        self.reason: str | None = None
        self.bot_reason: str | None = None
        self.where: str | None = None
        self.policy: Policy | None = None


class Taken:
    """A request's answer from the tail: an outcome per hit, in order; ``wait`` > 0 when the
    request is rate limited (429, nothing forwarded); ``unavailable`` when it gets a 503;
    ``cors`` False when a property of its hits does not allow the request's Origin (the
    answer then carries no CORS grant: collector.http.cors)."""

    __slots__ = ("cors", "outcomes", "unavailable", "wait")

    def __init__(self, outcomes: list[Outcome], wait: float = 0.0,
                 unavailable: Unavailable | None = None, *, cors: bool = True) -> None:
        self.outcomes = outcomes
        self.wait = wait
        self.unavailable = unavailable
        self.cors = cors


class Enriching:
    """One hit waiting for its enrichment (:meth:`Ingest.enrich`): its fields (enriched in
    place) and the hit's own inputs besides its request; ``found`` is set once it ran."""

    def __init__(self, fields: dict[str, Any], *, ip_override: str | None,
                 ua_override: str | None, anonymize: bool, precision: Precision,
                 bot_policy: str | None, hints: tuple[bytes, ...] | None = None) -> None:
        self.fields = fields
        self.ip_override = ip_override
        self.ua_override = ua_override
        self.anonymize = anonymize
        self.precision = precision
        self.bot_policy = bot_policy
        self.hints = hints
        self.found: Found | None = None


class Ingest:
    def __init__(self, sink: GroupCommitSink, properties: PropertyCache,
                 counters: FilteredCounters, metrics: Metrics, enricher: Enrichment,
                 limiter: RateLimiter | None = None, salts: DailySalts | None = None) -> None:
        self.sink = sink
        self.properties = properties
        self.counters = counters
        self.metrics = metrics
        self.enricher = enricher
        self.limiter = limiter or RateLimiter()
        self.salts = salts or DailySalts()
        # property id → the verdict for the Property object cached now (a new object, after
        # the cache refreshed, gets a new verdict: its policy may have changed)
        self._verdicts: dict[str, Verdict] = {}
        # the requests whose hits wait for this loop turn's enrichment (see enrich)
        self._turn: list[tuple[RawRequest, list[Enriching], asyncio.Future[None]]] = []
        self._claims = TokenBucket(CLAIM_LOOKUPS_PER_S, time.monotonic())  # see claimed

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

    async def claimed(self, tracking_id: str) -> str | None:
        """The property an invalid hit's claimed id belongs to, for its counter (a disabled
        one's too), through the property cache as any hit's; None when no property has it.
        An id that no property can have (missing, not a tracking id) is never looked up, and
        the ids with no fresh answer cached are looked up within :data:`CLAIM_LOOKUPS_PER_S`
        (a flood of invalid hits with made-up ids reads the table no more than that); past
        it, or when the table cannot be read, the last answer cached serves, however old."""
        if not valid_tracking_id(tracking_id):
            return None
        properties = self.properties
        cached = properties.fresh(tracking_id)
        prop: Property | None
        if not isinstance(cached, Stale):
            prop = cached
        elif self._claims.wait(1, time.monotonic()) == 0.0:
            self._claims.tokens -= 1.0
            try:
                prop = await properties.resolve(tracking_id)
            except PropertiesUnavailable:
                prop = properties.last(tracking_id)
        else:
            prop = properties.last(tracking_id)
        return None if prop is None else prop.property_id

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
                                      precision=hit.precision, bot_policy=hit.bot_policy,
                                      hints=hit.hints)
            except Exception as exc:  # that request fails (its handler raises it), not the turn
                if not done.done():
                    done.set_exception(exc)
                continue
            if not done.done():  # cancelled: its request has gone
                done.set_result(None)

    async def take(self, protocol: str, request: RawRequest, hits: list[Incoming], *,
                   record: bool = True) -> Taken:
        """Take a request's parsed hits through the tail (the module docstring)."""
        outcomes: list[Outcome] = []
        passed: list[tuple[Incoming, Outcome, str, Policy]] = []
        futures: list[asyncio.Future[None]] = []
        limited = False  # whether any of them has a rate limit
        secrets_ok: dict[str, bool] = {}
        # the CORS grant: only for an Origin every hit's property allows (an empty list: any)
        origin = request.origin
        grant = True
        try:
            for hit in hits:
                out = Outcome()
                outcomes.append(out)
                tid = hit.tracking_id
                if hit.problem is not None:
                    out.reason = hit.problem
                    if record:
                        self.filtered(protocol, await self.claimed(tid), tid, hit.problem)
                    continue
                verdict = self.check_fresh(tid) or await self.check(tid)
                prop, policy = verdict.property, verdict.policy
                pid = prop.property_id if prop is not None else None
                out.policy = policy
                reason = verdict.reason
                if origin and grant and policy is not None and policy.allowed_hostnames:
                    grant = hostname_allowed(policy.allowed_hostnames, origin_host(origin))
                if reason is None and hit.secret is not None and prop is not None:
                    ok = secrets_ok.get(prop.property_id)  # one digest per request, not event
                    if ok is None:
                        ok = secrets_ok[prop.property_id] = \
                            prop.verify_secret(hit.secret) is not None
                    if not ok:
                        reason = INVALID_API_SECRET
                if reason is None and hit.needs_client_id and not (policy and policy.cookieless):
                    reason = INVALID_HIT
                # a sender with the property's API secret is not a page: no hostname check
                if reason is None and policy is not None and policy.allowed_hostnames \
                        and hit.secret is None:
                    out.where = hostname_problem(policy.allowed_hostnames, hit.fields or {},
                                                 request.origin)
                    if out.where is not None:
                        reason = DISALLOWED_HOSTNAME
                if reason is not None:
                    out.reason = reason
                    if record:
                        self.filtered(protocol, pid, tid, reason)
                    continue
                assert pid is not None
                assert policy is not None
                passed.append((hit, out, pid, policy))
                limited = limited or policy.rate_limit is not None
            # a request's hits pass the rate limit together or not at all (the client retries
            # the whole request; hits filtered above are counted again then)
            if record and limited and (wait := self.admit(
                    protocol, [(h.tracking_id, pid, pol.rate_limit) for h, _, pid, pol in passed])):
                return Taken(outcomes, wait, cors=grant)
            if not passed:
                return Taken(outcomes, cors=grant)
            enriching = []
            for hit, _, pid, policy in passed:
                assert hit.fields is not None
                fields = hit.fields if record else dict(hit.fields)
                fields["property_id"] = pid
                if policy.cookieless and hit.secret is None:
                    fields["client_id"] = await self._visitor(request, hit, pid)
                enriching.append(Enriching(fields, ip_override=hit.ip_override,
                                           ua_override=hit.ua_override, anonymize=hit.anonymize,
                                           precision=policy.precision, bot_policy=policy.bot_policy,
                                           hints=hit.hints))
            await self.enrich(request, enriching)
            for one, (hit, out, pid, _) in zip(enriching, passed, strict=True):
                found = one.found
                assert found is not None
                out.bot_reason = found.bot_reason
                if found.filter_reason is not None:
                    out.reason = found.filter_reason
                    if record:
                        self.filtered(protocol, pid, hit.tracking_id, found.filter_reason,
                                      agent=agent_family(one.fields) if found.filter_reason == BOT
                                      else None)
                    continue
                if not record:
                    continue
                if hit.overrides:
                    _override(one.fields, hit.overrides)
                if found.bot_reason is not None:
                    self.counters.add(pid, hit.tracking_id, BOT_FLAGGED)
                futures.append(self.submit(one.fields))
        except Unavailable as exc:
            # hits queued before the refusal still go to Kinesis; the client will retry the
            # request, and their deterministic ids let the archiver drop the copies
            if record:
                self.refused(protocol, type(exc).__name__)
            return Taken(outcomes, unavailable=exc, cors=grant)
        try:
            await self.wait(protocol, futures)
        except Unavailable as exc:
            return Taken(outcomes, unavailable=exc, cors=grant)
        return Taken(outcomes, cors=grant)

    async def _visitor(self, request: RawRequest, hit: Incoming, property_id: str) -> str:
        """A cookieless property's client id for this hit (collector.visitor)."""
        day = day_of(request.received)
        salt = self.salts.cached(day) or await self.salts.get(day)
        address, _ = self.enricher.address(request, hit.ip_override)
        agent = hit.ua_override if hit.ua_override is not None else request.user_agent
        return visitor_id(salt, property_id, address, agent)

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


def _override(fields: dict[str, Any], overrides: dict[str, Any]) -> None:
    """The sender's own device fields win over detection; a bot stays in category bot."""
    bot = fields.get("is_bot")
    fields.update(overrides)
    if bot:
        fields["device_category"] = "bot"
