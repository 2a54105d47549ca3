"""Against an emulator, PutRecords calls to one stream run one at a time at the client
boundary, whatever the sink's ``max_in_flight`` says (moto overwrites records under
concurrent calls: reference/aws.md §6.1), and the client waits long for an emulator's answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from collector.app import Overrides
from collector.serial import EMULATOR_READ_TIMEOUT_S, OneCallPerStream
from collector.settings import CollectorSettings
from collector.sink import GroupCommitSink, KinesisWriter, SinkLimits
from lambdalytics import aws
from lambdalytics.hit import Hit
from tests.collector.test_sink_faults import send
from tests.faults import FaultyKinesis
from tests.support import UA_TID, create_stack, read_records, running_collector


class SlowClient:
    """A PutRecords client whose calls take 5 ms; notes how many run at once per stream."""

    def __init__(self) -> None:
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.most_overall = 0
        self.order: list[tuple[str, bytes]] = []

    async def put_records(self, *, Records: Any, StreamName: str) -> Any:
        self.running[StreamName] = self.running.get(StreamName, 0) + 1
        self.most[StreamName] = max(self.most.get(StreamName, 0), self.running[StreamName])
        self.most_overall = max(self.most_overall, sum(self.running.values()))
        self.order += [(StreamName, r["Data"]) for r in Records]
        try:
            await asyncio.sleep(0.005)
        finally:
            self.running[StreamName] -= 1
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1"}] * len(Records)}


async def calls(client: Any, stream: str, n: int) -> list[Any]:
    return await asyncio.gather(*(
        client.put_records(StreamName=stream, Records=[{"Data": b"%d" % i, "PartitionKey": "k"}])
        for i in range(n)))


async def test_calls_to_one_stream_take_turns_in_the_order_asked_and_streams_do_not_wait() -> None:
    slow = SlowClient()
    guard = OneCallPerStream(slow)
    await asyncio.gather(calls(guard, "a", 10), calls(guard, "b", 10))
    assert slow.most == {"a": 1, "b": 1}
    assert slow.most_overall == 2  # one stream's turn does not hold up the other's
    assert [data for stream, data in slow.order if stream == "a"] == [b"%d" % i for i in range(10)]


@pytest.mark.parametrize("guarded", [False, True])
async def test_a_sink_with_four_calls_in_flight_sends_one_at_a_time_through_the_guard(
        guarded: bool) -> None:
    slow = SlowClient()
    client: Any = OneCallPerStream(slow) if guarded else slow
    sink = GroupCommitSink(KinesisWriter(client, "s"), SinkLimits(max_in_flight=4, max_records=5))
    await sink.start()
    await asyncio.gather(*(sink.put(b"%d" % i, str(i)) for i in range(100)))
    await sink.close()
    assert slow.most["s"] == (1 if guarded else 4)
    assert sorted(data for _, data in slow.order) == sorted(b"%d" % i for i in range(100))


@pytest.mark.parametrize(("url", "emulated"), [
    ("http://127.0.0.1:4566", True),
    ("http://localhost:5000", True),
    ("http://moto:5000", True),
    ("https://kinesis.example.com", True),
    ("https://kinesis.us-east-1.amazonaws.com", False),
    ("https://KINESIS.eu-west-1.AMAZONAWS.COM.", False),
    ("https://vpce-0abc-1234.kinesis.us-east-1.vpce.amazonaws.com", False),
    ("https://kinesis.cn-north-1.amazonaws.com.cn", False),
    ("https://kinesis.us-east-1.api.aws", False),
    ("https://amazonaws.com.evil.example", True),
    (None, False),
])
def test_what_counts_as_an_emulator(url: str | None, emulated: bool) -> None:
    assert aws.is_emulator(url) is emulated


def test_the_collector_guards_its_calls_to_moto_and_waits_long_for_answers(
        settings: CollectorSettings) -> None:
    create_stack(settings, [UA_TID])
    made: list[FaultyKinesis] = []
    timeouts: list[float] = []

    def wrap(real: Any) -> FaultyKinesis:  # inside the guard: it sees what moto sees
        timeouts.append(real.meta.config.read_timeout)
        made.append(FaultyKinesis(real, lambda _n, _r: None, delay=0.01))
        return made[0]

    four = settings.model_copy(update={"sink_max_in_flight": 4, "sink_linger_ms": 0})
    with running_collector(four, Overrides(wrap_kinesis=wrap)) as c:
        answers = send(c.url, 300, workers=32)
    assert [a.status_code for a in answers] == [200] * 300
    assert len(made[0].calls) > 4, "the hits went out in several calls"
    assert made[0].most_running == 1
    assert timeouts == [EMULATOR_READ_TIMEOUT_S]
    assert len([r for r in read_records(settings) if isinstance(r, Hit)]) == 300
