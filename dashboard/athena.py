"""The Athena engine: runs report SQL (Trino/Athena dialect) as it is, over an injected client.

StartQueryExecution (with a client request token, so a retried start is the same query),
GetQueryExecution with backoff until a final state, GetQueryResults page by page; each value
converted from its text by the column's type. Throttling, 5xx and connection errors are
retried a bounded number of times with jittered backoff, then EngineUnavailable.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from datetime import time as time_of_day
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from dashboard.engine import EngineUnavailable, QueryFailed, QueryResult, QueryTimeout

if TYPE_CHECKING:
    from types_aiobotocore_athena.type_defs import (
        ColumnInfoTypeDef,
        GetQueryExecutionInputTypeDef,
        GetQueryExecutionOutputTypeDef,
        GetQueryResultsInputTypeDef,
        GetQueryResultsOutputTypeDef,
        QueryExecutionTypeDef,
        RowTypeDef,
        StartQueryExecutionInputTypeDef,
        StartQueryExecutionOutputTypeDef,
        StopQueryExecutionInputTypeDef,
    )
    from typing_extensions import Unpack

log = logging.getLogger(__name__)
T = TypeVar("T")

# Athena bills $5 per TB scanned, each query rounded up to a whole MB with a 10 MB minimum;
# DDL and failed queries are free. AWS bills in binary units (a GB is 2^30 bytes), so:
USD_PER_TB = 5.0
BILLING_MB = 2**20
BILLING_TB = 2**40
MINIMUM_MB = 10

RETRYABLE_CODES = frozenset({
    "TooManyRequestsException", "ThrottlingException", "Throttling", "ThrottledException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "InternalServerException", "InternalFailure", "InternalError", "ServiceUnavailable",
    "ServiceUnavailableException",
})
ERROR_CATEGORIES = {1: "system", 2: "user", 3: "other"}  # AthenaError.ErrorCategory


class AthenaAPI(Protocol):
    """The calls this engine makes (an aiobotocore Athena client, or a wrapper around one)."""

    async def start_query_execution(
        self, **kwargs: Unpack[StartQueryExecutionInputTypeDef]) -> StartQueryExecutionOutputTypeDef: ...
    async def get_query_execution(
        self, **kwargs: Unpack[GetQueryExecutionInputTypeDef]) -> GetQueryExecutionOutputTypeDef: ...
    async def get_query_results(
        self, **kwargs: Unpack[GetQueryResultsInputTypeDef]) -> GetQueryResultsOutputTypeDef: ...
    async def stop_query_execution(
        self, **kwargs: Unpack[StopQueryExecutionInputTypeDef]) -> dict[str, Any]: ...


class AthenaQueryFailed(QueryFailed):
    """A query Athena ran and failed, with Athena's own classification of the error."""

    def __init__(self, message: str, *, query_id: str, error_type: int | None = None,
                 error_category: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.query_id = query_id
        self.error_type = error_type
        self.error_category = error_category
        self.retryable = retryable  # Athena's AthenaError.Retryable: the same query may succeed


def query_cost_usd(bytes_scanned: int) -> float:
    """What Athena bills for a query that scanned ``bytes_scanned`` (not for DDL)."""
    billed_mb = max(MINIMUM_MB, math.ceil(bytes_scanned / BILLING_MB))
    return billed_mb * BILLING_MB * USD_PER_TB / BILLING_TB


def backoff(initial_s: float, factor: float, cap_s: float) -> Iterator[float]:
    """The poll delays: ``initial_s``, then × ``factor`` each time, at most ``cap_s``."""
    delay = initial_s
    while True:
        yield delay
        delay = min(delay * factor, cap_s)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code")
        return code in RETRYABLE_CODES or status == 429 or status >= 500
    return isinstance(exc, BotocoreConnectionError | HTTPClientError)


class AthenaEngine:
    """Runs queries in one workgroup and database. ``output_location`` (``s3://…/``) may be
    None when the workgroup supplies one (AWS fails the query when neither does)."""

    name: str = "athena"

    def __init__(self, client: AthenaAPI, *, workgroup: str, database: str,
                 catalog: str = "AwsDataCatalog", output_location: str | None = None,
                 timeout_s: float = 300.0, max_attempts: int = 5, retry_base_s: float = 0.2,
                 retry_cap_s: float = 5.0, poll_initial_s: float = 0.2, poll_factor: float = 1.5,
                 poll_max_s: float = 2.0, page_size: int = 1000) -> None:
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000 (GetQueryResults' MaxResults)")
        self._client = client
        self.workgroup = workgroup
        self.database = database
        self.catalog = catalog
        self.output_location = output_location
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.poll = (poll_initial_s, poll_factor, poll_max_s)
        self.page_size = page_size

    async def query(self, sql: str) -> QueryResult:
        started = time.monotonic()
        request: StartQueryExecutionInputTypeDef = {
            "QueryString": sql,
            "ClientRequestToken": uuid.uuid4().hex,  # the same on every retry of this start
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
            "WorkGroup": self.workgroup,
        }
        if self.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.output_location}
        answer = await self._call("StartQueryExecution", self._client.start_query_execution,
                                  **request)
        query_id = answer["QueryExecutionId"]
        try:
            execution = await self._wait(query_id, started + self.timeout_s)
        except (EngineUnavailable, asyncio.CancelledError):
            await self._stop(query_id)  # do not leave it running (and billing) unobserved
            raise
        columns, rows = await self._results(query_id, execution)
        stats = execution.get("Statistics", {})
        scanned = stats.get("DataScannedInBytes", 0)
        engine_ms = stats.get("EngineExecutionTimeInMillis")
        cost = 0.0 if execution.get("StatementType") == "DDL" else query_cost_usd(scanned)
        log.info("athena query %s succeeded: %d bytes scanned, $%.6f, engine %s ms, queue %s ms,"
                 " %d rows", query_id, scanned, cost, engine_ms,
                 stats.get("QueryQueueTimeInMillis"), len(rows))
        elapsed = engine_ms / 1000 if engine_ms is not None else time.monotonic() - started
        return QueryResult(columns=columns, rows=rows, engine=self.name, elapsed_s=elapsed,
                           bytes_scanned=scanned, cost_usd=cost, query_id=query_id)

    async def _wait(self, query_id: str, deadline: float) -> QueryExecutionTypeDef:
        """Poll until a final state; the execution if it succeeded."""
        delays = backoff(*self.poll)
        while True:
            answer = await self._call("GetQueryExecution", self._client.get_query_execution,
                                      QueryExecutionId=query_id)
            execution = answer["QueryExecution"]
            status = execution.get("Status", {})
            state = status.get("State")
            if state == "SUCCEEDED":
                return execution
            if state == "FAILED":
                raise _failure(query_id, status)
            if state == "CANCELLED":  # by someone else, or by the workgroup's scan limit
                log.info("athena query %s was cancelled", query_id)
                reason = status.get("StateChangeReason")
                raise QueryFailed(f"the query was cancelled in Athena{': ' + reason if reason else ''}"
                                  f" (query id {query_id})")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._stop(query_id)
                log.info("athena query %s timed out after %.1f s, stopped", query_id,
                         self.timeout_s)
                raise QueryTimeout(f"the query ran longer than {self.timeout_s:g} s and was "
                                   f"cancelled (query id {query_id})")
            await asyncio.sleep(min(next(delays), remaining))

    async def _results(self, query_id: str, execution: QueryExecutionTypeDef
                       ) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
        columns: list[ColumnInfoTypeDef] = []
        rows: list[tuple[Any, ...]] = []
        token: str | None = None
        first = True
        while first or token:
            request: GetQueryResultsInputTypeDef = {"QueryExecutionId": query_id,
                                                    "MaxResults": self.page_size}
            if token:
                request["NextToken"] = token
            page = await self._call("GetQueryResults", self._client.get_query_results,
                                    **request)
            result_set = page.get("ResultSet", {})
            page_rows = result_set.get("Rows", [])
            if first:
                columns = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                if execution.get("StatementType", "DML") == "DML" and page_rows and \
                        _is_header(page_rows[0], columns):
                    page_rows = page_rows[1:]
            rows.extend(_convert_row(row, columns, query_id) for row in page_rows)
            token = page.get("NextToken")
            first = False
        return tuple(c["Name"] for c in columns), tuple(rows)

    async def _stop(self, query_id: str) -> None:
        try:
            await self._call("StopQueryExecution", self._client.stop_query_execution,
                             QueryExecutionId=query_id)
        except (QueryFailed, EngineUnavailable) as exc:
            log.warning("could not stop athena query %s: %s", query_id, exc)

    async def _call(self, operation: str, call: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
        """One API call with bounded, jittered retries of what is worth retrying."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await call(**kwargs)
            except (ClientError, BotocoreConnectionError, HTTPClientError) as exc:
                if isinstance(exc, ClientError) and not is_retryable(exc):
                    error = exc.response.get("Error", {})
                    raise QueryFailed(f"Athena refused {operation}: {error.get('Code')}: "
                                      f"{error.get('Message')}") from exc
                if attempt == self.max_attempts:
                    log.warning("athena %s still failing after %d attempts: %s", operation,
                                attempt, _describe(exc))
                    raise EngineUnavailable(f"Athena is unavailable ({_describe(exc)}); "
                                            "try again later") from exc
                cap = min(self.retry_cap_s, self.retry_base_s * 2 ** (attempt - 1))
                await asyncio.sleep(random.uniform(cap / 2, cap))
        raise AssertionError("unreachable")  # the loop returns or raises


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or exc)
    return type(exc).__name__


def _failure(query_id: str, status: Mapping[str, Any]) -> AthenaQueryFailed:
    error = status.get("AthenaError", {})
    reason = status.get("StateChangeReason") or error.get("ErrorMessage") or "no reason given"
    error_type, category = error.get("ErrorType"), error.get("ErrorCategory")
    log.info("athena query %s failed: error type %s, category %s", query_id, error_type, category)
    detail = ", ".join(part for part in (
        f"error type {error_type}" if error_type is not None else "",
        f"{ERROR_CATEGORIES.get(category, category)} error" if category is not None else "",
        f"query id {query_id}") if part)
    return AthenaQueryFailed(f"Athena query failed: {reason} ({detail})", query_id=query_id,
                             error_type=error_type, error_category=category,
                             retryable=bool(error.get("Retryable")))


def _is_header(row: RowTypeDef, columns: Sequence[ColumnInfoTypeDef]) -> bool:
    values = [d.get("VarCharValue") for d in row.get("Data", [])]
    return values == [c["Name"] for c in columns] or values == [c.get("Label") for c in columns]


def _convert_row(row: RowTypeDef, columns: Sequence[ColumnInfoTypeDef],
                 query_id: str) -> tuple[Any, ...]:
    data = row.get("Data", [])
    if len(data) != len(columns):
        raise QueryFailed(f"Athena returned a row of {len(data)} values for {len(columns)} "
                          f"columns (query id {query_id})")
    out = []
    for datum, column in zip(data, columns, strict=True):
        text = datum.get("VarCharValue")
        try:
            out.append(None if text is None else convert(column["Type"], text))
        except ValueError as exc:
            raise QueryFailed(f"cannot read {column['Type']} value of column {column['Name']!r}"
                              f" (query id {query_id})") from exc
    return tuple(out)


def _timestamp_tz(text: str) -> datetime:
    """Trino's text of a ``timestamp with time zone``: ``2026-11-28 02:54:00.000 UTC``, the
    zone a region id or an offset."""
    local, _, zone = text.rpartition(" ")
    tz: tzinfo
    if zone in ("UTC", "Z"):
        tz = UTC
    elif zone[:1] in ("+", "-"):
        tz = datetime.strptime(zone.replace(":", ""), "%z").tzinfo or UTC
    else:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(zone) from exc
    return datetime.fromisoformat(local).replace(tzinfo=tz)


_PRECISION = re.compile(r"\([^)]*\)")  # decimal(10,2), timestamp(3) with time zone
_CONVERTERS: dict[str, Callable[[str], Any]] = {
    **dict.fromkeys(("tinyint", "smallint", "integer", "int", "bigint"), int),
    **dict.fromkeys(("double", "float", "real"), float),
    "decimal": Decimal,
    "boolean": lambda text: {"true": True, "false": False}[text.lower()],
    "date": date.fromisoformat,
    "timestamp": datetime.fromisoformat,
    "timestamp with time zone": _timestamp_tz,
    "time": time_of_day.fromisoformat,
}


def convert(athena_type: str, text: str) -> Any:
    """A value from its text, by its ColumnInfo type. Types not listed (varchar, char, string,
    json, uuid, varbinary, interval, arrays, maps, rows) stay text."""
    converter = _CONVERTERS.get(" ".join(_PRECISION.sub("", athena_type.lower()).split()))
    if converter is None:
        return text
    try:
        return converter(text)
    except (KeyError, ArithmeticError) as exc:  # bool's lookup, Decimal's InvalidOperation
        raise ValueError(text) from exc

