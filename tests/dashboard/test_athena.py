"""AthenaEngine against moto server over real HTTP, with a real aiobotocore client.

moto never executes SQL: each new query execution takes the next result queued through
``/moto-api/static/athena/query-results``; its state manager drives QUEUED → RUNNING →
SUCCEEDED. What moto never does (FAILED, throttling, statistics, result pages: it ignores
MaxResults) is injected by ``FaultyAthena``, a thin wrapper around the real client.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as time_of_day
from decimal import Decimal
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import httpx
import pytest
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError, EndpointConnectionError

from dashboard.athena import AthenaEngine, AthenaQueryFailed, backoff, convert, query_cost_usd
from dashboard.engine import DuckDBEngine, EngineUnavailable, QueryFailed, QueryTimeout
from lambdalytics import aws
from lambdalytics.settings import CommonSettings

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
EXECUTION = "athena::execution"

Fault = BaseException | None
Rewrite = Callable[[dict[str, Any]], dict[str, Any]]


def client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (injected)"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


class FaultyAthena:
    """The real client, with faults no emulator produces. ``faults[operation]`` is consumed one
    entry per call: an exception raised instead of calling moto, or None to pass through;
    ``rewrite[operation]`` edits moto's answer; ``page`` serves GetQueryResults in pages of
    MaxResults with NextToken, as Athena does (moto returns every row at once)."""

    def __init__(self, real: Any, *, faults: dict[str, list[Fault]] | None = None,
                 rewrite: dict[str, Rewrite] | None = None, page: bool = False) -> None:
        self.real = real
        self.faults = {op: list(plan) for op, plan in (faults or {}).items()}
        self.rewrite = rewrite or {}
        self.page = page
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers: list[tuple[str, dict[str, Any]]] = []
        self.pages: list[tuple[int, str | None]] = []  # (MaxResults, NextToken) asked for
        self.polled = asyncio.Event()  # set at each GetQueryExecution answer

    async def polls(self, count: int) -> None:
        """Wait until GetQueryExecution has been answered ``count`` times."""
        while sum(op == "get_query_execution" for op, _ in self.answers) < count:
            self.polled.clear()
            await asyncio.wait_for(self.polled.wait(), 10)

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for op, kwargs in self.calls if op == operation]

    async def _call(self, operation: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((operation, kwargs))
        plan = self.faults.get(operation)
        if plan:
            fault = plan.pop(0)
            if fault is not None:
                raise fault
        answer = await getattr(self.real, operation)(**kwargs)
        if operation in self.rewrite:
            answer = self.rewrite[operation](answer)
        self.answers.append((operation, answer))
        if operation == "get_query_execution":
            self.polled.set()
        return answer

    async def start_query_execution(self, **kwargs: Any) -> Any:
        return await self._call("start_query_execution", kwargs)

    async def get_query_execution(self, **kwargs: Any) -> Any:
        return await self._call("get_query_execution", kwargs)

    async def stop_query_execution(self, **kwargs: Any) -> Any:
        return await self._call("stop_query_execution", kwargs)

    async def get_query_results(self, **kwargs: Any) -> Any:
        if not self.page:
            return await self._call("get_query_results", kwargs)
        size, offset = kwargs.get("MaxResults", 1000), int(kwargs.get("NextToken", "0"))
        self.pages.append((size, kwargs.get("NextToken")))
        whole = {k: v for k, v in kwargs.items() if k not in ("MaxResults", "NextToken")}
        answer = await self._call("get_query_results", whole)
        rows = answer["ResultSet"]["Rows"]
        page = {**answer, "ResultSet": {**answer["ResultSet"],
                                        "Rows": rows[offset:offset + size]}}
        if offset + size < len(rows):
            page["NextToken"] = str(offset + size)
        return page


class Moto:
    """moto's Athena controls, shared by the whole test session: what a test sets, it undoes."""

    def __init__(self, url: str, http: httpx.AsyncClient, client: Any) -> None:
        self.url = url
        self.http = http
        self.client = client
        self.workgroup = "wg-" + secrets.token_hex(6)

    async def queue(self, *results: tuple[list[str], list[list[str | None]], list[str]]) -> None:
        """Each result: column names, rows (None: NULL), column types. The header row Athena
        puts first in a SELECT's results is added here, as Athena would."""
        body = {"account_id": ACCOUNT, "region": REGION, "results": [
            {"rows": [row(names), *(row(r) for r in rows)],
             "column_info": [{"Name": n, "Label": n, "Type": t, "CatalogName": "hive",
                              "Nullable": "UNKNOWN", "CaseSensitive": t == "varchar"}
                             for n, t in zip(names, types, strict=True)]}
            for names, rows, types in results]}
        (await self.http.post(f"{self.url}/moto-api/static/athena/query-results", json=body)
         ).raise_for_status()

    async def transition(self, transition: dict[str, Any] | None) -> None:
        if transition is None:
            response = await self.http.post(f"{self.url}/moto-api/state-manager/unset-transition",
                                            json={"model_name": EXECUTION})
        else:
            response = await self.http.post(f"{self.url}/moto-api/state-manager/set-transition",
                                            json={"model_name": EXECUTION, "transition": transition})
        response.raise_for_status()

    async def state(self, query_id: str) -> str:
        answer = await self.client.get_query_execution(QueryExecutionId=query_id)
        return str(answer["QueryExecution"]["Status"]["State"])

    async def leftover_results(self) -> int:
        """Start queries until moto answers one with no result queued: how many were left."""
        left = 0
        while True:
            start = await self.client.start_query_execution(QueryString="SELECT 1",
                                                            WorkGroup=self.workgroup)
            answer = await self.client.get_query_results(
                QueryExecutionId=start["QueryExecutionId"])
            if not answer["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]:
                return left
            left += 1


def row(values: list[str | None]) -> dict[str, Any]:
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


@pytest.fixture
async def athena(moto_url: str) -> AsyncIterator[Any]:
    settings = CommonSettings(aws_endpoint_url=moto_url, aws_region=REGION)
    async with aws.client(aws.session(), "athena", settings) as client:
        yield client


@pytest.fixture
async def moto(moto_url: str, athena: Any) -> AsyncIterator[Moto]:
    async with httpx.AsyncClient(timeout=10) as http:
        controls = Moto(moto_url, http, athena)
        await athena.create_work_group(Name=controls.workgroup, Configuration={
            "ResultConfiguration": {"OutputLocation": "s3://athena-results/queries/"},
            "EnforceWorkGroupConfiguration": True})
        try:
            yield controls
        finally:
            await controls.transition(None)
        assert await controls.leftover_results() == 0, "a test queued results it did not use"


def engine(client: Any, moto: Moto, **options: Any) -> AthenaEngine:
    settings: dict[str, Any] = {"workgroup": moto.workgroup, "database": "lambdalytics",
                                "retry_base_s": 0.01, "poll_initial_s": 0.01, **options}
    return AthenaEngine(client, **settings)


def typed(rows: tuple[tuple[Any, ...], ...]) -> list[list[tuple[type, Any]]]:
    return [[(type(v), v) for v in r] for r in rows]


EVERY_TYPE = (
    ["s", "c", "t", "si", "i", "b", "d", "r", "m", "bo", "da", "ts", "tz", "tm", "arr", "n"],
    [["text", "x  ", "7", "-300", "70000", "9007199254740993", "0.1", "0.5", "12.30", "true",
      "2026-11-28", "2026-11-28 02:54:00.123", "2026-11-28 02:54:00.000 Europe/Berlin",
      "02:54:00.000", "[1, 2]", None],
     ["", "", "0", "0", "0", "-1", "NaN", "-Infinity", "-0.01", "false",
      "1970-01-01", "2026-11-28 00:00:00.000", "2026-11-28 00:00:00.000 +05:30",
      "23:59:59.999", "[]", None]],
    ["varchar", "char", "tinyint", "smallint", "integer", "bigint", "double", "float",
     "decimal", "boolean", "date", "timestamp", "timestamp with time zone", "time",
     "array", "unknown"],
)


async def test_every_type_is_converted_and_the_header_row_dropped(athena: Any,
                                                                  moto: Moto) -> None:
    await moto.queue(EVERY_TYPE)
    result = await engine(athena, moto).query("SELECT ...")

    assert result.engine == "athena"
    assert result.columns == tuple(EVERY_TYPE[0])
    first, second = typed(result.rows)
    assert first == typed(((
        "text", "x  ", 7, -300, 70000, 9007199254740993, 0.1, 0.5, Decimal("12.30"), True,
        date(2026, 11, 28), datetime(2026, 11, 28, 2, 54, 0, 123000),
        datetime(2026, 11, 28, 2, 54, tzinfo=ZoneInfo("Europe/Berlin")),
        time_of_day(2, 54), "[1, 2]", None),))[0]
    assert math.isnan(result.rows[1][6])
    assert second[:6] + second[7:] == typed(((
        "", "", 0, 0, 0, -1, -math.inf, Decimal("-0.01"), False, date(1970, 1, 1),
        datetime(2026, 11, 28), datetime(2026, 11, 28, tzinfo=timezone(timedelta(hours=5.5))),
        time_of_day(23, 59, 59, 999000), "[]", None),))[0]
    assert result.rows[0][11].tzinfo is None  # timestamp is without time zone
    assert result.query_id is not None
    assert result.bytes_scanned == 0  # moto scans nothing
    assert result.cost_usd == query_cost_usd(0)  # the 10 MB minimum


async def test_the_same_sql_gives_the_same_values_and_types_on_both_engines(
        athena: Any, moto: Moto) -> None:
    sql = ("SELECT 7 / 2 AS i, count(*) AS n, CAST(1 AS double) AS d, "
           "CAST(1.5 AS decimal(10, 2)) AS m, 'x' AS s, true AS b, DATE '2026-11-28' AS da, "
           "TIMESTAMP '2026-11-28 02:54:00.123' AS ts, CAST(NULL AS varchar) AS nul "
           "FROM (VALUES 1, 2) AS t(x)")
    # what Athena answers for it (types as Athena's ColumnInfo names them)
    await moto.queue((["i", "n", "d", "m", "s", "b", "da", "ts", "nul"],
                      [["3", "2", "1.0", "1.50", "x", "true", "2026-11-28",
                        "2026-11-28 02:54:00.123", None]],
                      ["integer", "bigint", "double", "decimal", "varchar", "boolean", "date",
                       "timestamp", "varchar"]))
    on_athena = await engine(athena, moto).query(sql)
    on_duckdb = await DuckDBEngine(duckdb.connect()).query(sql)
    assert on_athena.columns == on_duckdb.columns
    assert typed(on_athena.rows) == typed(on_duckdb.rows)


async def test_a_first_row_equal_to_the_header_is_dropped_once(athena: Any, moto: Moto) -> None:
    await moto.queue((["a"], [["a"], ["b"]], ["varchar"]))
    assert (await engine(athena, moto).query("SELECT a FROM t")).rows == (("a",), ("b",))


async def test_a_ddl_statements_rows_have_no_header_and_cost_nothing(athena: Any,
                                                                     moto: Moto) -> None:
    names, rows, types = ["tab_name"], [["hits"], ["filtered"]], ["string"]
    body = {"account_id": ACCOUNT, "region": REGION, "results": [
        {"rows": [row(r) for r in rows],
         "column_info": [{"Name": n, "Type": t} for n, t in zip(names, types, strict=True)]}]}
    (await moto.http.post(f"{moto.url}/moto-api/static/athena/query-results", json=body)
     ).raise_for_status()
    result = await engine(athena, moto).query("SHOW TABLES IN lambdalytics")  # moto: DDL
    assert result.rows == (("hits",), ("filtered",))
    assert result.cost_usd == 0.0


async def test_results_are_read_page_by_page(athena: Any, moto: Moto) -> None:
    rows = [[str(n), f"page {n // 1000}"] for n in range(2500)]
    await moto.queue((["n", "label"], rows, ["bigint", "varchar"]))
    faulty = FaultyAthena(athena, page=True)
    result = await engine(faulty, moto).query("SELECT n, label FROM t")

    assert result.rows == tuple((n, f"page {n // 1000}") for n in range(2500))
    # the header and 2,500 rows: 1000 + 1000 + 501
    assert faulty.pages == [(1000, None), (1000, "1000"), (1000, "2000")]


async def test_a_small_page_size_is_passed_as_max_results(athena: Any, moto: Moto) -> None:
    await moto.queue((["n"], [[str(n)] for n in range(7)], ["integer"]))
    faulty = FaultyAthena(athena, page=True)
    result = await engine(faulty, moto, page_size=3).query("SELECT n FROM t")
    assert result.rows == tuple((n,) for n in range(7))
    assert faulty.pages == [(3, None), (3, "3"), (3, "6")]  # the header and 7 rows


async def test_polling_follows_queued_running_succeeded(athena: Any, moto: Moto) -> None:
    await moto.transition({"progression": "manual", "times": 2})
    await moto.queue((["n"], [["1"]], ["integer"]))
    faulty = FaultyAthena(athena)
    result = await engine(faulty, moto).query("SELECT 1 AS n")

    states = [a["QueryExecution"]["Status"]["State"] for op, a in faulty.answers
              if op == "get_query_execution"]
    assert states == ["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"]
    assert result.rows == ((1,),)
    assert faulty.named("stop_query_execution") == []


def test_the_poll_delays_grow_by_half_up_to_the_cap() -> None:
    delays = list(islice(backoff(0.2, 1.5, 2.0), 8))
    assert delays == pytest.approx([0.2, 0.3, 0.45, 0.675, 1.0125, 1.51875, 2.0, 2.0])


def failed(answer: dict[str, Any]) -> dict[str, Any]:
    execution = answer["QueryExecution"]
    execution["Status"] = {**execution["Status"], "State": "FAILED",
                           "StateChangeReason": "COLUMN_NOT_FOUND: line 1:8: Column 'nope' "
                                                "cannot be resolved",
                           "AthenaError": {"ErrorCategory": 2, "ErrorType": 1006,
                                           "Retryable": False,
                                           "ErrorMessage": "Column 'nope' cannot be resolved"}}
    return answer


async def test_a_failed_query_raises_with_athenas_reason_and_error_type(athena: Any,
                                                                        moto: Moto) -> None:
    faulty = FaultyAthena(athena, rewrite={"get_query_execution": failed})
    with pytest.raises(QueryFailed) as caught:
        await engine(faulty, moto).query("SELECT nope FROM hits")
    error = caught.value
    assert isinstance(error, AthenaQueryFailed)
    assert "Column 'nope' cannot be resolved" in str(error)
    assert "error type 1006" in str(error)
    assert "user error" in str(error)
    assert (error.error_type, error.error_category, error.retryable) == (1006, 2, False)
    assert error.query_id == faulty.answers[0][1]["QueryExecutionId"]
    assert faulty.named("get_query_results") == []


async def test_a_query_cancelled_by_someone_else_fails(athena: Any, moto: Moto) -> None:
    await moto.transition({"progression": "manual", "times": 1000})  # stays QUEUED
    faulty = FaultyAthena(athena)
    task = asyncio.ensure_future(engine(faulty, moto).query("SELECT 1"))
    await faulty.polls(1)
    query_id = faulty.answers[0][1]["QueryExecutionId"]
    await athena.stop_query_execution(QueryExecutionId=query_id)  # e.g. from the console

    with pytest.raises(QueryFailed, match="cancelled in Athena"):
        await task


def over_the_scan_limit(answer: dict[str, Any]) -> dict[str, Any]:
    answer["QueryExecution"]["Status"].update(
        State="CANCELLED", StateChangeReason="Query cancelled! : Bytes scanned limit was exceeded")
    return answer


async def test_a_query_over_the_workgroups_scan_limit_fails_with_athenas_reason(
        athena: Any, moto: Moto) -> None:
    faulty = FaultyAthena(athena, rewrite={"get_query_execution": over_the_scan_limit})
    with pytest.raises(QueryFailed, match=r"cancelled in Athena: .*Bytes scanned limit"):
        await engine(faulty, moto).query("SELECT 1")
    assert faulty.named("stop_query_execution") == []


async def test_throttling_and_outages_are_retried_with_the_same_request_token(
        athena: Any, moto: Moto) -> None:
    await moto.queue((["n"], [["42"]], ["integer"]))
    faulty = FaultyAthena(athena, faults={
        "start_query_execution": [client_error("TooManyRequestsException", 400, "Start"),
                                  client_error("ThrottlingException", 400, "Start")],
        "get_query_execution": [client_error("InternalServerException", 500, "Get"),
                                client_error("ServiceUnavailable", 503, "Get")],
        "get_query_results": [EndpointConnectionError(endpoint_url="http://athena.invalid")],
    })
    result = await engine(faulty, moto).query("SELECT 42 AS n")

    assert result.rows == ((42,),)
    starts = faulty.named("start_query_execution")
    assert len(starts) == 3
    assert len({s["ClientRequestToken"] for s in starts}) == 1  # a retried start is one query
    assert len(starts[0]["ClientRequestToken"]) >= 32  # Athena's minimum length
    assert len(faulty.named("get_query_results")) == 2


async def test_throttling_past_the_budget_is_engine_unavailable(athena: Any, moto: Moto) -> None:
    faulty = FaultyAthena(athena, faults={"start_query_execution": [
        client_error("TooManyRequestsException", 400, "Start") for _ in range(4)]})
    with pytest.raises(EngineUnavailable, match="TooManyRequestsException"):
        await engine(faulty, moto, max_attempts=4).query("SELECT 1")
    assert len(faulty.named("start_query_execution")) == 4
    listed = await athena.list_query_executions(WorkGroup=moto.workgroup)
    assert listed["QueryExecutionIds"] == []  # nothing was started


async def test_an_outage_while_polling_stops_the_query(athena: Any, moto: Moto) -> None:
    await moto.transition({"progression": "manual", "times": 1000})
    faulty = FaultyAthena(athena, faults={"get_query_execution": [
        client_error("ServiceUnavailable", 503, "Get") for _ in range(3)]})
    with pytest.raises(EngineUnavailable):
        await engine(faulty, moto, max_attempts=3).query("SELECT 1")
    (stop,) = faulty.named("stop_query_execution")
    assert await moto.state(stop["QueryExecutionId"]) == "CANCELLED"


async def test_an_unreachable_endpoint_is_engine_unavailable() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = CommonSettings(aws_endpoint_url=f"http://127.0.0.1:{port}", aws_region=REGION)
    cfg = AioConfig(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1)
    async with aws.client(aws.session(), "athena", settings, cfg) as client:
        athena_engine = AthenaEngine(client, workgroup="w", database="d", max_attempts=2,
                                     retry_base_s=0.01)
        with pytest.raises(EngineUnavailable, match="EndpointConnectionError"):
            await athena_engine.query("SELECT 1")


async def test_a_refused_request_is_not_retried(athena: Any, moto: Moto) -> None:
    faulty = FaultyAthena(athena)
    with pytest.raises(QueryFailed, match="WorkGroup does not exist"):
        await engine(faulty, moto, workgroup="no-such-workgroup").query("SELECT 1")
    assert len(faulty.named("start_query_execution")) == 1


async def test_a_timeout_stops_the_query(athena: Any, moto: Moto) -> None:
    await moto.transition({"progression": "manual", "times": 1000})
    faulty = FaultyAthena(athena)
    with pytest.raises(QueryTimeout, match=r"longer than 0\.3 s"):
        await engine(faulty, moto, timeout_s=0.3).query("SELECT 1")
    (stop,) = faulty.named("stop_query_execution")
    assert stop["QueryExecutionId"] == faulty.answers[0][1]["QueryExecutionId"]
    assert await moto.state(stop["QueryExecutionId"]) == "CANCELLED"


async def test_a_cancelled_caller_stops_the_query(athena: Any, moto: Moto) -> None:
    await moto.transition({"progression": "manual", "times": 1000})
    faulty = FaultyAthena(athena)
    task = asyncio.ensure_future(engine(faulty, moto).query("SELECT 1"))
    await faulty.polls(2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (stop,) = faulty.named("stop_query_execution")
    assert await moto.state(stop["QueryExecutionId"]) == "CANCELLED"


def scanned(answer: dict[str, Any]) -> dict[str, Any]:
    answer["QueryExecution"]["Statistics"].update(
        DataScannedInBytes=123_456_789, EngineExecutionTimeInMillis=1500,
        QueryQueueTimeInMillis=40)
    return answer


async def test_bytes_scanned_cost_and_time_come_from_athenas_statistics(
        athena: Any, moto: Moto, caplog: pytest.LogCaptureFixture) -> None:
    await moto.queue((["n"], [["1"]], ["integer"]))
    faulty = FaultyAthena(athena, rewrite={"get_query_execution": scanned})
    with caplog.at_level(logging.INFO, logger="dashboard.athena"):
        result = await engine(faulty, moto).query(
            "SELECT count(*) AS n FROM hits WHERE property = 'secret-literal'")

    assert result.bytes_scanned == 123_456_789
    assert result.cost_usd == pytest.approx(118 * 5 / 2**20)  # 117.7 MB, billed as 118
    assert result.elapsed_s == 1.5
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert result.query_id in logged
    assert "123456789 bytes scanned" in logged
    assert "secret-literal" not in logged


@pytest.mark.parametrize(("scanned_bytes", "usd"), [
    (0, 10 * 5 / 2**20),  # the 10 MB minimum
    (10 * 2**20, 10 * 5 / 2**20),
    (10 * 2**20 + 1, 11 * 5 / 2**20),  # rounded up to the next MB
    (2**40, 5.0),  # one TB
])
def test_cost_is_5_usd_per_tb_rounded_up_to_the_mb_with_a_10_mb_minimum(
        scanned_bytes: int, usd: float) -> None:
    assert query_cost_usd(scanned_bytes) == pytest.approx(usd)


async def test_the_start_request_names_workgroup_database_catalog_and_output(
        athena: Any, moto: Moto) -> None:
    faulty = FaultyAthena(athena)
    await engine(faulty, moto, output_location="s3://results/mine/").query("SELECT 1")
    await engine(faulty, moto, catalog="other").query("SELECT 2")
    with_output, without = faulty.named("start_query_execution")
    assert with_output["WorkGroup"] == moto.workgroup
    assert with_output["QueryExecutionContext"] == {"Database": "lambdalytics",
                                                    "Catalog": "AwsDataCatalog"}
    assert with_output["ResultConfiguration"] == {"OutputLocation": "s3://results/mine/"}
    assert without["QueryExecutionContext"]["Catalog"] == "other"
    assert "ResultConfiguration" not in without  # the workgroup's own applies
    assert with_output["ClientRequestToken"] != without["ClientRequestToken"]
    first = next(a for op, a in faulty.answers if op == "get_query_execution")
    assert first["QueryExecution"]["ResultConfiguration"]["OutputLocation"].startswith(
        "s3://results/mine/")


@pytest.mark.parametrize(("athena_type", "text", "value"), [
    ("double", "1.0E10", 1e10),
    ("double", "Infinity", math.inf),
    ("decimal(38,0)", "99999999999999999999999999999999999999",
     Decimal("99999999999999999999999999999999999999")),
    ("timestamp", "2026-11-28 02:54:00.123456789", datetime(2026, 11, 28, 2, 54, 0, 123456)),
    ("timestamp(6)", "2026-11-28 02:54:00.123456", datetime(2026, 11, 28, 2, 54, 0, 123456)),
    ("timestamp with time zone", "2026-11-28 02:54:00.000 UTC",
     datetime(2026, 11, 28, 2, 54, tzinfo=UTC)),
    ("timestamp(3) with time zone", "2026-11-28 02:54:00.000 -08:00",
     datetime(2026, 11, 28, 10, 54, tzinfo=UTC)),
    ("real", "0.1", 0.1),
    ("varchar(10)", "abc", "abc"),
    ("json", '{"a": 1}', '{"a": 1}'),
    ("map", "{a=1}", "{a=1}"),
])
def test_convert(athena_type: str, text: str, value: object) -> None:
    got = convert(athena_type, text)
    assert (type(got), got) == (type(value), value)


@pytest.mark.parametrize(("athena_type", "text"), [
    ("boolean", "maybe"), ("integer", "1.5"), ("decimal", "abc"), ("date", "28.11.2026"),
    ("timestamp with time zone", "2026-11-28 02:54:00.000 Not/AZone"),
])
def test_convert_refuses_what_is_not_its_type(athena_type: str, text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        convert(athena_type, text)


async def test_a_value_that_is_not_its_type_fails_the_query(athena: Any, moto: Moto) -> None:
    await moto.queue((["n"], [["not a number"]], ["bigint"]))
    with pytest.raises(QueryFailed, match="cannot read bigint value of column 'n'"):
        await engine(athena, moto).query("SELECT n FROM t")
