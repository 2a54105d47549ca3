"""collector.loopthread: coroutines awaited on another thread's event loop."""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from collector.loopthread import LoopThread, LoopThreadStopped, entered_on


@pytest.fixture
async def thread() -> AsyncIterator[LoopThread]:
    started = LoopThread("test-loop")
    started.start()
    yield started
    await started.stop()


async def where() -> int:
    await asyncio.sleep(0)
    return threading.get_ident()


async def sleeps(started: threading.Event, cancelled: threading.Event) -> None:
    """Says when it runs, then sleeps for an hour; says so if it is cancelled."""
    started.set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        cancelled.set()
        raise


async def test_a_coroutine_runs_on_the_thread_and_its_result_comes_back(thread: LoopThread) -> None:
    ident = await thread.run(where())
    assert ident == thread.ident
    assert ident != threading.get_ident()


async def test_its_exception_comes_back(thread: LoopThread) -> None:
    async def fails() -> None:
        raise ValueError("from the thread")

    with pytest.raises(ValueError, match="from the thread"):
        await thread.run(fails())


async def test_cancelling_the_caller_cancels_the_coroutine_there(thread: LoopThread) -> None:
    started, cancelled = threading.Event(), threading.Event()
    caller = asyncio.create_task(thread.run(sleeps(started, cancelled)))
    assert await asyncio.to_thread(started.wait, 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await asyncio.to_thread(cancelled.wait, 5)


async def test_stop_cancels_what_still_runs_joins_and_refuses_more() -> None:
    thread = LoopThread("test-stop")
    thread.start()
    started, cancelled = threading.Event(), threading.Event()
    left = asyncio.run_coroutine_threadsafe(sleeps(started, cancelled), thread.loop)  # unawaited
    assert await asyncio.to_thread(started.wait, 5)
    await thread.stop()
    assert cancelled.is_set()
    assert left.cancelled()
    assert thread.loop.is_closed()
    assert not any(t.ident == thread.ident for t in threading.enumerate())
    coro = where()
    with pytest.raises(LoopThreadStopped):
        await thread.run(coro)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED  # not left "never awaited"
    await thread.stop()  # a second stop is harmless


async def test_a_context_manager_is_entered_and_left_on_the_thread(thread: LoopThread) -> None:
    seen: list[tuple[str, int]] = []

    @asynccontextmanager
    async def opened() -> AsyncIterator[str]:
        seen.append(("enter", threading.get_ident()))
        try:
            yield "client"
        finally:
            seen.append(("exit", threading.get_ident()))

    async with entered_on(thread, opened()) as value:
        assert value == "client"
        assert seen == [("enter", thread.ident)]
    assert seen == [("enter", thread.ident), ("exit", thread.ident)]


async def test_an_exception_in_the_block_reaches_the_manager_there(thread: LoopThread) -> None:
    got: list[BaseException] = []

    @asynccontextmanager
    async def opened() -> AsyncIterator[None]:
        try:
            yield
        except ValueError as exc:
            got.append(exc)
            raise

    with pytest.raises(ValueError, match="inside"):
        async with entered_on(thread, opened()):
            raise ValueError("inside")
    assert len(got) == 1


async def test_submit_starts_the_coroutine_before_the_caller_awaits(thread: LoopThread) -> None:
    started, cancelled = threading.Event(), threading.Event()
    call = thread.submit(sleeps(started, cancelled))
    # blocking this loop: nothing here runs until the coroutine has started there
    assert started.wait(5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await asyncio.to_thread(cancelled.wait, 5)


async def test_a_switch_interval_holds_while_its_thread_runs_the_shortest_asked_first() -> None:
    before = sys.getswitchinterval()
    first = LoopThread("test-switch-1", switch_interval=0.001)
    second = LoopThread("test-switch-2", switch_interval=0.002)
    first.start()
    try:
        assert sys.getswitchinterval() == pytest.approx(0.001)
        second.start()
        assert sys.getswitchinterval() == pytest.approx(0.001)  # the shortest of the two
        await first.stop()
        assert sys.getswitchinterval() == pytest.approx(0.002)  # the other still runs
    finally:
        await first.stop()
        await second.stop()
    assert sys.getswitchinterval() == before
    await second.stop()  # a second stop gives nothing back twice
    assert sys.getswitchinterval() == before


async def test_without_a_switch_interval_the_interpreters_stays() -> None:
    before = sys.getswitchinterval()
    thread = LoopThread("test-switch-none")
    thread.start()
    try:
        assert sys.getswitchinterval() == before
    finally:
        await thread.stop()
    assert sys.getswitchinterval() == before


@pytest.mark.parametrize("seconds", [0.0, -0.001, float("nan")])
def test_a_switch_interval_must_be_over_zero(seconds: float) -> None:
    with pytest.raises(ValueError, match="switch_interval"):
        LoopThread("test-switch-bad", switch_interval=seconds)
