"""The bare ASGI app of benchmark (a): every HTTP request gets an empty 204, nothing else.

It reads (and drops) a request body, as the collector does for POSTs, and answers the ASGI
lifespan so that it runs under exactly the collector's uvicorn settings (``lifespan="on"``).
What it measures is uvicorn + httptools + uvloop on one core: the ceiling any ASGI app on
this stack can reach, to which the collector's figures are compared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from collector.collect import _GET_OK, _POST_OK
from collector.edge import ROUTES
from collector.protocol import encode

Message = MutableMapping[str, Any]


async def app(scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Message]],
              send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["method"] != "GET":
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False) and message["type"] == "http.request"
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class FloorProtocol(HttpToolsProtocol):
    """Not a benchmark phase, a reference (``python -m bench.serve --mode floor``): uvicorn's
    protocol answering the collector's hit routes the moment a request is read, with the
    collector's own answer bytes (the GIF to a GET, an empty 200 to a POST, as
    :mod:`collector.protocol` encodes them) and nothing run in between — what reading,
    parsing and writing a hit request cost on this stack, the floor under the collector's
    path. Other routes get :func:`app` as usual. No pipelining: one request at a time per
    connection, as the load generators send them."""

    _canned: bytes | None = None

    def on_headers_complete(self) -> None:
        path = self.url.partition(b"?")[0].decode("latin-1")
        if path in ROUTES:
            answer = _GET_OK if self.parser.get_method() == b"GET" else _POST_OK
            self._canned = encode(answer, self.server_state.default_headers, keep_alive=True,
                                  head=False)
            return
        self._canned = None
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._canned is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._canned is None:
            super().on_message_complete()
            return
        self.transport.write(self._canned)
        self.on_response_complete()
