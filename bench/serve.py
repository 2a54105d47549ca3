"""One benchmark server under the collector's own uvicorn settings, until SIGINT/SIGTERM.

``python -m bench.serve --mode baseline|null|kinesis --port N [--prefix P --endpoint URL]``

- ``baseline``: :mod:`bench.baseline_app` (an empty 204), served with the very
  ``uvicorn.Config`` that :func:`collector.server.config` builds for the collector.
- ``null``: the collector with :class:`collector.sink.NullWriter` behind the group-commit
  sink and a fixed in-memory property lookup (no AWS at all).
- ``kinesis``: the collector against moto at ``--endpoint`` (stream and properties table
  named by ``--prefix``), one PutRecords call at a time as moto needs.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from bench import baseline_app
from bench.hits import PROPERTY_ID, TRACKING_IDS
from collector.app import Overrides
from collector.server import config, run
from collector.settings import CollectorSettings
from collector.sink import NullWriter
from lambdalytics import logs
from lambdalytics.properties import Property


class StaticProperties:
    """The bench property for the bench tracking ids, nobody else (a PropertyLookup)."""

    def __init__(self) -> None:
        self._property = Property(PROPERTY_ID, "Bench site", TRACKING_IDS, enabled=True)

    async def lookup(self, tracking_id: str) -> Property | None:
        return self._property if tracking_id in TRACKING_IDS else None


def build(mode: str, port: int, prefix: str, endpoint: str | None,
          linger_ms: float | None) -> uvicorn.Config:
    extra: dict[str, Any] = {} if linger_ms is None else {"sink_linger_ms": linger_ms}
    if mode == "kinesis":
        if not endpoint:
            raise SystemExit("--endpoint is required with --mode kinesis")
        settings = CollectorSettings(
            host="127.0.0.1", port=port, resource_prefix=prefix, aws_endpoint_url=endpoint,
            aws_region="us-east-1", sink_max_in_flight=1,  # moto loses records otherwise
            log_level="WARNING", log_format="text", **extra)
        return config(settings)
    settings = CollectorSettings(host="127.0.0.1", port=port, resource_prefix=prefix,
                                 log_level="WARNING", log_format="text", **extra)
    cfg = config(settings, Overrides(writer=NullWriter(), properties=StaticProperties()))
    if mode == "baseline":
        cfg.app = baseline_app.app  # same Config options, the bare app instead
    return cfg


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("baseline", "null", "kinesis"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--endpoint", default=None, help="moto's URL (kinesis mode)")
    parser.add_argument("--linger-ms", type=float, default=None,
                        help="override the sink's linger (default: the collector's default)")
    args = parser.parse_args(argv)
    logs.configure("WARNING", "text")
    run(build(args.mode, args.port, args.prefix, args.endpoint, args.linger_ms))


if __name__ == "__main__":
    main()
