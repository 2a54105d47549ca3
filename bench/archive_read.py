"""The archiver benchmark's baseline: read every shard to its tip with the archiver's own
client and GetRecords settings, and do nothing with the records."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archiver.settings import ArchiverSettings
from archiver.stream import ShardReader
from lambdalytics import aws


async def main() -> None:
    settings = ArchiverSettings()
    async with aws.client(aws.session(), "kinesis", settings) as kinesis:
        reader = ShardReader(kinesis, settings.resources.stream.name)
        shards = await reader.shards()
        print("reading", flush=True)

        async def one(shard_id: str) -> int:
            n = 0
            it: str | None = await reader.iterator(shard_id)
            while it is not None:
                page = await reader.read(it, settings.get_records_limit)
                n += len(page.records)
                if not page.records and page.millis_behind == 0:
                    break
                it = page.next_iterator
            return n

        total = sum(await asyncio.gather(*(one(s.shard_id) for s in shards)))
        print(f"read {total} records", flush=True)
        await asyncio.Event().wait()  # until SIGTERM, like the worker


if __name__ == "__main__":
    asyncio.run(main())
