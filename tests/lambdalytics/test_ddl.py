from __future__ import annotations

import dataclasses
import gzip
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import duckdb
import orjson
import pytest
import sqlglot
from sqlglot import exp

from lambdalytics import archive_layout as layout
from lambdalytics import ddl
from lambdalytics import hit as hitmod
from lambdalytics.hit import HIT_TYPES, Column, Hit, Item, Promotion
from lambdalytics.records import FilteredCount, encode_counter

ROOT = "s3://example-archive/pre/"


@dataclass(frozen=True, slots=True)
class HitWithANewField(Hit):
    zz_new_metric: float | None = field(default=None, metadata={"doc": "a column added to the schema"})


def column_defs(sql: str, dialect: str) -> list[tuple[str, str]]:
    """(name, type) of every top-level column definition, as sqlglot parsed them."""
    tree = sqlglot.parse_one(sql, read=dialect)
    assert isinstance(tree, exp.Create)
    schema = tree.this
    assert isinstance(schema, exp.Schema)
    out = [(c.name, c.args["kind"].sql(dialect)) for c in schema.expressions]
    partitioned = tree.find(exp.PartitionedByProperty)
    if dialect == "athena" and partitioned is not None:
        out += [(c.name, c.args["kind"].sql(dialect)) for c in partitioned.this.expressions]
    return out


def properties(sql: str, dialect: str) -> dict[str, str]:
    tree = sqlglot.parse_one(sql, read=dialect)
    return {p.name: p.args["value"].this for p in tree.find_all(exp.Property)
            if isinstance(p.args.get("value"), exp.Literal)}


# --- generated from the schema --------------------------------------------------------------


def test_columns_are_the_hit_schema_minus_type_with_partitions_last() -> None:
    t = ddl.hits_table()
    schema_names = [c.name for c in hitmod.columns(Hit)]
    assert [c.name for c in t.columns] == [n for n in schema_names if n != "type"]
    assert t.column_names[-3:] == ("property", "type", "date")
    assert tuple(p.name for p in t.partitions) == layout.HITS_PARTITIONS
    f = ddl.filtered_table()
    assert [c.name for c in f.columns] == [x.name for x in dataclasses.fields(FilteredCount)]
    assert f.column_names[-2:] == ("property", "date")
    assert all(c.doc for c in f.columns), "every FilteredCount field needs a doc in ddl._FILTERED_DOCS"


@pytest.mark.parametrize("engine", ddl.ENGINES)
def test_a_new_schema_field_appears_in_every_definition(engine: ddl.Engine) -> None:
    t = ddl.hits_table(HitWithANewField)
    before = ddl.render(engine, "hits", ROOT)
    after = ddl.render(engine, t, ROOT)
    assert "zz_new_metric" not in before
    assert "zz_new_metric" in after
    names = [c["Name"] for c in ddl.glue_table_input(t, ROOT)["StorageDescriptor"]["Columns"]]
    assert names[-1] == "zz_new_metric"
    if engine != "duckdb":
        cols = column_defs(after, engine)
        assert cols[-4][0] == "zz_new_metric"  # the last data column, before the partitions
        assert cols[-4][1] == "DOUBLE"


def test_an_unknown_kind_is_an_error_not_a_guess() -> None:
    t = dataclasses.replace(ddl.hits_table(), columns=(Column("x", "decimal(10,2)", "money"),))
    for engine in ddl.ENGINES:
        with pytest.raises(TypeError, match="decimal"):
            ddl.render(engine, t, ROOT)
    bad = dataclasses.replace(ddl.hits_table(), columns=(Column("Bad-Name", "string", ""),))
    with pytest.raises(ValueError, match="lower-case"):
        ddl.render("athena", bad, ROOT)


