"""Builds the collector: the lean edge in front of a FastAPI app, resources in the lifespan.

Resources live on one AsyncExitStack (STYLE.md §6): AWS clients, the property cache, the
group-commit sink and the filtered-traffic counters. On shutdown the exit stack unwinds in
reverse: intake stops, counters flush, the sink drains every queued hit into Kinesis, and
only then do the clients close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from collector import collect, putrecords, tracker, ua
from collector.bots import BotDetector
from collector.device import DeviceDetector
from collector.edge import ROUTES, ClientGone, Edge, Runtime, dispatch
from collector.enrich import Enricher, Enrichment
from collector.filtered import FilteredCounters
from collector.geo import open_geo
from collector.http import RawRequest, problem
from collector.ingest import Ingest
from collector.loopthread import LoopThread, entered_on
from collector.metrics import Metrics
from collector.properties import PropertyCache, PropertyLookup
from collector.referrer import ReferrerClassifier
from collector.serial import EMULATOR_READ_TIMEOUT_S, OneCallPerStream
from collector.settings import CollectorSettings
from collector.sink import (
    BatchWriter,
    CallsOnThread,
    GroupCommitSink,
    KinesisWriter,
    PutRecordsClient,
)
from collector.visitor import DailySalts
from lambdalytics import aws, compiled, emf
from lambdalytics.properties import PropertyStore

if TYPE_CHECKING:
    from aiobotocore.session import AioSession
    from types_aiobotocore_kinesis import KinesisClient

log = logging.getLogger(__name__)


@dataclass
class Overrides:
    """Seams for tests and benchmarks; production passes none of them."""

    writer: BatchWriter | None = None  # e.g. NullWriter: no Kinesis at all
    properties: PropertyLookup | None = None  # e.g. a fixed in-memory lookup
    wrap_kinesis: Callable[[Any], PutRecordsClient] | None = None  # fault injection
    enricher: Enrichment | None = None  # e.g. a cheaper one, to measure enrichment's cost
    # what time it is for the filtered-traffic counters (epoch seconds), e.g. the receive
    # time of the backfilled request being taken (lambdalytics.demo.backfill)
    clock: Callable[[], float] | None = None


class Readiness:
    """Caches the last dependency check for a second, so probes cannot hammer AWS."""

    def __init__(self) -> None:
        self.check: Callable[[], Any] | None = None
        self._last: tuple[float, dict[str, str]] | None = None

    async def status(self) -> dict[str, str]:
        if self._last is not None and time.monotonic() - self._last[0] < 1.0:
            return self._last[1]
        result: dict[str, str] = {}
        if self.check is not None:
            result = await self.check()
        self._last = (time.monotonic(), result)
        return result


def create_app(settings: CollectorSettings, overrides: Overrides | None = None) -> Edge:
    overrides = overrides or Overrides()
    metrics = Metrics()
    runtime = Runtime(settings.max_body_bytes)
    readiness = Readiness()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await _start(stack, settings, overrides, metrics, runtime, readiness)
            yield
            runtime.draining = True
            log.info("collector draining")

    api = FastAPI(
        title="Lambdalytics collector",
        version="0.1.0",
        summary="Google Analytics compatible hit collector",
        lifespan=lifespan,
    )
    _routes(api, runtime, metrics, readiness)
    api.include_router(tracker.router)
    return Edge(runtime, api, fast_path=settings.fast_path)


async def _start(stack: AsyncExitStack, settings: CollectorSettings, overrides: Overrides,
                 metrics: Metrics, runtime: Runtime, readiness: Readiness) -> None:
    res = settings.resources
    if settings.emf:  # EMF lines from the registry; first on, last off (after the drain)
        await emf.publish(stack, metrics.registry, emf.COLLECTOR, settings.resource_prefix)
    session = aws.session()
    checks: dict[str, Callable[[], Any]] = {}

    if overrides.properties is not None:
        lookup: PropertyLookup = overrides.properties
        salts = DailySalts()
    else:
        ddb = await stack.enter_async_context(aws.client(session, "dynamodb", settings))
        lookup = PropertyStore(ddb, res.properties.name)
        salts = DailySalts(ddb, res.properties.name)
        checks["properties_table"] = lambda: ddb.describe_table(TableName=res.properties.name)

    if overrides.writer is not None:
        writer = overrides.writer
    else:
        writer, checks["stream"] = await _kinesis_writer(stack, session, settings, overrides)

    sink = GroupCommitSink(writer, settings.sink_limits(), metrics)
    metrics.track_queue(lambda: sink.depth)
    await sink.start()
    stack.push_async_callback(_drain, sink, settings.drain_timeout_s)
    counters = FilteredCounters(sink, interval=settings.filtered_flush_s,
                                clock=overrides.clock or time.time)
    await counters.start()
    stack.push_async_callback(counters.close)  # runs before the sink drains
    cache = PropertyCache(lookup, ttl=settings.property_ttl_s,
                          negative_ttl=settings.property_negative_ttl_s,
                          stale_for=settings.property_stale_s, metrics=metrics)
    enricher = overrides.enricher or _enricher(stack, settings)
    runtime.ingest = Ingest(sink, cache, counters, metrics, enricher, salts=salts)

    async def check() -> dict[str, str]:
        out = {}
        for name, call in checks.items():
            try:
                await asyncio.wait_for(call(), 2.0)
                out[name] = "ok"
            except Exception as exc:
                out[name] = f"unavailable: {type(exc).__name__}"
        return out

    readiness.check = check
    built = compiled.compiled_modules()
    build = compiled.describe(built)
    if compiled.is_partial(built):
        log.warning("hot path %s: rebuild it, or install the pure Python build", build)
    log.info("collector started", extra={"stream": res.stream.name,
                                         "properties_table": res.properties.name,
                                         "hot_path": build})


async def _kinesis_writer(stack: AsyncExitStack, session: AioSession, settings: CollectorSettings,
                          overrides: Overrides) -> tuple[BatchWriter, Callable[[], Awaitable[Any]]]:
    """The Kinesis client (on a thread of its own unless turned off), its PutRecords codec,
    a test's fault wrapper, and against an emulator the one-call-per-stream guard."""
    stream = settings.resources.stream.name
    thread: LoopThread | None = None
    if settings.kinesis_thread:  # the client opened, used and closed on its own loop
        # with a session of its own: a session's clients share its credentials, whose
        # refresh lock (an asyncio.Lock) must not serve two event loops on two threads
        session = aws.session()
        thread = LoopThread("kinesis", switch_interval=settings.kinesis_switch_interval_ms / 1000)
        thread.start()
        stack.push_async_callback(thread.stop)  # after the client is closed, below
    read_timeout = (EMULATOR_READ_TIMEOUT_S if aws.is_emulator(settings.endpoint_url("kinesis"))
                    else 5.0)
    # no SDK retries: the sink retries only the failed entries, within its own budget
    opened = aws.client(session, "kinesis", settings,
                        aws.config(max_attempts=1, read_timeout=read_timeout, validate=False))
    if thread is not None:
        opened = entered_on(thread, opened)
    kinesis = await stack.enter_async_context(opened)
    putrecords.install(kinesis)  # records encoded, answers decoded with orjson
    client: PutRecordsClient = kinesis
    if overrides.wrap_kinesis is not None:
        client = overrides.wrap_kinesis(kinesis)  # a fault wrapper runs where the client does
    if aws.is_emulator(kinesis.meta.endpoint_url):
        client = OneCallPerStream(client)  # moto loses records under concurrent PutRecords
    if thread is not None:
        client = CallsOnThread(client, thread)
    return KinesisWriter(client, stream), _stream_check(kinesis, stream, thread)


