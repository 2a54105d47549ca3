"""``python -m archiver`` (and ``lambdalytics archiver``): one worker, settings from the
environment, SIGTERM or SIGINT → flush, checkpoint, release the leases, exit 0."""

from __future__ import annotations

import asyncio
import signal

from archiver import worker
from archiver.settings import ArchiverSettings
from lambdalytics import logs


async def _main(settings: ArchiverSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await worker.run(settings, stop)


def main(settings: ArchiverSettings | None = None) -> None:
    settings = settings or ArchiverSettings()
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
