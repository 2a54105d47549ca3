"""An event loop on a thread of its own, for the Kinesis client.

On the collector's event loop a PutRecords call moves one step per loop iteration — its
request is built, signed and written, its response read and parsed, over several awaits that
each wait for their turn — and under load every iteration first runs each hit request that
is ready. With one call in flight (moto) the next call reached the wire only after the
requests the last batch released had all been answered and the next ones parsed, so Kinesis
and the collector took turns instead of working at the same time (docs/benchmarks.md, "The
Kinesis client on a thread of its own"). On this thread the client's steps wait only for the
GIL, which a busy loop gives up at least every switch interval: the next call is on the wire
while the collector answers the last batch's requests. Python's interval is 5 ms, and a call
waits for the GIL several times (its request written, its answer read and parsed), so a
thread started with ``switch_interval`` sets a shorter one for as long as it runs
(``kinesis_switch_interval_ms``, 1 ms: docs/benchmarks.md, "The GIL's switch interval").

:class:`LoopThread` runs the loop; :meth:`LoopThread.run` awaits a coroutine on it from the
collector's loop (cancelling the caller cancels it there); :func:`entered_on` enters an async
context manager — the aiobotocore client, whose HTTP session belongs to the loop that opened
it — on the thread, and leaves it there.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # what uvicorn runs the collector on when it is installed
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThreadStopped(RuntimeError):
    pass


class _SwitchInterval:
    """The interpreter's switch interval, shared by the threads that ask for one: the
    shortest asked while any runs, the interpreter's own once none does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked: list[float] = []
        self._before = sys.getswitchinterval()

    def ask(self, seconds: float) -> None:
        with self._lock:
            if not self._asked:
                self._before = sys.getswitchinterval()
            self._asked.append(seconds)
            sys.setswitchinterval(min(self._asked))

    def release(self, seconds: float) -> None:
        with self._lock:
            self._asked.remove(seconds)
            sys.setswitchinterval(min(self._asked) if self._asked else self._before)


_SWITCH = _SwitchInterval()


class LoopThread:
    """A daemon thread running an event loop until :meth:`stop`; with ``switch_interval``
    (seconds), the interpreter's switch interval is at most that while it runs."""

    def __init__(self, name: str, *, switch_interval: float | None = None) -> None:
        if switch_interval is not None and not switch_interval > 0:
            raise ValueError(f"switch_interval must be over 0 s, not {switch_interval}")
        self.name = name
        self.loop = _new_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._stopping = False
        self._switch_interval = switch_interval

    def start(self) -> None:
        self._thread.start()
        if self._switch_interval is not None:
            _SWITCH.ask(self._switch_interval)

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """``await coro`` on the thread's loop; cancelling this cancels it there."""
        return await self.submit(coro)

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """:meth:`run`, started before this returns: ``coro`` is on the thread's loop already
        when the caller gets the future to await (which must run on an event loop)."""
        if self._stopping or not self._thread.is_alive():
            coro.close()
            raise LoopThreadStopped(f"the {self.name} loop thread is not running")
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def stop(self, timeout: float = 10.0) -> None:
        """Cancel whatever still runs there, stop the loop and join the thread."""
        if self._stopping:
            return
        self._stopping = True
        if self._switch_interval is not None and self._thread.ident is not None:  # started
            _SWITCH.release(self._switch_interval)
        if self._thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(_cancel_the_rest(), self.loop)
            try:
                await asyncio.wait_for(asyncio.wrap_future(done), timeout)
            except TimeoutError:
                log.warning("the %s loop thread did not wind down in %.0f s", self.name, timeout)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
            await asyncio.to_thread(self._thread.join, timeout)
        if self._thread.is_alive():  # a daemon: it goes with the process
            log.warning("the %s loop thread is still running; left behind", self.name)
            return
        self.loop.close()


async def _cancel_the_rest() -> None:
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


class _EnteredOn(AbstractAsyncContextManager[T]):
    def __init__(self, thread: LoopThread, manager: AbstractAsyncContextManager[T]) -> None:
        self._thread = thread
        self._manager = manager

    async def __aenter__(self) -> T:
        return await self._thread.run(self._manager.__aenter__())

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        return await self._thread.run(self._manager.__aexit__(exc_type, exc, tb))


def entered_on(thread: LoopThread,
               manager: AbstractAsyncContextManager[T]) -> AbstractAsyncContextManager[T]:
    """``manager`` entered and left on ``thread``'s loop, from an ``async with`` elsewhere."""
    return _EnteredOn(thread, manager)
