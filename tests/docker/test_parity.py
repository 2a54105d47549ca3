"""compose.yaml, the ECS task definitions (infra/images.py) and `lambdalytics local` give each
service the same command and environment: the same variable names, and the same values where
they must agree. Every difference is listed here, with its reason (docs/docker.md says the
same), so a new variable in one place and not the others fails until it is decided."""

from __future__ import annotations

import ast
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from archiver.settings import ArchiverSettings
from collector.settings import CollectorSettings
from dashboard.settings import DashboardSettings
from infra import images
from lambdalytics import compose, kinesalite, local
from lambdalytics.resources import resources
from lambdalytics.settings import CommonSettings
from tests.docker import support
from tests.docker.support import ROOT

PREFIX = "lambdalytics"
DEPLOYMENT = images.Deployment(prefix=PREFIX, region="us-east-1",
                               archive_bucket=resources(PREFIX).archive.name,
                               replica_bucket="lambdalytics-replica",
                               athena_workgroup="lambdalytics", athena_database="lambdalytics")
SETTINGS: dict[str, type[BaseSettings]] = {
    "collector": CollectorSettings, "archiver": ArchiverSettings,
    "dashboard": DashboardSettings, "compactor": CommonSettings}
# ECS variables compose leaves out: no emulator runs Athena's SQL (the dashboard reads the
# archive with DuckDB; the compactor has no views to switch)
NOT_IN_COMPOSE = {"dashboard": {"LAMBDALYTICS_ATHENA_WORKGROUP", "LAMBDALYTICS_ATHENA_DATABASE"},
                  "compactor": {"LAMBDALYTICS_ATHENA_WORKGROUP", "LAMBDALYTICS_ATHENA_DATABASE"}}
# compose's own: the emulators' endpoints and dummy credentials, `lambdalytics local`'s
# tunings for an emulator (checked against local.py below), the admin token's secret by name
# (ECS injects its value from the same secret as LAMBDALYTICS_ADMIN_TOKEN)
EMULATOR = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "LAMBDALYTICS_AWS_ENDPOINT_URL",
            "LAMBDALYTICS_AWS_ENDPOINT_URL_KINESIS"}
COMPOSE_ONLY = {"collector": {"LAMBDALYTICS_SINK_MAX_IN_FLIGHT"},
                "archiver": {"LAMBDALYTICS_FLUSH_INTERVAL_S", "LAMBDALYTICS_IDLE_BETWEEN_READS_S",
                             "LAMBDALYTICS_PARENT_POLL_INTERVAL_S",
                             "LAMBDALYTICS_SHARD_SYNC_INTERVAL_S"},
                "dashboard": {"LAMBDALYTICS_ADMIN_TOKEN_SECRET"}, "compactor": set()}
# values that differ on purpose: readable logs, no CloudWatch, no Athena, no replica bucket
DIFFERENT = {"LAMBDALYTICS_LOG_FORMAT": "text", "LAMBDALYTICS_EMF": "0",
             "LAMBDALYTICS_DASHBOARD_ENGINE": "duckdb",
             "LAMBDALYTICS_ARCHIVE_BUCKETS": resources(PREFIX).archive.name}
SERVICES = ("collector", "archiver", "dashboard", "compactor")


@pytest.mark.parametrize("service", SERVICES)
def test_the_command_is_the_ecs_one(service: str) -> None:
    ecs = images.COMMANDS[service]
    if service == "compactor":  # no Athena views to switch locally
        ecs = [a for a in ecs if a != "--athena"]
    assert support.service(service)["command"] == ecs
    assert support.image_of(service) == images.IMAGE_OF[service]


