"""Collector → Kinesis → archiver → S3 and rollups, queried with DuckDB through the S3 API.

The collector's first PutRecords response is lost (written, then a timeout), so it re-sends
the same records; a tag retries one hit with the same `z`. The archive holds every hit once,
and the rollups count exactly the archived hits.
"""

from __future__ import annotations

import asyncio
from typing import Any

import duckdb
import httpx

from archiver import rollup
from collector.app import Overrides
from collector.settings import CollectorSettings
from lambdalytics import archive_layout, bootstrap, ddl
from tests.archiver.harness import Stack, wait_until
from tests.conftest import Spawn
from tests.faults import FaultyKinesis
from tests.support import UA_TID, create_stack, running_collector


def payload(i: int, kind: str) -> str:
    base = f"v=1&tid={UA_TID}&cid={500 + i % 7}.1&z=n{i}"
    if kind == "event":
        return f"{base}&t=event&ec=video&ea=play&el=clip{i}"
    return f"{base}&t=pageview&dp=%2Fpage{i % 4}&dh=example.com"


def test_hits_reach_s3_and_rollups_once_and_duckdb_counts_them(
        settings: CollectorSettings, spawn: Spawn) -> None:
    create_stack(settings, [UA_TID])
    asyncio.run(bootstrap.provision(settings))  # leases, rollups, the archive bucket
    stack = Stack(settings.resource_prefix, str(settings.aws_endpoint_url),
                  str(settings.aws_endpoint_url))
    made: list[FaultyKinesis] = []

    def wrap(real: Any) -> FaultyKinesis:
        made.append(FaultyKinesis(real, lambda n, _r: "lose_response" if n == 0 else None))
        return made[0]

    bodies = [payload(i, "event" if i % 3 == 0 else "pageview") for i in range(30)]
    with running_collector(settings, Overrides(wrap_kinesis=wrap)) as c, httpx.Client() as http:
        answers = [http.post(f"{c.url}/collect", content=b) for b in bodies]
        answers.append(http.post(f"{c.url}/collect", content=bodies[5]))  # a client's retry
    assert [a.status_code for a in answers] == [200] * 31
    assert made[0].records_sent >= 32, "the lost response was re-sent"

    worker = spawn(stack, "w1")
    wait_until(lambda: len(stack.archived_hits()) >= 30, 60, "30 hits archived")
    assert worker.terminate() == 0, worker.log()
    archived = stack.archived_hits()
    assert len(archived) == 30
    assert len({h["hit_id"] for _, h in archived}) == 30
    assert "duplicates" in worker.log()

    view = rollup.merge(stack.rollup_items())
    assert (view.hits, view.events, view.pageviews) == (30, 10, 20)
    assert view.visitors == 7

    conn = duckdb.connect()
    ddl.register_s3(conn, endpoint_url=settings.aws_endpoint_url, region="us-east-1",
                    access_key="testing", secret_key="testing")
    has_data = ddl.create_duckdb_views(conn, archive_layout.archive_root(stack.res.archive.name))
    assert has_data["hits"]
    rows = conn.execute('SELECT "type", count(*), count(DISTINCT client_id) FROM hits '
                        'GROUP BY "type" ORDER BY "type"').fetchall()
    assert rows == [("event", 10, 7), ("pageview", 20, 7)]
    (paths,) = conn.execute("SELECT count(DISTINCT page_path) FROM hits "
                            "WHERE \"type\" = 'pageview'").fetchone()  # type: ignore[misc]
    assert paths == 4