def _stream_check(kinesis: KinesisClient, stream: str,
                  thread: LoopThread | None) -> Callable[[], Awaitable[Any]]:
    def check() -> Awaitable[Any]:
        call = kinesis.describe_stream_summary(StreamName=stream)
        return call if thread is None else thread.run(call)
    return check


def _enricher(stack: AsyncExitStack, settings: CollectorSettings) -> Enricher:
    geo = open_geo(settings.geoip_database, cache_size=settings.enrich_cache_size)
    stack.callback(geo.close)
    return Enricher(
        geo=geo,
        devices=DeviceDetector(cache_size=settings.enrich_cache_size),
        bots=BotDetector(cache_size=settings.enrich_cache_size),
        referrers=ReferrerClassifier(cache_size=settings.enrich_cache_size),
        trusted_proxy_hops=settings.trusted_proxy_hops,
        bot_policy=settings.bot_policy,
        cache_size=settings.enrich_cache_size,
    )


async def _drain(sink: GroupCommitSink, timeout: float) -> None:
    try:
        await asyncio.wait_for(sink.close(), timeout)
    except TimeoutError:
        log.error("sink did not drain within %.0fs; %d records not confirmed", timeout, sink.depth)
    else:
        log.info("sink drained")


# --- FastAPI routes: health, metrics, and the documented hit endpoints ----------------------


