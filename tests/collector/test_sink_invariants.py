"""The group-commit sink's contract under any interleaving, checked with Hypothesis.

A scripted writer hands every call back to the test, which answers the calls in any order,
any number of loop turns apart: accepted, partly failed, failed retryably, refused for good,
or with an error no writer should raise; meanwhile records are put, requests go away, time
passes (lingering, backoff, budgets running out) and the sink may be closed. After every step
the calls the writer has open — asked for and not yet answered — are at most
``max_in_flight``; at the end every record's future is settled, each record the sink said
was written was written exactly once, nothing it gave up on was written, and its queue is
empty.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from collector.errors import (
    Overloaded,
    RetryableWriteError,
    SinkUnavailable,
    TerminalWriteError,
)
from collector.sink import GroupCommitSink, SinkLimits


@dataclass
class Call:
    records: list[bytes]
    answer: asyncio.Future[list[int]]


@dataclass
class ScriptedWriter:
    """Every call waits for the test to answer it; records how many are open at once."""

    open: list[Call] = field(default_factory=list)
    most_open: int = 0
    written: list[bytes] = field(default_factory=list)

    def write(self, records: Sequence[tuple[bytes, str]]) -> asyncio.Future[list[int]]:
        call = Call([data for data, _ in records], asyncio.get_running_loop().create_future())
        self.open.append(call)
        self.most_open = max(self.most_open, len(self.open))
        return call.answer

    def answer(self, index: int, outcome: str, failing: frozenset[int]) -> None:
        call = self.open.pop(index % len(self.open))
        if outcome == "ok":
            self.written += call.records
            call.answer.set_result([])
        elif outcome == "partial":
            bad = sorted(i for i in failing if i < len(call.records))
            self.written += [r for i, r in enumerate(call.records) if i not in failing]
            call.answer.set_result(bad)
        elif outcome == "retryable":
            call.answer.set_exception(RetryableWriteError("ProvisionedThroughputExceeded"))
        elif outcome == "terminal":
            call.answer.set_exception(TerminalWriteError("AccessDenied"))
        else:
            call.answer.set_exception(RuntimeError("a writer bug"))


OUTCOMES = st.sampled_from(["ok", "ok", "partial", "retryable", "terminal", "bug"])
STEP = st.one_of(
    st.tuples(st.just("put"), st.integers(1, 25)),
    st.tuples(st.just("answer"), st.integers(0, 7), OUTCOMES,
              st.frozensets(st.integers(0, 24), max_size=6)),
    st.tuples(st.just("turns"), st.integers(1, 4)),
    st.tuples(st.just("wait_ms"), st.integers(1, 4)),
    st.tuples(st.just("go_away"), st.integers(0, 10_000)),
    st.tuples(st.just("close"), st.just(0)),
)


# no shrinking: every example sleeps in real time, and shrinking a failure took minutes; the
# failing example is printed as it was found
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(limit=st.integers(1, 4), max_records=st.integers(1, 30), steps=st.lists(STEP, max_size=80))
def test_the_in_flight_limit_holds_and_every_record_is_settled_once(
        limit: int, max_records: int, steps: list[tuple[Any, ...]]) -> None:
    writer = ScriptedWriter()
    futures: list[tuple[bytes, asyncio.Future[None]]] = []

    async def go() -> None:
        sink = GroupCommitSink(writer, SinkLimits(
            max_in_flight=limit, max_records=max_records, linger=0.002, max_queued=200,
            retry_budget=0.015, backoff_base=0.0002, backoff_cap=0.001))
        await sink.start()
        closing: asyncio.Task[None] | None = None
        for step in steps:
            kind = step[0]
            if kind == "put" and closing is None:
                for _ in range(step[1]):
                    data = b"r%d" % len(futures)
                    with contextlib.suppress(Overloaded):
                        futures.append((data, sink.put(data, data.decode())))
            elif kind == "answer" and writer.open:
                writer.answer(step[1], step[2], step[3])
            elif kind == "turns":
                for _ in range(step[1]):
                    await asyncio.sleep(0)
            elif kind == "wait_ms":
                await asyncio.sleep(step[1] / 1000)
            elif kind == "go_away" and futures:
                futures[step[1] % len(futures)][1].cancel()
            elif kind == "close" and closing is None:
                closing = asyncio.create_task(sink.close())
            assert len(writer.open) <= limit
        if closing is None:
            closing = asyncio.create_task(sink.close())
        drained_by = asyncio.get_running_loop().time() + 5
        while not closing.done():  # answer whatever is asked, until the sink has drained
            assert asyncio.get_running_loop().time() < drained_by, "close() never returned"
            if writer.open:
                writer.answer(0, "ok", frozenset())
            await asyncio.sleep(0.0005)
            assert len(writer.open) <= limit
        await closing
        assert sink.depth == 0
        assert sink.calls_in_flight == 0

    asyncio.run(go())
    assert writer.most_open <= limit
    written = writer.written
    assert len(written) == len(set(written)), "a record was written twice"
    confirmed = set()
    for data, fut in futures:
        assert fut.done()
        if fut.cancelled():
            continue
        if fut.exception() is None:
            confirmed.add(data)
        else:
            assert isinstance(fut.exception(), SinkUnavailable)
            assert data not in written, "a record was written and then reported as lost"
    assert confirmed <= set(written)
