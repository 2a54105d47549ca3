"""The first-party tracker: ``GET /lt.js`` serves collector/static/lt.js, for sites that send
GA4 hits to ``/g/collect`` without loading Google's script.

What is served is the source less its full-line comments, blank lines and indentation
(:func:`served_text`), identity or gzip as Accept-Encoding allows, each with its own strong
ETag; cacheable for an hour by anyone, loadable from any origin. :func:`build` is the pure
core, :data:`router` the one piece app.py includes.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

PATH = "/lt.js"
SOURCE = "static/lt.js"  # inside the collector package (package-data static/*.js)
CONTENT_TYPE = "application/javascript; charset=utf-8"
CACHE_CONTROL = "public, max-age=3600"


@dataclass(frozen=True, slots=True)
class Representation:
    body: bytes
    etag: str  # strong: a quoted digest of ``body``
    headers: tuple[tuple[str, str], ...]  # what a 200 and a 304 both carry

    def response_headers(self) -> dict[str, str]:
        return dict(self.headers)


@dataclass(frozen=True, slots=True)
class Script:
    """The served script: ``plain`` is its bytes; ``gzipped`` the same, gzip level 9."""

    plain: Representation
    gzipped: Representation

    def pick(self, accept_encoding: str | None) -> Representation:
        return self.gzipped if accepts_gzip(accept_encoding) else self.plain


def served_text(source: str) -> str:
    """``source`` without indentation, blank lines, lines that start with ``//``, and block
    comments that start a line, up to the line that ends with their ``*/``.

    No tokenizer is needed for that: outside a string, a line that starts with ``//`` or
    ``/*`` is a comment (no regular expression is empty or starts with ``*``), and the
    whitespace that starts a line means nothing. Only a string spanning lines could make
    either untrue, so code with a template literal or a line continuation is refused, as is
    code after a block comment's ``*/`` on the same line."""
    out: list[str] = []
    in_block = False
    for number, line in enumerate(source.splitlines(), 1):
        text = line.strip()
        if not in_block and text.startswith("/*"):
            in_block = True
            text = text[2:]
        if in_block:
            if "*/" in text:
                if not text.endswith("*/") or text.count("*/") > 1:
                    raise ValueError(f"line {number}: code after a block comment")
                in_block = False
            continue
        if text and not text.startswith("//"):
            # the first line of a string spanning lines is code, kept: refused here
            if "`" in line or line.endswith("\\"):
                raise ValueError(f"line {number}: a string may span lines (template literal "
                                 "or line continuation)")
            out.append(text)
    if in_block:
        raise ValueError("a block comment that never ends")
    return "\n".join(out) + "\n"


def build(source: str) -> Script:
    """The served script from lt.js's source: a pure function of it."""
    plain = served_text(source).encode()
    return Script(_representation(plain, None), _representation(gzip.compress(plain, 9, mtime=0), "gzip"))


def _representation(body: bytes, encoding: str | None) -> Representation:
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = [
        ("content-type", CONTENT_TYPE),
        ("cache-control", CACHE_CONTROL),
        ("etag", etag),
        ("vary", "Accept-Encoding"),
        ("access-control-allow-origin", "*"),
        ("cross-origin-resource-policy", "cross-origin"),  # for pages that require CORP
        ("x-content-type-options", "nosniff"),
    ]
    if encoding:
        headers.append(("content-encoding", encoding))
    return Representation(body, etag, tuple(headers))


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding field value allows gzip (``gzip``, ``x-gzip`` or ``*``
    with a q-value other than 0; an explicit gzip entry wins over ``*``)."""
    wildcard = False
    for item in (accept_encoding or "").split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            wildcard = q > 0
    return wildcard


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: If-None-Match is ``*`` or a list of entity tags, compared weakly
    (``W/"x"`` matches ``"x"``)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


@cache
def served() -> Script:
    """lt.js as packaged, built once per process on its first request."""
    return build(resources.files("collector").joinpath(SOURCE).read_text(encoding="utf-8"))


router = APIRouter(tags=["tracker"])


@router.head(PATH, include_in_schema=False)
@router.get(PATH, response_class=Response, operation_id="get_lt_js",
            summary="The first-party tracker (GA4 hits to /g/collect)",
            responses={200: {"content": {"application/javascript": {}}},
                       304: {"description": "If-None-Match matched the ETag"}})
async def lt_js(request: Request) -> Response:
    rep = served().pick(request.headers.get("accept-encoding"))
    if not_modified(request.headers.get("if-none-match"), rep.etag):
        headers = rep.response_headers()
        del headers["content-type"]
        headers.pop("content-encoding", None)
        return Response(status_code=304, headers=headers)
    return Response(rep.body, headers=rep.response_headers())