def _ua_parameters() -> list[dict[str, Any]]:
    common = [("v", "Protocol version, always 1", True), ("tid", "Tracking id UA-XXXX-Y", True),
              ("cid", "Client id (or uid)", False), ("uid", "User id", False),
              ("t", "Hit type: " + ", ".join(ua.REQUIRED), True),
              ("z", "Cache buster; also the hit's retry nonce", False),
              ("qt", "Queue time in ms (≤ 4 h)", False)]
    out = [{"name": n, "in": "query", "required": False, "description": d + (" (required)" if r else ""),
            "schema": {"type": "string"}} for n, d, r in common]
    out += [{"name": name, "in": "query", "required": False, "schema": {"type": "string"},
             "description": f"{spec.field} ({spec.kind.value}"
                            + (f", ≤ {spec.max_len} bytes)" if spec.max_len else ")")}
            for name, spec in ua.PARAMS.items()]
    return out


def _gtag_parameters() -> list[dict[str, Any]]:
    names = [("v", "Protocol version, always 2"), ("tid", "Measurement id G-XXXXXXXXXX"),
             ("cid", "Client id (the _ga cookie's last two fields)"), ("en", "Event name"),
             ("_p", "Page-load id (with _s: the hit's retry nonce)"),
             ("_s", "Hit sequence number in the page load"), ("dl", "Page location"),
             ("dr", "Page referrer"), ("dt", "Page title"), ("sid", "Session id"),
             ("sct", "Session number"), ("ep.<name>", "String event parameter"),
             ("epn.<name>", "Numeric event parameter")]
    return [{"name": n, "in": "query", "required": False, "description": d,
             "schema": {"type": "string"}} for n, d in names]


_MP_OPENAPI: dict[str, Any] = {
    "parameters": [
        {"name": "api_secret", "in": "query", "required": True, "schema": {"type": "string"},
         "description": "An API secret of the property"},
        {"name": "measurement_id", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "Web stream id G-XXXXXXXXXX (or firebase_app_id)"},
        {"name": "firebase_app_id", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "App stream id (or measurement_id)"},
    ],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["events"],
        "properties": {"client_id": {"type": "string"}, "app_instance_id": {"type": "string"},
                       "user_id": {"type": "string"}, "timestamp_micros": {"type": "integer"},
                       "user_properties": {"type": "object"}, "consent": {"type": "object"},
                       "events": {"type": "array", "maxItems": 25, "items": {
                           "type": "object", "required": ["name"],
                           "properties": {"name": {"type": "string"},
                                          "params": {"type": "object"}}}}}}}}},
}


_PAYLOAD_BODY = {
    "required": False,
    "content": {
        "application/x-www-form-urlencoded": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
    },
    "description": "the payload as a URL-encoded query (read whatever the Content-Type)",
}