def test_types_map_from_the_hit_kinds() -> None:
    t = ddl.hits_table()
    by_name = {c.name: c for c in t.columns}
    assert ddl.hive_type(by_name["event_time"]) == "timestamp"
    assert ddl.hive_type(by_name["custom_metrics"]) == "map<string,double>"
    assert ddl.hive_type(by_name["promotions"]) == (
        "array<struct<promotion_id:string,promotion_name:string,creative:string,position:string>>")
    assert ddl.hive_type(by_name["items"]).endswith(",params:map<string,string>>>")
    assert ddl.trino_type(by_name["event_time"]) == "timestamp(3)"
    assert ddl.trino_type(by_name["custom_dimensions"]) == "map(varchar, varchar)"
    assert ddl.trino_type(by_name["promotions"]) == (
        'array(row("promotion_id" varchar, "promotion_name" varchar, "creative" varchar, '
        '"position" varchar))')
    assert ddl.duckdb_type(by_name["session_number"]) == "BIGINT"
    assert ddl.duckdb_type(by_name["is_bot"]) == "BOOLEAN"
    assert ddl.duckdb_type(by_name["items"]).endswith('"params" MAP(VARCHAR, VARCHAR))[]')
    assert t.struct_fields("items")[:3] == ("list_kind", "list_name", "item_id")
    with pytest.raises(ValueError, match="not an array<struct> column"):
        t.struct_fields("page_path")


# --- Athena / Glue --------------------------------------------------------------------------


@pytest.mark.parametrize("table", ddl.TABLES)
def test_athena_ddl_parses_in_the_athena_dialect(table: str) -> None:
    t = ddl.table(table)
    sql = ddl.render("athena", table, ROOT, database="analytics")
    assert sql.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `analytics`.")
    cols = column_defs(sql, "athena")
    assert [n for n, _ in cols] == list(t.column_names)
    assert "`date` string" in sql  # reserved words quoted (all identifiers are)
    assert "`count` bigint" in sql if table == "filtered" else "`type` string" in sql
    props = properties(sql, "athena")
    if t.format == "json":
        assert props["timestamp.formats"] == ddl.TIMESTAMP_FORMATS  # the escaping survives parsing
    else:
        assert "timestamp.formats" not in props  # Parquet holds typed timestamps
    assert props["projection.enabled"] == "true"
    assert props["projection.property.type"] == "injected"
    assert props["projection.date.type"] == "date"
    assert props["projection.date.format"] == "yyyy-MM-dd"
    assert props["projection.date.range"] == "2024-01-01,NOW"
    assert props["storage.location.template"] == t.location_template(ROOT)
    tree = sqlglot.parse_one(sql, read="athena")
    location = tree.find(exp.LocationProperty)
    assert location is not None
    assert location.this.this == f"{ROOT}{table}/"
    serde = tree.find(exp.RowFormatSerdeProperty)
    assert serde is not None
    assert serde.this.this == {"json": "org.apache.hive.hcatalog.data.JsonSerDe",
                               "parquet": ddl.PARQUET_SERDE}[t.format]


def test_athena_hits_projection_enumerates_the_hit_types() -> None:
    props = properties(ddl.render("athena", "hits", ROOT, date_range_start="NOW-3YEARS"), "athena")
    assert props["projection.type.type"] == "enum"
    assert props["projection.type.values"].split(",") == list(HIT_TYPES)
    assert props["projection.date.range"] == "NOW-3YEARS,NOW"


def test_location_template_is_where_the_layout_writes() -> None:
    for bucket, prefix in (("bkt", ""), ("bkt", "a/b/")):
        root = layout.archive_root(bucket, prefix)
        template = ddl.hits_table().location_template(root)
        key = layout.hits_key(prefix, "p1", "event", "2026-11-28", "s-1-2")
        filled = template.replace("${property}", "p1").replace("${type}", "event").replace(
            "${date}", "2026-11-28")
        assert f"s3://{bucket}/{key}" == filled + "s-1-2.json.gz"
        template = ddl.filtered_table().location_template(root)
        key = layout.filtered_key(prefix, None, "2026-11-28", "s-1-2")
        filled = template.replace("${property}", "_unknown").replace("${date}", "2026-11-28")
        assert f"s3://{bucket}/{key}" == filled + "s-1-2.json.gz"


