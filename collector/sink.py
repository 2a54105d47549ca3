"""Group commit into Kinesis: a request waits for the PutRecords call that carries its hit.

``GroupCommitSink.put`` enqueues one record and returns a future. Records put in one turn
of the loop share a call; while calls are in flight the waiting batch fills for up to
``linger`` seconds, and it closes at ``max_records`` or ``max_bytes``. At most
``max_in_flight`` calls run at once, and a call that returns starts the next one in the same
step, before its own requests are answered. Only the failed entries of a call are re-sent,
with full-jitter backoff, until the record's retry budget is spent; then its future fails
with :class:`SinkUnavailable` (→ 503). A bounded queue refuses new records with
:class:`Overloaded` instead of growing memory. ``close`` stops intake and waits until
every queued record is written or given up — before the Kinesis client itself is closed
(the lifespan's exit stack orders that). Against an emulator, PutRecords calls are also
serialised at the client boundary (:mod:`collector.serial`), whatever this limit says.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from collector.errors import (
    Overloaded,
    RetryableWriteError,
    SinkUnavailable,
    TerminalWriteError,
    WriteError,
)

if TYPE_CHECKING:
    from collector.loopthread import LoopThread
    from collector.metrics import Metrics

log = logging.getLogger(__name__)

KINESIS_MAX_RECORDS = 500
KINESIS_MAX_BYTES = 5 * 1024 * 1024
KINESIS_MAX_KEY = 256

RETRYABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "InternalFailure", "ServiceUnavailable",
    "ThrottlingException", "LimitExceededException", "KMSThrottlingException",
    "InternalServerError", "RequestTimeout", "SlowDown",
})


@dataclass(frozen=True, slots=True)
class SinkLimits:
    max_records: int = KINESIS_MAX_RECORDS
    max_bytes: int = KINESIS_MAX_BYTES
    linger: float = 0.010  # seconds a batch waits to fill once it has a first record
    max_in_flight: int = 4  # PutRecords calls at once (an emulator gets one: collector.serial)
    max_queued: int = 20_000  # records waiting for a call: past this, Overloaded
    retry_budget: float = 3.0  # seconds from enqueue until a record is given up (→ 503)
    backoff_base: float = 0.05
    backoff_cap: float = 1.0
    retry_after: int = 5  # seconds suggested to refused clients


class BatchWriter(Protocol):
    """Writes one batch; what it returns, awaited, gives the indices of entries that failed
    and may be retried. A writer may start the call before it returns (KinesisWriter over
    CallsOnThread does); one that starts it when awaited works as well."""

    def write(self, records: Sequence[tuple[bytes, str]]) -> Awaitable[list[int]]: ...


class PutRecordsClient(Protocol):
    """The one Kinesis call the writer uses (the real aiobotocore client satisfies it)."""

    def put_records(self, *, Records: Any, StreamName: str) -> Awaitable[Any]: ...


class KinesisWriter:
    """Adapter: PutRecords on one stream, botocore errors translated into our tree."""

    def __init__(self, client: PutRecordsClient, stream: str) -> None:
        self._client = client
        self._stream = stream

    def write(self, records: Sequence[tuple[bytes, str]]) -> Awaitable[list[int]]:
        """The PutRecords call, started now if the client starts calls when asked
        (CallsOnThread); its answer comes from awaiting what this returns."""
        entries = [{"Data": data, "PartitionKey": key} for data, key in records]
        try:
            call = self._client.put_records(StreamName=self._stream, Records=entries)
        except Exception as exc:  # e.g. the Kinesis thread has stopped: raised where awaited
            return _raise(exc)
        return self._answer(call)

    async def _answer(self, call: Awaitable[Any]) -> list[int]:
        try:
            resp = await call
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in RETRYABLE_CODES or status >= 500:
                raise RetryableWriteError(code or str(status)) from exc
            raise TerminalWriteError(code or str(exc)) from exc
        except (TimeoutError, BotoCoreError, OSError) as exc:
            # connection refused, timeouts, a lost response: the call may or may not have
            # landed; re-sending is safe because hit ids let the archiver drop the copy
            raise RetryableWriteError(type(exc).__name__) from exc
        if not resp.get("FailedRecordCount"):
            return []
        return [i for i, r in enumerate(resp["Records"]) if "ErrorCode" in r]


class CallsOnThread:
    """A :class:`PutRecordsClient` whose calls run on ``thread``'s loop, where the client
    was opened (:mod:`collector.loopthread`): each call awaited from the collector's loop."""

    def __init__(self, client: PutRecordsClient, thread: LoopThread) -> None:
        self._client = client
        self._loop_thread = thread  # not "_thread": mypyc's C field "__thread" is a C keyword

    def put_records(self, *, Records: Any, StreamName: str) -> asyncio.Future[Any]:
        """The call, already on its way on the thread's loop when this returns."""
        return self._loop_thread.submit(_awaited(
            self._client.put_records(Records=Records, StreamName=StreamName)))


