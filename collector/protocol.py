"""uvicorn's HTTP/1.1 protocol (httptools) with the hit routes answered without ASGI.

Measured here (docs/benchmarks.md, "The hit routes without ASGI"): with uvicorn's ASGI
machinery around it — the scope dict, a request/response cycle with its event, a task,
``receive``, and two ``send`` calls that check every header — a request costs the server
36–56 µs of CPU when the app does nothing at all, against 23–40 µs in the same runs when
the protocol writes the collector's answer itself; a hit costs the collector 9 % less CPU
this way before enrichment, 17 % with it.

So for the hit routes (:data:`collector.edge.ROUTES`) this protocol builds the
:class:`~collector.http.RawRequest` from the parser's callbacks, runs the very handler the
ASGI path runs (:func:`collector.edge.dispatch`) in a task of its own, and writes the answer
as one buffer. Every other request — health, readiness, metrics, the docs and every FastAPI
route, WebSocket upgrades — goes through uvicorn's own code unchanged.

What uvicorn's protocol does for a request is kept for hit requests too, by the same means:
answers in request order on a pipelined connection (a later request waits, with reading
paused, until the earlier answer is written), ``Expect: 100-continue``, keep-alive and its
timeout, ``Connection: close`` and HTTP/1.0, back-pressure on writing, the ``Date`` header,
a graceful shutdown that finishes the answers in flight (their tasks are in the server's
task set) and closes idle connections. The hit in progress sits in ``self.cycle`` as a
:class:`HitCycle`, which has the attributes uvicorn's callbacks read there.

This leans on uvicorn's ``HttpToolsProtocol`` internals, so the dependency is pinned to
one minor version (pyproject.toml), :func:`protocol_for` falls back to uvicorn's own
protocol when a part it calls is missing, ``hit_protocol=False`` turns it off, and
tests/collector/test_protocol.py checks the behaviours above over a socket (back-pressure
and the keep-alive timeout are uvicorn's code, reached through the same calls).
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from collector.edge import ROUTES, Runtime, dispatch, new_request, too_large
from collector.http import RawRequest, Response, problem

log = logging.getLogger(__name__)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Unset:
    """Stands in for the cycle's ``asyncio.Event``: uvicorn sets it on connection loss."""

    __slots__ = ()

    def set(self) -> None:
        pass


_UNSET = _Unset()


class HitCycle:
    """One hit request on a connection, from its headers until its answer is written."""

    __slots__ = (
        "body",
        "complete",
        "continue_wanted",
        "disconnected",
        "keep_alive",
        "message_event",
        "over_limit",
        "released",
        "request",
        "response_complete",
        "size",
    )

    def __init__(self, request: RawRequest, length: int, *, limit: int, keep_alive: bool,
                 continue_wanted: bool) -> None:
        self.request = request
        self.body: list[bytes] = []
        self.size = 0
        self.over_limit = length > limit  # the declared Content-Length (-1: none) is over
        self.complete = False  # the whole request has been read
        self.released = False  # the answers before it on the connection are written
        self.keep_alive = keep_alive
        self.continue_wanted = continue_wanted
        # what uvicorn's own callbacks read and write on ``self.cycle``
        self.response_complete = False
        self.disconnected = False
        self.message_event = _UNSET


class HitProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that answers the hit routes itself; see the module docstring.

    Use :func:`protocol_for`, which binds the collector's :class:`~collector.edge.Runtime`.
    """

    runtime: ClassVar[Runtime]

    def on_headers_complete(self) -> None:
        parser = self.parser
        if parser.should_upgrade() or self.limit_concurrency is not None:
            super().on_headers_complete()
            return
        parsed = httptools.parse_url(self.url)
        path = parsed.path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        path = self.root_path + path
        if path not in ROUTES:
            super().on_headers_complete()
            return
        method = parser.get_method().decode("ascii")
        http_version = parser.get_http_version()
        request, length = new_request(method, path, parsed.query or b"", self.headers,
                                      self.client, time.time())
        limit = self.runtime.max_body_bytes
        cycle = HitCycle(request, length, limit=limit,
                         keep_alive=http_version != "1.0" and parser.should_keep_alive(),
                         continue_wanted=self.expect_100_continue)
        previous = self.cycle
        self.cycle = cycle  # type: ignore[assignment]  # read by uvicorn's callbacks
        if previous is None or previous.response_complete:
            self._release(cycle)
        else:  # pipelined: its turn comes when the answer before it is written
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, None))  # type: ignore[arg-type]

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if not isinstance(cycle, HitCycle):
            super().on_body(body)
            return
        if cycle.response_complete or cycle.over_limit or cycle.request.method == "GET":
            return  # answered already, or not read (a GET's body is ignored as Google does)
        cycle.size += len(body)
        if cycle.size > self.runtime.max_body_bytes:
            cycle.over_limit = True
            cycle.body.clear()
            if cycle.released:
                self._answer_now(cycle, too_large(self.runtime.max_body_bytes))
            return
        cycle.body.append(body)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if not isinstance(cycle, HitCycle):
            super().on_message_complete()
            return
        cycle.complete = True
        if cycle.released and not cycle.response_complete:
            self._run(cycle)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        # uvicorn's on_response_complete starts the next pipelined request through here
        if isinstance(cycle, HitCycle):
            self._release(cycle)
        else:
            super()._start_asgi_task(cycle, app)

    def _release(self, cycle: HitCycle) -> None:
        """The request's turn on the connection: answer it once it is read."""
        cycle.released = True
        if cycle.over_limit:
            self._answer_now(cycle, too_large(self.runtime.max_body_bytes))
        elif cycle.complete:
            self._run(cycle)
        elif cycle.continue_wanted and cycle.request.method != "GET":
            cycle.continue_wanted = False
            self.transport.write(CONTINUE)
            self.flow.resume_reading()

    def _run(self, cycle: HitCycle) -> None:
        request = cycle.request
        if cycle.body:
            request.body = b"".join(cycle.body)
            cycle.body = []
        # named: a task without a name formats "Task-<n>" for itself, for every hit
        task = self.loop.create_task(self._serve(cycle), name="hit request")
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _serve(self, cycle: HitCycle) -> None:
        try:
            response = await dispatch(self.runtime, cycle.request)
        except Exception:  # dispatch answers its handlers' errors; this is a bug of ours
            log.exception("hit request failed")
            response = problem(503, "Service Unavailable", "internal error; retry later", 5)
        if self.flow.write_paused and not cycle.disconnected:
            await self.flow.drain()
        self._answer_now(cycle, response)

    def _answer_now(self, cycle: HitCycle, response: Response) -> None:
        if cycle.response_complete:
            return
        cycle.response_complete = True
        if cycle.disconnected or self.transport.is_closing():
            return
        self.transport.write(encode(response, self.server_state.default_headers,
                                    keep_alive=cycle.keep_alive,
                                    head=cycle.request.method == "HEAD"))
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()


def encode(response: Response, default_headers: list[tuple[bytes, bytes]], *, keep_alive: bool,
           head: bool) -> bytes:
    """The whole answer as one buffer: status line, headers, body."""
    parts = [STATUS_LINE[response.status]]
    for name, value in default_headers:
        parts += (name, b": ", value, b"\r\n")
    for name, value in response.headers:
        # an echoed request value must not split lines (find, not "in", which raises and
        # clears a TypeError first on CPython 3.11)
        if value.find(b"\r") >= 0 or value.find(b"\n") >= 0:
            continue
        parts += (name, b": ", value, b"\r\n")
    if response.content_type is not None:
        parts += (b"content-type: ", response.content_type, b"\r\n")
    parts += (b"content-length: ", str(len(response.body)).encode(), b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head:
        parts.append(response.body)
    return b"".join(parts)


# What HitProtocol uses of uvicorn's protocol besides the parser callbacks it overrides.
_UVICORN_PARTS = ("_start_asgi_task", "on_response_complete", "_unset_keepalive_if_required",
                  "on_message_begin", "on_header", "shutdown", "connection_lost")


def protocol_for(runtime: Runtime) -> type[asyncio.Protocol] | str:
    """uvicorn's ``Config(http=...)`` for the collector: a :class:`HitProtocol` bound to
    ``runtime``, or uvicorn's own ``"httptools"`` (every route through ASGI, with a warning)
    should an uvicorn release no longer have the parts it builds on."""
    missing = [name for name in _UVICORN_PARTS if not hasattr(HttpToolsProtocol, name)]
    if missing:
        log.warning("uvicorn %s lacks %s: the hit routes go through ASGI (slower)",
                    uvicorn.__version__, ", ".join(missing))
        return "httptools"
    return type("HitProtocol", (HitProtocol,), {"runtime": runtime})
