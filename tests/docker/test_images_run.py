"""Each image's environment, built as its Dockerfile builds it but without Docker, running each
compose service's command with its compose environment against the emulators on loopback.

One virtualenv, made as the images make /opt/venv (``--without-pip``, then
``pip --python … install --require-hashes -r requirements/runtime.txt``), is shared by every
image (their runtime lock is the same); each image's own wheel — built from exactly the paths
its build stage COPYs — is installed apart (``--target``), so a service sees only the
packages its image has. Then, with nothing of the machine's environment but PATH and HOME:
the compose command of the aws service (moto server, host and port moved to loopback), the
bootstrap, the archiver, the collector and the dashboard, the welcome banner, the images'
health checks and the compactor; a hit sent to the collector reaches S3 through the archiver,
and the dashboard answers /v1/me with the token the bootstrap made. What this does not do: the
collector's compiled build (``make test-compiled`` runs the collector's tests over it), the
emulators' own containers (kinesalite runs from the same npm package, on loopback), and the
local image's extras (moto, mmdb-writer: the demo is not run here).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from lambdalytics import kinesalite
from tests.docker import support
from tests.docker.support import ROOT

pytestmark = pytest.mark.slow

PIP = [sys.executable, "-m", "pip"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ok(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{url}: the process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout:.0f} s")


def _copy(src: Path, into: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, into, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    else:
        into.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, into)


def _image_source(image: str, dest: Path) -> Path:
    """The build context the image's build stage sees (WORKDIR /src), from its COPY lines."""
    build = next(s for s in support.stages(image) if s.name == "build")
    for sources, target in support.copies(build):
        for src in sources:
            if len(sources) > 1 or target.endswith("/"):
                _copy(ROOT / src, dest / target / Path(src).name)
            else:
                _copy(ROOT / src, dest / target)
    if image == "dashboard":  # the static stage: checked, then over the copied assets
        subprocess.run([sys.executable, str(ROOT / "docker" / "check_static.py"),
                        str(dest / "dashboard" / "static")], check=True, capture_output=True)
    return dest


