"""The reference points issue 2 gives for (b)/(a), as apps to run on this benchmark's harness.

The issue calibrates its (b) target with figures measured elsewhere: "raw ASGI + parse_qsl +
a pydantic model reaches 35 %, plain Starlette with no work 41 %, a minimal FastAPI route
23 %". These are those apps, answering the workload's hit routes, so that the same ratios can
be measured here — same requests, same uvicorn settings (uvicorn's own httptools protocol,
as (a)), same layout — and the collector's figures read against them:

- ``starlette``: plain Starlette, each hit route an endpoint that does nothing but answer 204;
- ``fastapi``: a minimal FastAPI route per hit path (GET and POST), answering 204;
- ``qsl_pydantic``: a raw ASGI app that reads the body (POST) or takes the query (GET),
  parses it with ``urllib.parse.parse_qsl`` and validates the pairs into a pydantic model of
  a UA hit's common parameters, then answers 204.

``python -m bench.serve --mode reference --app NAME`` serves one; ``bench/collect_bench.py
--references`` loads each after (a) and prints their shares of (a) beside the collector's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.baseline_app import app as bare
from collector.edge import ROUTES

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
PATHS = sorted(ROUTES)


async def _nothing(_request: Request) -> Response:
    return Response(status_code=204)


# /healthz too: the benchmark waits for it to answer before loading a server
starlette = Starlette(routes=[Route(path, _nothing, methods=["GET", "POST"])
                              for path in [*PATHS, "/healthz"]])

fastapi = FastAPI(openapi_url=None)
for _path in [*PATHS, "/healthz"]:
    fastapi.add_api_route(_path, _nothing, methods=["GET", "POST"], status_code=204,
                          response_class=Response)


class UAHit(BaseModel):
    """A UA hit's common parameters, as a first-cut collector would model them."""

    model_config = ConfigDict(extra="allow")

    v: str
    tid: str
    t: str
    cid: str | None = None
    uid: str | None = None
    dl: str | None = None
    dh: str | None = None
    dp: str | None = None
    dr: str | None = None
    dt: str | None = None
    ul: str | None = None
    sr: str | None = None
    ec: str | None = None
    ea: str | None = None
    el: str | None = None
    ev: int | None = None
    z: str | None = None


async def qsl_pydantic(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http" or scope["path"] not in ROUTES:
        await bare(scope, receive, send)  # the lifespan, and anything else, as the bare app
        return
    payload = scope["query_string"]
    if scope["method"] == "POST":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False) and message["type"] == "http.request"
        payload = b"".join(chunks)
    for line in payload.split(b"\n"):  # /batch: a payload per line
        # an invalid hit is still answered 2xx, as the collector does
        with contextlib.suppress(ValueError):
            UAHit.model_validate(dict(parse_qsl(line.decode("utf-8", "replace"),
                                                keep_blank_values=True)))
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


APPS: dict[str, Any] = {"starlette": starlette, "fastapi": fastapi, "qsl_pydantic": qsl_pydantic}
# what the issue measured for each, elsewhere, as a share of the bare app's throughput
ISSUE_SHARES = {"qsl_pydantic": 0.35, "starlette": 0.41, "fastapi": 0.23}
