"""bench/ga4_hits.py: GA4 requests that the collector takes whole, in a file both load
generators read back byte for byte, and the bench property that owns them."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import ga4_hits, hits, loadgen, serve, traffic, workload
from bench.hits import BenchRequest
from collector import gtag, mp


@pytest.fixture(scope="module")
def population() -> traffic.Population:
    rng = random.Random(5)
    addresses = [f"81.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                 for _ in range(400)] + ["2a02:8070:1234:5678::9"]
    return traffic.Population(traffic.user_agents(300, rng), traffic.bot_agents(20, rng),
                              traffic.tool_agents(), addresses)


@pytest.fixture(scope="module")
def single(population: traffic.Population) -> dict[str, list[BenchRequest]]:
    """Each kind's requests 40–159 with one event each."""
    return {kind: ga4_hits.generate(kind, 160, events=1, population=population, skip=40)
            for kind in ga4_hits.KINDS}


def test_the_body_escape_round_trips_and_leaves_ua_payloads_alone() -> None:
    body = 'en=page_view&_ee=1\nen=scroll\r\n\t{"a": "b\\"c\\\\n"}\\'
    field = loadgen.escape_body(body)
    assert not {"\n", "\t", "\r"} & set(field)
    assert loadgen.unescape_body(field) == body
    ua = hits.generate(50, seed=3)
    assert all(loadgen.unescape_body(r.body) == r.body for r in ua)


def events_of(r: BenchRequest) -> int:
    query = r.target.partition("?")[2].encode()
    received = datetime.now(UTC)
    if r.target.startswith(ga4_hits.GTAG_PATH):
        parsed = gtag.parse_request(query, r.body.encode(), received=received)
        assert all(e.valid and not e.notes for e in parsed), [(e.problems, e.notes) for e in parsed]
        return len(parsed)
    request = mp.parse_request(query, r.body.encode(), received=received)
    assert request.problem is None
    assert not request.dropped
    assert not request.messages
    return len(request.events)


@pytest.mark.parametrize("kind", ga4_hits.KINDS)
@pytest.mark.parametrize("events", [1, 5, 10, (1, 10)])
def test_every_event_is_valid_and_the_senders_do_not_depend_on_the_events(
        population: traffic.Population, single: dict[str, list[BenchRequest]], kind: str,
        events: int | tuple[int, int]) -> None:
    one = single[kind]
    many = ga4_hits.generate(kind, 160, events=events, population=population, skip=40)
    assert len(many) == 120
    counts = [events_of(r) for r in many]
    if isinstance(events, int):
        assert set(counts) == {events}
    else:
        assert set(counts) <= set(range(1, 11))
        assert len(set(counts)) > 3
    assert [(r.user_agent, r.forwarded_for, r.origin) for r in one] == [
        (r.user_agent, r.forwarded_for, r.origin) for r in many]
    if kind == "gtag":
        assert all(r.method == "POST" and r.target.startswith("/g/collect?v=2&tid=G-") for r in many)
        assert any("uafvl=" in r.target for r in many)  # Chromium's client hints
        assert (events == 1) == all(r.body == "" for r in many)
    else:
        assert all(r.target.endswith(f"&api_secret={ga4_hits.API_SECRET}") for r in many)
        bodies = [json.loads(r.body) for r in many]
        assert any("ip_override" in b and "user_agent" in b for b in bodies)
        assert any("ip_override" not in b for b in bodies)


def test_a_prewarm_extract_replays_through_an_enricher(population: traffic.Population,
                                                        tmp_path: Path) -> None:
    for kind in ga4_hits.KINDS:
        records: list[dict[str, object]] = []
        ga4_hits.generate(kind, 60, events=5, population=population, skip=50, prewarm=records)
        assert len(records) == 50
        path = tmp_path / f"{kind}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        assert ga4_hits.prewarm(workload.PeerOnlyEnricher(), path) == 50


def test_the_request_file_carries_batched_and_json_bodies_to_the_load_generator(
        population: traffic.Population, tmp_path: Path) -> None:
    requests = [*ga4_hits.generate("gtag", 20, events=10, population=population),
                *ga4_hits.generate("mp", 20, events=3, population=population)]
    path = tmp_path / "ga4.tsv"
    ga4_hits.write_tsv(requests, path)
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(requests)
    assert ga4_hits.read_tsv(path) == requests
    for r, raw in zip(requests, loadgen.encode_requests(path, "127.0.0.1:1"), strict=True):
        head, _, body = raw.partition(b"\r\n\r\n")
        assert body == r.body.encode()
        assert f"content-length: {len(body)}".encode() in head.lower()
        json_body = b"content-type: application/json" in head.lower()
        assert json_body == r.target.startswith("/mp/")
    assert all(r.body.count("\n") == 9 for r in requests[:20])


def test_the_bench_property_owns_the_measurement_ids_and_the_api_secret() -> None:
    lookup = serve.StaticProperties()
    for tid in (*hits.TRACKING_IDS, *ga4_hits.MEASUREMENT_IDS):
        prop = asyncio.run(lookup.lookup(tid))
        assert prop is not None
        assert prop.property_id == hits.PROPERTY_ID
    assert asyncio.run(lookup.lookup("G-NOTOURS01")) is None
    prop = asyncio.run(lookup.lookup(ga4_hits.MEASUREMENT_IDS[0]))
    assert prop is not None
    assert prop.verify_secret(ga4_hits.API_SECRET) == ga4_hits.API_SECRET_ID
    assert prop.verify_secret("not-the-bench-secret-0000000000") is None
    assert ga4_hits.API_SECRET not in repr(prop)  # only its digest is stored