def test_glue_table_input_has_the_projection_and_the_columns() -> None:
    t = ddl.hits_table()
    ti = ddl.glue_table_input(t, ROOT)
    assert ti["TableType"] == "EXTERNAL_TABLE"
    params = ti["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.property.type"] == "injected"
    assert params["projection.type.type"] == "enum"
    assert params["projection.type.values"] == ",".join(HIT_TYPES)
    assert params["projection.date.type"] == "date"
    assert params["projection.date.interval.unit"] == "DAYS"
    assert params["storage.location.template"] == (
        "s3://example-archive/pre/hits/property=${property}/type=${type}/date=${date}/")
    assert [k["Name"] for k in ti["PartitionKeys"]] == ["property", "type", "date"]
    assert {k["Type"] for k in ti["PartitionKeys"]} == {"string"}
    sd = ti["StorageDescriptor"]
    assert sd["Location"] == "s3://example-archive/pre/hits/"
    assert sd["SerdeInfo"] == {"SerializationLibrary": "org.apache.hive.hcatalog.data.JsonSerDe",
                               "Parameters": {"timestamp.formats": ddl.TIMESTAMP_FORMATS}}
    assert [c["Name"] for c in sd["Columns"]] == [c.name for c in t.columns]
    assert all(len(c["Comment"]) <= 255 for c in sd["Columns"])
    # the Athena DDL declares the same columns and types as Glue stores them
    athena_types = dict(column_defs(ddl.render("athena", t, ROOT), "athena"))
    for c in sd["Columns"]:
        glue_as_sql = sqlglot.parse_one(f"CREATE TABLE x (c {c['Type']})", read="athena")
        glue_type = column_defs(glue_as_sql.sql("athena"), "athena")[0][1]
        assert glue_type.replace('"', "") == athena_types[c["Name"]].replace('"', "")


def test_glue_accepts_the_table_input(moto_url: str) -> None:
    glue = boto3.client("glue", endpoint_url=moto_url, region_name="us-east-1")
    db = "db_" + secrets.token_hex(4)
    glue.create_database(DatabaseInput={"Name": db})
    for name in ddl.TABLES:
        ti = ddl.glue_table_input(ddl.table(name), layout.archive_root("bkt-x", "a/"))
        glue.create_table(DatabaseName=db, TableInput=ti)  # botocore validates the shape
        got = glue.get_table(DatabaseName=db, Name=name)["Table"]
        assert got["Parameters"] == ti["Parameters"]
        assert got["PartitionKeys"] == ti["PartitionKeys"]
        assert got["StorageDescriptor"]["Columns"] == ti["StorageDescriptor"]["Columns"]
        assert got["StorageDescriptor"]["SerdeInfo"] == ti["StorageDescriptor"]["SerdeInfo"]


# --- timestamps: the SerDe's formats read what hit.encode writes ----------------------------

_JODA_FIELDS: dict[str, Callable[[int], str]] = {
    "y": lambda n: r"(?P<y>\d{4})",
    "M": lambda n: r"(?P<M>\d{2})",
    "d": lambda n: r"(?P<d>\d{2})",
    "H": lambda n: r"(?P<H>\d{2})",
    "m": lambda n: r"(?P<m>\d{2})",
    "s": lambda n: r"(?P<s>\d{2})",
    # Joda: appendFractionOfSecond(n, n) parses 1..n digits and keeps milliseconds
    "S": lambda n: rf"(?P<S>\d{{1,{n}}})",
    # Joda: 'ZZ' = appendTimeZoneOffset(null, "Z", true, 2, 2): "Z" or ±hh:mm
    "Z": lambda n: r"(?P<Z>Z|[+-]\d{2}:\d{2})",
}


