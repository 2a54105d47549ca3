"""Athena under Pulumi's mocks: the catalog is ddl's, the views are the compactor's."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pulumi
import pytest
import sqlglot
from sqlglot import exp

from infra import athena
from infra.athena import Athena, AthenaArgs
from lambdalytics import ddl, ga4_export, ga4_schema, lake
from lambdalytics.hit import Hit, columns
from lambdalytics.resources import resources
from tests.infra import mocks
from tests.infra.mocks import Recorded, Recorder

TABLE = "aws:glue/catalogTable:CatalogTable"
DB = resources("lambdalytics").athena.database
GLUE_NAME = re.compile(r"[a-z0-9_]{1,255}")
VIEW_TEXT_MAX = 409_600  # Glue's limit on ViewOriginalText
TYPE_MAX = 131_072  # Glue's limit on a column's Type


class Built:
    def __init__(self, args: AthenaArgs) -> None:
        self.options: dict[str, pulumi.ResourceOptions] = {}
        self.out: dict[str, str] = {}

        def record(a: pulumi.ResourceTransformationArgs) -> None:
            self.options[a.name] = a.opts

        def program() -> None:
            a = Athena("athena", args, opts=pulumi.ResourceOptions(transformations=[record]))
            pulumi.Output.all(a.database, a.workgroup, a.workgroup_arn, a.results_location).apply(
                lambda v: self.out.update(zip(("database", "workgroup", "arn", "results"), v,
                                              strict=True)))
        self.rec: Recorder = mocks.run(program)

    def table(self, name: str) -> Recorded:
        (t,) = [r for r in self.rec.of_type(TABLE) if r.inputs["name"] == name]
        return t

    def view(self, name: str) -> dict[str, Any]:
        text = self.table(name).inputs["viewOriginalText"]
        m = re.fullmatch(r"/\* Presto View: ([A-Za-z0-9+/=]+) \*/", text)
        assert m, text[:60]
        definition: dict[str, Any] = json.loads(base64.b64decode(m.group(1)))
        return definition


@pytest.fixture(scope="module")
def built() -> Built:
    return Built(AthenaArgs(prefix="lambdalytics", archive_bucket="my-archive",
                            results_bucket="my-results"))


def _camel(value: Any) -> Any:
    """A Glue TableInput (PascalCase) as the engine receives pulumi-aws's inputs."""
    if isinstance(value, dict):
        names = {"SerdeInfo": "serDeInfo"}  # parameters are data: their keys stay as they are
        return {names.get(k, k[0].lower() + k[1:]): v if k == "Parameters" else _camel(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


@pytest.mark.parametrize("t", [ddl.hits_table(), ddl.filtered_table(), ddl.lake_table()],
                         ids=lambda t: t.name)
def test_tables_are_ddl_glue_table_input_with_projection(built: Built, t: ddl.Table) -> None:
    recorded = built.table(t.name).inputs
    expected = ddl.glue_table_input(t, "s3://my-archive/")
    assert recorded["databaseName"] == DB
    want = _camel(expected)
    assert {k: recorded[k] for k in want} == want
    projection = {k: v for k, v in recorded["parameters"].items()
                  if k.startswith("projection.") or k == "storage.location.template"}
    assert projection == ddl.projection_parameters(t, "s3://my-archive/")
    assert recorded["storageDescriptor"]["location"] == f"s3://my-archive/{t.name}/"


def test_an_archive_prefix_moves_every_location_and_template() -> None:
    b = Built(AthenaArgs(prefix="lambdalytics", archive_bucket="my-archive",
                         results_bucket="my-results", archive_prefix="site/"))
    for t in (ddl.hits_table(), ddl.filtered_table(), ddl.lake_table()):
        params = b.table(t.name).inputs["parameters"]
        assert params["storage.location.template"].startswith(f"s3://my-archive/site/{t.name}/")
        assert {k: v for k, v in params.items() if k.startswith("projection.")} == {
            k: v for k, v in ddl.projection_parameters(t, "s3://my-archive/site/").items()
            if k.startswith("projection.")}


def test_names_types_and_comments_within_glue_and_athena_limits(built: Built) -> None:
    assert built.rec.one("aws:glue/catalogDatabase:CatalogDatabase").inputs["name"] == DB
    assert GLUE_NAME.fullmatch(DB)
    names = {r.inputs["name"] for r in built.rec.of_type(TABLE)}
    assert names == {"hits", "filtered", "lake", "events", "events_ga4"}
    for r in built.rec.of_type(TABLE):
        assert GLUE_NAME.fullmatch(r.inputs["name"])
        sd = r.inputs["storageDescriptor"]
        for c in [*sd["columns"], *r.inputs.get("partitionKeys", [])]:
            assert GLUE_NAME.fullmatch(c["name"]), c["name"]
            assert len(c["type"]) <= TYPE_MAX
            assert len(c.get("comment", "")) <= ddl.COMMENT_MAX
        assert len(r.inputs.get("viewOriginalText", "")) <= VIEW_TEXT_MAX


def _select_names(sql: str) -> list[str]:
    tree = sqlglot.parse_one(sql, read="trino")
    first = tree.find(exp.Select)
    assert first is not None
    return [e.alias_or_name for e in first.expressions]


def test_events_view_is_athenas_view_of_the_compactors_sql(built: Built) -> None:
    t = built.table("events").inputs
    assert t["tableType"] == "VIRTUAL_VIEW"
    assert t["parameters"] == {"presto_view": "true", "comment": "Presto View"}
    assert t["viewExpandedText"] == "/* Presto View */"
    v = built.view("events")
    assert v["catalog"] == "awsdatacatalog"
    assert v["schema"] == DB
    # what `lambdalytics compact --athena` runs before any property is compacted
    assert v["originalSql"] == athena.view_body(lake.events_view_sql({}, database=DB))
    assert [c["name"] for c in v["columns"]] == list(lake.event_columns())
    assert _select_names(v["originalSql"]) == list(lake.event_columns())
    tree = sqlglot.parse_one(v["originalSql"], read="trino")
    assert {x.name for x in tree.find_all(exp.Table)} == {"hits", "lake"}  # tables created here
    glue_cols = t["storageDescriptor"]["columns"]
    assert [c["name"] for c in glue_cols] == list(lake.event_columns())
    hit = {c.name: c for c in columns(Hit)}
    for view_col, glue_col in zip(v["columns"], glue_cols, strict=True):
        name = view_col["name"]
        source = ddl.trino_type(hit[name]) if name in hit else "varchar"
        assert exp.DataType.build(view_col["type"], dialect="trino") == \
            exp.DataType.build(source, dialect="trino"), name
        assert glue_col["type"] == (ddl.hive_type(hit[name]) if name in hit else "string")


def test_ga4_view_is_the_compactors_over_events(built: Built) -> None:
    v = built.view("events_ga4")
    assert v["originalSql"] == athena.view_body(ga4_export.view_sql(
        "athena", name=f"{DB}.events_ga4", source=f"{DB}.events"))
    names = [f.name for f in ga4_schema.SCHEMA] + list(ga4_schema.PASSTHROUGH)
    assert [c["name"] for c in v["columns"]] == names
    assert _select_names(v["originalSql"]) == names
    tree = sqlglot.parse_one(v["originalSql"], read="trino")
    assert {(x.db, x.name) for x in tree.find_all(exp.Table)} == {(DB, "events")}
    for col, f in zip(v["columns"], ga4_schema.SCHEMA, strict=False):
        assert exp.DataType.build(col["type"], dialect="trino") == \
            exp.DataType.build(f.trino_type(), dialect="trino"), f.name
    deps = built.options["athena-events-ga4"].depends_on
    assert [d._name for d in deps] == ["athena-events"]  # type: ignore[union-attr]


def test_the_compactor_owns_the_views_after_creation(built: Built) -> None:
    for view in ("athena-events", "athena-events-ga4"):
        ignored = built.options[view].ignore_changes or []
        assert {"viewOriginalText", "viewExpandedText", "storageDescriptor"} <= set(ignored)
    for table in ("athena-hits", "athena-filtered", "athena-lake"):
        assert not built.options[table].ignore_changes  # schema changes are deployed


def test_view_types_are_trinos_and_hives() -> None:
    assert athena.view_types('ARRAY(ROW("k" varchar, "v" ROW("n" double)))') == (
        'array(row("k" varchar,"v" row("n" double)))', "array<struct<k:string,v:struct<n:double>>>")
    assert athena.view_types("map(varchar, bigint)") == ("map(varchar,bigint)", "map<string,bigint>")
    assert athena.view_types("timestamp(3)") == ("timestamp(3)", "timestamp")
    with pytest.raises(ValueError, match="milliseconds"):
        athena.view_types("timestamp(6)")
    with pytest.raises(ValueError, match="no view column type"):
        athena.view_types("decimal(10, 2)")


def test_workgroup_enforces_results_encryption_scan_limit_and_metrics(built: Built) -> None:
    wg = built.rec.one("aws:athena/workgroup:Workgroup").inputs
    assert wg["name"] == resources("lambdalytics").athena.workgroup
    assert re.fullmatch(r"[a-zA-Z0-9._-]{1,128}", wg["name"])
    assert wg["state"] == "ENABLED"
    c = wg["configuration"]
    assert c["enforceWorkgroupConfiguration"] is True
    assert c["publishCloudwatchMetricsEnabled"] is True
    assert c["bytesScannedCutoffPerQuery"] == 10 * 1024 ** 3
    assert c["bytesScannedCutoffPerQuery"] >= 10 * 1024 ** 2  # Athena's minimum
    assert c["engineVersion"] == {"selectedEngineVersion": "AUTO"}
    assert c["resultConfiguration"] == {
        "outputLocation": "s3://my-results/athena/",
        "encryptionConfiguration": {"encryptionOption": "SSE_S3"}}


def test_outputs(built: Built) -> None:
    assert built.out["database"] == DB
    assert built.out["workgroup"] == "lambdalytics"
    assert built.out["results"] == "s3://my-results/athena/"
    assert built.out["arn"].startswith("arn:aws:athena:")


@pytest.mark.parametrize("bad", [{"bytes_scanned_cutoff": 10 * 1024 ** 2 - 1},
                                 {"prefix": "a.b"}, {"archive_prefix": "no-slash"}])
def test_args_refuse_what_athena_would(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        AthenaArgs(**{"prefix": "ok", "archive_bucket": "b", "results_bucket": "r", **bad})
