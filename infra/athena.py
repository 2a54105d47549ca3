"""The Glue catalog of the archive and the Athena workgroup that queries it.

Tables (``hits``, ``filtered``, ``lake``) are :func:`lambdalytics.ddl.glue_table_input`, field
for field (:func:`storage_descriptor`, :func:`partition_keys`; a TableInput field without a
mapping is an error, never dropped), with Athena partition projection, so no partition is
ever registered.

Views (``events``, ``events_ga4``) are Glue tables of type ``VIRTUAL_VIEW`` holding what
Athena's own ``CREATE VIEW`` stores: ``/* Presto View: <base64 JSON> */`` (the SQL after
``AS``, the catalog and schema it resolves names in, and the columns with their Trino types,
which Athena checks against the query) and ``/* Presto View */``. The SQL is the text the
compactor runs (``lambdalytics compact --athena``, :func:`lambdalytics.query_cli._publish`):
``events`` with no property compacted yet (every day from landing), ``events_ga4`` over it.
After that the compactor owns both views: each run replaces them with the lake switched in,
so Pulumi ignores changes to their text, columns and parameters (it would otherwise put the
landing-only view back). A Hit schema change reaches the views at the next compaction.

Workgroup: its settings enforced over the clients', results in the results bucket (SSE-S3),
a per-query scan limit, CloudWatch metrics, engine version chosen by Athena (``AUTO``).
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from sqlglot import exp

from lambdalytics import archive_layout, ddl, ga4_export, ga4_schema, lake
from lambdalytics.hit import Hit, columns
from lambdalytics.resources import resources

GIB = 1024 ** 3
MIN_CUTOFF = 10 * 1024 ** 2  # Athena's smallest BytesScannedCutoffPerQuery
CATALOG = "awsdatacatalog"  # Athena's name for the account's Glue catalog
VIEW_EXPANDED_TEXT = "/* Presto View */"
VIEW_OWNED_BY_COMPACTOR = ["viewOriginalText", "viewExpandedText", "storageDescriptor",
                           "parameters", "description", "owner"]
GA4_VIEW = "events_ga4"
_GLUE_NAME = re.compile(r"[a-z0-9_]{1,255}\Z")
_WORKGROUP = re.compile(r"[a-zA-Z0-9._-]{1,128}\Z")


@dataclass(frozen=True)
class AthenaArgs:
    prefix: str
    archive_bucket: pulumi.Input[str]
    results_bucket: pulumi.Input[str]
    bytes_scanned_cutoff: int = 10 * GIB
    archive_prefix: str = ""

    def __post_init__(self) -> None:
        spec = resources(self.prefix).athena
        if not _GLUE_NAME.match(spec.database):
            raise ValueError(f"Glue database {spec.database!r}: lower-case [a-z0-9_], ≤ 255")
        if not _WORKGROUP.match(spec.workgroup):
            raise ValueError(f"Athena workgroup {spec.workgroup!r}: [a-zA-Z0-9._-], ≤ 128")
        if self.bytes_scanned_cutoff < MIN_CUTOFF:
            raise ValueError(f"bytes_scanned_cutoff must be at least {MIN_CUTOFF} (10 MB)")
        archive_layout.prefix_value(self.archive_prefix)


# --- Trino and Hive types of the view columns -----------------------------------------------

_SCALARS = {exp.DataType.Type.VARCHAR: ("varchar", "string"),
            exp.DataType.Type.BIGINT: ("bigint", "bigint"),
            exp.DataType.Type.DOUBLE: ("double", "double"),
            exp.DataType.Type.BOOLEAN: ("boolean", "boolean")}


def _types(t: exp.DataType) -> tuple[str, str]:
    kind = t.this
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == exp.DataType.Type.TIMESTAMP:
        params = [p.this.this for p in t.expressions if isinstance(p, exp.DataTypeParam)]
        if params not in (["3"], []):
            raise ValueError(f"timestamp({params}): Athena's timestamps are milliseconds")
        return "timestamp(3)", "timestamp"
    inner = [_types(e) for e in t.expressions if isinstance(e, exp.DataType)]
    if kind == exp.DataType.Type.ARRAY and len(inner) == 1:
        return f"array({inner[0][0]})", f"array<{inner[0][1]}>"
    if kind == exp.DataType.Type.MAP and len(inner) == 2:
        return f"map({inner[0][0]},{inner[1][0]})", f"map<{inner[0][1]},{inner[1][1]}>"
    if kind == exp.DataType.Type.STRUCT:
        fields = [(f.this.this, _types(f.args["kind"])) for f in t.expressions
                  if isinstance(f, exp.ColumnDef)]
        if len(fields) != len(t.expressions):
            raise ValueError(f"row type with unnamed fields: {t.sql('trino')}")
        trino = ",".join('"' + n.replace('"', '""') + f'" {ty[0]}' for n, ty in fields)
        hive = ",".join(f"{n}:{ty[1]}" for n, ty in fields)
        return f"row({trino})", f"struct<{hive}>"
    raise ValueError(f"no view column type for {t.sql('trino')}")


def view_types(trino_type: str) -> tuple[str, str]:
    """A Trino type as Trino writes it in a view definition (``row("a" varchar,…)``) and
    as the Hive type Glue lists for the column (``struct<a:string,…>``)."""
    return _types(exp.DataType.build(trino_type, dialect="trino"))


def events_columns() -> list[tuple[str, str]]:
    """``events``: every Hit column, then ``property`` and ``date`` (lake.event_columns)."""
    cols = [(c.name, ddl.trino_type(c)) for c in columns(Hit)] + [("property", "varchar"),
                                                                   ("date", "varchar")]
    if tuple(n for n, _ in cols) != lake.event_columns():
        raise ValueError("events view columns differ from lake.event_columns()")
    return cols


def ga4_columns() -> list[tuple[str, str]]:
    return [(f.name, f.trino_type()) for f in ga4_schema.SCHEMA] + \
        [(c, "varchar") for c in ga4_schema.PASSTHROUGH]


def view_body(create_sql: str) -> str:
    """The query of a ``CREATE OR REPLACE VIEW … AS`` statement (what Athena stores)."""
    head, sep, body = create_sql.partition(" AS\n")
    if not sep or not head.startswith("CREATE OR REPLACE VIEW "):
        raise ValueError(f"not a CREATE OR REPLACE VIEW statement: {create_sql[:80]!r}")
    return body


def presto_view(sql: str, database: str, cols: list[tuple[str, str]]) -> str:
    """``view_original_text`` of an Athena view: the view definition Trino reads."""
    definition = {"originalSql": sql, "catalog": CATALOG, "schema": database,
                  "columns": [{"name": n, "type": view_types(t)[0]} for n, t in cols]}
    encoded = base64.b64encode(json.dumps(definition, separators=(",", ":")).encode()).decode()
    return f"/* Presto View: {encoded} */"


def views(database: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Each view's query and columns, as the compactor creates them."""
    return {
        lake.EVENTS: (view_body(lake.events_view_sql({})), events_columns()),
        GA4_VIEW: (view_body(ga4_export.view_sql("athena", name=f"{database}.{GA4_VIEW}",
                                                 source=f"{database}.{lake.EVENTS}")),
                   ga4_columns()),
    }


