"""Pulumi's own unit-test mocks (``pulumi.runtime.set_mocks``: no CLI, no engine, no AWS), with
every resource the program registers recorded: its type token, name, inputs (as the engine
would receive them, camelCase) and parent. Provider functions (``aws.get_*``) answer from a
small table of what an account in ``us-east-1`` would say; a function without an answer fails
the run, so a new lookup has to be given one here on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

ACCOUNT = "123456789012"
REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")

CALLS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda _a: {
        "names": list(ZONES), "zoneIds": [f"use1-az{i + 1}" for i in range(len(ZONES))]},
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _a: {
        "accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "userId": ACCOUNT},
    "aws:index/getRegion:getRegion": lambda a: {"name": a.get("region") or REGION,
                                                "region": a.get("region") or REGION},
    "aws:index/getPartition:getPartition": lambda _a: {"partition": "aws",
                                                       "dnsSuffix": "amazonaws.com"},
    # infra.images: pushing a built image to the stack's ECR repository
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": lambda a: {
        "authorizationToken": "QVdTOm1vY2s=", "expiresAt": "2099-01-01T00:00:00Z",
        "id": a.get("registryId") or ACCOUNT, "password": "mock", "userName": "AWS",
        "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"},
}


@dataclass(frozen=True)
class Recorded:
    type: str  # e.g. "aws:s3/bucket:Bucket"
    name: str
    inputs: dict[str, Any]
    provider: str | None


@dataclass
class Recorder(Mocks):
    resources: list[Recorded] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        inputs = dict(args.inputs)
        self.resources.append(Recorded(args.typ, args.name, inputs, args.provider or None))
        outputs = dict(inputs)
        # what AWS computes and the program reads back: an ARN, an id, a name where none was given
        outputs.setdefault("arn", f"arn:aws:{args.typ.split(':')[1].split('/')[0]}:{REGION}:"
                                  f"{ACCOUNT}:{args.name}")
        outputs.setdefault("name", args.name)
        outputs.setdefault("id", f"{args.name}-id")
        return f"{args.name}-id", outputs

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        self.calls.append(args.token)
        answer = CALLS.get(args.token)
        if answer is None:
            raise AssertionError(f"no mocked answer for {args.token}: add one to tests/infra/mocks.py")
        return answer(dict(args.args)), []

    def of_type(self, type_token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(found) == 1, f"{len(found)} {type_token} named {name!r}: " \
                                f"{[r.name for r in self.of_type(type_token)]}"
        return found[0]


def run(program: Callable[[], Any], config: Mapping[str, str] | None = None, *,
        project: str = "lambdalytics", stack: str = "test") -> Recorder:
    """Run ``program`` under the mocks with this stack configuration (keys without the
    project's prefix: ``{"region": "eu-west-1"}``) and wait for every registration."""
    recorder = Recorder()
    # Pulumi's mocks run on the thread's current event loop; pytest-asyncio leaves none
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(recorder, project=project, stack=stack, preview=False)
    pulumi.runtime.set_all_config({f"{project}:{k}" if ":" not in k else k: v
                                   for k, v in (config or {}).items()})
    pulumi.runtime.test(program)()
    return recorder
