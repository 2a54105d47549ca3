"""The archiver's settings (environment variables ``LAMBDALYTICS_…``), read once in main."""

from __future__ import annotations

import os
import secrets
import socket

from pydantic import Field

from lambdalytics.settings import CommonSettings


def _worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class ArchiverSettings(CommonSettings):
    worker_id: str = Field(default_factory=_worker_id,
                           description="unique per process; the default is host, pid and a nonce")
    archive_prefix: str = Field("", pattern=r"^([a-z0-9][a-z0-9_\-/]*/)?$",
                                description="key prefix in the archive bucket, '' or ending in /")

    # leases (KCL's defaults, reference/aws.md §1.3)
    lease_duration_s: float = Field(10.0, gt=0, description="failover time: a lease not renewed "
                                    "for this long may be taken")
    taker_interval_s: float | None = Field(None, gt=0, description="default (lease + 25 ms) × 2")
    shard_sync_interval_s: float = Field(60.0, gt=0)
    parent_poll_interval_s: float = Field(10.0, gt=0)
    max_leases: int = Field(1_000_000, ge=1, description="never hold more than this many shards")

    # reading
    get_records_limit: int = Field(10_000, ge=1, le=10_000)
    idle_between_reads_s: float = Field(1.0, ge=0.2, description="pause when a shard is caught up "
                                        "(5 GetRecords/s per shard is the limit shared by all readers)")

    # batching: a cut closes at whichever comes first
    batch_max_records: int = Field(20_000, ge=1)
    batch_max_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    flush_interval_s: float = Field(20.0, gt=0, description="a batch's first record waits at "
                                    "most this long (quiet shards flush too): with the read "
                                    "pause and the writes, data is in S3 within 60 s")

    early_rollup_interval_s: float = Field(2.0, ge=0, description="while a batch fills, its "
                                           "rollups are written this often, so realtime shows a "
                                           "hit within seconds while S3 still gets one object "
                                           "per cut (0: rollups only with each cut)")
    duplicate_window_s: int = Field(600, ge=300, description="duplicate hit_ids are dropped when "
                                    "they arrive within this time of the first copy")
    rollup_ttl_days: int = Field(7, ge=1, description="rollup items expire this long after their "
                                 "minute (DynamoDB TTL), or sooner when the property's "
                                 "retention is shorter")
    property_refresh_s: float = Field(60.0, gt=0, description="how often the properties' "
                                      "retention is read")
    recent_hits_ttl_s: int = Field(0, ge=0, description="also write every hit to the recent-hits "
                                   "table, kept this long (0: off, the default: at 1,000 hits/s "
                                   "it costs more than the rest of the pipeline, DESIGN.md)")
    recent_hits_write_shards: int = Field(32, ge=1, le=1000, description="keys per property-"
                                          "minute, so one property's hits spread over partitions "
                                          "(changing it re-keys the hits a replay rewrites)")
    s3_concurrency: int = Field(8, ge=1)
    retry_max_backoff_s: float = Field(30.0, gt=0)

    # fault injection for the crash tests: "<point>[:<n>]" ends the process with SIGKILL the
    # n-th time (default 1st) it reaches that write boundary (archiver.faults)
    crash_at: str | None = None

    @property
    def renew_interval_s(self) -> float:
        return max(self.lease_duration_s / 3 - 0.025, 0.05)

    @property
    def taker_every_s(self) -> float:
        return self.taker_interval_s or (self.lease_duration_s + 0.025) * 2