def joda(pattern: str) -> re.Pattern[str]:
    """A regex for the subset of Joda DateTimeFormat patterns we use (letters we do not model
    are an error, so a changed pattern cannot pass unchecked)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            j = pattern.index("'", i + 1)
            out.append(re.escape(pattern[i + 1:j] or "'"))
            i = j + 1
        elif ch.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == ch:
                j += 1
            out.append(_JODA_FIELDS[ch](j - i))
            i = j
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out) + r"\Z")


def serde_parse(value: str) -> datetime | None:
    """What the SerDe makes of a string: the first format that parses all of it, to the ms."""
    assert "\\" not in ddl.TIMESTAMP_FORMATS
    for pattern in ddl.TIMESTAMP_FORMATS.split(","):
        m = joda(pattern).match(value)
        if m:
            g = m.groupdict()
            ms = int((g.get("S") or "0").ljust(3, "0")[:3])
            t = datetime(int(g["y"]), int(g["M"]), int(g["d"]), int(g["H"]), int(g["m"]),
                         int(g["s"]), ms * 1000, tzinfo=UTC)
            z = g["Z"]
            if z != "Z":
                sign = 1 if z[0] == "+" else -1
                t -= sign * timedelta(hours=int(z[1:3]), minutes=int(z[4:6]))
            return t
    return None


@pytest.mark.parametrize("when", [
    hitmod.utc_ms(1795000000.0),  # whole second: no fraction written
    hitmod.utc_ms(1795000000.5),
    hitmod.utc_ms(1795000000.123),
    hitmod.utc_ms(1795000000.001),
    datetime(2026, 11, 28, 2, 54, 0, 123456, tzinfo=UTC),  # finer than the schema's ms
    datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(2026, 11, 28, 3, 54, 0, 250000, tzinfo=timezone(timedelta(hours=1))),
])
def test_timestamp_formats_read_what_hit_encode_writes(when: datetime) -> None:
    encoded = orjson.loads(hitmod.encode(Hit(received_time=when, event_time=when)))
    fields = orjson.loads(hitmod.encode_fields({"received_time": when, "event_time": when}))
    truncated = when.astimezone(UTC).replace(microsecond=when.microsecond // 1000 * 1000)
    for obj in (encoded, fields):
        for key in ("received_time", "event_time"):
            assert serde_parse(obj[key]) == truncated, obj[key]


def test_the_format_check_can_fail() -> None:
    assert serde_parse("2026-11-28 02:54:00") is None  # java.sql.Timestamp style
    assert serde_parse("2026-11-28T02:54:00") is None  # no zone
    assert serde_parse("2026-11-28T02:54:00.1234567890Z") is None  # 10 digits
    with pytest.raises(KeyError):
        joda("yyyy-MM-dd'T'HH:mm:ssXXX")


# --- Trino ----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ddl.TABLES)
def test_trino_ddl_parses_in_the_trino_dialect(table: str) -> None:
    t = ddl.table(table)
    sql = ddl.render("trino", table, ROOT, catalog="lake", schema="web")
    assert sql.startswith('CREATE TABLE IF NOT EXISTS "lake"."web".')
    cols = column_defs(sql, "trino")
    assert [n for n, _ in cols] == list(t.column_names)  # partition columns last
    assert cols[-1] == ("date", "VARCHAR")
    assert '"date" varchar' in sql
    tree = sqlglot.parse_one(sql, read="trino")
    with_props = {p.name.lower(): p for p in tree.find_all(exp.Property)}
    assert tree.find(exp.FileFormatProperty) is not None
    assert f"format = '{t.format.upper()}'" in sql
    assert with_props["external_location"].args["value"].this == f"{ROOT}{table}/"
    partitioned = tree.find(exp.PartitionedByProperty)
    assert partitioned is not None
    assert [e.this for e in partitioned.this.expressions] == [p.name for p in t.partitions]
    if t.format == "parquet":  # typed timestamps: no reader properties
        assert "extra_properties" not in with_props
        return
    extra = with_props["extra_properties"].args["value"]
    assert isinstance(extra, exp.Map)
    assert [k.this for k in extra.args["keys"].expressions] == ["timestamp.formats"]
    assert [v.this for v in extra.args["values"].expressions] == [ddl.TIMESTAMP_FORMATS]


def test_trino_hits_ddl_types() -> None:
    cols = dict(column_defs(ddl.render("trino", "hits", ROOT), "trino"))
    assert cols["event_time"] == "TIMESTAMP(3)"
    assert cols["custom_metrics"] == "MAP(VARCHAR, DOUBLE)"
    assert cols["items"].startswith('ARRAY(ROW("list_kind" VARCHAR')
    assert cols["type"] == "VARCHAR"


def test_trino_sync_partitions_call() -> None:
    sql = ddl.trino_sync_partitions(ddl.hits_table(), catalog="hive", schema="web")
    assert sql == ("CALL \"hive\".system.sync_partition_metadata(schema_name => 'web', "
                   "table_name => 'hits', mode => 'ADD')")
    tree = sqlglot.parse_one(sql, read="trino")
    assert tree.sql("trino").startswith("CALL")


def test_render_rejects_unknown_engines_and_tables() -> None:
    with pytest.raises(ValueError, match="engine"):
        ddl.render("spark", "hits", ROOT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="table"):
        ddl.render("athena", "landing", ROOT)


# --- DuckDB over S3 (moto) ------------------------------------------------------------------

DAY1 = datetime(2026, 11, 27, tzinfo=UTC)
DAY2 = datetime(2026, 11, 28, tzinfo=UTC)


def make_hits() -> list[Hit]:
    """Two properties, several types, two UTC dates (with hits on both sides of midnight),
    maps, items and promotions on some hits, most optional fields unset."""
    hits: list[Hit] = []

    def add(i: int, prop: str, type_: str, when: datetime, **kw: Any) -> None:
        hits.append(Hit(
            hit_id=f"{i:032x}", property_id=prop, tracking_id=f"UA-{len(prop)}-1", type=type_,
            received_time=when + timedelta(seconds=2), event_time=when,
            client_id=f"c{i % 5}", **kw))

    i = 0
    for day in (DAY1, DAY2):
        for n in range(7):
            when = day + timedelta(hours=3 * n, milliseconds=137 * n)
            add(i := i + 1, "p1", "pageview", when, page_path=f"/page/{n % 3}",
                page_title=None if n % 2 else "Title",
                custom_dimensions={"1": "member"} if n % 3 == 0 else {"2": "x"} if n == 4 else {})
            if n % 2 == 0:
                add(i := i + 1, "p2", "pageview", when + timedelta(minutes=1), page_path="/")
        for n in range(3):
            add(i := i + 1, "p1", "event", day + timedelta(hours=10, seconds=n),
                event_category="video", event_action="play", event_value=n,
                event_params={"percent": str(25 * n)}, event_params_num={"seconds": 1.5 * n},
                non_interaction=n == 1)
    # transactions with items and promotions on p1
    add(i := i + 1, "p1", "transaction", DAY1 + timedelta(hours=13), transaction_id="T1",
        transaction_revenue=30.5, currency="EUR",
        items=(Item(item_id="SKU1", item_name="Mug", price=10.0, quantity=2, params={"cd1": "red"}),
               Item(item_id="SKU2", price=10.5, quantity=1)),
        promotions=(Promotion(promotion_id="PR1", position="top"),))
    add(i := i + 1, "p1", "transaction", DAY2 + timedelta(hours=1), transaction_id="T2",
        transaction_revenue=20.0, currency="EUR",
        items=(Item(item_id="SKU1", price=10.0, quantity=2),))
    add(i := i + 1, "p2", "item", DAY2 + timedelta(hours=2), item_name="Hat", item_quantity=3,
        items=(Item(list_kind="impression", list_name="search", item_id="SKU9", position=1),))
    # the last millisecond of day 1, received on day 2: it belongs to day 1
    add(i := i + 1, "p1", "pageview", DAY2 - timedelta(milliseconds=1), page_path="/late",
        custom_metrics={"1": 2.5})
    add(i := i + 1, "p1", "exception", DAY2, exception_description="boom", exception_fatal=False,
        user_properties={"plan": "pro"}, user_properties_num={"age": 41.0}, is_bot=False)
    return hits


def put_archive(s3: Any, bucket: str, prefix: str, hits: list[Hit]) -> list[str]:
    """Write hits as the archiver will: grouped by key, two segments where a group has > 3."""
    groups: dict[tuple[str, str, str], list[Hit]] = defaultdict(list)
    for h in hits:
        groups[(h.property_id, h.type, layout.date_value(h.event_time))].append(h)
    keys = []
    for n, ((prop, type_, day), group) in enumerate(sorted(groups.items())):
        chunks = [group[:3], group[3:]] if len(group) > 3 else [group]
        for c, chunk in enumerate(chunks):
            seg = layout.segment_name(f"shardId-{n:012d}", str(100 * c + 1), str(100 * c + len(chunk)))
            key = layout.hits_key(prefix, prop, type_, day, seg)
            body = b"".join(hitmod.encode(h) + b"\n" for h in chunk)
            s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body))
            keys.append(key)
    return keys


@pytest.fixture(scope="module")
def archive(moto_url: str) -> dict[str, Any]:
    # module scope: written once, read by every test below (explicit credentials and endpoint,
    # since the function-scoped AWS isolation is not in force yet)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = "ddl-" + secrets.token_hex(6)
    s3.create_bucket(Bucket=bucket)
    prefix = "t" + secrets.token_hex(3) + "/"
    hits = make_hits()
    keys = put_archive(s3, bucket, prefix, hits)
    counters = [
        FilteredCount("p1", "UA-2-1", "bot", "2026-11-27T10:01Z", 4,
                      "Instagram on Android (crawler:AP3A.240617.008)"),
        FilteredCount("p1", "UA-2-1", "bot", "2026-11-27T10:02Z", 1),  # before agent families
        FilteredCount("p1", "UA-2-1", "hostname", "2026-11-28T00:00Z", 2),
        FilteredCount(None, "UA-999-1", "unknown_property", "2026-11-28T09:30Z", 7),
    ]
    for n, c in enumerate(counters):
        key = layout.filtered_key(prefix, c.property_id, c.minute[:10], f"shardId-0-{n}-{n}")
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(encode_counter(c) + b"\n"))
    return {"s3": s3, "bucket": bucket, "prefix": prefix, "hits": hits, "keys": keys,
           "counters": counters, "endpoint": moto_url}


@pytest.fixture
def conn(archive: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    ddl.register_s3(c, endpoint_url=archive["endpoint"], region="us-east-1")
    has_data = ddl.create_duckdb_views(c, layout.archive_root(archive["bucket"], archive["prefix"]))
    assert has_data == {"hits": True, "filtered": True, "lake": False}
    yield c
    c.close()


def utc_naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def expected_row(h: Hit, t: ddl.Table) -> tuple[Any, ...]:
    """What the view should return for a hit, built from the Hit object, not from the JSON."""
    def value(v: Any) -> Any:
        if isinstance(v, datetime):
            return utc_naive(v)
        if isinstance(v, Mapping):
            return dict(v) or None  # an empty map is left out of the JSON: NULL
        if isinstance(v, tuple):
            return [{k: (dict(x) if isinstance(x, Mapping) else x)
                     for k, x in dataclasses.asdict(e).items()} for e in v] or None
        return v
    row = [value(getattr(h, c.name)) for c in t.columns]
    return (*row, h.property_id, h.type, layout.date_value(h.event_time))


def test_the_view_has_the_athena_columns_and_types(conn: duckdb.DuckDBPyConnection) -> None:
    t = ddl.hits_table()
    described = conn.execute('DESCRIBE "hits"').fetchall()
    assert [r[0] for r in described] == list(t.column_names)
    types = {r[0]: r[1].replace('"', "") for r in described}
    for c in t.columns:
        assert types[c.name] == ddl.duckdb_type(c).replace('"', ""), c.name
    assert types["event_time"] == "TIMESTAMP"  # UTC, no time zone: Athena's `timestamp`
    assert (types["property"], types["type"], types["date"]) == ("VARCHAR",) * 3


def test_every_hit_reads_back_exactly(conn: duckdb.DuckDBPyConnection, archive: dict[str, Any]) -> None:
    t = ddl.hits_table()
    rows = conn.execute('SELECT * FROM "hits" ORDER BY hit_id').fetchall()
    expected = [expected_row(h, t) for h in sorted(archive["hits"], key=lambda h: h.hit_id)]
    assert len(rows) == len(expected) == len(archive["hits"])
    for got, want in zip(rows, expected, strict=True):
        assert got == want


def test_counts_per_property_type_and_date(conn: duckdb.DuckDBPyConnection,
                                           archive: dict[str, Any]) -> None:
    got = {(p, t, d): n for p, t, d, n in conn.execute(
        'SELECT property, type, "date", count(*) FROM hits GROUP BY ALL').fetchall()}
    want = Counter((h.property_id, h.type, layout.date_value(h.event_time)) for h in archive["hits"])
    assert got == dict(want)
    # by hand: 7 + 1 late pageviews for p1 on day 1, the exception at midnight on day 2
    assert got[("p1", "pageview", "2026-11-27")] == 8
    assert got[("p1", "exception", "2026-11-28")] == 1
    assert got[("p2", "pageview", "2026-11-28")] == 4


def test_map_lookup(conn: duckdb.DuckDBPyConnection, archive: dict[str, Any]) -> None:
    got = conn.execute("SELECT count(*) FROM hits WHERE custom_dimensions['1'] = 'member'").fetchone()
    want = sum(h.custom_dimensions.get("1") == "member" for h in archive["hits"])
    assert got == (want,) == (6,)
    got_num = conn.execute("SELECT sum(event_params_num['seconds']) FROM hits "
                       "WHERE property = 'p1' AND type = 'event'").fetchone()
    assert got_num == (2 * (0 + 1.5 + 3.0),)


def test_items_unnest(conn: duckdb.DuckDBPyConnection, archive: dict[str, Any]) -> None:
    got = conn.execute("""
        SELECT it.item_id, sum(it.quantity), sum(it.price * it.quantity), count(*)
        FROM hits CROSS JOIN UNNEST(items) AS u(it)
        WHERE property = 'p1'
        GROUP BY ALL ORDER BY 1
    """).fetchall()
    want: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    for h in archive["hits"]:
        if h.property_id == "p1":
            for item in h.items:
                assert item.item_id
                assert item.quantity
                assert item.price
                w = want[item.item_id]
                w[0] += item.quantity
                w[1] += item.price * item.quantity
                w[2] += 1
    assert got == [(k, *v) for k, v in sorted(want.items())]
    assert got == [("SKU1", 4, 40.0, 2), ("SKU2", 1, 10.5, 1)]
    params = conn.execute("SELECT it.params['cd1'] FROM hits, UNNEST(items) AS u(it) "
                      "WHERE it.item_name = 'Mug'").fetchall()
    assert params == [("red",)]


def test_timestamp_filter(conn: duckdb.DuckDBPyConnection, archive: dict[str, Any]) -> None:
    since = datetime(2026, 11, 27, 23, 59, 59, 999000, tzinfo=UTC)
    got = conn.execute("SELECT count(*) FROM hits WHERE property = 'p1' "
                   "AND event_time >= TIMESTAMP '2026-11-27 23:59:59.999' "
                   "AND event_time < TIMESTAMP '2026-11-28 06:00:00'").fetchone()
    want = sum(h.property_id == "p1" and since <= h.event_time < DAY2 + timedelta(hours=6)
               for h in archive["hits"])
    assert got == (want,)
    assert want == 5  # the late hit, the day-2 pageviews at 00:00 and 03:00, T2, the exception...
    # ...and the received time is a separate column, a few seconds later
    late = conn.execute("SELECT received_time - event_time, \"date\" FROM hits "
                    "WHERE page_path = '/late'").fetchall()
    assert late == [(timedelta(seconds=2), "2026-11-27")]


def test_views_do_not_depend_on_the_session_time_zone(conn: duckdb.DuckDBPyConnection) -> None:
    before = conn.execute("SELECT hit_id, event_time FROM hits ORDER BY 1").fetchall()
    conn.execute("SET TimeZone = 'Asia/Kolkata'")
    assert conn.execute("SELECT hit_id, event_time FROM hits ORDER BY 1").fetchall() == before


def test_filtered_view(conn: duckdb.DuckDBPyConnection, archive: dict[str, Any]) -> None:
    got = conn.execute('SELECT property, "date", reason, sum("count") FROM filtered '
                   "GROUP BY ALL ORDER BY ALL").fetchall()
    assert got == [
        ("_unknown", "2026-11-28", "unknown_property", 7),
        ("p1", "2026-11-27", "bot", 5),
        ("p1", "2026-11-28", "hostname", 2),
    ]
    assert conn.execute("SELECT count(*) FROM filtered WHERE property_id IS NULL").fetchone() == (1,)
    assert conn.execute("SELECT agent, sum(\"count\") FROM filtered WHERE reason = 'bot' "
                        "GROUP BY ALL ORDER BY ALL").fetchall() == [
        ("Instagram on Android (crawler:AP3A.240617.008)", 4), (None, 1)]


def test_type_comes_from_the_partition(archive: dict[str, Any]) -> None:
    """An object under type=event whose lines say pageview: the column is the key's value."""
    s3, bucket = archive["s3"], archive["bucket"]
    prefix = "tp" + secrets.token_hex(3) + "/"
    h = Hit(hit_id="f" * 32, property_id="p3", type="pageview", event_time=DAY1, received_time=DAY1)
    key = layout.hits_key(prefix, "p3", "event", "2026-11-27", "s-1-1")
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(hitmod.encode(h) + b"\n"))
    c = duckdb.connect()
    ddl.register_s3(c, endpoint_url=archive["endpoint"], region="us-east-1")
    c.execute(ddl.render("duckdb", "hits", layout.archive_root(bucket, prefix)))
    assert c.execute('SELECT hit_id, type, property, property_id FROM hits').fetchall() == [
        ("f" * 32, "event", "p3", "p3")]


