"""Hypothesis on every parser of hostile input (tests/hostile/targets.py), briefly: nothing
raises. ``python -m bench.fuzz parsers`` runs the same targets at volume."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.targets import TARGETS

EXAMPLES = 300


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_parser_never_raises(name: str) -> None:
    target = TARGETS[name]

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        target(data)

    run()
