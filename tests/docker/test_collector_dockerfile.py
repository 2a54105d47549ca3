"""What can be checked of the collector image without a Docker engine: its settings are real,
the MaxMind key only ever arrives as a build secret, and the command starts the collector."""

from __future__ import annotations

import re
from pathlib import Path

from collector.settings import CollectorSettings

DOCKERFILE = Path(__file__).resolve().parents[2] / "docker" / "collector.Dockerfile"


def _text() -> str:
    return DOCKERFILE.read_text()


def test_every_lambdalytics_variable_is_a_collector_setting() -> None:
    names = re.findall(r"\bLAMBDALYTICS_([A-Z0-9_]+)=", _text())
    assert names
    fields = {name.upper() for name in CollectorSettings.model_fields}
    assert set(names) <= fields
    # and they parse: the image's environment builds a valid settings object
    values = dict(re.findall(r"\bLAMBDALYTICS_([A-Z0-9_]+)=(\S+)", _text()))
    CollectorSettings(**{k.lower(): v for k, v in values.items()})


def test_the_licence_key_is_a_build_secret_never_an_argument() -> None:
    text = _text()
    assert "--mount=type=secret,id=maxmind_license_key" in text
    assert not re.search(r"^\s*ARG\b", text, re.M)
    assert "license_key@/run/secrets/maxmind_license_key" in text  # read from the file only


def test_runs_unprivileged_and_starts_the_collector() -> None:
    text = _text()
    assert re.search(r"^USER lambdalytics$", text, re.M)
    assert 'CMD ["python", "-m", "collector"]' in text