def test_an_empty_archive_gets_empty_views_with_the_same_columns(
        conn: duckdb.DuckDBPyConnection, archive: dict[str, Any]) -> None:
    c = duckdb.connect()
    ddl.register_s3(c, endpoint_url=archive["endpoint"], region="us-east-1")
    root = layout.archive_root(archive["bucket"], "empty" + secrets.token_hex(3) + "/")
    assert ddl.create_duckdb_views(c, root) == {"hits": False, "filtered": False, "lake": False}
    for name in ddl.TABLES:
        assert c.execute(f'SELECT count(*) FROM "{name}"').fetchone() == (0,)
        assert c.execute(f'DESCRIBE "{name}"').fetchall() == conn.execute(f'DESCRIBE "{name}"').fetchall()


def test_a_bad_object_is_an_error_not_an_empty_table(archive: dict[str, Any]) -> None:
    c = duckdb.connect()
    ddl.register_s3(c, endpoint_url=archive["endpoint"], region="us-east-1")
    prefix = "bad" + secrets.token_hex(3) + "/"
    key = layout.hits_key(prefix, "p1", "event", "2026-11-27", "s-1-1")
    archive["s3"].put_object(Bucket=archive["bucket"], Key=key, Body=gzip.compress(
        b'{"hit_id":"x","event_time":"not a time"}\n'))
    root = layout.archive_root(archive["bucket"], prefix)
    assert ddl.create_duckdb_views(c, root, ("hits",)) == {"hits": True}
    with pytest.raises(duckdb.InvalidInputException, match="invalid timestamp"):
        c.execute("SELECT * FROM hits").fetchall()


