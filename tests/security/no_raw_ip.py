"""A scanner for raw client addresses at rest: S3 objects, DynamoDB items, Kinesis records
and log lines (DESIGN.md: "A raw client IP never leaves the collector").

Given the addresses a test's clients used (peer, X-Forwarded-For entries, ``uip`` /
``ip_override``), :func:`scan_stack` reads everything the stack holds through its clients
(plain boto3 ones) and returns a :class:`Finding` for every place one of them appears in any
textual form: IPv4 dotted (also inside ``::ffff:…``) and as an IPv4-mapped IPv6 in hex; IPv6
compressed, fully expanded, and uncompressed without leading zeros; each also
percent-encoded (``%3A``), case-insensitive. Objects are gunzipped when gzipped and read
row by row when Parquet; DynamoDB items and Kinesis records are scanned as their JSON.
The soak (bench/soak.py) reuses it with its own stack and logs.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from lambdalytics.logs import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # lambdalytics.logs, text


@dataclass(frozen=True, slots=True)
class Finding:
    where: str  # e.g. s3://bucket/key:3, dynamodb:table, kinesis:stream/shard, log:collector
    address: str  # the client address found (as the test gave it)
    excerpt: str  # the text around it

    def __str__(self) -> str:
        return f"{self.where}: {self.address} in …{self.excerpt}…"


def textual_forms(address: str) -> set[str]:
    """Every way ``address`` may be written (lower case)."""
    ip = ipaddress.ip_address(address)
    forms: set[str] = set()
    if isinstance(ip, ipaddress.IPv4Address):
        forms.add(str(ip))
        mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
        forms.add(mapped.compressed)  # ::ffff:c633:644d
        forms.add(mapped.exploded)
    else:
        groups = ip.exploded.split(":")
        forms |= {ip.compressed, ip.exploded, ":".join(f"{int(g, 16):x}" for g in groups)}
        if ip.ipv4_mapped is not None:
            forms |= textual_forms(str(ip.ipv4_mapped))
    return forms | {f.replace(":", "%3a") for f in forms}


class Addresses:
    """The compiled search for a set of client addresses."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self.by_form: dict[str, str] = {}
        for a in addresses:
            for form in textual_forms(a):
                self.by_form[form] = a
        if not self.by_form:
            raise ValueError("no address to look for")
        # a form is not part of a longer number or address: 1.2.3.4 is not in 11.2.3.45; the
        # forms as a trie (shared prefixes once), which re scans about 5x faster than a flat
        # alternation: a million hits' archive, lake and stream are gigabytes of text
        self._re = re.compile(rf"(?<![0-9a-f])(?:{_trie(self.by_form)})(?![0-9a-f]|\.[0-9])",
                              re.IGNORECASE)

    def find(self, text: str, where: str) -> list[Finding]:
        return [Finding(where, self.by_form[m.group(0).lower()],
                        text[max(0, m.start() - 60):m.end() + 60].replace("\n", " "))
                for m in self._re.finditer(text)]


def _trie(words: Iterable[str]) -> str:
    """A pattern matching exactly ``words``, their common prefixes factored out."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + pattern(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return pattern(root)


def _decoded(key: str, body: bytes) -> Iterator[tuple[str, str]]:
    """(line label, text) of an object: gunzipped, Parquet rows as JSON, else as text."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    if key.endswith(".parquet") or body[:4] == b"PAR1":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(io.BytesIO(body)).to_pylist()):
            yield f"row {i}", json.dumps(row, default=str)
        return
    for i, line in enumerate(body.decode("utf-8", "replace").splitlines(), 1):
        yield f"{i}", line


def scan_s3(s3: Any, buckets: Iterable[str], search: Addresses) -> tuple[list[Finding], int]:
    """Findings in every object (every version) of ``buckets``; and how many were read."""
    found: list[Finding] = []
    read = 0
    for bucket in buckets:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for v in page.get("Versions", ()):
                body = s3.get_object(Bucket=bucket, Key=v["Key"],
                                     VersionId=v["VersionId"])["Body"].read()
                read += 1
                for label, text in _decoded(v["Key"], body):
                    found += search.find(text, f"s3://{bucket}/{v['Key']}:{label}")
                found += search.find(v["Key"], f"s3://{bucket} key")
    return found, read


def scan_dynamodb(ddb: Any, tables: Iterable[str], search: Addresses) -> tuple[list[Finding], int]:
    """Findings in every item of ``tables`` (their JSON, keys included); items read."""
    found: list[Finding] = []
    read = 0
    for table in tables:
        for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                read += 1
                found += search.find(json.dumps(item, default=_bytes), f"dynamodb:{table}")
    return found, read


def _bytes(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8", "replace")
    return str(value)


def scan_kinesis(kinesis: Any, stream: str, search: Addresses) -> tuple[list[Finding], int]:
    """Findings in every record of ``stream`` from its horizon (data and partition key)."""
    found: list[Finding] = []
    read = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        where = f"kinesis:{stream}/{shard['ShardId']}"
        while it:  # to a closed shard's end (no next iterator), or an open one's tip
            resp = kinesis.get_records(ShardIterator=it, Limit=10_000)
            for r in resp["Records"]:
                read += 1
                found += search.find(_bytes(r["Data"]) + " " + r["PartitionKey"], where)
            if not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0:
                break
            it = resp.get("NextShardIterator")
    return found, read


def scan_lines(lines: Iterable[tuple[str, str]], search: Addresses) -> tuple[list[Finding], int]:
    """Findings in log lines given as (source, line); lines read."""
    found: list[Finding] = []
    read = 0
    for source, line in lines:
        read += 1
        found += search.find(line, f"log:{source}")
    return found, read


class LogLines(logging.Handler):
    """Every record of the loggers it is attached to, formatted as the services write them,
    JSON and text (exceptions included): (source, line) for :func:`scan_lines`. Records of
    ``ignore`` loggers (the test's own HTTP client, which logs the URLs it sends) are left."""

    def __init__(self, source: str, ignore: tuple[str, ...] = ("httpx", "httpcore")) -> None:
        super().__init__(logging.DEBUG)
        self.source = source
        self.ignore = ignore
        self.lines: list[tuple[str, str]] = []
        self._json = JsonFormatter()
        self._text = logging.Formatter(TEXT_FORMAT)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(self.ignore):
            return
        for fmt in (self._json, self._text):
            self.lines.append((f"{self.source}:{record.threadName}:{record.name}",
                               fmt.format(record)))


@dataclass
class Report:
    findings: list[Finding]
    objects: int = 0
    items: int = 0
    records: int = 0
    log_lines: int = 0


def scan_stack(addresses: Iterable[str], *, s3: Any = None, buckets: Iterable[str] = (),
               dynamodb: Any = None, tables: Iterable[str] = (), kinesis: Any = None,
               stream: str | None = None, logs: Iterable[tuple[str, str]] = ()) -> Report:
    """Every raw ``addresses`` form in the stack's objects, items, records and log lines."""
    search = Addresses(addresses)
    report = Report([])
    if s3 is not None:
        found, report.objects = scan_s3(s3, buckets, search)
        report.findings += found
    if dynamodb is not None:
        found, report.items = scan_dynamodb(dynamodb, tables, search)
        report.findings += found
    if kinesis is not None and stream is not None:
        found, report.records = scan_kinesis(kinesis, stream, search)
        report.findings += found
    found, report.log_lines = scan_lines(logs, search)
    report.findings += found
    return report
