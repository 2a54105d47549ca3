"""Group commit into Kinesis: a request waits for the PutRecords call that carries its hit.

``GroupCommitSink.put`` enqueues one record and returns a future. A batcher task opens a
batch at the first waiting record and closes it at ``max_records``, ``max_bytes`` or
``linger`` seconds; at most ``max_in_flight`` calls run at once (1 against moto, which loses
records under concurrent PutRecords), and while they run the next batch fills up; a call
that returns starts the next one itself, before its own requests are answered. Only the
failed entries of a call are re-sent, with full-jitter backoff, until the record's retry
budget is spent; then its future fails with :class:`SinkUnavailable` (→ 503). A bounded
queue refuses new records with :class:`Overloaded` instead of growing memory. ``close``
stops intake, drains everything queued, and waits for calls in flight — before the Kinesis
client itself is closed (the lifespan's exit stack orders that).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
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
    max_in_flight: int = 4  # PutRecords calls at once (use 1 against moto)
    max_queued: int = 20_000  # records waiting for a call: past this, Overloaded
    retry_budget: float = 3.0  # seconds from enqueue until a record is given up (→ 503)
    backoff_base: float = 0.05
    backoff_cap: float = 1.0
    retry_after: int = 5  # seconds suggested to refused clients


class BatchWriter(Protocol):
    """Writes one batch; what it returns, awaited, gives the indices of entries that failed
    and may be retried. A writer may start the call before it returns, and call
    ``returned`` on the sink's loop as soon as the answer is in, before its awaiter resumes
    (KinesisWriter over CallsOnThread does both); one that does neither works as well."""

    def write(self, records: Sequence[tuple[bytes, str]],
              returned: Callable[[], object] | None = None) -> Awaitable[list[int]]: ...


class PutRecordsClient(Protocol):
    """The one Kinesis call the writer uses (the real aiobotocore client satisfies it)."""

    def put_records(self, *, Records: Any, StreamName: str) -> Awaitable[Any]: ...


class KinesisWriter:
    """Adapter: PutRecords on one stream, botocore errors translated into our tree."""

    def __init__(self, client: PutRecordsClient, stream: str) -> None:
        self._client = client
        self._stream = stream

    def write(self, records: Sequence[tuple[bytes, str]],
              returned: Callable[[], object] | None = None) -> Awaitable[list[int]]:
        """The PutRecords call, started now if the client starts calls when asked
        (CallsOnThread, which also calls ``returned``); its answer comes from awaiting what
        this returns."""
        entries = [{"Data": data, "PartitionKey": key} for data, key in records]
        client = self._client
        call: Awaitable[Any]
        try:
            if isinstance(client, CallsOnThread):
                call = client.put_records(StreamName=self._stream, Records=entries,
                                          returned=returned)
            else:
                call = client.put_records(StreamName=self._stream, Records=entries)
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

    def put_records(self, *, Records: Any, StreamName: str,
                    returned: Callable[[], object] | None = None) -> asyncio.Future[Any]:
        """The call, already on its way on the thread's loop when this returns; ``returned``
        runs on the collector's loop once the call has ended there, a turn of the loop
        before the future's awaiter resumes (LoopThread.submit): so a call passed on
        (GroupCommitSink._pass_on) starts without waiting for turns of the collector's loop."""
        return self._loop_thread.submit(_awaited(
            self._client.put_records(Records=Records, StreamName=StreamName)), returned)


async def _awaited(call: Awaitable[Any]) -> Any:
    return await call


async def _raise(exc: Exception) -> list[int]:
    raise exc


class NullWriter:
    """Takes every batch after one trip through the event loop (benchmarks, dry runs)."""

    async def write(self, records: Sequence[tuple[bytes, str]],
                    returned: Callable[[], object] | None = None) -> list[int]:
        await asyncio.sleep(0)
        return []


