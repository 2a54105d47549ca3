"""The archiver's kill loop, long version (CI runs a 4-round one in tests/archiver).

Rounds of: more hits into the stream (with retried copies), one to three workers started,
each SIGKILLed after a random time; then one clean worker drains the stream and the archive
is checked: every hit in S3 exactly once, the rollups count exactly the hits.

    .venv/bin/python bench/archive_killloop.py --rounds 30 --shards 4
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archiver import rollup
from tests.archiver.harness import ArchiverProcess, encoded, make_hits, new_stack
from tests.support import isolate_aws_env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--hits-per-round", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines
    import pytest

    mp = pytest.MonkeyPatch()
    isolate_aws_env(mp)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    logs = Path(tempfile.mkdtemp(prefix="killloop-"))
    stack = new_stack(f"http://{host}:{port}")
    stack.create(args.shards)
    hits: list[dict[str, object]] = []
    kills = 0
    t0 = time.monotonic()
    try:
        for r in range(args.rounds):
            more = make_hits(args.hits_per_round, start=len(hits), properties=("pa", "pb", "pc"))
            hits += more
            recs = list(encoded(more))
            stack.put(recs + rng.sample(recs, 10))  # and some producer retries
            workers = [ArchiverProcess(stack, logs, f"r{r}w{i}")
                       for i in range(rng.randint(1, 3))]
            time.sleep(rng.uniform(1.0, 4.0))
            for w in workers:
                time.sleep(rng.uniform(0, 0.5))
                w.kill()
                kills += 1
            print(f"round {r + 1}/{args.rounds}: {len(hits)} hits put, {kills} workers killed",
                  flush=True)
        final = ArchiverProcess(stack, logs, "final")
        deadline = time.monotonic() + 300
        while len(stack.archived_hits()) < len(hits) and time.monotonic() < deadline:
            time.sleep(1)
        final.terminate()
        archived = Counter(h["hit_id"] for _, h in stack.archived_hits())
        want = {h["hit_id"] for h in hits}
        doubled = sum(1 for n in archived.values() if n > 1)
        missing = len(want - set(archived))
        counted = rollup.merge(stack.rollup_items()).hits
        ok = not doubled and not missing and set(archived) == want and counted == len(hits)
        print(f"{len(hits)} hits, {kills} SIGKILLs, {time.monotonic() - t0:.0f} s: "
              f"{missing} missing, {doubled} doubled, rollups count {counted} → "
              f"{'OK' if ok else 'FAILED'} (logs in {logs})")
        sys.exit(0 if ok else 1)
    finally:
        server.stop()
        mp.undo()


if __name__ == "__main__":
    main()
