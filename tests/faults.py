"""Faults no emulator produces, injected by a thin wrapper around the real Kinesis client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

Plan = Callable[[int, list[dict[str, Any]]], Any]


def throttled() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"},
         "ResponseMetadata": {"HTTPStatusCode": 400}},
        "PutRecords",
    )


class FaultyKinesis:
    """Wraps the real client; ``plan(call_number, records)`` decides each PutRecords call:

    - ``None``: pass through;
    - ``"throttle"``: raise ProvisionedThroughputExceededException, nothing written;
    - ``"not_found"``: raise ResourceNotFoundException (terminal: the stream is gone);
    - ``"lose_response"``: write for real, then raise a read timeout (the response is lost);
    - a set of indices: those entries fail with a per-record error (partial failure), the
      others are written for real, and the response is merged as Kinesis would return it.
    """

    def __init__(self, real: Any, plan: Plan, *, gate: threading.Event | None = None,
                 delay: float = 0.0) -> None:
        self.real = real
        self.plan = plan
        self.gate = gate  # while cleared, calls wait (to hold records in flight)
        self.delay = delay
        self.calls: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.running = 0
        self.most_running = 0  # the most calls that were inside this wrapper at once

    async def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> Any:
        with self.lock:
            n = len(self.calls)
            self.calls.append(list(Records))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            return await self._call(n, StreamName, Records)
        finally:
            with self.lock:
                self.running -= 1

    async def _call(self, n: int, StreamName: str, Records: list[dict[str, Any]]) -> Any:
        if self.gate is not None:
            while not self.gate.is_set():  # noqa: ASYNC110 (a threading.Event, set by the test)
                await asyncio.sleep(0.01)
        if self.delay:
            await asyncio.sleep(self.delay)
        action = self.plan(n, Records)
        if action is None:
            return await self.real.put_records(StreamName=StreamName, Records=Records)
        if action == "throttle":
            raise throttled()
        if action == "not_found":
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "Stream not found"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutRecords")
        if action == "lose_response":
            await self.real.put_records(StreamName=StreamName, Records=Records)
            raise ReadTimeoutError(endpoint_url="https://kinesis.invalid")
        failing: set[int] = set(action)
        keep = [r for i, r in enumerate(Records) if i not in failing]
        written = iter((await self.real.put_records(StreamName=StreamName, Records=keep))["Records"]
                       if keep else [])
        merged = []
        for i in range(len(Records)):
            if i in failing:
                merged.append({"ErrorCode": "ProvisionedThroughputExceededException",
                               "ErrorMessage": "Rate exceeded for shard"})
            else:
                merged.append(next(written))
        return {"FailedRecordCount": len(failing), "Records": merged}

    @property
    def records_sent(self) -> int:
        return sum(len(c) for c in self.calls)