@pytest.mark.parametrize("service", SERVICES)
def test_the_environment_is_the_ecs_one(service: str) -> None:
    ours = support.environment(service)
    ecs = images.environment(service, DEPLOYMENT)
    assert set(ecs) - set(ours) == NOT_IN_COMPOSE.get(service, set())
    assert set(ours) - set(ecs) == EMULATOR | COMPOSE_ONLY[service]
    for name in set(ecs) & set(ours):
        assert ours[name] == DIFFERENT.get(name, ecs[name]), name


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_is_a_setting_and_they_build(service: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cls = SETTINGS[service]
    env = support.environment(service)
    fields = {f"LAMBDALYTICS_{n.upper()}" for n in cls.model_fields}
    assert {n for n in env if n.startswith("LAMBDALYTICS_")} <= fields
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cls()  # the values parse


def test_the_secret_is_infras_and_the_token_comes_from_it() -> None:
    assert compose.admin_token_secret(PREFIX) == f"{PREFIX}/admin-token"
    assert 'name=f"{args.prefix}/admin-token"' in (ROOT / "infra" / "secrets.py").read_text()
    assert support.environment("dashboard")["LAMBDALYTICS_ADMIN_TOKEN_SECRET"] == \
        compose.admin_token_secret(PREFIX)


@pytest.mark.parametrize("service", ["collector", "archiver", "dashboard"])
def test_run_as_ecs_runs_the_task(service: str) -> None:
    svc = support.service(service)
    ecs = images.container_definition(service, "img", {}, memory=2048, log_group="g",
                                      region="us-east-1")
    assert svc["user"] == f"{ecs['user']}:{ecs['user']}"
    assert svc["read_only"] is ecs["readonlyRootFilesystem"] is True
    assert svc["tmpfs"] == [images.SCRATCH] == [m["containerPath"]  # type: ignore[index]
                                                for m in ecs["mountPoints"]]  # type: ignore[attr-defined]
    assert svc["working_dir"] == ecs["workingDirectory"]
    assert svc["cap_drop"] == ecs["linuxParameters"]["capabilities"]["drop"]  # type: ignore[index]
    assert svc["init"] is ecs["linuxParameters"]["initProcessEnabled"]  # type: ignore[index]
    if "stopTimeout" in ecs:
        assert svc["stop_grace_period"] == f"{ecs['stopTimeout']}s"


def _local_keywords(cls: str) -> dict[str, Any]:
    """The constant keyword arguments `lambdalytics local` builds ``cls`` with (local.run)."""
    tree = ast.parse((ROOT / "lambdalytics" / "local.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name) and n.func.id == cls)
    out: dict[str, Any] = {}
    for kw in call.keywords:
        if isinstance(kw.value, ast.Constant):
            out[str(kw.arg)] = kw.value.value
        elif isinstance(kw.value, ast.Name) and kw.value.id.isupper():
            out[str(kw.arg)] = getattr(local, kw.value.id)
    return out


@pytest.mark.parametrize(("service", "cls"), [("archiver", "ArchiverSettings"),
                                              ("collector", "CollectorSettings")])
def test_the_local_stacks_tunings(service: str, cls: str) -> None:
    tunings = _local_keywords(cls)
    assert tunings  # the parse found the call
    env = support.environment(service)
    for name in COMPOSE_ONLY[service]:
        field = name.removeprefix("LAMBDALYTICS_").lower()
        assert float(env[name]) == float(tunings[field]), name
    assert set(tunings) >= {n.removeprefix("LAMBDALYTICS_").lower()
                            for n in COMPOSE_ONLY[service]}


def test_the_local_stacks_stream_property_and_kinesalite() -> None:
    command = support.service("bootstrap")["command"]
    assert command[command.index("--shards") + 1] == str(local.LOCAL_SHARDS)
    assert (compose.DEMO_TRACKING_ID, compose.DEMO_MEASUREMENT_ID, compose.DEMO_PROPERTY) == \
        (local.DEMO_TRACKING_ID, local.DEMO_MEASUREMENT_ID, local.DEMO_PROPERTY)
    dockerfile = support.dockerfile("local").read_text()
    assert f"kinesalite@{kinesalite.VERSION}" in dockerfile
    assert f"--max-old-space-size={kinesalite.HEAP_MB}" in support.service("kinesis")["command"]
    assert f"KINESALITE := {kinesalite.VERSION}" in (ROOT / "Makefile").read_text()
