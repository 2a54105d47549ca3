"""What can be checked of the collector image without a Docker engine: its settings are real,
the MaxMind key only ever arrives as a build secret, and the command starts the collector."""

from __future__ import annotations

import re
from pathlib import Path

from collector.settings import CollectorSettings

DOCKERFILE = Path(__file__).resolve().parents[2] / "docker" / "collector.Dockerfile"


def _text() -> str:
    return DOCKERFILE.read_text()


def _settings_text() -> str:
    """The Dockerfile less the build's own option (setup.py's LAMBDALYTICS_COMPILE)."""
    return _text().replace("LAMBDALYTICS_COMPILE=1 pip wheel", "pip wheel")


def test_every_lambdalytics_variable_is_a_collector_setting() -> None:
    names = re.findall(r"\bLAMBDALYTICS_([A-Z0-9_]+)=", _settings_text())
    assert names
    fields = {name.upper() for name in CollectorSettings.model_fields}
    assert set(names) <= fields
    # and they parse: the image's environment builds a valid settings object
    values = dict(re.findall(r"\bLAMBDALYTICS_([A-Z0-9_]+)=(\S+)", _settings_text()))
    CollectorSettings(**{k.lower(): v for k, v in values.items()})


def test_the_licence_key_is_a_build_secret_never_an_argument() -> None:
    text = _text()
    assert "--mount=type=secret,id=maxmind_license_key" in text
    assert not re.search(r"^\s*ARG\b", text, re.M)
    assert "license_key@/run/secrets/maxmind_license_key" in text  # read from the file only


def test_runs_unprivileged_and_starts_the_collector() -> None:
    text = _text()
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert 'CMD ["python", "-m", "collector"]' in text


def test_the_image_gets_the_compiled_build_and_no_compiler() -> None:
    text = _text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    build = next(s for s in stages if " AS build" in s.splitlines()[0])
    final = stages[-1]
    assert "LAMBDALYTICS_COMPILE=1 pip wheel --no-cache-dir --no-build-isolation" in build
    assert "COPY pyproject.toml setup.py" in build  # setup.py holds the compile option
    assert "gcc" in build
    assert "gcc" not in final
    assert "mypy" not in final
    assert "COPY --from=build /opt/venv /opt/venv" in final
    assert "-r requirements/compile.txt" in build  # the compiler's side, from the lock