@dataclass
class Built:
    venv: Path
    targets: dict[str, Path]
    scratch: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("images")
    started = time.perf_counter()
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([*PIP, "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--require-hashes", "-r", str(ROOT / "requirements" / "runtime.txt")],
                   check=True)
    installed = time.perf_counter()
    targets = {}
    for image in support.IMAGES:
        src = _image_source(image, root / "src" / image)
        wheels = root / "wheels" / image
        out = subprocess.run([*PIP, "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                              "-w", str(wheels), str(src)], cwd=src, capture_output=True,
                             text=True, check=False)
        assert out.returncode == 0, out.stderr
        (wheel,) = wheels.glob("lambdalytics-*.whl")
        targets[image] = root / "site" / image
        subprocess.run([*PIP, "--python", str(venv / "bin" / "python"), "install", "--quiet",
                        "--no-deps", "--target", str(targets[image]), str(wheel)], check=True)
    print(f"\nimages' environment: venv from the lock {installed - started:.1f} s, "
          f"four wheels {time.perf_counter() - installed:.1f} s")
    scratch = root / "tmp"
    scratch.mkdir()
    return Built(venv, targets, scratch)


@dataclass
class Emulators:
    aws: str
    kinesis: str


@pytest.fixture(scope="module")
def emulators(built: Built) -> Iterator[Emulators]:
    """compose's aws service (its command, on loopback) and kinesalite from the same package."""
    port = _free_port()
    command = support.service("aws")["command"]
    command = [c.replace("0.0.0.0", "127.0.0.1").replace("5000", str(port))  # noqa: S104
               for c in command]
    moto = subprocess.Popen([str(Path(sys.executable).with_name(command[0])), *command[1:]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stream = kinesalite.start()
    try:
        code = support.service("aws")["healthcheck"]["test"][-1].replace("5000", str(port))
        deadline = time.monotonic() + 30
        while subprocess.run([sys.executable, "-c", code], capture_output=True,
                             check=False).returncode != 0:
            assert time.monotonic() < deadline, "moto server did not answer"
            time.sleep(0.2)
        yield Emulators(f"http://127.0.0.1:{port}", stream.url)
    finally:
        moto.terminate()
        moto.wait(10)
        stream.stop()


def _env(built: Built, image: str, service: str, emu: Emulators,
         **override: str) -> dict[str, str]:
    env = support.environment(service)
    env |= {"LAMBDALYTICS_AWS_ENDPOINT_URL": emu.aws,
            "LAMBDALYTICS_AWS_ENDPOINT_URL_KINESIS": emu.kinesis}
    env |= override
    target = built.targets[image]
    env |= {"PATH": f"{target / 'bin'}:{built.venv / 'bin'}:/usr/bin:/bin",
            "PYTHONPATH": str(target), "HOME": str(built.scratch),
            "TMPDIR": str(built.scratch), "PYTHONDONTWRITEBYTECODE": "1"}
    return env


def _command(service: str) -> list[str]:
    return [str(c) for c in support.service(service)["command"]]


def test_the_services_run_from_their_images_environment(built: Built,
                                                        emulators: Emulators) -> None:
    cport, dport = _free_port(), _free_port()
    run = {"cwd": built.scratch, "capture_output": True, "text": True, "timeout": 120}
    boot = subprocess.run(_command("bootstrap"), env=_env(built, "local", "bootstrap", emulators),
                          check=False, **run)  # type: ignore[call-overload]
    assert boot.returncode == 0, boot.stderr
    assert "demo property pdemo" in boot.stdout
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for service, override in (
                ("archiver", {}),
                ("collector", {"LAMBDALYTICS_HOST": "127.0.0.1", "LAMBDALYTICS_PORT": str(cport)}),
                ("dashboard", {"LAMBDALYTICS_ADMIN_HOST": "127.0.0.1",
                               "LAMBDALYTICS_ADMIN_PORT": str(dport)})):
            procs[service] = subprocess.Popen(
                _command(service), cwd=built.scratch, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=_env(built, support.image_of(service), service, emulators, **override))
        collector, dashboard = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{dport}"
        _wait_ok(f"{collector}/readyz", proc=procs["collector"])
        _wait_ok(f"{dashboard}/healthz", proc=procs["dashboard"])
        # the images' own health checks, as Docker runs them in the container
        for image, port, url_port in (("collector", cport, "8080"), ("dashboard", dport, "8081")):
            check = support.healthcheck(image) or []
            code = [c.replace(url_port, str(port)) for c in check]
            assert subprocess.run(code, env=_env(built, image, image, emulators),
                                  check=False).returncode == 0, image
        archiver_check = support.healthcheck("archiver") or []
        assert subprocess.run([archiver_check[0], str(ROOT / "docker" / "process_health.py"),
                               *archiver_check[2:]], env=_env(built, "archiver", "archiver",
                                                              emulators),
                              check=False).returncode == 0

        welcome = _command("welcome")
        welcome = [c.replace("http://collector:8080", collector)
                   .replace("http://dashboard:8081", dashboard) for c in welcome]
        out = subprocess.run(welcome, env=_env(built, "local", "welcome", emulators),
                             check=False, **run)  # type: ignore[call-overload]
        assert out.returncode == 0, out.stderr
        token = re.search(r"#token=(\S+)", out.stdout)
        assert token, out.stdout
        req = urllib.request.Request(f"{dashboard}/v1/me",  # noqa: S310
                                     headers={"Authorization": f"Bearer {token[1]}"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            assert resp.status == 200

        hit = f"{collector}/collect?v=1&tid=UA-100000-1&cid=555.1&t=pageview&dp=%2Fimages"
        with urllib.request.urlopen(hit, timeout=10) as resp:  # noqa: S310
            assert resp.status == 200
        s3 = boto3.client("s3", endpoint_url=emulators.aws, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
        bucket = support.environment("archiver")["LAMBDALYTICS_ARCHIVE_BUCKET"]
        deadline = time.monotonic() + 60
        keys: list[str] = []
        while not keys:
            assert procs["archiver"].poll() is None, procs["archiver"].stderr
            assert time.monotonic() < deadline, "no hit reached S3 within 60 s"
            time.sleep(0.5)
            listing = s3.list_objects_v2(Bucket=bucket, Prefix="hits/property=pdemo/")
            keys = [o["Key"] for o in listing.get("Contents", [])]
        assert keys[0].endswith(".json.gz")

        compact = subprocess.run(_command("compactor"),
                                 env=_env(built, "archiver", "compactor", emulators),
                                 check=False, **run)  # type: ignore[call-overload]
        assert compact.returncode == 0, compact.stderr
        assert "days compacted" in compact.stdout
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes, logs = {}, {}
        for name, proc in procs.items():
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            codes[name], logs[name] = proc.returncode, err.decode(errors="replace")
    # SIGTERM is a clean stop: the archiver exits 0; uvicorn finishes its shutdown, then
    # re-raises the signal (so Docker shows 143, as for any process that SIGTERM ended)
    assert codes == {"archiver": 0, "collector": -signal.SIGTERM,
                     "dashboard": -signal.SIGTERM}, logs
    for name in ("collector", "dashboard"):
        assert "Application shutdown complete" in logs[name], logs[name][-2000:]


def test_the_archiver_image_has_no_collector_and_the_collector_image_no_archiver(
        built: Built) -> None:
    for image, absent in (("collector", ("archiver", "dashboard")),
                          ("archiver", ("collector",)), ("dashboard", ("collector",))):
        present = {p.name for p in built.targets[image].iterdir()}
        assert not present & set(absent), image
    assert os.path.isfile(built.targets["dashboard"] / "dashboard" / "static" / "index.html")
