"""The lean ASGI path for hit endpoints; everything else goes on to the FastAPI app.

Under the collector's own server the hit endpoints are answered before ASGI, by
:mod:`collector.protocol`, with this module's :func:`dispatch` and :func:`new_request`; the
ASGI path here serves them when that is off (``hit_protocol=False``) or under another server.

Measured here: FastAPI routing plus a per-request model costs most of a small request's
budget, so the hot routes are dispatched from a dict, the body is read with a hard cap, and
the answer is written straight to ``send``. FastAPI still declares the same routes (same
handlers) so they appear in the OpenAPI document and work when ``fast_path`` is off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from collector import collect, ga4
from collector.http import RawRequest, Response, preflight, problem
from collector.ingest import Ingest

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[Ingest, RawRequest], Awaitable[Response]]

ROUTES: dict[str, tuple[frozenset[str], Handler]] = {
    **{path: (frozenset({"GET", "POST"}), collect.handle) for path in collect.COLLECT_PATHS},
    collect.BATCH_PATH: (frozenset({"POST"}), collect.handle),
    collect.DEBUG_PATH: (frozenset({"GET", "POST"}), collect.debug),
    ga4.GTAG_PATH: (frozenset({"GET", "POST"}), ga4.handle_gtag),
    ga4.MP_PATH: (frozenset({"POST"}), ga4.handle_mp),
    ga4.MP_DEBUG_PATH: (frozenset({"POST"}), ga4.debug_mp),
}


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


class Runtime:
    """What the lifespan builds and the handlers use; ``ingest`` is None until started."""

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.ingest: Ingest | None = None
        self.draining = False


async def dispatch(runtime: Runtime, request: RawRequest) -> Response:
    """Route one hit request (shared by the lean path and the FastAPI routes)."""
    route = ROUTES.get(request.path)
    if route is None:
        return problem(404, "Not Found", f"no route {request.path}")
    methods, handler = route
    if request.method == "OPTIONS":
        return preflight(request)
    if request.method not in methods:
        resp = problem(405, "Method Not Allowed", f"{request.path} takes {', '.join(sorted(methods))}")
        resp.headers.append((b"allow", ", ".join(sorted(methods)).encode()))
        return resp
    if len(request.query) > runtime.max_body_bytes:
        return problem(413, "Content Too Large", "the query string is over the collector's cap")
    ingest = runtime.ingest
    if ingest is None or runtime.draining:
        return problem(503, "Service Unavailable", "the collector is starting or stopping", 5)
    try:
        return await handler(ingest, request)
    except Exception:
        # a bug must not turn into a 500 the tag never retries, nor lose the reason
        log.exception("hit handler failed")
        ingest.refused(collect.PROTOCOL, "internal_error")
        return problem(503, "Service Unavailable", "internal error; retry later", 5)


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def new_request(method: str, path: str, query: bytes, headers: Iterable[tuple[bytes, bytes]],
                client: tuple[str, int] | None, received: float) -> tuple[RawRequest, int]:
    """A hit request with no body yet, from lower-case header names (ASGI's and uvicorn's
    protocol's), and its declared Content-Length (-1 if none or not a number)."""
    user_agent = ""
    origin: str | None = None
    length = -1
    by_name: dict[bytes, bytes] = {}
    forwarded: list[bytes] = []
    for name, value in headers:
        if name == b"x-forwarded-for":
            forwarded.append(value)
        elif name == b"user-agent":
            user_agent = value.decode("latin-1")
        elif name == b"content-length":
            length = int(value) if value.isdigit() else -1
        elif name == b"origin":
            origin = value.decode("latin-1")
        by_name[name] = value
    request = RawRequest(method=method, path=path, query=query, body=b"", received=received,
                         client_ip=client[0] if client else None, user_agent=user_agent,
                         origin=origin, headers=by_name, forwarded_for=forwarded)
    return request, length


def too_large(limit: int) -> Response:
    return problem(413, "Content Too Large", f"the body is over the collector's {limit}-byte cap")


async def respond(send: Send, response: Response) -> None:
    await send({"type": "http.response.start", "status": response.status,
                "headers": response.raw_headers()})
    await send({"type": "http.response.body", "body": response.body})


class Edge:
    """ASGI app: hit routes here, the rest (and lifespan) to ``fallback``."""

    def __init__(self, runtime: Runtime, fallback: ASGIApp, *, fast_path: bool = True) -> None:
        self.runtime = runtime
        self.fallback = fallback
        self.fast_path = fast_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.fast_path or scope["path"] not in ROUTES:
            await self.fallback(scope, receive, send)
            return
        request, length = new_request(scope["method"], scope["path"], scope["query_string"],
                                      scope["headers"], scope.get("client"), time.time())
        limit = self.runtime.max_body_bytes
        if length > limit:
            await respond(send, too_large(limit))
            return
        if request.method != "GET":
            try:
                request.body = await read_body(receive, limit)
            except BodyTooLarge:
                await respond(send, too_large(limit))
                return
            except ClientGone:
                return
        await respond(send, await dispatch(self.runtime, request))