async def _awaited(call: Awaitable[Any]) -> Any:
    return await call


async def _raise(exc: Exception) -> list[int]:
    raise exc


class NullWriter:
    """Takes every batch after one trip through the event loop (benchmarks, dry runs)."""

    async def write(self, records: Sequence[tuple[bytes, str]]) -> list[int]:
        await asyncio.sleep(0)
        return []


class _Entry:
    __slots__ = ("data", "deadline", "future", "key", "released", "size")

    def __init__(self, data: bytes, key: str, future: asyncio.Future[None], deadline: float):
        self.data = data
        self.key = key
        self.future = future
        self.deadline = deadline
        self.size = len(data) + len(key.encode())
        self.released = False  # counted out of the sink's queue (GroupCommitSink._release)


def partition_key(key: str) -> str:
    """Kinesis allows 1–256 characters; longer keys keep their spread through a prefix."""
    return key[:KINESIS_MAX_KEY] if key else "-"


class GroupCommitSink:
    """One scheduler decides every call (:meth:`_kick`): it starts calls while fewer than
    ``max_in_flight`` run, each for the retries that are due or else the waiting batch once
    it would be sent (:meth:`_linger_left`). A call counts against the limit from the moment
    it is asked of the writer until its answer is in; the count goes up in one place
    (:meth:`_launch`) and down in one (:meth:`_complete`), and nothing else starts a call,
    so the limit holds whatever order answers, failures, retries and lingering come in.
    A returning call kicks the scheduler and settles its records in the same step, so the
    next call is asked for before the requests it released are answered."""

    def __init__(self, writer: BatchWriter, limits: SinkLimits | None = None,
                 metrics: Metrics | None = None) -> None:
        self._writer = writer
        self.limits = limits or SinkLimits()
        self._metrics = metrics
        self._pending: deque[_Entry] = deque()
        self._pending_bytes = 0
        self._due: deque[tuple[list[_Entry], int]] = deque()  # retries whose backoff is over
        self._calls = 0  # calls asked of the writer and not yet answered: ≤ max_in_flight
        self._queued = 0  # records accepted and not yet settled (waiting, in a call, backing off)
        self._closing = False
        self._kick_soon = False
        self._timer: asyncio.TimerHandle | None = None  # the waiting batch's linger
        self._tasks: set[asyncio.Task[None]] = set()
        self._drained: asyncio.Event | None = None  # set by the last settled record, closing

    @property
    def depth(self) -> int:
        return self._queued

    @property
    def calls_in_flight(self) -> int:
        return self._calls

    async def start(self) -> None:
        """Nothing to start (the scheduler runs on the loop's callbacks); kept so that the
        lifespan starts and closes every resource alike."""

    def put(self, data: bytes, key: str) -> asyncio.Future[None]:
        """Queue one record; the future resolves once Kinesis holds it. Raises Overloaded."""
        if self._closing:
            raise Overloaded("collector is shutting down", self.limits.retry_after)
        if self._queued >= self.limits.max_queued:
            raise Overloaded("record queue is full", self.limits.retry_after)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = _Entry(data, partition_key(key), fut, time.monotonic() + self.limits.retry_budget)
        self._pending.append(entry)
        self._pending_bytes += entry.size
        self._queued += 1
        if not self._kick_soon:  # after this turn: the records put in it share the call
            self._kick_soon = True
            loop.call_soon(self._kick)
        return fut

    async def close(self) -> None:
        """Stop intake, send everything queued, wait until every record is settled."""
        self._closing = True
        self._drained = asyncio.Event()
        self._kick()  # a closing sink does not linger
        self._check_drained()
        await self._drained.wait()

    def _check_drained(self) -> None:
        if self._drained is not None and not self._queued and not self._calls:
            self._drained.set()

    def _linger_left(self) -> float:
        """Seconds the waiting batch may still fill; 0 or less: send it now. Linger only
        while calls are in flight: an idle sink sends at once (no added latency at low
        load); a busy one lets the batch fill, so each call's 3-4 ms of client CPU is shared
        by more records. A full batch, or a closing sink, goes at once."""
        limits = self.limits
        if (not self._calls or len(self._pending) >= limits.max_records
                or self._pending_bytes >= limits.max_bytes or self._closing):
            return 0.0
        opened = self._pending[0].deadline - limits.retry_budget
        return opened + limits.linger - time.monotonic()

    def _kick(self) -> None:
        """Start every call that may start now: due retries first, then the waiting batch
        once it would be sent; if it may still fill, look again when its linger ends."""
        self._kick_soon = False
        while self._calls < self.limits.max_in_flight:
            if self._due:
                entries, attempt = self._due.popleft()
                self._launch(entries, attempt)
            elif not self._pending:
                return
            elif (wait := self._linger_left()) > 0:
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(wait, self._lingered)
                return
            else:
                self._launch(self._take(), 0)

    def _lingered(self) -> None:
        self._timer = None
        self._kick()

    def _launch(self, batch: list[_Entry], attempt: int) -> None:
        """Ask the writer for one call for ``batch`` (a writer that can starts it now); the
        only place a call is counted in."""
        entries = []
        for entry in batch:
            if entry.future.done():  # its request went away
                self._release(entry)
            else:
                entries.append(entry)
        if not entries:
            return
        self._calls += 1
        try:
            call = self._writer.write([(e.data, e.key) for e in entries])
        except Exception as exc:  # failed like a call that raised, in its task
            call = _raise(exc)
        task = asyncio.create_task(self._complete(entries, call, attempt, time.monotonic()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _complete(self, entries: list[_Entry], call: Awaitable[list[int]], attempt: int,
                        started: float) -> None:
        """Wait for the call's answer, then in one step: count it out, start what may start
        now, settle its records and back off the failed ones."""
        error: Exception | None = None
        try:
            failed = await call
        except Exception as exc:  # a WriteError, or anything unexpected: the whole call failed
            error = exc
            failed = list(range(len(entries)))
        self._calls -= 1
        try:
            # the next call first: one that starts on its task's first step then still runs
            # before the requests this one releases are answered
            self._kick()
            if self._metrics is not None:
                self._metrics.observe_put(len(entries), time.monotonic() - started, len(failed))
            self._settle(entries, failed, error, attempt)
        except Exception:  # never leave a request waiting on a future forever
            log.exception("group commit settling failed unexpectedly")
            self._give_up(entries, "the record could not be confirmed")
        finally:
            self._check_drained()

    def _settle(self, entries: list[_Entry], failed: list[int], error: Exception | None,
                attempt: int) -> None:
        failed_set = set(failed)
        for i, entry in enumerate(entries):
            if i not in failed_set:
                if not entry.future.done():
                    entry.future.set_result(None)
                self._release(entry)
        again = [entries[i] for i in failed]
        if not again:
            return
        if error is not None and not isinstance(error, WriteError):
            log.error("group commit call failed unexpectedly", exc_info=error)
            self._give_up(again, f"Kinesis call failed: {error}")
            return
        if isinstance(error, WriteError) and not error.retryable:
            log.error("PutRecords refused for good: %s", error)
            self._give_up(again, f"Kinesis refused the records: {error}")
            return
        limits = self.limits
        delay = random.uniform(0, min(limits.backoff_cap, limits.backoff_base * 2 ** (attempt + 1)))
        last = time.monotonic() + delay  # a record whose budget ends before: given up now
        self._give_up([e for e in again if e.deadline <= last],
                      "Kinesis did not take the record within the retry budget")
        alive = [e for e in again if e.deadline > last]
        if alive:
            log.warning("re-sending %d failed records (attempt %d, %s)", len(alive),
                        attempt + 1, error or "partial failure")
            asyncio.get_running_loop().call_later(delay, self._retry_due, alive, attempt + 1)

    def _retry_due(self, entries: list[_Entry], attempt: int) -> None:
        self._due.append((entries, attempt))
        self._kick()

    def _take(self) -> list[_Entry]:
        limits = self.limits
        batch: list[_Entry] = []
        size = 0
        while self._pending and len(batch) < limits.max_records:
            entry = self._pending[0]
            if batch and size + entry.size > limits.max_bytes:
                break
            self._pending.popleft()
            self._pending_bytes -= entry.size
            size += entry.size
            batch.append(entry)
        return batch

    def _release(self, entry: _Entry) -> None:
        """The record leaves the sink (written, given up, or its request went away)."""
        if not entry.released:
            entry.released = True
            self._queued -= 1
            if not self._queued:
                self._check_drained()

    def _give_up(self, entries: list[_Entry], reason: str) -> None:
        _fail([e for e in entries if not e.future.done()],
              SinkUnavailable(reason, self.limits.retry_after))
        for entry in entries:
            self._release(entry)
        if entries and self._metrics is not None:
            self._metrics.records_failed.inc(len(entries))


def _fail(entries: list[_Entry], exc: SinkUnavailable) -> None:
    for entry in entries:
        entry.future.set_exception(exc)
        # marked retrieved: a request that went away (or a /batch request answered 503
        # before waiting) must not leave "exception was never retrieved" noise; a waiting
        # request still gets the exception
        entry.future.exception()