def test_duckdb_reads_a_local_directory_too(tmp_path: Any) -> None:
    h = Hit(hit_id="a" * 32, property_id="p1", type="event", event_time=DAY2, received_time=DAY2)
    path = tmp_path / layout.hits_key_for("", h, "s-1-1")
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(hitmod.encode(h) + b"\n"))
    c = duckdb.connect()
    assert ddl.create_duckdb_views(c, f"{tmp_path}/") == {"hits": True, "filtered": False, "lake": False}
    assert c.execute("SELECT hit_id, type, event_time FROM hits").fetchall() == [
        ("a" * 32, "event", datetime(2026, 11, 28))]


def test_s3_filesystem_rejects_a_bad_endpoint() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        ddl.s3_filesystem(endpoint_url="127.0.0.1:5000")


# --- one report, written once in Trino/Athena SQL, run on DuckDB ----------------------------

REPORT = """
SELECT "date",
       type,
       count(*) AS hits,
       count(DISTINCT client_id) AS clients,
       sum(CASE WHEN element_at(custom_dimensions, '1') = 'member' THEN 1 ELSE 0 END) AS members,
       coalesce(sum(cardinality(items)), 0) AS items,
       max(event_time) AS last_event
FROM hits
WHERE property = 'p1'
  AND "date" BETWEEN '2026-11-27' AND '2026-11-28'
  AND event_time >= TIMESTAMP '2026-11-27 06:00:00'
GROUP BY "date", type
ORDER BY "date", type
"""


