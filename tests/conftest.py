from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from moto.server import ThreadedMotoServer

from collector.settings import CollectorSettings
from lambdalytics.compiled import BUILT_MODULES, compiled_modules
from tests.support import isolate_aws_env

if TYPE_CHECKING:
    from tests.archiver.harness import ArchiverProcess, Stack

Spawn = Callable[..., "ArchiverProcess"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """The tests run over the build they were asked for: the sources (the default), or with
    LAMBDALYTICS_EXPECT_COMPILED=1 (``make test-compiled``) every hot module compiled and every
    native module built. A compiled module left in a source tree would be imported in place of
    its edited source."""
    compiled = compiled_modules()
    if os.environ.get("LAMBDALYTICS_EXPECT_COMPILED") == "1":
        missing = sorted(set(BUILT_MODULES) - set(compiled))
        if missing:
            pytest.exit(f"LAMBDALYTICS_EXPECT_COMPILED=1, but these run from source: {missing}",
                        returncode=4)
    elif compiled:
        pytest.exit(f"compiled modules shadow their sources in this tree: {compiled}; delete "
                    "them (git clean -fdX collector lambdalytics) or build with `make compiled`, "
                    "which compiles a copy in .cache/compiled", returncode=4)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real account, endpoint or setting leaks in from the machine running the tests."""
    isolate_aws_env(monkeypatch)


@pytest.fixture
def prefix() -> str:
    return "t" + secrets.token_hex(5)


@pytest.fixture
def settings(moto_url: str, prefix: str) -> CollectorSettings:
    return CollectorSettings(
        resource_prefix=prefix,
        aws_endpoint_url=moto_url,
        aws_region="us-east-1",
        sink_max_in_flight=1,  # moto loses records under concurrent PutRecords
        sink_linger_ms=5,
        log_format="text",
    )


@pytest.fixture(scope="session")
def kinesis_mock_url() -> Iterator[str]:
    """kinesis-mock (npm kinesis-local, installed by `make setup`) on a loopback port, for
    resharding and no-loss tests; missing, it fails with a message naming `make setup`."""
    from tests import kinesis_mock

    with kinesis_mock.running() as mock:
        yield mock.url


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start archiver subprocesses (tests/archiver/harness.py); whatever is still running at
    the end of the test is killed."""
    from tests.archiver.harness import ArchiverProcess

    procs: list[ArchiverProcess] = []

    def start(stack: Stack, name: str, **settings: object) -> ArchiverProcess:
        proc = ArchiverProcess(stack, tmp_path, name, **settings)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
