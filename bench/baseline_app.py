"""The bare ASGI app of benchmark (a): every HTTP request gets an empty 204, nothing else.

It reads (and drops) a request body, as the collector does for POSTs, and answers the ASGI
lifespan so that it runs under exactly the collector's uvicorn settings (``lifespan="on"``).
What it measures is uvicorn + httptools + uvloop on one core: the ceiling any ASGI app on
this stack can reach, to which the collector's figures are compared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

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