class _Slot:
    """Whether a call's task still holds its in-flight slot (it may pass it on)."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held = True


class _Entry:
    __slots__ = ("data", "deadline", "future", "key", "size")

    def __init__(self, data: bytes, key: str, future: asyncio.Future[None], deadline: float):
        self.data = data
        self.key = key
        self.future = future
        self.deadline = deadline
        self.size = len(data) + len(key.encode())


def partition_key(key: str) -> str:
    """Kinesis allows 1–256 characters; longer keys keep their spread through a prefix."""
    return key[:KINESIS_MAX_KEY] if key else "-"


class GroupCommitSink:
    def __init__(self, writer: BatchWriter, limits: SinkLimits | None = None,
                 metrics: Metrics | None = None) -> None:
        self._writer = writer
        self.limits = limits or SinkLimits()
        self._metrics = metrics
        self._pending: deque[_Entry] = deque()
        self._pending_bytes = 0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.limits.max_in_flight)
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._queued = 0  # records accepted and not yet resolved (pending + in flight)
        self._retrying = 0  # calls waiting for a slot to re-send failed entries

    @property
    def depth(self) -> int:
        return self._queued

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

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
        self._queued += 1  # until the call that carries it has settled it (_send)
        if not self._wake.is_set():
            self._wake.set()
        return fut

    async def close(self) -> None:
        """Stop intake, send everything queued, wait for every call in flight."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    def _linger_left(self, calls_in_flight: int) -> float:
        """Seconds the waiting batch may still fill; 0 or less: send it now. Linger only
        while calls are in flight: an idle sink sends at once (no added latency at low
        load); a busy one lets the batch fill, so each call's 3-4 ms of client CPU is shared
        by more records. A full batch, or a closing sink, goes at once."""
        limits = self.limits
        if (not calls_in_flight or len(self._pending) >= limits.max_records
                or self._pending_bytes >= limits.max_bytes or self._closing):
            return 0.0
        opened = self._pending[0].deadline - limits.retry_budget
        return opened + limits.linger - time.monotonic()

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            first = self._pending[0]
            while (remaining := self._linger_left(len(self._in_flight))) > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), remaining)
                if not self._pending or self._pending[0] is not first:
                    break  # a returning call took the batch along (_pass_on)
            if not self._pending or self._pending[0] is not first:
                continue  # a new batch: its own linger
            await self._slots.acquire()  # while a slot is busy, the batch keeps filling
            if not self._pending:  # a returning call took them along (_pass_on)
                self._slots.release()
                continue
            self._start(self._take())

    def _start(self, batch: list[_Entry]) -> None:
        """A call for ``batch`` on a slot its caller holds (and hands to the call), asked of
        the writer now (a writer that can starts it now; the task only waits for it)."""
        slot = _Slot()  # the one the caller holds
        entries = [e for e in batch if not e.future.cancelled()]
        call = self._ask(entries, slot) if entries else None
        task = asyncio.create_task(self._send(batch, entries, slot, call, time.monotonic()))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def _ask(self, entries: list[_Entry], slot: _Slot) -> Awaitable[list[int]]:
        """The writer's call for ``entries``, which (as soon as its answer is in, if the
        writer can tell) passes ``slot`` on."""
        try:
            return self._writer.write([(e.data, e.key) for e in entries],
                                      functools.partial(self._returned, slot))
        except Exception as exc:  # the task fails the batch, as if the call had raised
            return _raise(exc)

    def _returned(self, slot: _Slot) -> None:
        """A call's answer is in: the writer's early word (the next call need not wait for
        the returned call's task to resume, a turn of the loop later), or the awaited answer
        when the writer gave none. The slot is passed on once."""
        if slot.held:
            self._pass_on(slot)

    def _pass_on(self, slot: _Slot) -> None:
        """A call has returned: its slot goes straight to the records that waited for it
        when they would be sent now anyway (:meth:`_linger_left`), and that call starts
        before the returned batch's requests are answered. Through ``_run`` it would start
        only after every callback already queued had run — with one call in flight (moto),
        the hit requests the batch released — so that Kinesis and the collector took turns
        instead of working at the same time (docs/benchmarks.md, (c))."""
        if not self._pending or self._retrying:
            return  # (a retry waits for a slot: this one goes back to the semaphore)
        if self._linger_left(len(self._in_flight) - 1) <= 0:  # the others, not this call
            slot.held = False
            self._start(self._take())

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

    async def _send(self, batch: list[_Entry], entries: list[_Entry], slot: _Slot,
                    call: Awaitable[list[int]] | None, started: float) -> None:
        try:
            await self._send_with_retries(entries, slot, call, started)
        except Exception as exc:  # never leave a request waiting on a future forever
            log.exception("group commit send failed unexpectedly")
            _fail([e for e in batch if not e.future.done()],
                  SinkUnavailable(str(exc), self.limits.retry_after))
        finally:
            self._queued -= len(batch)  # every entry is settled (or its request went away)
            if slot.held:
                self._slots.release()

    async def _send_with_retries(self, entries: list[_Entry], slot: _Slot,
                                 call: Awaitable[list[int]] | None, started: float) -> None:
        """``call``: the first attempt, asked of the writer when the batch was taken."""
        limits = self.limits
        metrics = self._metrics
        attempt = 0
        while entries:
            if call is None:
                if not slot.held:  # passed on after the last attempt: a retry waits for one
                    self._retrying += 1
                    try:
                        await self._slots.acquire()
                    finally:
                        self._retrying -= 1
                    slot.held = True
                started = time.monotonic()
                call = self._ask(entries, slot)
            error: WriteError | None = None
            try:
                failed = await call
            except WriteError as exc:
                error = exc
                failed = list(range(len(entries)))
            call = None
            if metrics is not None:
                metrics.observe_put(len(entries), time.monotonic() - started, len(failed))
            self._returned(slot)
            failed_set = set(failed)
            for i, entry in enumerate(entries):
                if i not in failed_set and not entry.future.done():
                    entry.future.set_result(None)
            entries = [entries[i] for i in failed]
            if not entries:
                return
            if error is not None and not error.retryable:
                log.error("PutRecords refused for good: %s", error)
                self._give_up(entries, f"Kinesis refused the records: {error}")
                return
            attempt += 1
            delay = random.uniform(0, min(limits.backoff_cap, limits.backoff_base * 2**attempt))
            now = time.monotonic()
            alive = [e for e in entries if e.deadline > now + delay]
            self._give_up([e for e in entries if e.deadline <= now + delay],
                          "Kinesis did not take the record within the retry budget")
            entries = alive
            if entries:
                log.warning("re-sending %d failed records (attempt %d, %s)", len(entries),
                            attempt, error or "partial failure")
                await asyncio.sleep(delay)

    def _give_up(self, entries: list[_Entry], reason: str) -> None:
        _fail([e for e in entries if not e.future.done()],
              SinkUnavailable(reason, self.limits.retry_after))
        if entries and self._metrics is not None:
            self._metrics.records_failed.inc(len(entries))


def _fail(entries: list[_Entry], exc: SinkUnavailable) -> None:
    for entry in entries:
        entry.future.set_exception(exc)
        # marked retrieved: a request that went away (or a /batch request answered 503
        # before waiting) must not leave "exception was never retrieved" noise; a waiting
        # request still gets the exception
        entry.future.exception()
