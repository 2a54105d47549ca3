"""Run the collector under uvicorn with production settings (no access log: it holds IPs).

Every connection is a :class:`ConnectionGuard` (over the hit protocol, or uvicorn's own when
that is off): uvicorn's httptools protocol has no deadline for a request to arrive and no
cap on a request's head, so a client trickling its headers or body, or never sending a
request at all, kept its connection forever, and one sending an endless URL or header value
grew memory (quadratically copied) without bound. The guard adds no work per request: one
timer per server looks at the connections once per :attr:`ConnectionGuard.sweep_every`
seconds and
- closes a connection whose request has not moved on (no new request or cycle) for
  :attr:`ConnectionGuard.request_timeout` seconds while the server waits to read it (408 if
  a request had begun), never one waiting for its answer or in uvicorn's keep-alive wait;
  a new connection that sends nothing gets the keep-alive timeout;
- counts, from the first sweep that finds a request still arriving, what that connection
  sends: past :attr:`ConnectionGuard.read_cap` bytes, 413 and closed (hit bodies are capped
  by the protocol as they arrive; this bounds a head that never ends to what arrives within
  one sweep, plus the cap);
- refuses a head with more than :data:`MAX_HEADERS` fields (431).
A URL over :data:`URL_CAP` bytes, which httptools cannot parse, is answered 413 (the table
in DESIGN.md) instead of uvicorn's ``400 Invalid HTTP request received``.
"""

from __future__ import annotations

import asyncio
import gc
import http
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from collector.app import Overrides, create_app
from collector.http import problem
from collector.protocol import HitCycle, encode, protocol_for
from collector.settings import CollectorSettings

URL_CAP = 65_535  # httptools' URL parser keeps 16-bit offsets: a longer URL cannot be read
MAX_HEADERS = 100
REQUEST_TIMEOUT_S = 30.0  # the longest a request (head and body) may take to arrive
HEAD_CAP = 128 * 1024  # a request's head beyond the URL: more is refused once it is seen


