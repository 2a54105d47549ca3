"""The soak's short run (bench/soak.py; its long runs are in docs/reliability.md): the
pipeline as separate processes on kinesis-mock, mixed UA, gtag and MP traffic with retries,
and every fault of its schedule while the hits flow. Nothing acknowledged is lost, nothing is
archived twice, the rollups and the compacted lake count what the archive holds, no raw
client address is at rest (Parquet and the stream included) —
and every fault was really injected, so that a schedule that silently stopped firing fails
here rather than passing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_delivery_contract_holds_through_every_fault(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    # 5,000 hits at 150/s: about 35 s of traffic, so that each fault meets hits in flight
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--stream", "kinesis-mock",
         "--hits", "5000", "--rate", "150", "--connections", "32", "--outage", "12",
         "--kill-every", "4", "--settle", "240", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    print(run.stdout[-6000:], run.stderr[-4000:])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    r = json.loads(out.read_text())

    assert r["sent"] >= 5000
    assert r["acknowledged"] == r["sent"]  # everything refused was retried until taken
    assert r["archived"] == r["acknowledged"]
    assert (r["lost"], r["duplicated"], r["extra"]) == (0, 0, 0)
    assert r["rollup_hits"] == r["archive_hits"] == r["sent"]
    assert "error" not in r["lake"], r["lake"]
    assert r["lake"]["rows"] == r["sent"], r["lake"]
    assert (r["lake_lost"], r["lake_duplicated"]) == (0, 0)
    assert set(r["by_kind"]) == {"ua", "ua_batch", "gtag", "gtag_batch", "mp"}
    assert not [k for k in r["statuses"] if k.startswith(("4", "5")) and k != "503"], r["statuses"]

    # the faults were injected, and the pipeline answered them as the contract says
    injected = r["injected"]
    for fault in ("kinesis.put_records.throttle", "kinesis.put_records.partial_records",
                  "kinesis.put_records.lose_response", "dynamodb.get_item.unreachable"):
        assert injected.get(fault, 0) > 0, (fault, injected)
    assert any(k.startswith("s3.put_object.") for k in injected), injected
    assert r["statuses"].get("503", 0) > 0  # the properties outage outlasted the stale cache
    assert r["statuses"].get("no answer", 0) > 0  # the SIGKILLed collector's connections
    assert r["retries"] > 0
    events = " | ".join(what for _, what in r["events"])
    assert "SIGTERM: exit status -15, sink drained" in events, events  # uvicorn re-raises it
    for what in ("collector-2 SIGKILL", "split shardId", "merged"):
        assert what in events, events
    assert r["archiver_kills"] >= 3
    assert r["resharding"]["parent_child_pairs"] >= 3  # a split's two, a merge's two
    assert r["resharding"]["violations"] == []
    assert r["unexpected_exits"] == {}

    assert r["raw_addresses_found"] == 0
    assert r["scanned"]["objects"] > 10
    assert r["scanned"]["items"] > 10
    assert r["scanned"]["records"] >= r["sent"]  # the stream's, retried copies included
    assert r["scanned"]["log lines"] > 500
    assert all(mb > 50 for mb in r["peak_rss_mb"].values()), r["peak_rss_mb"]
