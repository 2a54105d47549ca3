"""bench.serve's options become the collector settings the benchmark claims to run."""

from __future__ import annotations

import pytest

from bench import serve

KINESIS = ["--mode", "kinesis", "--port", "8080", "--endpoint", "http://127.0.0.1:5000"]


@pytest.mark.parametrize(("flag", "expected"), [([], True), (["--kinesis-thread", "on"], True),
                                                (["--kinesis-thread", "off"], False)])
def test_kinesis_mode_sets_the_kinesis_thread(flag: list[str], expected: bool) -> None:
    settings = serve.settings_for(serve.parse_args([*KINESIS, *flag]))
    assert settings.kinesis_thread is expected
    assert settings.sink_max_in_flight == 1  # moto loses records under concurrent puts
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000"
