"""compose.yaml: valid for Debian's docker-compose 1.29 (`docker-compose config`, the check
there is without an engine), the services `lambdalytics local` runs, on its ports, started and
stopped in an order that loses nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lambdalytics import cli
from tests.docker import support
from tests.docker.support import COMPOSE, ROOT


def _compose_config(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: .ci/run installs Debian's "
                    "(apt-get install --no-install-recommends docker-compose)")
    return subprocess.run([exe, "-f", str(path), "--project-directory", str(ROOT),
                           "--profile", "demo", "--profile", "tools", "config", *args],
                          capture_output=True, text=True, check=False, timeout=60)


def test_ci_installs_docker_compose_without_an_engine() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -qq --no-install-recommends docker-compose" in ci


def test_docker_compose_accepts_it() -> None:
    out = _compose_config(COMPOSE, "--services")
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == set(support.compose()["services"])


def test_docker_compose_rejects_what_its_schema_does_not_know(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    # a key of the services' shared block (x-task), merged into each service
    bad.write_text(COMPOSE.read_text().replace("  init: true\n", "  init: true\n  no_such_key: 1\n", 1))
    out = _compose_config(bad, "-q")
    assert out.returncode != 0
    assert "no_such_key" in out.stderr


def test_the_services_of_lambdalytics_local_on_its_ports() -> None:
    services = support.compose()["services"]
    assert {"aws", "kinesis", "bootstrap", "collector", "archiver", "dashboard",
            "welcome", "demo", "compactor"} <= set(services)
    local = {a.dest: a.default for a in next(
        a for a in cli.parser()._subparsers._group_actions  # type: ignore[union-attr]
    ).choices["local"]._actions}
    assert services["collector"]["ports"] == [f"127.0.0.1:{local['port']}:8080"]
    assert services["dashboard"]["ports"] == [f"127.0.0.1:{local['dashboard_port']}:8081"]
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: published on loopback only"
    assert services["demo"]["profiles"] == ["demo"]
    assert services["compactor"]["profiles"] == ["tools"]
    assert "profiles" not in services["welcome"]  # `docker compose up` says where to look


def test_start_and_stop_order() -> None:
    services = support.compose()["services"]
    for name in ("collector", "archiver", "dashboard", "compactor"):
        assert services[name]["depends_on"]["bootstrap"] == {
            "condition": "service_completed_successfully"}
    assert services["bootstrap"]["depends_on"] == {"aws": {"condition": "service_healthy"},
                                                   "kinesis": {"condition": "service_healthy"}}
    # compose stops dependants first: the collector drains into the stream, then the
    # archiver reads, flushes and checkpoints
    assert "archiver" in services["collector"]["depends_on"]
    assert set(services["welcome"]["depends_on"]) == {"collector", "dashboard"}
    for name in ("aws", "kinesis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"


def test_images_are_built_from_docker_and_hold_no_secret() -> None:
    services = support.compose()["services"]
    for name, svc in services.items():
        image = support.image_of(name)
        assert support.dockerfile(image).exists(), name
        if "build" in svc:
            assert svc["build"]["context"] == "."
            assert svc["image"] == f"lambdalytics/{image}:dev"
    text = COMPOSE.read_text()
    assert "AWS_SECRET_ACCESS_KEY: local" in text  # the emulators' dummy credentials only
    assert "ADMIN_TOKEN:" not in text
    assert "API_SECRET" not in text
