from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.security.no_raw_ip import LogLines


@pytest.fixture
def captured() -> Iterator[LogLines]:
    """Every log record of this process at DEBUG (the collector's and the dashboard's), in
    both the JSON and the text format."""
    handler = LogLines("in-process")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