def _routes(api: FastAPI, runtime: Runtime, metrics: Metrics, readiness: Readiness) -> None:
    @api.get("/healthz", tags=["operations"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", tags=["operations"], summary="Readiness: Kinesis and the properties table",
             responses={503: {"description": "a dependency is unreachable"}})
    async def readyz() -> JSONResponse:
        if runtime.ingest is None or runtime.draining:
            return JSONResponse({"status": "not ready"}, status_code=503)
        checks = await readiness.status()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                            status_code=200 if ready else 503)

    @api.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def hit_route(request: Request) -> Response:
        try:
            raw = await _from_starlette(request, runtime.max_body_bytes)
        except ClientGone:
            return Response(status_code=499)
        if raw is None:
            resp = problem(413, "Content Too Large", "the body is over the collector's cap")
        else:
            resp = await dispatch(runtime, raw)
        return Response(resp.body, status_code=resp.status,
                        headers={k.decode(): v.decode("latin-1") for k, v in resp.headers},
                        media_type=resp.content_type.decode() if resp.content_type else None)

    descriptions = {
        "/collect": "Universal Analytics hit (Measurement Protocol v1)",
        "/r/collect": "Universal Analytics hit, as analytics.js sends it (beacon)",
        "/j/collect": "Universal Analytics hit, as analytics.js sends it (XHR)",
        "/batch": "Up to 20 Universal Analytics hits, one payload per line (≤ 16 KB)",
        "/debug/collect": "Validate a hit: Google's hitParsingResult JSON, nothing recorded",
        "/g/collect": "GA4 events as gtag.js sends them (server_container_url / transport_url): "
                      "the query alone, or one event per body line",
        "/mp/collect": "GA4 Measurement Protocol: a JSON body of up to 25 events",
        "/debug/mp/collect": "Validate a GA4 Measurement Protocol request: Google's "
                             "validationMessages JSON, nothing recorded",
    }
    extras = {"/g/collect": {"parameters": _gtag_parameters(), "requestBody": _PAYLOAD_BODY},
              "/mp/collect": _MP_OPENAPI, "/debug/mp/collect": _MP_OPENAPI}
    ok = {200: {"description": "received (valid or not, as Google answers)",
                "content": {"image/gif": {}, "text/plain": {}, "application/json": {}}},
          204: {"description": "received (valid or not, as Google answers): /g/collect, "
                               "/mp/collect"},
          413: {"description": "over the collector's hard size cap"},
          429: {"description": "the property is over its rate limit; retry after Retry-After"},
          503: {"description": "Kinesis could not take the hit; retry after Retry-After"}}
    # a UA POST (and /batch) is answered with an empty 200, as Google answers it
    empty = {**ok, 200: {"description": "received (valid or not, as Google answers): no body"}}
    bodiless = {(path, "POST") for path in (*collect.COLLECT_PATHS, collect.BATCH_PATH)}
    for path, (methods, _handler) in ROUTES.items():
        for method in sorted(methods | {"OPTIONS"}):
            slug = path.strip("/").replace("/", "_")
            api.add_api_route(
                path, hit_route, methods=[method], tags=["collection"],
                summary=descriptions[path] if method != "OPTIONS" else "CORS preflight",
                response_class=Response,
                responses=(empty if (path, method) in bodiless else ok) if method != "OPTIONS"  # type: ignore[arg-type]
                else {204: {"description": "CORS preflight"}},
                openapi_extra=(extras.get(path) or {"parameters": _ua_parameters(),
                                                     "requestBody": _PAYLOAD_BODY}
                               if method != "OPTIONS" else None),
                operation_id=f"{method.lower()}_{slug}",
            )
        # any other method reaches dispatch too, which answers 405 with the right Allow
        others = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"} - methods
        api.add_api_route(path, hit_route, methods=sorted(others), include_in_schema=False,
                          name=f"hit {path} (other methods)")


async def _from_starlette(request: Request, limit: int) -> RawRequest | None:
    body = b""
    if request.method != "GET":
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None  # refused before the body is read
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
        except Exception as exc:  # starlette's ClientDisconnect
            raise ClientGone from exc
        body = b"".join(chunks)
    return RawRequest(
        method=request.method, path=request.url.path, query=request.scope["query_string"],
        body=body, received=time.time(),
        client_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent", ""), origin=request.headers.get("origin"),
        headers=dict(request.scope["headers"]),
        forwarded_for=[v for k, v in request.scope["headers"] if k == b"x-forwarded-for"],
    )


__all__ = ["Overrides", "collect", "create_app"]
