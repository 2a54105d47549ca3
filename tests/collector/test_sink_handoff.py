"""The group-commit sink's scheduling, by example, with a writer that records what the sink
asks of it: a returning call starts the next one (before the returned batch's requests are
answered), never more calls in flight than the limit, every record written, and a retry is
not starved by continuous traffic. A writer is asked for a call at the moment it should
start (KinesisWriter over the Kinesis thread starts it then), and one that raises when asked
fails that batch only. (The limit under any interleaving: test_sink_invariants.py;
correctness against Kinesis itself — partial failures, throttling, the budget, shutdown —
over HTTP against moto: test_sink_faults.py.)"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Sequence
from typing import Any

import pytest

from collector.errors import SinkUnavailable
from collector.loopthread import LoopThread, LoopThreadStopped
from collector.sink import CallsOnThread, GroupCommitSink, KinesisWriter, SinkLimits


class RecordingWriter:
    """Takes ``delay`` seconds per call; fails the entries ``fail(call, records)`` names."""

    def __init__(self, log: list[str], *, delay: float = 0.0,
                 fail: dict[int, set[int]] | None = None) -> None:
        self.log = log
        self.delay = delay
        self.fail = fail or {}
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.written: list[bytes] = []
        self.batches: list[list[bytes]] = []

    async def write(self, records: Sequence[tuple[bytes, str]]) -> list[int]:
        call = self.calls
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.log.append(f"call {call} starts with {len(records)}")
        self.batches.append([data for data, _ in records])
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        failing = self.fail.get(call, set())
        self.written += [data for i, (data, _) in enumerate(records) if i not in failing]
        return sorted(failing)


def test_a_returning_call_starts_the_next_before_its_requests_are_answered() -> None:
    log: list[str] = []

    async def go() -> None:
        writer = RecordingWriter(log, delay=0.05)
        sink = GroupCommitSink(writer, SinkLimits(max_in_flight=1, linger=0.01))
        await sink.start()

        async def request(name: str) -> None:
            await sink.put(name.encode(), name)
            log.append(f"answered {name}")

        first = [asyncio.create_task(request(f"a{i}")) for i in range(3)]
        await asyncio.sleep(0.01)  # call 0 carries a0-a2 and is in flight
        second = [asyncio.create_task(request(f"b{i}")) for i in range(3)]
        await asyncio.gather(*first, *second)
        await sink.close()

    asyncio.run(go())
    assert log[0] == "call 0 starts with 3"
    # call 1 (the b's, queued while call 0 ran) starts before any a is answered
    assert log[1] == "call 1 starts with 3", log
    assert set(log[2:5]) == {"answered a0", "answered a1", "answered a2"}


@pytest.mark.parametrize("slots", [1, 3])
def test_never_more_calls_than_slots_and_every_record_written_once(slots: int) -> None:
    writer = RecordingWriter([], delay=0.002, fail={2: {0, 5}, 7: {1}})
    rng = random.Random(7)

    async def go() -> None:
        sink = GroupCommitSink(writer, SinkLimits(max_in_flight=slots, max_records=40,
                                                  linger=0.003, backoff_base=0.001))
        await sink.start()

        async def client(n: int) -> None:
            for i in range(60):
                await sink.put(f"{n}-{i}".encode(), str(n))
                await asyncio.sleep(rng.random() * 0.002)

        await asyncio.gather(*(client(n) for n in range(40)))
        await sink.close()

    asyncio.run(go())
    assert writer.most_in_flight <= slots
    assert sorted(writer.written) == sorted(f"{n}-{i}".encode() for n in range(40)
                                            for i in range(60))


def test_a_retry_gets_the_next_slot_under_continuous_traffic() -> None:
    log: list[str] = []
    writer = RecordingWriter(log, delay=0.005, fail={0: {0}})

    async def go() -> None:
        sink = GroupCommitSink(writer, SinkLimits(max_in_flight=1, linger=0.001,
                                                  backoff_base=0.001, retry_budget=1.0))
        await sink.start()
        stop = asyncio.Event()

        async def traffic() -> None:  # keeps records waiting at every return
            i = 0
            while not stop.is_set():
                sink.put(f"t{i}".encode(), "t")
                i += 1
                await asyncio.sleep(0.0005)

        feeder = asyncio.create_task(traffic())
        await sink.put(b"retried", "r")  # call 0 fails it once; the retry must land
        stop.set()
        await feeder
        await sink.close()

    asyncio.run(go())
    assert b"retried" in writer.batches[0]
    assert b"retried" in writer.written
    retry = next(i for i, batch in enumerate(writer.batches) if i > 0 and b"retried" in batch)
    # the call after the failed one was already on its way; the retry comes at most one
    # call later (the batcher may have queued for the slot first), not after the traffic
    assert retry <= 3, [len(b) for b in writer.batches[:6]]


class AskedWriter:
    """Notes which task asked for each call and which task waits for its answer; each call
    takes ``delay`` seconds from the moment it is awaited."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.asked_by: list[asyncio.Task[Any] | None] = []
        self.awaited_by: list[asyncio.Task[Any] | None] = []

    def write(self, records: Sequence[tuple[bytes, str]]) -> Awaitable[list[int]]:
        self.asked_by.append(asyncio.current_task())
        return self._answer()

    async def _answer(self) -> list[int]:
        self.awaited_by.append(asyncio.current_task())
        await asyncio.sleep(self.delay)
        return []


