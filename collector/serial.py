"""One PutRecords call at a time per stream, at the client boundary, against an emulator.

moto's ``Shard.put_record`` reads the shard's highest sequence number, adds one and stores:
two PutRecords calls on one stream at once overwrite each other's records, silently
(reference/aws.md §6.1). The sink's ``max_in_flight`` is a throughput setting, tuned for
Kinesis; this guard is what makes an emulator's weakness impossible to hit by accident. The
collector puts it around its Kinesis client whenever the endpoint is not AWS's
(:func:`lambdalytics.aws.is_emulator`), under whatever fault wrapper a test adds, so every
call the emulator sees has waited for the one before it to be answered.

A call that times out has been answered, as far as a client can tell, while the emulator
may still be writing it; so against an emulator the client also waits longer for an answer
(:data:`EMULATOR_READ_TIMEOUT_S`) than against AWS.
"""

from __future__ import annotations

import asyncio
from typing import Any

from collector.sink import PutRecordsClient

# how long the collector waits for an emulator's answer to PutRecords before it re-sends:
# a call moto is still writing must not meet its own retry (AWS answers in milliseconds;
# the collector's client waits 5 s there)
EMULATOR_READ_TIMEOUT_S = 60.0


class OneCallPerStream:
    """A :class:`PutRecordsClient` that lets one call per stream run at a time, in the order
    they were asked for; the rest wait their turn. Runs on the loop the client runs on."""

    def __init__(self, client: PutRecordsClient) -> None:
        self._client = client
        self._locks: dict[str, asyncio.Lock] = {}

    async def put_records(self, *, Records: Any, StreamName: str) -> Any:
        lock = self._locks.get(StreamName)
        if lock is None:
            lock = self._locks[StreamName] = asyncio.Lock()
        async with lock:
            return await self._client.put_records(Records=Records, StreamName=StreamName)
