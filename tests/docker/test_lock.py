"""The lock files (requirements/*.txt, `make lock`): every version pinned with its hashes, the
images' locks subsets of the dev lock at the same versions, each satisfying pyproject.toml's
requirements (so a dependency changed without `make lock` fails here), and installed from."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.docker.support import ROOT, stages

REQ = ROOT / "requirements"
# lock → the pyproject extra it resolves (None: the project's own dependencies)
LOCKS = {"runtime": None, "compile": "compile", "local": "local", "dev": "dev", "build": None}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(?: ;[^\\]*)?\s*\\$", re.M)


def pins(lock: str) -> dict[str, Version]:
    text = (REQ / f"{lock}.txt").read_text()
    found = {canonicalize_name(n): Version(v) for n, v in PIN.findall(text)}
    assert found, lock
    return found


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]  # type: ignore[no-any-return]


def requirements(extra: str | None) -> list[Requirement]:
    project = _pyproject()
    deps = project["dependencies"] if extra is None else \
        project["optional-dependencies"][extra]  # type: ignore[index]
    assert isinstance(deps, list)
    return [r for r in map(Requirement, deps) if canonicalize_name(r.name) != "lambdalytics"]


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_has_hashes_and_says_how_to_remake_it(lock: str) -> None:
    text = (REQ / f"{lock}.txt").read_text()
    assert "#    make lock\n" in text
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for entry in entries:
        if PIN.match(entry):
            assert "--hash=sha256:" in entry, entry.splitlines()[0]


@pytest.mark.parametrize("lock", [k for k in LOCKS if k != "dev"])
def test_the_images_locks_agree_with_the_dev_lock(lock: str) -> None:
    dev = pins("dev")
    for name, version in pins(lock).items():
        assert dev.get(name) == version, f"{lock}.txt {name}=={version}, dev.txt {dev.get(name)}"


@pytest.mark.parametrize(("lock", "extra"), [(k, v) for k, v in LOCKS.items() if k != "build"])
def test_the_lock_satisfies_pyproject(lock: str, extra: str | None) -> None:
    locked = pins(lock)
    wanted = requirements(None) + (requirements(extra) if extra else [])
    if extra == "dev":
        wanted += requirements("local") + requirements("compile")
    for req in wanted:
        if req.marker is not None and not req.marker.evaluate({"python_version": "3.11"}):
            continue
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is not in requirements/{lock}.txt: run `make lock`"
        assert req.specifier.contains(locked[name], prereleases=True), \
            f"requirements/{lock}.txt has {name}=={locked[name]}, pyproject wants {req}: " \
            "run `make lock`"


def test_a_changed_requirement_would_fail() -> None:
    """The check above can fail: a requirement the lock does not satisfy is seen."""
    locked = pins("runtime")
    req = Requirement(f"duckdb>{locked['duckdb']}")
    assert not req.specifier.contains(locked["duckdb"], prereleases=True)


def test_the_build_lock_is_what_the_build_system_needs() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        build = tomllib.load(f)["build-system"]["requires"]
    locked = pins("build")
    for req in map(Requirement, build):
        assert req.specifier.contains(locked[canonicalize_name(req.name)])
    assert "wheel" in locked


def test_setup_and_ci_install_from_the_lock_and_make_lock_remakes_every_file() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements/dev.txt" in makefile
    assert "pip install --quiet --no-deps --no-build-isolation -e ." in makefile
    assert re.search(r"^\$\(VENV\)/\.installed: pyproject\.toml requirements/dev\.txt$",
                     makefile, re.M)
    target = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    for lock in LOCKS:
        assert f"-o requirements/{lock}.txt" in target
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci  # whose `setup` installs the lock


@pytest.mark.parametrize(("image", "lock"), [("collector", "compile"), ("archiver", "build"),
                                             ("dashboard", "build"), ("local", "build")])
def test_each_build_stage_installs_its_build_tools_from_a_lock(image: str, lock: str) -> None:
    build = next(s for s in stages(image) if s.name == "build")
    assert any(f"--require-hashes -r requirements/{lock}.txt" in " ".join(r.split())
               for r in build.all("RUN"))
