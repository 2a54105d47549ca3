"""Archiver test harness: a stack on moto (or kinesis-mock for Kinesis), hits put into the
stream as the collector writes them, archiver workers as real subprocesses, and readers for
what they wrote."""

from __future__ import annotations

import gzip
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import orjson

from lambdalytics import hit as hitmod
from lambdalytics.records import FilteredCount, encode_counter
from lambdalytics.resources import Resources, resources

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    prefix: str
    moto_url: str
    kinesis_url: str  # moto's, or kinesis-mock's
    res: Resources = field(init=False)

    def __post_init__(self) -> None:
        self.res = resources(self.prefix)

    def boto(self, service: str) -> Any:
        url = self.kinesis_url if service == "kinesis" else self.moto_url
        return boto3.client(service, endpoint_url=url, region_name="us-east-1",  # type: ignore[call-overload]
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def env(self, **settings: object) -> dict[str, str]:
        """The environment of an archiver subprocess: fast leases and flushes for tests."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDALYTICS_"))}
        env |= {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            # the SDK's own per-service endpoints: Kinesis may be kinesis-mock
            "AWS_ENDPOINT_URL": self.moto_url, "AWS_ENDPOINT_URL_KINESIS": self.kinesis_url,
            "LAMBDALYTICS_RESOURCE_PREFIX": self.prefix,
            "LAMBDALYTICS_AWS_REGION": "us-east-1",
            "LAMBDALYTICS_LOG_FORMAT": "text",
            "LAMBDALYTICS_LEASE_DURATION_S": "1.5",
            "LAMBDALYTICS_TAKER_INTERVAL_S": "0.5",
            "LAMBDALYTICS_SHARD_SYNC_INTERVAL_S": "2",
            "LAMBDALYTICS_PARENT_POLL_INTERVAL_S": "0.3",
            "LAMBDALYTICS_IDLE_BETWEEN_READS_S": "0.2",
            "LAMBDALYTICS_FLUSH_INTERVAL_S": "0.5",
            "LAMBDALYTICS_BATCH_MAX_RECORDS": "150",
            "PYTHONUNBUFFERED": "1",
        }
        env |= {f"LAMBDALYTICS_{k.upper()}": str(v) for k, v in settings.items()}
        return env

    # -- creating ---------------------------------------------------------------------------

    def create(self, shards: int) -> None:
        kinesis, ddb, s3 = self.boto("kinesis"), self.boto("dynamodb"), self.boto("s3")
        kinesis.create_stream(StreamName=self.res.stream.name, ShardCount=shards)
        self.wait_active()
        for table in self.res.tables:
            keys = [{"AttributeName": table.hash_key.name, "KeyType": "HASH"}]
            attrs = [{"AttributeName": table.hash_key.name, "AttributeType": "S"}]
            if table.range_key:
                keys.append({"AttributeName": table.range_key.name, "KeyType": "RANGE"})
                attrs.append({"AttributeName": table.range_key.name, "AttributeType": "S"})
            ddb.create_table(TableName=table.name, KeySchema=keys, AttributeDefinitions=attrs,
                             BillingMode="PAY_PER_REQUEST")
        s3.create_bucket(Bucket=self.res.archive.name)

    def wait_active(self, timeout: float = 30) -> None:
        kinesis = self.boto("kinesis")
        deadline = time.monotonic() + timeout
        while kinesis.describe_stream_summary(StreamName=self.res.stream.name)[
                "StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
            assert time.monotonic() < deadline, "stream not ACTIVE"
            time.sleep(0.1)

    def put(self, records: Iterable[tuple[bytes, str]]) -> None:
        """PutRecords in batches of 500, one call at a time (moto loses records otherwise)."""
        kinesis = self.boto("kinesis")
        batch: list[dict[str, Any]] = []
        for data, key in records:
            batch.append({"Data": data, "PartitionKey": key})
            if len(batch) == 500:
                self._put(kinesis, batch)
                batch = []
        if batch:
            self._put(kinesis, batch)

    def _put(self, kinesis: Any, batch: list[dict[str, Any]]) -> None:
        while batch:
            out = kinesis.put_records(StreamName=self.res.stream.name, Records=batch)
            batch = [r for r, res in zip(batch, out["Records"], strict=True) if "ErrorCode" in res]

    # -- reading ----------------------------------------------------------------------------

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        s3 = self.boto("s3")
        out: dict[str, bytes] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.res.archive.name,
                                                                 Prefix=prefix):
            for obj in page.get("Contents", ()):
                body = s3.get_object(Bucket=self.res.archive.name, Key=obj["Key"])["Body"].read()
                out[obj["Key"]] = body
        return out

    def archived_hits(self) -> list[tuple[str, dict[str, Any]]]:
        """(key, hit) for every line of every hits object."""
        return [(key, orjson.loads(line)) for key, body in self.objects("hits/").items()
                for line in gzip.decompress(body).splitlines()]

    def object_versions(self) -> Counter[str]:
        """How many versions each key has (a replay adds one with the same bytes)."""
        s3 = self.boto("s3")
        out: Counter[str] = Counter()
        for page in s3.get_paginator("list_object_versions").paginate(
                Bucket=self.res.archive.name):
            for v in page.get("Versions", ()):
                out[v["Key"]] += 1
        return out

    def rollup_items(self) -> list[dict[str, Any]]:
        ddb = self.boto("dynamodb")
        items: list[dict[str, Any]] = []
        for page in ddb.get_paginator("scan").paginate(TableName=self.res.rollups.name):
            items.extend(page["Items"])
        return items

    def leases(self) -> list[dict[str, Any]]:
        ddb = self.boto("dynamodb")
        return list(ddb.scan(TableName=self.res.leases.name, ConsistentRead=True)["Items"])


def new_stack(moto_url: str, kinesis_url: str | None = None) -> Stack:
    return Stack("t" + secrets.token_hex(5), moto_url, kinesis_url or moto_url)


# -- hits --------------------------------------------------------------------------------------

BASE = datetime(2026, 11, 27, 23, 58, tzinfo=UTC)  # hits straddle a UTC date boundary
TYPES = ("pageview", "event", "pageview", "timing")


def make_hits(n: int, *, properties: tuple[str, ...] = ("pa", "pb"), start: int = 0,
              tag: str = "") -> list[dict[str, Any]]:
    """``n`` distinct hits as the collector encodes them, spread over properties, types,
    clients, pages and two UTC dates."""
    hits = []
    for i in range(start, start + n):
        event_time = BASE + timedelta(seconds=i * 0.7)
        fields: dict[str, Any] = {
            "hit_id": hitmod.derived_hit_id("test", tag, str(i)),
            "received_time": event_time, "event_time": event_time,
            "property_id": properties[i % len(properties)], "tracking_id": "UA-1-1",
            "protocol": "ua", "type": TYPES[i % len(TYPES)],
            "client_id": f"c{i % 37}", "page_path": f"/p{i % 11}", "page_hostname": "example.com",
        }
        if fields["type"] == "event":
            fields |= {"event_category": "video", "event_action": "play"}
        hits.append(fields)
    return hits


def encoded(hits: Iterable[dict[str, Any]]) -> Iterator[tuple[bytes, str]]:
    for h in hits:
        yield hitmod.encode_fields(dict(h)), h["client_id"]


def counter_record(prop: str | None, reason: str, count: int,
                   agent: str | None = None) -> tuple[bytes, str]:
    c = FilteredCount(property_id=prop, tracking_id="UA-9-9", reason=reason,
                      minute="2026-11-27T23:59Z", count=count, agent=agent)
    return encode_counter(c), c.partition_key()


# -- worker processes ---------------------------------------------------------------------------


class ArchiverProcess:
    def __init__(self, stack: Stack, log_dir: Path, name: str, **settings: object) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        env = stack.env(worker_id=name, **settings)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "archiver"], cwd=REPO, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        # not before its signal handlers are in place (it logs "starting" just after)
        wait_until(lambda: not self.alive() or "starting on stream" in self.log(), 30,
                   f"{self.name} started")
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until(predicate: Any, timeout: float, what: str, every: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)
