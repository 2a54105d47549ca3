"""Data under Pulumi's mocks: the stream and tables are lambdalytics.resources' specs, exactly."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pulumi
import pytest

from infra import data
from infra.data import Data, DataArgs
from lambdalytics.resources import TableSpec, resources
from tests.infra import mocks
from tests.infra.mocks import Recorder

STREAM = "aws:kinesis/stream:Stream"
TABLE = "aws:dynamodb/table:Table"
# the TableSpec fields this module checks below: a new one fails the first test until it is
# mapped in infra/data.py and checked here
CHECKED_FIELDS = {"name", "hash_key", "range_key", "ttl_attribute", "point_in_time_recovery"}


def build(args: DataArgs) -> tuple[Recorder, dict[str, Any]]:
    out: dict[str, Any] = {}

    def program() -> None:
        d = Data("data", args)
        pulumi.Output.all(d.stream_name, d.stream_arn).apply(
            lambda v: out.update(stream_name=v[0], stream_arn=v[1]))
        pulumi.Output.all(**d.table_names).apply(lambda v: out.update(table_names=v))
        pulumi.Output.all(**d.table_arns).apply(lambda v: out.update(table_arns=v))
    return mocks.run(program), out


@pytest.fixture(scope="module")
def on_demand() -> tuple[Recorder, dict[str, Any]]:
    return build(DataArgs(prefix="lambdalytics", shard_count=None))


def test_every_table_spec_field_is_mapped_and_checked() -> None:
    fields = {f.name for f in dataclasses.fields(TableSpec)}
    assert fields == CHECKED_FIELDS == data.MAPPED_TABLE_FIELDS


def test_a_spec_field_without_a_mapping_stops_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MAPPED_TABLE_FIELDS", data.MAPPED_TABLE_FIELDS - {"ttl_attribute"})
    with pytest.raises(TypeError, match="ttl_attribute"):
        data.check_table(resources().properties)


@pytest.mark.parametrize("spec", resources("lambdalytics").tables, ids=lambda s: s.name)
def test_each_table_is_its_spec(on_demand: tuple[Recorder, dict[str, Any]], spec: TableSpec) -> None:
    rec, _ = on_demand
    (t,) = [r for r in rec.of_type(TABLE) if r.inputs["name"] == spec.name]
    i = t.inputs
    assert re.fullmatch(r"[a-zA-Z0-9_.-]{3,255}", i["name"])
    assert i["billingMode"] == "PAY_PER_REQUEST"
    assert "readCapacity" not in i
    assert "writeCapacity" not in i
    assert i["hashKey"] == spec.hash_key.name
    assert i.get("rangeKey") == (spec.range_key.name if spec.range_key else None)
    # DynamoDB wants exactly the attributes its keys use, each typed S, N or B
    assert sorted((a["name"], a["type"]) for a in i["attributes"]) == \
        sorted((k.name, k.type) for k in spec.key_attributes)
    assert {a["type"] for a in i["attributes"]} <= {"S", "N", "B"}
    if spec.ttl_attribute:
        assert i["ttl"] == {"attributeName": spec.ttl_attribute, "enabled": True}
    else:
        assert "ttl" not in i
    assert i["pointInTimeRecovery"] == {"enabled": spec.point_in_time_recovery}
    assert i["serverSideEncryption"] == {"enabled": True}
    assert i["deletionProtectionEnabled"] is True


def test_pitr_where_the_spec_says_and_one_table_per_spec(
        on_demand: tuple[Recorder, dict[str, Any]]) -> None:
    rec, _ = on_demand
    res = resources("lambdalytics")
    assert sorted(r.inputs["name"] for r in rec.of_type(TABLE)) == sorted(t.name for t in res.tables)
    pitr = {r.inputs["name"] for r in rec.of_type(TABLE) if r.inputs["pointInTimeRecovery"]["enabled"]}
    assert pitr == {res.properties.name, res.rollups.name}  # leases and recent are rebuildable


def test_on_demand_stream_encrypted_with_the_spec_retention(
        on_demand: tuple[Recorder, dict[str, Any]]) -> None:
    rec, _ = on_demand
    i = rec.one(STREAM).inputs
    spec = resources("lambdalytics").stream
    assert i["name"] == spec.name
    assert re.fullmatch(r"[a-zA-Z0-9_.-]{1,128}", i["name"])
    assert i["streamModeDetails"] == {"streamMode": "ON_DEMAND"}
    assert "shardCount" not in i  # AWS refuses a shard count in on-demand mode
    assert i["retentionPeriod"] == spec.retention_hours
    assert 24 <= i["retentionPeriod"] <= 8760
    assert i["encryptionType"] == "KMS"
    assert i["kmsKeyId"] == "alias/aws/kinesis"


def test_provisioned_stream_has_the_shard_count() -> None:
    rec, _ = build(DataArgs(prefix="lambdalytics", shard_count=4))
    i = rec.one(STREAM).inputs
    assert i["streamModeDetails"] == {"streamMode": "PROVISIONED"}
    assert i["shardCount"] == 4


def test_outputs_name_what_the_services_compute_from_the_prefix(
        on_demand: tuple[Recorder, dict[str, Any]]) -> None:
    _, out = on_demand
    res = resources("lambdalytics")
    assert out["stream_name"] == res.stream.name
    assert out["stream_arn"].endswith(":data-stream")
    assert out["table_names"] == {k: getattr(res, k).name for k in data.TABLE_KEYS}
    assert set(out["table_arns"]) == set(data.TABLE_KEYS)
    assert len(set(out["table_arns"].values())) == 4


def test_deletion_protection_can_be_turned_off_for_a_destroy() -> None:
    rec, _ = build(DataArgs(prefix="lambdalytics", shard_count=None, deletion_protection=False))
    assert {r.inputs["deletionProtectionEnabled"] for r in rec.of_type(TABLE)} == {False}


@pytest.mark.parametrize("bad", [{"shard_count": 0}, {"prefix": ""}, {"prefix": "x" * 41}])
def test_args_refuse_what_aws_would(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        DataArgs(**{"prefix": "ok", "shard_count": None, **bad})


def test_stream_and_table_names_are_checked() -> None:
    with pytest.raises(ValueError, match="stream name"):
        data.check_stream(dataclasses.replace(resources().stream, name="a b"))
    with pytest.raises(ValueError, match="24"):
        data.check_stream(dataclasses.replace(resources().stream, retention_hours=12))
    with pytest.raises(ValueError, match="table name"):
        data.check_table(dataclasses.replace(resources().leases, name="ab"))
