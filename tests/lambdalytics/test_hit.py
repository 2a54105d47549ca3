from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from lambdalytics import hit as hitmod
from lambdalytics.hit import Hit, Item, Promotion, columns
from lambdalytics.records import FilteredCount, decode, encode_counter
from lambdalytics.schema_doc import render


def full_hit() -> Hit:
    return Hit(
        hit_id=hitmod.random_hit_id(),
        received_time=hitmod.utc_ms(1764286760.123456),
        event_time=hitmod.utc_ms(1764286750.0),
        property_id="p1", tracking_id="UA-1-1", type="transaction",
        client_id="1.2", transaction_id="T1", transaction_revenue=12.5, currency="EUR",
        custom_dimensions={"1": "a"}, custom_metrics={"3": 2.5},
        event_params={"x": "y"}, event_params_num={"n": 1.0},
        items=(Item(item_id="SKU", price=9.99, quantity=2, params={"cd1": "red"}),),
        promotions=(Promotion(promotion_id="P", creative="banner"),),
        ip_truncated="203.0.113.0", ip_anonymized=True,
    )


def test_encode_round_trips_exactly() -> None:
    h = full_hit()
    assert hitmod.decode(hitmod.encode(h)) == h
    assert decode(hitmod.encode(h)) == h


def test_unset_fields_are_left_out_and_times_are_utc_z() -> None:
    obj = orjson.loads(hitmod.encode(Hit(hit_id="x", received_time=hitmod.utc_ms(0.5))))
    assert "page_path" not in obj
    assert "items" not in obj
    assert "custom_dimensions" not in obj
    assert obj["received_time"] == "1970-01-01T00:00:00.500000Z"
    assert obj["schema_version"] == hitmod.SCHEMA_VERSION


def test_times_are_truncated_to_milliseconds() -> None:
    assert hitmod.utc_ms(1.2345678) == datetime(1970, 1, 1, 0, 0, 1, 234000, tzinfo=UTC)


def test_derived_ids_are_stable_and_distinct() -> None:
    a = hitmod.derived_hit_id("ua", "tid=UA-1-1", "z=1")
    assert a == hitmod.derived_hit_id("ua", "tid=UA-1-1", "z=1")
    assert a != hitmod.derived_hit_id("ua", "tid=UA-1-1", "z=2")
    assert a != hitmod.derived_hit_id("ua", "tid=UA-1-1z=1")  # parts are delimited
    assert len(a) == 32
    assert len(hitmod.random_hit_id()) == 32


def test_columns_cover_every_field_with_a_kind_and_a_doc() -> None:
    cols = columns()
    assert [c.name for c in cols][:3] == ["schema_version", "hit_id", "received_time"]
    kinds = {c.name: c.kind for c in cols}
    assert kinds["event_time"] == "timestamp"
    assert kinds["event_value"] == "bigint"
    assert kinds["custom_metrics"] == "map<string,double>"
    assert kinds["items"] == "array<struct>"
    assert all(c.doc for c in cols)
    assert "ip" not in kinds  # only the truncated address is a column


def test_schema_document_lists_every_column() -> None:
    text = render()
    for c in columns():
        assert f"| `{c.name}` |" in text


def test_counter_records_round_trip() -> None:
    record = FilteredCount("p1", "UA-1-1", "invalid_hit", "2026-11-27T23:39Z", 5)
    assert decode(encode_counter(record)) == record
    assert record.partition_key() == "p1"


@pytest.mark.parametrize("junk", [b"", b"[]", b"null", b"{", b'{"nope": 1}', b"\xff"])
def test_garbage_records_raise_value_or_type_errors(junk: bytes) -> None:
    with pytest.raises((ValueError, TypeError)):
        decode(junk)
