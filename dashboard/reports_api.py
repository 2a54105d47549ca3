"""The reports API: every report of :data:`dashboard.reports.REPORTS` as JSON or CSV.

``GET /v1/properties/{property_id}/reports/{name}`` resolves its parameters
(:mod:`dashboard.ranges`) in the property's time zone, observes the data version of what
the query would read (:mod:`dashboard.versions`), and answers from the cache when an answer
for the same property, report, resolved request and data version is there; otherwise it runs
the report on the engine (DuckDB's views made again first when they are stale,
:mod:`dashboard.duck`). Engine errors: a timeout is a 504, an unavailable engine a 503 with
Retry-After, a failed query of our own SQL a 502 that is logged and never echoes the SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Protocol

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from dashboard.admin import RETRY_AFTER, Problem, problem
from dashboard.auth import Caller, readable
from dashboard.cache import TTLCache
from dashboard.engine import Engine, EngineUnavailable, QueryFailed, QueryTimeout
from dashboard.ranges import BadParameter, ReportQuery, parse
from dashboard.reports import DIMENSIONS, OPERATORS, REPORTS, ReportError, ReportRequest, render
from dashboard.reports.output import document, json_value
from dashboard.reports.request import DEFAULT_LIMIT
from dashboard.reports.runner import ReportResult, run_report
from dashboard.versions import DataVersions, Observation, utc_dates
from lambdalytics.properties import Property, PropertyStore

log = logging.getLogger(__name__)

ANSWERS: Final = 256  # cached report answers (a dashboard page shows about 15)
ANSWER_TTL_S: Final = 3600.0  # the data version decides freshness; this bounds memory age
VERSION_TTL_S: Final = 2.0  # one page load's requests share one listing
PROPERTY_TTL_S: Final = 5.0
FILTERED_REPORTS: Final = frozenset({"excluded", "excluded_daily", "bot_agents"})


class EngineSource(Protocol):
    async def engine_for(self, property_id: str, table: str,
                         seen: Observation | None) -> Engine: ...


@dataclass(frozen=True, slots=True)
class Fixed:
    """An engine given as it is (Athena, or one a test injects): nothing to refresh."""

    engine: Engine

    async def engine_for(self, property_id: str, table: str,
                         seen: Observation | None) -> Engine:
        return self.engine


@dataclass(frozen=True, slots=True)
class Answer:
    result: ReportResult
    version: str
    cached: bool


class ReportsService:
    def __init__(self, properties: PropertyStore, versions: DataVersions, engines: EngineSource,
                 *, clock: Callable[[], float] = time.time,
                 version_ttl_s: float = VERSION_TTL_S) -> None:
        self._properties = properties
        self._versions = versions
        self._engines = engines
        self._clock = clock
        self._props: TTLCache[str, Property] = TTLCache(1000, PROPERTY_TTL_S)
        self._seen: TTLCache[tuple[str, str, str, str], Observation] = TTLCache(1024, version_ttl_s)
        self.answers: TTLCache[tuple[str, str, ReportRequest, str], ReportResult] = \
            TTLCache(ANSWERS, ANSWER_TTL_S)

    async def property(self, property_id: str) -> Property:
        prop, _ = await self._props.get_or_make(
            property_id, lambda: self._properties.require(property_id))
        return prop

    def today(self, zone: str) -> dt.date:
        return dt.datetime.fromtimestamp(self._clock(), zoneinfo.ZoneInfo(zone)).date()

    async def answer(self, prop: Property, name: str, query: ReportQuery) -> Answer:
        spec = REPORTS[name]
        request = ReportRequest.for_property(
            prop, query.dates, filters=query.filters,
            compare=query.compare if spec.compares else None,
            limit=query.limit if spec.top_n else DEFAULT_LIMIT)
        spec.build(request)  # a request the report cannot answer (hourly over a year): 400 now
        windows = [(request.dates, request.timezone)]
        if spec.compares and request.comparison is not None:
            windows.append((request.comparison, request.timezone))
        first, last = utc_dates(windows)
        table = "filtered" if name in FILTERED_REPORTS else "events"
        pid = prop.property_id
        seen, _ = await self._seen.get_or_make(
            (pid, table, first, last), lambda: self._versions.observe(pid, table, first, last))

        async def run() -> ReportResult:
            engine = await self._engines.engine_for(pid, table, seen)
            return await run_report(engine, name, request)

        result, cached = await self.answers.get_or_make((pid, name, request, seen.version), run)
        return Answer(result, seen.version, cached)


def _service(request: Request) -> ReportsService:
    service: ReportsService | None = request.app.state.reports
    if service is None:
        raise EngineUnavailable("the reports service is not started")
    return service


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: None in their place."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _csv_name(result: ReportResult) -> str:
    req = result.request
    return f"{req.property_id}-{result.report}-{req.dates.start}-{req.dates.end}.csv"


def install_report_errors(api: FastAPI) -> None:
    @api.exception_handler(BadParameter)
    async def bad_parameter(_req: Request, exc: BadParameter) -> JSONResponse:
        return problem(400, str(exc), errors=[{"loc": ["query", exc.parameter],
                                               "msg": exc.message, "type": "value_error"}])

    @api.exception_handler(ReportError)
    async def report_error(_req: Request, exc: ReportError) -> JSONResponse:
        return problem(400, str(exc))

    @api.exception_handler(QueryTimeout)
    async def timeout(_req: Request, exc: QueryTimeout) -> JSONResponse:
        return problem(504, str(exc))

    @api.exception_handler(EngineUnavailable)
    async def unavailable(_req: Request, exc: EngineUnavailable) -> JSONResponse:
        log.warning("dashboard: engine unavailable: %s", exc)
        return problem(503, "the query engine is unavailable", headers={"Retry-After": RETRY_AFTER})

    @api.exception_handler(QueryFailed)
    async def failed(_req: Request, exc: QueryFailed) -> JSONResponse:
        # input never reaches SQL unchecked, so a failed query is our bug: log it, tell nothing
        log.error("dashboard: a report query failed: %s", exc)
        return problem(502, "the report could not be computed (the error is logged)")


def add_report_routes(api: FastAPI) -> None:
    found: dict[int | str, dict[str, Any]] = {
        400: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem},
        502: {"model": Problem}, 504: {"model": Problem}}

    @api.get("/v1/reports", tags=["reports"], summary="The reports, filter dimensions and operators")
    async def catalog(_who: Caller) -> dict[str, Any]:
        return {
            "reports": [{"name": r.name, "columns": list(r.columns), "doc": r.doc,
                         "compares": r.compares, "top_n": r.top_n} for r in REPORTS.values()],
            "dimensions": [{"name": d.name, "scope": d.scope, "doc": d.doc}
                           for d in DIMENSIONS.values()],
            "operators": list(OPERATORS),
        }

    @api.get("/v1/properties/{property_id}/reports/{name}", tags=["reports"], responses={
        **found, 200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
        summary="Run a report (JSON or CSV): range, compare, filter, limit, format")
    async def run(request: Request, property_id: str, name: str, who: Caller,
                  range: Annotated[str | None, Query(description="today, yesterday, 7d, 30d "
                                                     "(default), month, last_month, custom")] = None,
                  from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD")] = None,
                  to: Annotated[str | None, Query(description="YYYY-MM-DD, included")] = None,
                  compare: Annotated[str | None, Query(description="previous (default), year, "
                                                       "none, custom")] = None,
                  compare_from: str | None = None, compare_to: str | None = None,
                  filter: Annotated[list[str] | None,
                                    Query(description="DIMENSION:OP:VALUE, repeatable")] = None,
                  limit: Annotated[str | None, Query(description="1..1000, default 10")] = None,
                  format: Annotated[str | None, Query(description="json (default) or csv")] = None,
                  ) -> Response:
        """The parameters are declared for the OpenAPI document; they are read (and checked,
        400 naming the parameter) from the query string by dashboard.ranges."""
        readable(who, property_id)
        if name not in REPORTS:
            return problem(404, f"no report {name[:60]!r}; GET /v1/reports lists them")
        service = _service(request)
        prop = await service.property(property_id)
        query = parse(request.query_params.multi_items(), service.today(prop.timezone))
        answer = await service.answer(prop, name, query)
        if query.format == "csv":
            return Response(render(answer.result, "csv"), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition":
                                     f'attachment; filename="{_csv_name(answer.result)}"'})
        body = document(answer.result) | {"cached": answer.cached,
                                           "data_version": answer.version}
        body["rows"] = [{k: _finite(v) for k, v in row.items()} for row in body["rows"]]
        return Response(json.dumps(body, default=json_value, allow_nan=False),
                        media_type="application/json")
