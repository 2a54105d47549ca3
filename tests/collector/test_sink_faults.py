"""Kinesis faults at the boundary: partial failures, throttling, lost responses, overload,
and shutdown with hits in flight. Over HTTP, against the collector under uvicorn and moto."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from collector.app import Overrides
from collector.settings import CollectorSettings
from lambdalytics import aws
from lambdalytics.hit import Hit
from tests.faults import FaultyKinesis
from tests.support import COLLECTOR_THREAD, UA_TID, create_stack, read_records, running_collector


def payload(i: int) -> bytes:
    return f"v=1&tid={UA_TID}&cid={1000 + i}.1&t=event&ec=test&ea=fault&el={i}&z=n{i}".encode()


def send(url: str, n: int, *, workers: int = 16) -> list[httpx.Response]:
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda i: client.post(f"{url}/collect", content=payload(i)), range(n)))


def hits(settings: CollectorSettings) -> list[Hit]:
    return [r for r in read_records(settings) if isinstance(r, Hit)]


def faulty(plan: Any, **kwargs: Any) -> tuple[Overrides, list[FaultyKinesis]]:
    made: list[FaultyKinesis] = []

    def wrap(real: Any) -> FaultyKinesis:
        made.append(FaultyKinesis(real, plan, **kwargs))
        return made[0]

    return Overrides(wrap_kinesis=wrap), made


@pytest.fixture
def stack(settings: CollectorSettings) -> CollectorSettings:
    create_stack(settings, [UA_TID])
    return settings


def test_partial_failure_resends_only_the_failed_entries(stack: CollectorSettings) -> None:
    # every other call fails the entries at even positions; the calls between go through
    failures: list[int] = []

    def plan(n: int, records: list[dict[str, Any]]) -> Any:
        if n % 2:
            return None
        failing = set(range(0, len(records), 2))
        failures.append(len(failing))
        return failing

    overrides, made = faulty(plan)
    with running_collector(stack, overrides) as c:
        answers = send(c.url, 60)
    assert [r.status_code for r in answers] == [200] * 60
    got = hits(stack)
    assert sorted(h.event_label or "" for h in got) == sorted(str(i) for i in range(60))
    assert len({h.hit_id for h in got}) == 60  # each once: failed entries were never written
    # only failed entries were re-sent: records sent = each hit once + each failure once
    assert sum(failures) > 0
    assert made[0].records_sent == 60 + sum(failures)


def test_throttling_is_retried_within_the_budget(stack: CollectorSettings) -> None:
    overrides, made = faulty(lambda n, _r: "throttle" if n < 3 else None)
    with running_collector(stack.model_copy(update={"sink_retry_budget_s": 10.0}), overrides) as c:
        answers = send(c.url, 10)
    assert [r.status_code for r in answers] == [200] * 10
    assert len(hits(stack)) == 10
    assert len(made[0].calls) >= 4


def test_budget_spent_answers_503_with_retry_after(stack: CollectorSettings) -> None:
    overrides, _ = faulty(lambda _n, _r: "throttle")
    settings = stack.model_copy(update={"sink_retry_budget_s": 0.5, "retry_after_s": 7})
    with running_collector(settings, overrides) as c:
        answers = send(c.url, 5)
        metrics = httpx.get(f"{c.url}/metrics").text
    assert [r.status_code for r in answers] == [503] * 5
    assert all(r.headers["retry-after"] == "7" for r in answers)
    assert hits(stack) == []
    assert 'lambdalytics_hits_refused_total{protocol="ua",reason="sink_unavailable"} 5.0' in metrics
    assert "lambdalytics_records_failed_total 5.0" in metrics


def test_lost_response_is_resent_and_the_copy_keeps_its_hit_id(stack: CollectorSettings) -> None:
    overrides, _ = faulty(lambda n, _r: "lose_response" if n == 0 else None)
    with running_collector(stack, overrides) as c:
        r = httpx.post(f"{c.url}/collect", content=payload(1))
    assert r.status_code == 200
    got = hits(stack)
    # the first call landed although its answer was lost; the re-send is a copy that the
    # archiver drops by hit_id
    assert len(got) == 2
    assert got[0].hit_id == got[1].hit_id


def test_terminal_error_answers_503_without_retrying(stack: CollectorSettings) -> None:
    overrides, made = faulty(lambda _n, _r: "not_found")
    with running_collector(stack.model_copy(update={"sink_retry_budget_s": 30.0}), overrides) as c:
        r = httpx.post(f"{c.url}/collect", content=payload(2))
    assert r.status_code == 503
    assert r.headers["retry-after"]
    assert len(made[0].calls) == 1  # a missing stream is not retried for 30 s


def _metric(url: str, name: str) -> float:
    total = 0.0
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _wait_for(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_overload_answers_503_and_memory_stays_bounded(stack: CollectorSettings) -> None:
    gate = threading.Event()  # PutRecords waits until it is set
    overrides, _ = faulty(lambda _n, _r: None, gate=gate)
    settings = stack.model_copy(update={"sink_max_queued": 20, "sink_retry_budget_s": 60.0})
    with running_collector(settings, overrides) as c, \
            httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64)) as client, \
            ThreadPoolExecutor(64) as pool:
        futures = [pool.submit(client.post, f"{c.url}/collect", content=payload(i))
                   for i in range(60)]
        _wait_for(lambda: _metric(c.url, "lambdalytics_hits_refused_total") == 40)
        depth = _metric(c.url, "lambdalytics_queue_records")
        gate.set()
        answers = [f.result() for f in futures]
    codes = [r.status_code for r in answers]
    assert depth == 20  # the queue never grew past its bound
    assert codes.count(200) == 20
    assert codes.count(503) == 40
    assert all(r.headers["retry-after"] for r in answers if r.status_code == 503)
    # everything acknowledged is in Kinesis; nothing refused is
    assert sorted(h.event_label or "" for h in hits(stack)) == sorted(
        str(i) for i, r in enumerate(answers) if r.status_code == 200)


def test_shutdown_drains_hits_in_flight(stack: CollectorSettings) -> None:
    # every PutRecords takes 300 ms, so at the stop most hits are queued or in flight
    overrides, _ = faulty(lambda _n, _r: None, delay=0.3)
    answers: dict[int, int] = {}

    def one(client: httpx.Client, url: str, i: int) -> None:
        try:
            answers[i] = client.post(f"{url}/collect", content=payload(i)).status_code
        except httpx.HTTPError:
            answers[i] = 0  # connection closed by the stopping server

    with running_collector(stack, overrides) as c, httpx.Client(timeout=60) as client, \
            ThreadPoolExecutor(40) as pool:
        for i in range(80):
            pool.submit(one, client, c.url, i)
        _wait_for(lambda: _metric(c.url, "lambdalytics_queue_records") >= 10)
        c.server.should_exit = True  # what SIGTERM does
        pool.shutdown(wait=True)
    accepted = {str(i) for i, code in answers.items() if code == 200}
    assert len(accepted) >= 10
    in_stream = {h.event_label for h in hits(stack)}
    # everything answered 200 is in Kinesis: nothing acknowledged and then dropped
    assert accepted <= in_stream
    assert set(answers.values()) <= {200, 503, 0}


@pytest.mark.parametrize("on_thread", [True, False], ids=["kinesis-thread", "collector-loop"])
def test_kinesis_calls_run_on_their_own_thread_unless_turned_off(stack: CollectorSettings,
                                                                on_thread: bool) -> None:
    threads: list[str] = []

    def plan(_n: int, _records: list[dict[str, Any]]) -> None:
        threads.append(threading.current_thread().name)  # the thread the call runs on

    overrides, _ = faulty(plan)
    settings = stack.model_copy(update={"kinesis_thread": on_thread})
    with running_collector(settings, overrides) as c:
        answers = send(c.url, 30)
        ready = httpx.get(f"{c.url}/readyz", timeout=10)
    assert [r.status_code for r in answers] == [200] * 30
    assert ready.status_code == 200
    assert ready.json()["checks"]["stream"] == "ok"  # describe_stream_summary there too
    assert threads
    assert set(threads) == {"kinesis" if on_thread else COLLECTOR_THREAD}
    assert sorted(h.event_label or "" for h in hits(stack)) == sorted(str(i) for i in range(30))


@pytest.mark.parametrize("on_thread", [True, False], ids=["kinesis-thread", "collector-loop"])
def test_the_kinesis_thread_has_a_session_of_its_own(stack: CollectorSettings, on_thread: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # a session's clients share its credentials and their asyncio refresh lock, which must
    # not be taken from two event loops on two threads
    sessions: dict[str, object] = {}
    real_client = aws.client

    def client(sess: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
        sessions[service] = sess
        return real_client(sess, service, *args, **kwargs)

    monkeypatch.setattr(aws, "client", client)
    with running_collector(stack.model_copy(update={"kinesis_thread": on_thread})) as c:
        assert [r.status_code for r in send(c.url, 5)] == [200] * 5
    assert set(sessions) == {"dynamodb", "kinesis"}
    assert (sessions["kinesis"] is not sessions["dynamodb"]) is on_thread


@pytest.mark.parametrize("on_thread", [True, False], ids=["kinesis-thread", "collector-loop"])
def test_the_kinesis_thread_shortens_the_switch_interval_while_it_runs(
        stack: CollectorSettings, on_thread: bool) -> None:
    # a busy hit path keeps the GIL from the thread's next step for up to the interval
    before = sys.getswitchinterval()
    settings = stack.model_copy(update={"kinesis_thread": on_thread,
                                        "kinesis_switch_interval_ms": 2.0})
    with running_collector(settings) as c:
        assert [r.status_code for r in send(c.url, 5)] == [200] * 5
        assert sys.getswitchinterval() == (pytest.approx(0.002) if on_thread else before)
    assert sys.getswitchinterval() == before
