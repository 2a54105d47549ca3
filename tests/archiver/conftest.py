from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.archiver.harness import ArchiverProcess, Stack

Spawn = Callable[..., ArchiverProcess]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start archiver subprocesses; whatever is still running at the end is killed."""
    procs: list[ArchiverProcess] = []

    def start(stack: Stack, name: str, **settings: object) -> ArchiverProcess:
        proc = ArchiverProcess(stack, tmp_path, name, **settings)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
