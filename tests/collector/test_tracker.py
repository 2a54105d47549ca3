"""The tracker as the collector serves it: the bytes (what lt.js becomes, its size, what it
must not contain), and GET /lt.js over HTTP (headers, ETag and 304, gzip), on a loopback
server with only the tracker's router (tests/e2e/test_tracker_browser.py runs the script)."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from collector import tracker
from tests.support import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
GZIP_BUDGET = 2048  # bytes of the served script at gzip level 9


def source() -> str:
    return resources.files("collector").joinpath(tracker.SOURCE).read_text(encoding="utf-8")


def served() -> str:
    return tracker.served().plain.body.decode()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    app = FastAPI()
    app.include_router(tracker.router)
    cfg = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    base, server, thread = serve_in_thread(cfg, "tracker")
    yield base
    server.should_exit = True
    thread.join(timeout=30)


# -- the bytes ---------------------------------------------------------------------------------


def test_served_is_the_source_less_comments_blank_lines_and_indentation() -> None:
    code = [line.strip() for line in source().splitlines()]
    text = served()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert all(line and line == line.strip() for line in lines)
    assert not [line for line in lines if line.startswith(("//", "/*", "*"))]
    # every served line is a source line, in order; what is left out is comments and blanks
    at = 0
    for line in lines:
        at = code.index(line, at) + 1
    assert "'/g/collect?v=2&tid='" in text
    assert "lambdalytics.q" not in text  # the snippet is documented in a comment only
    assert "lambdalytics.q = lambdalytics.q || []" in source()


def test_served_gzipped_is_under_2_kb() -> None:
    body = tracker.served().plain.body
    size = len(gzip.compress(body, 9))
    assert size < GZIP_BUDGET, f"lt.js is {size} bytes gzipped (level 9), over {GZIP_BUDGET}"


def test_no_eval_document_write_or_string_code() -> None:
    text = served()
    assert not re.search(r"\beval\b", text)
    assert "document.write" not in text
    assert "new Function" not in text
    assert not re.search(r"setTimeout\(\s*['\"]", text)


def test_only_es2017_syntax() -> None:
    """What later editions added and an ES2017 browser cannot parse: optional chaining,
    nullish coalescing, optional catch binding, object spread, class fields, logical
    assignment. (``...`` in calls and parameters is ES2015.)"""
    text = served()
    later = {"optional chaining": r"\?\.(?!\d)", "nullish coalescing": r"\?\?",
             "optional catch binding": r"catch\s*\{", "object spread": r"\{\s*\.\.\.",
             "private field": r"#[A-Za-z_]", "logical assignment": r"(\|\||&&)="}
    found = {name for name, pattern in later.items() if re.search(pattern, text)}
    assert not found


def test_node_parses_what_is_served(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: `make setup` and .ci/run install it (Debian nodejs)")
    script = tmp_path / "lt.js"
    script.write_bytes(tracker.served().plain.body)
    run = subprocess.run([node, "--check", str(script)], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stderr


def test_build_is_pure_and_the_etags_are_strong_digests() -> None:
    a, b = tracker.build(source()), tracker.build(source())
    assert a == b
    assert a.plain.body == tracker.served_text(source()).encode()
    assert gzip.decompress(a.gzipped.body) == a.plain.body
    for rep in (a.plain, a.gzipped):
        assert re.fullmatch(r'"[0-9a-f]{32}"', rep.etag)
    assert a.plain.etag != a.gzipped.etag
    assert tracker.build(source() + "\n;\n").plain.etag != a.plain.etag


def test_packaged_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "static/*.js" in config["tool"]["setuptools"]["package-data"]["collector"]


@pytest.mark.parametrize(("text", "kept"), [
    ("a();\n// note\n  b();\n\n", "a();\nb();\n"),
    ("/* one line */\na();\n", "a();\n"),
    ("/*\n * block\n */\na();\n  /** doc\n   */\nb(); // trailing stays\n", "a();\nb(); // trailing stays\n"),
    ("x = '/* not a comment */';\n", "x = '/* not a comment */';\n"),
])
def test_served_text_drops_only_whole_comment_lines(text: str, kept: str) -> None:
    assert tracker.served_text(text) == kept


@pytest.mark.parametrize("text", [
    "x = `a\n// b`;\n",  # a template literal: its lines are not code
    "x = 'a\\\n// b';\n",  # a line continuation
    "/* c */ a();\n",  # code after a block comment
    "/* never\nends\n",
])
def test_served_text_refuses_what_it_cannot_strip_safely(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        tracker.served_text(text)


@pytest.mark.parametrize(("header", "gzip_ok"), [
    (None, False), ("", False), ("identity", False), ("gzip", True), ("x-gzip", True),
    ("GZIP", True), ("br, gzip;q=0.5", True), ("gzip;q=0", False), ("gzip; q=0.0", False),
    ("*", True), ("*;q=0", False), ("gzip;q=0, *", False), ("deflate, br", False),
    ("gzip;q=junk", False),
])
def test_accepts_gzip(header: str | None, gzip_ok: bool) -> None:
    assert tracker.accepts_gzip(header) is gzip_ok


@pytest.mark.parametrize(("header", "match"), [
    (None, False), ("", False), ('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True),
    ("*", True), ('"abcd"', False), ("abc", False),
])
def test_not_modified(header: str | None, match: bool) -> None:
    assert tracker.not_modified(header, '"abc"') is match


# -- over HTTP ---------------------------------------------------------------------------------


def test_get_serves_the_script_with_its_headers(url: str) -> None:
    r = httpx.get(f"{url}/lt.js", headers={"accept-encoding": "identity"})
    assert r.status_code == 200
    assert r.content == tracker.served().plain.body
    assert r.headers["content-type"] == "application/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=3600"
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["etag"] == tracker.served().plain.etag
    assert r.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in r.headers
    assert int(r.headers["content-length"]) == len(r.content)


def test_gzip_when_accepted(url: str) -> None:
    r = httpx.get(f"{url}/lt.js", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == tracker.served().plain.body  # httpx decodes it
    assert r.headers["etag"] == tracker.served().gzipped.etag
    assert int(r.headers["content-length"]) < GZIP_BUDGET


def test_if_none_match_is_304_with_the_validators_and_no_body(url: str) -> None:
    with httpx.Client(headers={"accept-encoding": "identity"}) as http:
        etag = http.get(f"{url}/lt.js").headers["etag"]
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            r = http.get(f"{url}/lt.js", headers={"if-none-match": header})
            assert r.status_code == 304, header
            assert r.content == b""
            assert r.headers["etag"] == etag
            assert r.headers["cache-control"] == "public, max-age=3600"
            assert "content-type" not in r.headers
        assert http.get(f"{url}/lt.js", headers={"if-none-match": '"stale"'}).status_code == 200
        # the gzip representation has its own tag: the identity one does not validate it
        gz = {"accept-encoding": "gzip"}
        assert http.get(f"{url}/lt.js", headers={**gz, "if-none-match": etag}).status_code == 200
        r = http.get(f"{url}/lt.js", headers={**gz, "if-none-match": tracker.served().gzipped.etag})
        assert r.status_code == 304


def test_head_has_the_headers_and_no_body(url: str) -> None:
    r = httpx.head(f"{url}/lt.js", headers={"accept-encoding": "identity"})
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["etag"] == tracker.served().plain.etag
