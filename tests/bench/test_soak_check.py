"""The soak's verdict (bench/soak_check.py): a clean run passes, and each way the delivery
contract can break is named — so the soak's exit status cannot stay 0 over a broken run."""

from __future__ import annotations

from typing import Any

import pytest

from bench import soak_check


def clean() -> dict[str, Any]:
    return {
        "sent": 100, "requests": 80, "attempts": 82, "retries": 2, "acknowledged": 100,
        "statuses": {"200": 80, "503": 2}, "by_kind": {"ua": 60, "mp": 40},
        "seconds": 1.0, "hits_per_s": 100.0, "p50_ms": 2.0, "p99_ms": 9.0,
        "archived": 100, "lost": 0, "duplicated": 0, "extra": 0, "archive_hits": 100,
        "rollup_hits": 100, "lake": {"rows": 100, "objects": 1, "seconds": 2.0},
        "lake_lost": 0, "lake_duplicated": 0, "raw_addresses_found": 0,
        "scanned": {"objects": 5, "items": 4, "records": 102, "log lines": 40},
        "archiver_kills": 0, "collector_exit_statuses": [-15, -15], "unexpected_exits": {},
        "peak_rss_mb": {"collector-1": 170}, "injected": {}, "events": [],
        "faults": ["none"], "stream": "kinesalite",
        "resharding": {"shards": 4, "parent_child_pairs": 0, "violations": []},
    }


def test_a_clean_run_passes_and_its_table_and_row_say_so() -> None:
    r = clean()
    assert soak_check.failures(r) == []
    assert "| lake (compacted): rows / lost / duplicated | 100 in 1 object / 0 / 0" in \
        soak_check.table(r)
    row = soak_check.summary([r]).splitlines()[-1]
    assert row.startswith("| none | kinesalite | 100 | 100 | 0 / 2 | 0 | 100 | 0 | 0 | yes | 2 / 9 |")


@pytest.mark.parametrize(("change", "named"), [
    ({"lost": 3}, "3 acknowledged hits lost"),
    ({"duplicated": 1}, "archived more than once"),
    ({"rollup_hits": 99}, "rollups count 99"),
    ({"lake": {"rows": 99, "objects": 1, "seconds": 1.0}, "lake_lost": 1}, "the lake holds 99"),
    ({"lake": {"rows": 101, "objects": 1, "seconds": 1.0}, "lake_duplicated": 1}, "1 twice"),
    ({"lake": {"rows": 0, "objects": 0, "seconds": 1.0, "error": "boom"}}, "compaction failed"),
    ({"statuses": {"200": 80, "500": 1}}, "answers {'500': 1}"),
    ({"raw_addresses_found": 2}, "2 raw client addresses"),
    ({"unexpected_exits": {"archiver-1": [1]}}, "exited on their own"),
    ({"resharding": {"shards": 7, "parent_child_pairs": 4, "violations": ["x"]}}, "before parents"),
    ({"acknowledged": 0}, "nothing was acknowledged"),
    ({"scanned": {"objects": 5, "items": 4, "records": 70, "log lines": 40}},
     "the scan read 70 of the stream's records"),
])
def test_each_breach_is_named(change: dict[str, Any], named: str) -> None:
    r = clean() | change
    wrong = soak_check.failures(r)
    assert any(named in w for w in wrong), wrong


def test_a_lake_that_differs_shows_in_the_summary_row() -> None:
    r = clean() | {"lake": {"rows": 99, "objects": 1, "seconds": 1.0}}
    assert "| NO |" in soak_check.summary([r])


def test_the_summary_row_names_the_faults_injected_or_the_events_fired() -> None:
    counted = clean() | {"injected": {"kinesis.put_records.throttle": 1972}}
    fired = clean() | {"events": [(3.0, "collector-2 SIGKILL"), (4.0, "collector-2 started again")],
                       "archiver_kills": 3}
    first, second = soak_check.summary([counted, fired]).splitlines()[-2:]
    assert first.endswith("| put_records.throttle 1,972 |")
    assert second.endswith("| collector-2 SIGKILL; 3 kills |")
    killed = clean() | {"archiver_kills": 3}
    assert soak_check.summary([killed]).endswith("| 3 kills |")
    assert soak_check.summary([clean()]).endswith("| — |")
