"""The group-commit sink's scheduling, with a writer that records what the sink asks of it:
a returning call hands its slot to the records that waited (the next call starts before the
returned batch's requests are answered), never more calls in flight than the limit, every
record written, and a retry is not starved by the hand-offs. (Correctness against Kinesis
itself — partial failures, throttling, the budget, shutdown — is tested over HTTP against
moto in test_sink_faults.py.)"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from collector.sink import GroupCommitSink, SinkLimits


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