def test_a_returning_call_asks_for_the_next_itself_without_a_turn_of_the_loop() -> None:
    writer = AskedWriter(delay=0.02)

    async def go() -> None:
        sink = GroupCommitSink(writer, SinkLimits(max_in_flight=1, linger=0.001))
        await sink.start()
        first = sink.put(b"a", "a")
        await asyncio.sleep(0.005)  # call 0 in flight
        second = sink.put(b"b", "b")
        await asyncio.gather(first, second)
        await sink.close()

    asyncio.run(go())
    assert len(writer.asked_by) == 2
    # call 1 was asked for by the task that waited for call 0, when that answer came: not by
    # a task of its own, which would first wait for a turn of the loop (with the Kinesis
    # thread, a loop's turn of hit requests: docs/benchmarks.md, "Enrichment in turns, and
    # PutRecords calls passed on at once")
    assert writer.asked_by[1] is writer.awaited_by[0]
    assert writer.awaited_by[1] is not writer.awaited_by[0]


def accepted(n: int) -> dict[str, Any]:
    """Kinesis's answer to a PutRecords call that took all its ``n`` records."""
    return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1"}] * n}


class StoppedOnce:
    """A PutRecords client whose first call raises when asked (the Kinesis thread has
    stopped), the next ones answer."""

    def __init__(self) -> None:
        self.calls = 0
        self.written: list[bytes] = []

    def put_records(self, *, Records: Any, StreamName: str) -> Awaitable[Any]:
        self.calls += 1
        if self.calls == 1:
            raise LoopThreadStopped("the kinesis loop thread is not running")
        self.written += [r["Data"] for r in Records]
        return self._answer(len(Records))

    async def _answer(self, n: int) -> Any:
        await asyncio.sleep(0)
        return accepted(n)


def test_a_writer_that_raises_when_asked_fails_that_batch_and_the_sink_goes_on() -> None:
    client = StoppedOnce()

    async def go() -> None:
        sink = GroupCommitSink(KinesisWriter(client, "stream"), SinkLimits(max_in_flight=1))
        await sink.start()
        with pytest.raises(SinkUnavailable, match="not running"):
            await sink.put(b"lost", "k")
        await sink.put(b"kept", "k")
        await sink.close()

    asyncio.run(go())
    assert client.written == [b"kept"]


class OnTheThread:
    """A PutRecords client whose calls take 20 ms on the thread they run on; notes each call
    when it is asked for, on the collector's loop (CallsOnThread asks there)."""

    def __init__(self) -> None:
        self.asked_by: list[asyncio.Task[Any] | None] = []
        self.written: list[bytes] = []

    def put_records(self, *, Records: Any, StreamName: str) -> Awaitable[Any]:
        self.asked_by.append(asyncio.current_task())
        return self._call(Records)

    async def _call(self, records: list[dict[str, Any]]) -> Any:
        await asyncio.sleep(0.02)
        self.written += [r["Data"] for r in records]
        return accepted(len(records))


def test_over_the_kinesis_thread_the_next_call_is_on_its_way_before_the_requests_resume() -> None:
    client = OnTheThread()
    asked_when_answered: list[int] = []

    async def go() -> None:
        thread = LoopThread("kinesis-test")
        thread.start()
        writer = KinesisWriter(CallsOnThread(client, thread), "stream")
        sink = GroupCommitSink(writer, SinkLimits(max_in_flight=1, linger=0.001))
        await sink.start()

        async def request(data: bytes) -> None:
            await sink.put(data, "k")
            asked_when_answered.append(len(client.asked_by))

        first = asyncio.create_task(request(b"a"))
        await asyncio.sleep(0.005)  # call 0 on the thread
        second = asyncio.create_task(request(b"b"))
        await asyncio.gather(first, second)
        await sink.close()
        await thread.stop()

    asyncio.run(go())
    assert client.written == [b"a", b"b"]
    # when a's request resumed, call 1 (b) had already been handed to the thread
    assert asked_when_answered == [2, 2]


class GatedWriter:
    """Each call waits until the test sets its answer (the last call's: ``answer``)."""

    def __init__(self) -> None:
        self.calls = 0
        self.answer: asyncio.Future[list[int]] | None = None

    def write(self, records: Sequence[tuple[bytes, str]]) -> asyncio.Future[list[int]]:
        self.calls += 1
        self.answer = asyncio.get_running_loop().create_future()
        return self.answer


def test_close_returns_when_the_last_waiting_records_requests_went_away() -> None:
    """Found by test_sink_invariants.py: records whose requests went away while their call
    was in flight, and which that call failed, back off and then leave the sink when their
    retry comes due, without a call; close() must see that."""
    writer = GatedWriter()

    async def go() -> None:
        sink = GroupCommitSink(writer, SinkLimits(max_in_flight=1, backoff_base=0.001,
                                                  backoff_cap=0.002))
        await sink.start()
        first, second = sink.put(b"a", "a"), sink.put(b"b", "b")
        await asyncio.sleep(0)  # call 0 asked for, carrying both
        answer = writer.answer
        assert answer is not None
        first.cancel()
        second.cancel()
        closing = asyncio.create_task(sink.close())
        await asyncio.sleep(0)
        answer.set_result([0, 1])  # both failed: they back off, their requests gone
        await asyncio.wait_for(closing, 2)
        assert sink.depth == 0

    asyncio.run(go())
    assert writer.calls == 1  # the retry found nobody waiting and made no call
