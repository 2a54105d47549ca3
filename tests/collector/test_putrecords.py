"""PutRecords through collector.putrecords: the body on the wire is botocore's own, the
answer decodes as botocore decodes it, errors stay botocore's. Over HTTP against moto server
and kinesis-mock (two independent implementations of the Kinesis API)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

from collector import putrecords
from lambdalytics import aws

REGION = "us-east-1"

RECORDS: list[dict[str, Any]] = [
    {"Data": bytes(range(256)), "PartitionKey": "1814284729.1790764669"},
    {"Data": '{"page_title":"Zürich – Übersicht"}'.encode(), "PartitionKey": "clé-ü-✓"},
    {"Data": b"x" * 3000, "PartitionKey": "k", "ExplicitHashKey": str(2**127)},
    {"Data": "text data, as botocore takes it too", "PartitionKey": "t"},
]


@pytest.fixture(params=["moto", "kinesis-mock"])
def endpoint(request: pytest.FixtureRequest) -> str:
    fixture = "moto_url" if request.param == "moto" else "kinesis_mock_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def stream(endpoint: str) -> str:
    name = "t" + secrets.token_hex(5)
    plain = boto3.client("kinesis", endpoint_url=endpoint, region_name=REGION)
    plain.create_stream(StreamName=name, ShardCount=1)
    for _ in range(100):  # kinesis-mock: CREATING for half a second
        if plain.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                "StreamStatus"] == "ACTIVE":
            return name
        time.sleep(0.1)
    raise AssertionError(f"stream {name} never became ACTIVE")


async def kinesis(endpoint: str, *, validate: bool = False) -> AsyncIterator[Any]:
    async with aws.session().create_client(
            "kinesis", endpoint_url=endpoint, region_name=REGION,
            config=aws.config(max_attempts=1, validate=validate)) as client:
        yield client


@pytest.fixture
async def ours(endpoint: str) -> AsyncIterator[Any]:
    async for client in kinesis(endpoint):
        assert putrecords.install(client)
        yield client


@pytest.fixture
async def botocores(endpoint: str) -> AsyncIterator[Any]:
    async for client in kinesis(endpoint):
        yield client


def bodies_sent(client: Any) -> list[bytes]:
    sent: list[bytes] = []
    client.meta.events.register("before-send.kinesis.PutRecords",
                                lambda request, **_: sent.append(request.body))
    return sent


def read_back(endpoint: str, stream: str) -> list[tuple[str, bytes]]:
    plain = boto3.client("kinesis", endpoint_url=endpoint, region_name=REGION)
    shard = plain.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = plain.get_shard_iterator(StreamName=stream, ShardId=shard,
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return [(r["PartitionKey"], r["Data"]) for r in plain.get_records(ShardIterator=it)["Records"]]


async def test_the_body_sent_is_the_one_botocore_would_send(ours: Any, botocores: Any,
                                                            stream: str) -> None:
    ours_sent, botocores_sent = bodies_sent(ours), bodies_sent(botocores)
    await ours.put_records(StreamName=stream, Records=RECORDS)
    await botocores.put_records(StreamName=stream, Records=RECORDS)
    assert len(ours_sent) == len(botocores_sent) == 1
    assert orjson.loads(ours_sent[0]) == orjson.loads(botocores_sent[0])
    assert orjson.loads(ours_sent[0])["Records"][3]["Data"] != ""  # not the serializer's []


async def test_the_records_land_as_given_and_the_answer_reads_as_botocores(
        endpoint: str, ours: Any, botocores: Any, stream: str) -> None:
    mine = await ours.put_records(StreamName=stream, Records=RECORDS)
    theirs = await botocores.put_records(StreamName=stream, Records=RECORDS)
    for answer in (mine, theirs):
        assert answer["FailedRecordCount"] == 0
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert mine.keys() == theirs.keys()
    assert [r.keys() for r in mine["Records"]] == [r.keys() for r in theirs["Records"]]
    assert all(set(r) == {"SequenceNumber", "ShardId"} for r in mine["Records"])
    sent = [(r["PartitionKey"], r["Data"] if isinstance(r["Data"], bytes) else r["Data"].encode())
            for r in RECORDS]
    assert read_back(endpoint, stream) == sent + sent


async def test_an_error_answer_is_still_botocores(ours: Any) -> None:
    with pytest.raises(ClientError) as caught:
        await ours.put_records(StreamName="no-such-stream", Records=RECORDS)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


async def test_a_partial_failure_decodes_as_botocore_decodes_it(ours: Any) -> None:
    # no emulator fails single entries, so the answer Kinesis gives then is decoded here
    # through the client's own before-parse event, against botocore's parser; an entry
    # written with null error members is how kinesis-mock answers
    body = orjson.dumps({
        "FailedRecordCount": 1, "EncryptionType": "NONE",
        "Records": [
            {"SequenceNumber": "49546986683135544286507457936321625675700192471156785154",
             "ShardId": "shardId-000000000000"},
            {"SequenceNumber": "49546986683135544286507457936321625675700192471156785155",
             "ShardId": "shardId-000000000000", "ErrorCode": None, "ErrorMessage": None},
            {"ErrorCode": "ProvisionedThroughputExceededException",
             "ErrorMessage": "Rate exceeded for shard shardId-000000000000 in stream s."},
        ],
    })
    model = ours.meta.service_model.operation_model("PutRecords")
    response = {"status_code": 200, "headers": {}, "body": body}
    customized: dict[str, Any] = {}
    await ours.meta.events.emit("before-parse.kinesis.PutRecords", operation_model=model,
                                response_dict=response, customized_response_dict=customized)
    parsed = create_parser("json").parse(response, model.output_shape)
    parsed.update(customized)
    expected = create_parser("json").parse(
        {"status_code": 200, "headers": {}, "body": body}, model.output_shape)
    assert parsed == expected
    assert [("ErrorCode" in r) for r in parsed["Records"]] == [False, False, True]


async def test_it_refuses_a_client_it_cannot_serve(moto_url: str) -> None:
    async for client in kinesis(moto_url, validate=True):
        with pytest.raises(ValueError, match="validation"):
            putrecords.install(client)
    async with aws.session().create_client("dynamodb", endpoint_url=moto_url,
                                           region_name=REGION) as ddb:
        with pytest.raises(ValueError, match="not a Kinesis client"):
            putrecords.install(ddb)


async def test_another_protocol_keeps_botocores_codec(
        moto_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        ) -> None:
    name = "t" + secrets.token_hex(5)
    plain = boto3.client("kinesis", endpoint_url=moto_url, region_name=REGION)
    plain.create_stream(StreamName=name, ShardCount=1)
    async for client in kinesis(moto_url):
        # what a botocore that spoke CBOR to Kinesis would say (the cached property's slot)
        monkeypatch.setitem(vars(client.meta.service_model), "resolved_protocol",
                            "smithy-rpc-v2-cbor")
        with caplog.at_level(logging.WARNING, logger="collector.putrecords"):
            assert putrecords.install(client) is False
        assert "keeps botocore's own codec" in caplog.text
        monkeypatch.undo()
        params: dict[str, Any] = {"StreamName": name, "Records": RECORDS[:1]}
        await client.meta.events.emit("before-parameter-build.kinesis.PutRecords",
                                      params=params, context={},
                                      model=client.meta.service_model.operation_model("PutRecords"))
        assert params["Records"] == RECORDS[:1]  # nothing set aside: no handler of ours
        answer = await client.put_records(StreamName=name, Records=RECORDS[:1])
        assert answer["FailedRecordCount"] == 0