class ConnectionGuard(HttpToolsProtocol):
    """See the module docstring. Bound to its :class:`Sweeper` by :func:`guarded`."""

    sweeper: ClassVar[Sweeper]
    request_timeout: ClassVar[float] = REQUEST_TIMEOUT_S
    # a connection that has sent nothing yet: None is uvicorn's keep-alive timeout (65 s,
    # over the ALB's 60 s idle timeout, so that an ALB's new connection is never cut short)
    idle_timeout: ClassVar[float | None] = None
    sweep_every: ClassVar[float] = 1.0
    read_cap: ClassVar[int]  # the body cap + URL_CAP + HEAD_CAP (guarded)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.sweeper.watch(self)

    def send_400_response(self, msg: str) -> None:
        if len(getattr(self, "url", b"") or b"") > URL_CAP:
            self.refuse(413, f"the URL is over the collector's {URL_CAP}-byte cap")
        else:
            super().send_400_response(msg)

    def refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` with a problem body, then close the connection."""
        if self.transport.is_closing():
            return
        answer = problem(status, http.HTTPStatus(status).phrase, detail)
        self.transport.write(encode(answer, self.server_state.default_headers,
                                    keep_alive=False, head=False))
        self.transport.close()

    def waiting(self) -> bool:
        """Whether the server, not the client, is what the connection waits for (an answer
        in progress, a pipelined request's turn) or uvicorn's keep-alive timer runs."""
        if self.timeout_keep_alive_task is not None or self.pipeline:
            return True
        cycle: Any = self.cycle
        if cycle is None:
            return False
        return _read(cycle) and not cycle.response_complete

    def deadline(self) -> float:
        if self.headers is None:
            return self.timeout_keep_alive if self.idle_timeout is None else self.idle_timeout
        return self.request_timeout

    def time_out(self) -> None:
        cycle: Any = self.cycle
        if self.headers is None or (cycle is not None and cycle.response_complete
                                    and not _read(cycle)):
            # nothing ever sent; or the rest of a body answered early (413) still arriving
            self.transport.close()
        else:
            self.refuse(408, f"the request did not arrive within {self.request_timeout:g} s")

    def guard(self) -> None:
        """Count what this connection sends from now on: its transport calls a counter in
        front of it (uvloop binds ``data_received`` once: the protocol object is swapped,
        as uvicorn does for a WebSocket upgrade). Only a slow connection pays for it."""
        self.transport.set_protocol(_Counted(self, self.read_cap))

    def unguard(self) -> None:
        if isinstance(self.transport.get_protocol(), _Counted):
            self.transport.set_protocol(self)


class _Counted(asyncio.Protocol):
    """A guarded connection's protocol: counts what arrives, then hands it on; steps aside
    once the next request has begun (a busy connection pays no more)."""

    def __init__(self, conn: ConnectionGuard, budget: int) -> None:
        self.conn = conn
        self.budget = budget
        self.cycle, self.headers = conn.cycle, conn.headers

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        self.budget -= len(data)
        if self.budget < 0:
            conn.refuse(413, "the request is over the collector's cap")
            return
        conn.data_received(data)
        if conn.cycle is not self.cycle or conn.headers is not self.headers:
            conn.unguard()

    def eof_received(self) -> bool | None:
        return self.conn.eof_received()  # type: ignore[func-returns-value]

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.connection_lost(exc)

    def pause_writing(self) -> None:
        self.conn.pause_writing()

    def resume_writing(self) -> None:
        self.conn.resume_writing()


def _read(cycle: Any) -> bool:
    """Whether a cycle's request has been read whole (a hit's or uvicorn's cycle)."""
    return bool(cycle.complete if isinstance(cycle, HitCycle) else not cycle.more_body)


class Sweeper:
    """The guard's timer for one server: marks each connection's (cycle, headers) objects
    and when they last changed (a new request or cycle)."""

    def __init__(self) -> None:
        self.marks: dict[ConnectionGuard, tuple[Any, Any, float, bool]] = {}
        self.handle: asyncio.TimerHandle | None = None

    def watch(self, conn: ConnectionGuard) -> None:
        if self.handle is None:
            self.handle = conn.loop.call_later(conn.sweep_every, self.sweep, conn)

    def sweep(self, any_conn: ConnectionGuard) -> None:
        loop = any_conn.loop
        now = loop.time()
        marks: dict[ConnectionGuard, tuple[Any, Any, float, bool]] = {}
        for conn in list(any_conn.connections):
            if not isinstance(conn, ConnectionGuard) or conn.transport.is_closing():
                continue
            cycle, headers = conn.cycle, conn.headers
            last = self.marks.get(conn)
            if last is None or last[0] is not cycle or last[1] is not headers:
                if last is not None and last[3]:
                    conn.unguard()  # it moved on
                # caught mid-request (rare for a normal one, at an instant): counted from now
                counting = headers is not None and not conn.waiting()
                if counting:
                    conn.guard()
                marks[conn] = (cycle, headers, now, counting)
                continue
            marks[conn] = last
            if conn.waiting():
                continue
            if now - last[2] >= conn.deadline():
                conn.time_out()
            elif headers is not None and len(headers) > MAX_HEADERS:
                conn.refuse(431, f"more than {MAX_HEADERS} header fields")
            elif len(getattr(conn, "url", b"") or b"") > URL_CAP:
                conn.refuse(413, f"the URL is over the collector's {URL_CAP}-byte cap")
            elif not last[3]:
                conn.guard()
                marks[conn] = (cycle, headers, last[2], True)
        self.marks = marks
        if any_conn.connections:
            self.handle = loop.call_later(any_conn.sweep_every, self.sweep, any_conn)
        else:
            self.handle = None


def guarded(http_protocol: type[asyncio.Protocol] | str, max_body: int) -> type[ConnectionGuard]:
    """``http_protocol`` (the hit protocol, or ``"httptools"``: uvicorn's) under the guard,
    with a sweeper of its own (one per server) and a read cap over the body cap."""
    base = HttpToolsProtocol if isinstance(http_protocol, str) else http_protocol
    name = "Guarded" + base.__name__
    return type(name, (ConnectionGuard, base),
                {"sweeper": Sweeper(), "read_cap": max_body + URL_CAP + HEAD_CAP})


def config(settings: CollectorSettings, overrides: Overrides | None = None) -> uvicorn.Config:
    app = create_app(settings, overrides)
    # the hit routes answered by the protocol itself (collector.protocol), or by the edge's
    # lean ASGI path, or (fast_path off) every route through ASGI and FastAPI
    http_protocol = (protocol_for(app.runtime) if settings.fast_path and settings.hit_protocol
                     else "httptools")
    return uvicorn.Config(
        app,
        http=guarded(http_protocol, settings.max_body_bytes),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        log_config=None,  # the entrypoint configured logging
        proxy_headers=False,  # X-Forwarded-For is handled by the collector itself
        server_header=False,
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        timeout_keep_alive=65,  # longer than the ALB's 60 s idle timeout
    )


def tune_gc() -> None:
    """Fewer, cheaper garbage collections on the hot path: every request allocates many
    short-lived tuples (query pairs), which with the default threshold triggered a young
    collection every few requests and full ones of ~65 ms under load (bench profile)."""
    gc.collect()
    gc.freeze()  # start-up objects (modules, tables, clients) are never scanned again
    gc.set_threshold(20_000, 50, 100)


def run(cfg: uvicorn.Config) -> None:
    tune_gc()
    uvicorn.Server(cfg).run()


def serve(settings: CollectorSettings) -> None:
    run(config(settings))