# --- TableInput → pulumi-aws ------------------------------------------------------------------


def _only(d: Mapping[str, Any], known: set[str], what: str) -> Mapping[str, Any]:
    if set(d) - known:
        raise ValueError(f"{what} fields without a mapping in infra/athena.py: "
                         f"{sorted(set(d) - known)}")
    return d


def partition_keys(ti: Mapping[str, Any]) -> list[aws.glue.CatalogTablePartitionKeyArgs]:
    keys = [_only(p, {"Name", "Type", "Comment"}, "PartitionKeys") for p in ti["PartitionKeys"]]
    return [aws.glue.CatalogTablePartitionKeyArgs(name=p["Name"], type=p["Type"],
                                                  comment=p["Comment"]) for p in keys]


def storage_descriptor(sd: Mapping[str, Any]) -> aws.glue.CatalogTableStorageDescriptorArgs:
    _only(sd, {"Columns", "Location", "InputFormat", "OutputFormat", "Compressed",
               "SerdeInfo"}, "StorageDescriptor")
    serde = _only(sd["SerdeInfo"], {"SerializationLibrary", "Parameters"}, "SerdeInfo")
    cols = [_only(c, {"Name", "Type", "Comment"}, "Columns") for c in sd["Columns"]]
    return aws.glue.CatalogTableStorageDescriptorArgs(
        columns=[aws.glue.CatalogTableStorageDescriptorColumnArgs(
            name=c["Name"], type=c["Type"], comment=c["Comment"]) for c in cols],
        location=sd["Location"], input_format=sd["InputFormat"],
        output_format=sd["OutputFormat"], compressed=sd["Compressed"],
        ser_de_info=aws.glue.CatalogTableStorageDescriptorSerDeInfoArgs(
            serialization_library=serde["SerializationLibrary"], parameters=serde["Parameters"]))