@pytest.mark.parametrize("dialect", ["trino", "athena"])
def test_a_report_in_trino_sql_transpiled_to_duckdb_gives_the_expected_answer(
        dialect: str, conn: duckdb.DuckDBPyConnection, archive: dict[str, Any]) -> None:
    sqlglot.parse_one(REPORT, read=dialect)  # valid where it will run on AWS
    duck = sqlglot.transpile(REPORT, read=dialect, write="duckdb")[0]
    got = conn.execute(duck).fetchall()

    since = datetime(2026, 11, 27, 6, tzinfo=UTC)
    groups: dict[tuple[str, str], list[Hit]] = defaultdict(list)
    for h in archive["hits"]:
        if h.property_id == "p1" and h.event_time >= since:
            groups[(layout.date_value(h.event_time), h.type)].append(h)
    want = [
        (day, type_, len(hs), len({h.client_id for h in hs}),
         sum(h.custom_dimensions.get("1") == "member" for h in hs),
         sum(len(h.items) for h in hs), utc_naive(max(h.event_time for h in hs)))
        for (day, type_), hs in sorted(groups.items())
    ]
    assert got == want
    assert got[:2] == [  # by hand, for day 1 after 06:00
        ("2026-11-27", "event", 3, 3, 0, 0, datetime(2026, 11, 27, 10, 0, 2)),
        ("2026-11-27", "pageview", 6, 4, 2, 0, datetime(2026, 11, 27, 23, 59, 59, 999000)),
    ]
