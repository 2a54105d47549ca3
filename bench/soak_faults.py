"""Faults injected at the AWS client boundary of the soak's collectors and archivers.

    python bench/soak_faults.py collector     # `lambdalytics collector` with the wrapper
    python bench/soak_faults.py archiver      # `lambdalytics archiver` with the wrapper

The process runs the real command, with every client that :func:`lambdalytics.aws.client`
opens wrapped in a :class:`FaultyClient`. The wrapper reads the fault plan, a JSON file named
by ``SOAK_FAULTS`` that the soak rewrites while it runs, and decides each call by its rules:

    {"rules": [{"role": "collector", "service": "dynamodb", "operation": "get_item",
                "table": "soak-properties", "action": "unreachable", "share": 1.0,
                "start": 1765000000.0, "end": 1765000060.0}]}

``role`` is ``SOAK_ROLE`` of the process (``*``: any), ``operation`` the client method
(``*``: any), ``table`` a DynamoDB ``TableName`` (optional), ``share`` the share of calls (or
of a PutRecords call's records, for ``partial``) that fail, ``start``/``end`` epoch seconds.
Actions, each what the real service or network does:

- ``throttle``: the service's throttling error, nothing done (Kinesis and DynamoDB
  ``ProvisionedThroughputExceededException``, S3 ``SlowDown`` 503);
- ``error``: a 500 (``InternalFailure``, S3 ``InternalError``), nothing done;
- ``unreachable``: a connection error, nothing sent;
- ``lose_response``: the call is made for real, then its answer is lost (a read timeout);
- ``partial``: PutRecords only: that share of the records fail with a per-record throttle,
  the others are written, and the answer is merged as Kinesis returns it.

Every fault injected is counted in ``SOAK_FAULT_LOG`` (the process's counts so far, a JSON line
every half second when they changed).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ("throttle", "error", "unreachable", "lose_response", "partial")
_THROTTLE = {"kinesis": ("ProvisionedThroughputExceededException", 400),
             "dynamodb": ("ProvisionedThroughputExceededException", 400),
             "s3": ("SlowDown", 503)}
_ERROR = {"s3": ("InternalError", 500)}
_NOT_CALLS = frozenset({"close", "get_paginator", "get_waiter", "can_paginate", "meta",
                        "exceptions", "generate_presigned_url", "generate_presigned_post"})


def client_error(code: str, status: int, operation: str) -> ClientError:
    answer: Any = {"Error": {"Code": code, "Message": "injected by the soak"},
                   "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(answer, operation)


class Plan:
    """The rules of the plan file, read again whenever the file changes (looked at no more
    than every 0.2 s), and the count of faults injected."""

    def __init__(self, path: str | None, role: str, log: str | None = None) -> None:
        self.path, self.role, self.log = path, role, log
        self.rules: list[dict[str, Any]] = []
        self._mtime = 0.0
        self._looked = 0.0
        self.injected: dict[str, int] = {}
        self._lock = threading.Lock()
        self.rng = random.Random()
        if log:  # the counts, every half second (a SIGKILL loses at most the last half second)
            threading.Thread(target=self._write, daemon=True).start()

    def _refresh(self, now: float) -> None:
        if not self.path or now - self._looked < 0.2:
            return
        self._looked = now
        try:
            mtime = os.stat(self.path).st_mtime
            if mtime != self._mtime:
                self.rules = json.loads(Path(self.path).read_text())["rules"]
                self._mtime = mtime
        except (OSError, ValueError, KeyError):
            pass  # being rewritten: the rules of the last good read stand

    def decide(self, service: str, operation: str, params: dict[str, Any]) -> tuple[str, float] | None:
        now = time.time()
        self._refresh(now)
        for rule in self.rules:
            if (rule.get("role", "*") in ("*", self.role)
                    and rule["service"] == service
                    and rule.get("operation", "*") in ("*", operation)
                    and rule.get("table") in (None, params.get("TableName"))
                    and rule["start"] <= now < rule["end"]):
                share = float(rule.get("share", 1.0))
                if rule["action"] == "partial":
                    return "partial", share
                if self.rng.random() < share:
                    return rule["action"], share
        return None

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.injected[what] = self.injected.get(what, 0) + n

    def _write(self) -> None:
        assert self.log is not None
        written: dict[str, int] = {}
        while True:
            time.sleep(0.5)
            with self._lock:
                counts = dict(self.injected)
            if counts != written:
                with open(self.log, "a") as f:
                    f.write(json.dumps({"pid": os.getpid(), "role": self.role, "at": time.time(),
                                        "injected": counts}) + "\n")
                written = counts


class FaultyClient:
    """A real aiobotocore client; each API call first asks the :class:`Plan`."""

    def __init__(self, real: Any, service: str, plan: Plan) -> None:
        self._real, self._service, self._plan = real, service, plan

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name.startswith("_") or name in _NOT_CALLS or not callable(attr):
            return attr

        async def call(**params: Any) -> Any:
            decided = self._plan.decide(self._service, name, params)
            if decided is None:
                return await attr(**params)
            action, share = decided
            if action == "partial" and name == "put_records":
                return await self._partial(attr, share, params)
            self._plan.count(f"{self._service}.{name}.{action}")
            if action == "lose_response":
                await attr(**params)
                raise ReadTimeoutError(endpoint_url=self._real.meta.endpoint_url)
            if action == "unreachable":
                raise EndpointConnectionError(endpoint_url=self._real.meta.endpoint_url)
            code, status = (_THROTTLE if action == "throttle" else _ERROR).get(
                self._service, ("ProvisionedThroughputExceededException", 400)
                if action == "throttle" else ("InternalFailure", 500))
            raise client_error(code, status, name)

        return call

    async def _partial(self, put: Any, share: float, params: dict[str, Any]) -> Any:
        records = params["Records"]
        failing = {i for i in range(len(records)) if self._plan.rng.random() < share}
        if not failing:
            return await put(**params)
        self._plan.count("kinesis.put_records.partial_records", len(failing))
        keep = [r for i, r in enumerate(records) if i not in failing]
        written = iter((await put(**{**params, "Records": keep}))["Records"] if keep else [])
        merged = [{"ErrorCode": "ProvisionedThroughputExceededException",
                   "ErrorMessage": "Rate exceeded for shard (injected)"} if i in failing
                  else next(written) for i in range(len(records))]
        return {"FailedRecordCount": len(failing), "Records": merged}


class _Opened:
    """The context manager :func:`lambdalytics.aws.client` returns, entering a wrapped client."""

    def __init__(self, real: AbstractAsyncContextManager[Any], service: str, plan: Plan) -> None:
        self._cm, self._service, self._plan = real, service, plan

    async def __aenter__(self) -> FaultyClient:
        return FaultyClient(await self._cm.__aenter__(), self._service, self._plan)

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._cm.__aexit__(*exc)


def install(plan: Plan) -> None:
    from lambdalytics import aws

    real_client = aws.client

    def client(sess: Any, service: str, settings: Any, cfg: Any = None) -> Any:
        return _Opened(real_client(sess, service, settings, cfg), service, plan)

    aws.client = client  # type: ignore[assignment]


def main(argv: list[str]) -> None:
    command = argv[0] if argv else ""
    if command not in ("collector", "archiver"):
        sys.exit("usage: soak_faults.py collector|archiver")
    sys.path.insert(0, str(ROOT))
    install(Plan(os.environ.get("SOAK_FAULTS"), os.environ.get("SOAK_ROLE", command),
                 os.environ.get("SOAK_FAULT_LOG")))
    from lambdalytics import cli

    cli.main([command])


if __name__ == "__main__":
    main(sys.argv[1:])