_TABLE_INPUT = {"Name", "Description", "TableType", "Parameters", "PartitionKeys",
                "StorageDescriptor"}


def table_input(t: ddl.Table, root: str) -> dict[str, Any]:
    """ddl's TableInput for the table under ``root``; a field this module does not map is an
    error, not a silent drop."""
    return dict(_only(ddl.glue_table_input(t, root), _TABLE_INPUT, "TableInput"))


class Athena(pulumi.ComponentResource):
    database: pulumi.Output[str]
    workgroup: pulumi.Output[str]
    workgroup_arn: pulumi.Output[str]
    results_location: pulumi.Output[str]

    def __init__(self, name: str, args: AthenaArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lambdalytics:infra:Athena", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec = resources(args.prefix).athena
        db = aws.glue.CatalogDatabase(
            f"{name}-database", name=spec.database,
            description="Lambdalytics archive: landing hits, filtered counters, the Parquet "
                        "lake and the events views", opts=child)
        root = pulumi.Output.from_input(args.archive_bucket).apply(
            lambda b: archive_layout.archive_root(b, args.archive_prefix))
        tables: dict[str, aws.glue.CatalogTable] = {}
        for t in (ddl.hits_table(), ddl.filtered_table(), ddl.lake_table()):
            ti = root.apply(functools.partial(table_input, t))
            tables[t.name] = aws.glue.CatalogTable(
                f"{name}-{t.name}", name=t.name, database_name=db.name, description=t.doc,
                table_type=ti.apply(lambda i: str(i["TableType"])),
                parameters=ti.apply(lambda i: dict(i["Parameters"])),
                partition_keys=ti.apply(partition_keys),
                storage_descriptor=ti.apply(lambda i: storage_descriptor(i["StorageDescriptor"])),
                opts=child)
        after: list[pulumi.Resource] = [tables[ddl.lake_table().name], tables[ddl.hits_table().name]]
        for view, (sql, cols) in views(spec.database).items():
            made = aws.glue.CatalogTable(
                f"{name}-{view.replace('_', '-')}", name=view, database_name=db.name,
                table_type="VIRTUAL_VIEW",
                parameters={"presto_view": "true", "comment": "Presto View"},
                view_original_text=presto_view(sql, spec.database, cols),
                view_expanded_text=VIEW_EXPANDED_TEXT,
                storage_descriptor=aws.glue.CatalogTableStorageDescriptorArgs(
                    columns=[aws.glue.CatalogTableStorageDescriptorColumnArgs(
                        name=n, type=view_types(t)[1]) for n, t in cols]),
                opts=pulumi.ResourceOptions(parent=self, depends_on=after,
                                            ignore_changes=VIEW_OWNED_BY_COMPACTOR))
            after = [made]

        results = pulumi.Output.concat("s3://", args.results_bucket, "/athena/")
        wg = aws.athena.Workgroup(
            f"{name}-workgroup", name=spec.workgroup, state="ENABLED", force_destroy=True,
            description="Lambdalytics reports and ad-hoc queries over the archive",
            configuration=aws.athena.WorkgroupConfigurationArgs(
                enforce_workgroup_configuration=True,
                publish_cloudwatch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=args.bytes_scanned_cutoff,
                requester_pays_enabled=False,
                engine_version=aws.athena.WorkgroupConfigurationEngineVersionArgs(
                    selected_engine_version="AUTO"),
                result_configuration=aws.athena.WorkgroupConfigurationResultConfigurationArgs(
                    output_location=results,
                    encryption_configuration=aws.athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs(
                        encryption_option="SSE_S3"))),
            opts=child)
        self.database = db.name
        self.workgroup = wg.name
        self.workgroup_arn = wg.arn
        self.results_location = results
        self.register_outputs({"database": self.database, "workgroup": self.workgroup,
                               "workgroup_arn": self.workgroup_arn,
                               "results_location": self.results_location})
