"""Reading the Dockerfiles and compose.yaml the way Docker would, for tests that have no engine:
stages, instructions (continuation lines joined), COPY sources, JSON-form commands, and the
compose services with their YAML anchors resolved."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = ROOT / "compose.yaml"
# the images infra/ builds, and compose's local-only one
SERVICE_IMAGES = ("collector", "archiver", "dashboard")
IMAGES = (*SERVICE_IMAGES, "local")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, rest)

    def all(self, op: str) -> list[str]:
        return [rest for ins, rest in self.instructions if ins == op]


def dockerfile(image: str) -> Path:
    return DOCKER / f"{image}.Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        op, _, rest = buf.partition(" ")
        out.append((op.upper(), rest.strip()))
        buf = ""
    return out


def stages(image: str) -> list[Stage]:
    found: list[Stage] = []
    for op, rest in instructions(dockerfile(image).read_text()):
        if op == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            assert m, rest
            found.append(Stage(m[1], m[2]))
        else:
            found[-1].instructions.append((op, rest))
    return found


def json_form(rest: str) -> list[str]:
    """A CMD/HEALTHCHECK CMD in exec (JSON) form."""
    value = json.loads(rest)
    assert isinstance(value, list)
    assert all(isinstance(v, str) for v in value)
    return value


def healthcheck(image: str) -> list[str] | None:
    final = stages(image)[-1]
    (rest,) = final.all("HEALTHCHECK")
    if rest == "NONE":
        return None
    return json_form(rest[rest.index("CMD ") + 4:])


def cmd(image: str) -> list[str]:
    (rest,) = stages(image)[-1].all("CMD")
    return json_form(rest)


def copies(stage: Stage) -> list[tuple[list[str], str]]:
    """The stage's COPY instructions from the build context: (sources, destination)."""
    out = []
    for rest in stage.all("COPY"):
        parts = rest.split()
        if any(p.startswith("--from=") for p in parts):
            continue
        parts = [p for p in parts if not p.startswith("--")]
        out.append((parts[:-1], parts[-1]))
    return out


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    svc = compose()["services"][name]
    assert isinstance(svc, dict)
    return svc


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: "" if v is None else str(v) for k, v in env.items()}


def image_of(name: str) -> str:
    """Which docker/<image>.Dockerfile a compose service runs."""
    svc = service(name)
    return Path(svc["build"]["dockerfile"]).name.removesuffix(".Dockerfile") if "build" in svc \
        else str(svc["image"]).split("/")[-1].split(":")[0]
