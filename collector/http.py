"""Plain request/response values shared by the lean ASGI path and the FastAPI routes."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import orjson

# The 1×1 transparent GIF that Google's /collect answers GET pixels with.
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

NO_CACHE = (
    (b"cache-control", b"no-cache, no-store, must-revalidate"),
    (b"pragma", b"no-cache"),
    (b"expires", b"Fri, 01 Jan 1990 00:00:00 GMT"),
)


@dataclass(slots=True)
class RawRequest:
    method: str
    path: str
    query: bytes
    body: bytes
    received: float  # epoch seconds
    client_ip: str | None  # the peer; never stored or logged as is
    user_agent: str = ""
    origin: str | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)  # lower-case names, last value
    forwarded_for: list[bytes] = field(default_factory=list)  # every X-Forwarded-For field


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: bytes | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        out = list(self.headers)
        if self.content_type is not None:
            out.append((b"content-type", self.content_type))
        out.append((b"content-length", str(len(self.body)).encode()))
        return out


def cors(request: RawRequest, response: Response, granted: bool = True) -> Response:
    """Echo the Origin with credentials, as Google's endpoints do for tags on other hosts;
    not when ``granted`` is False: the property's allowed hostnames do not include the
    Origin's host (``Taken.cors``), so its page may not read the answer. Either way the
    answer varies with the Origin."""
    if request.origin:
        if granted:
            response.headers.append((b"access-control-allow-origin",
                                     request.origin.encode("latin-1")))
            response.headers.append((b"access-control-allow-credentials", b"true"))
        response.headers.append((b"vary", b"Origin"))
    return response


def preflight(request: RawRequest) -> Response:
    response = Response(204, headers=[
        (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
        (b"access-control-allow-headers", b"content-type"),
        (b"access-control-max-age", b"86400"),
    ])
    return cors(request, response)


def problem(status: int, title: str, detail: str, retry_after: int | None = None) -> Response:
    """An RFC 9457 problem body (admin and API errors)."""
    headers = [(b"retry-after", str(retry_after).encode())] if retry_after else []
    return Response(status, orjson.dumps({"type": "about:blank", "title": title, "status": status,
                                          "detail": detail}),
                    b"application/problem+json", headers)
