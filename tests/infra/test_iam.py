"""Every IAM document: parliament finds nothing in it, and each task role allows exactly the
calls its service's code makes.

The calls are derived from the code, not listed by hand: the modules each service imports
(from its entrypoint, following the package's own imports) are read with ``ast`` for every
attribute named like a botocore operation of the services we use (``self._s3.put_object``,
``self._client.start_query_execution`` passed to a retry helper, ``get_paginator("…")``), and
each is mapped to its IAM action. So a new call without its permission fails here, and so
does a permission no code uses any more. Two hand-kept tables say what the code cannot show:

- :data:`NOT_USED`: functions of a module a service imports but never runs (the collector
  imports the property store, but only its lookups); each entry says why, and must exist;
- :data:`IMPLIED`: what AWS does with the caller's credentials on its behalf (Athena reading
  Glue and S3 and writing results; SSE-KMS on the archive; pyarrow's S3 reads in DuckDB).
"""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import parliament
import pytest
from botocore import xform_name

from infra import iam

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("collector", "archiver", "dashboard", "lambdalytics")
AWS_SERVICES = ("kinesis", "dynamodb", "s3", "athena", "secretsmanager", "glue")

# each service's process: the modules its command imports from (the compactor is
# `lambdalytics compact --athena`: query_cli and what its compaction functions import lazily)
ENTRIES = {
    "collector": ("collector.__main__",),
    "archiver": ("archiver.__main__",),
    "dashboard": ("dashboard.__main__",),
    "compactor": ("lambdalytics.query_cli", "archiver.compact", "archiver.lake_store",
                  "dashboard.athena"),
}
# the lazy imports the compactor's entries stand for: (function in query_cli, module)
COMPACTOR_LAZY = {("_run_compaction", "archiver.compact"), ("_run_compaction", "archiver.lake_store")}

# names our code gives its aiobotocore clients (a receiver named otherwise must be listed in
# NOT_CLIENTS, or the test fails: every call site is classified)
CLIENT_NAMES = frozenset({"_client", "_s3", "_ddb", "_kinesis", "client", "ddb", "kinesis", "s3",
                          "sm", "dynamodb", "athena"})
# attributes with an operation's name on things that are not AWS clients
NOT_CLIENTS = frozenset({
    "request.query", "parts.query", "url.query", "parsed.query", "urlsplit(location).query",
    "r.query",  # URL parts
    "engine.query", "gen.engine.query", "e.query",  # our query engines
    "settings.admin_token.get_secret_value", "s.get_secret_value",
    "body.secret.get_secret_value",  # pydantic SecretStr
    "uascan.scan",  # the native user-agent scan
})

# functions a service imports but does not run on AWS, with the reason
NOT_USED: dict[str, dict[str, str]] = {
    "collector": {
        f"lambdalytics.properties:PropertyStore.{m}": "the collector only looks properties up"
        for m in ("_insert", "list", "update", "add_tracking_ids", "remove_tracking_id",
                  "_bump", "delete")},
    "archiver": {
        **{f"lambdalytics.properties:PropertyStore.{m}": "the archiver only lists retention"
           for m in ("_insert", "get", "_owner", "update", "add_tracking_ids",
                     "remove_tracking_id", "_bump", "delete")},
        "archiver.rollup_store:RollupStore.items": "the dashboard's realtime read",
    },
    "dashboard": {
        "archiver.rollup_store:RollupStore._put_chunk": "the archiver's rollup writes",
        "archiver.rollup_store:RollupStore.put_early.one": "the archiver's rollup writes",
        "dashboard.admin:resolve_token": "the token arrives in LAMBDALYTICS_ADMIN_TOKEN from ECS "
                                         "(the execution role reads the secret)",
    },
    "compactor": {},
}

KMS = {"kms:Decrypt", "kms:GenerateDataKey"}  # SSE-KMS objects in the archive, both ways
ATHENA_IMPLIED = {
    # Athena reads the catalogue and the tables' objects, and writes results, as the caller
    "glue:GetDatabase", "glue:GetTable", "glue:GetPartitions",
    "s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads",
    "s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject",
}
IMPLIED: dict[str, set[str]] = {
    "collector": set(),
    "archiver": KMS,
    # share links, realtime, reports in Athena; retention deletes versions one by one
    "dashboard": KMS | ATHENA_IMPLIED,
    # CREATE OR REPLACE VIEW in Athena writes the view's Glue table; DuckDB reads landing
    # objects through pyarrow's S3 file system (GetObject, ListObjectsV2)
    "compactor": KMS | ATHENA_IMPLIED | {"glue:CreateTable", "glue:UpdateTable"},
}
# botocore operations whose IAM action is not "<service>:<Operation>"
ACTIONS = {
    "s3:ListObjectsV2": {"s3:ListBucket"},
    "s3:ListObjectVersions": {"s3:ListBucketVersions"},
    "s3:GetBucketLifecycleConfiguration": {"s3:GetLifecycleConfiguration"},
    "s3:PutBucketLifecycleConfiguration": {"s3:PutLifecycleConfiguration"},
    "s3:DeleteBucketLifecycle": {"s3:PutLifecycleConfiguration"},
    "s3:DeleteObjects": {"s3:DeleteObject", "s3:DeleteObjectVersion"},
    "s3:CreateMultipartUpload": {"s3:PutObject"},
    "s3:UploadPart": {"s3:PutObject"},
    "s3:CompleteMultipartUpload": {"s3:PutObject"},
    "s3:HeadObject": {"s3:GetObject"},
}


@cache
def operations() -> dict[str, tuple[str, ...]]:
    """snake_case method name → the "<service>:<Operation>"s it is in botocore."""
    session = botocore.session.get_session()
    out: dict[str, list[str]] = {}
    for svc in AWS_SERVICES:
        for op in session.get_service_model(svc).operation_names:
            out.setdefault(xform_name(op), []).append(f"{svc}:{op}")
    return {k: tuple(v) for k, v in out.items()}


def module_file(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


@cache
def tree(module: str) -> ast.Module:
    path = module_file(module)
    assert path is not None, module
    return ast.parse(path.read_text(), str(path))


def top_level_imports(module: str) -> set[str]:
    """Our modules ``module`` imports when it is imported (not under TYPE_CHECKING, not
    inside functions)."""
    found: set[str] = set()
    for node in tree(module).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in PACKAGES and module_file(m) is not None}


def closure(entries: tuple[str, ...]) -> set[str]:
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(top_level_imports(module))
    return seen


def call_sites(module: str) -> Iterator[tuple[str, str, str]]:
    """(``module:qualified.function``, receiver, operation) of each attribute named like an
    AWS operation, and each ``get_paginator("op")``."""
    yield from sites_in(tree(module), module)


def sites_in(source: ast.Module, module: str) -> Iterator[tuple[str, str, str]]:
    ops = operations()

    def visit(node: ast.AST, where: list[str]) -> Iterator[tuple[str, str, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield from visit(child, [*where, child.name])
                continue
            site = f"{module}:{'.'.join(where)}"
            if isinstance(child, ast.Attribute) and child.attr in ops:
                yield site, ast.unparse(child.value), child.attr
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                    and child.func.attr == "get_paginator" and child.args
                    and isinstance(child.args[0], ast.Constant)):
                yield site, ast.unparse(child.func.value), str(child.args[0].value)
            yield from visit(child, where)

    yield from visit(source, [])


TRANSACT_ITEMS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem",
                  "Delete": "dynamodb:DeleteItem", "ConditionCheck": "dynamodb:ConditionCheckItem"}


def function_node(module: str, qualname: str) -> ast.AST:
    node: ast.AST = tree(module)
    for part in qualname.split("."):
        node = next(c for c in ast.iter_child_nodes(node)
                    if isinstance(c, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                    and c.name == part)
    return node


def transact_actions(site: str) -> set[str]:
    """TransactWriteItems is no IAM action: each item needs its own (PutItem for a "Put"…),
    read from the item literals the calling function builds."""
    module, qualname = site.split(":")
    keys = {k.value for d in ast.walk(function_node(module, qualname)) if isinstance(d, ast.Dict)
            for k in d.keys if isinstance(k, ast.Constant) and k.value in TRANSACT_ITEMS}
    assert keys, f"{site}: a transaction whose items this test cannot see"
    return {TRANSACT_ITEMS[k] for k in keys}


def derived_actions(service: str) -> set[str]:
    """The IAM actions the service's code calls for."""
    wanted: set[str] = set()
    for module in sorted(closure(ENTRIES[service])):
        for site, receiver, op in call_sites(module):
            if f"{receiver}.{op}" in NOT_CLIENTS or site in NOT_USED[service]:
                continue
            last = receiver.rsplit(".", 1)[-1]
            assert last in CLIENT_NAMES, (
                f"{site}: {receiver}.{op} — an AWS client under a new name (add it to "
                "CLIENT_NAMES) or not a client at all (add it to NOT_CLIENTS)")
            for action in operations()[op]:
                if action.split(":")[0] in ("glue",) and op == "create_table":
                    continue  # DynamoDB's CreateTable shares the name; nothing calls Glue's
                if action == "dynamodb:TransactWriteItems":
                    wanted |= transact_actions(site)
                else:
                    wanted |= ACTIONS.get(action, {action})
    return wanted


def allowed(doc: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow", st
        out |= set(st["Action"]) if isinstance(st["Action"], list) else {st["Action"]}
    return out


ACCOUNT = "123456789012"
ARN = f"arn:aws:{{}}:us-east-1:{ACCOUNT}:{{}}"
STREAM = ARN.format("kinesis", "stream/t-hits")
TABLES = {n: ARN.format("dynamodb", f"table/t-{n}")
          for n in ("properties", "rollups", "leases", "recent")}
ARCHIVE, REPLICA, RESULTS = (f"arn:aws:s3:::t-{b}-{ACCOUNT}" for b in ("archive", "replica",
                                                                       "results"))
KEY = ARN.format("kms", "key/0000aaaa-bb11-cc22-dd33-eeeeee444444")
ATHENA = iam.AthenaAccess(ARN.format("athena", "workgroup/t"), ARN.format("glue", "catalog"),
                          ARN.format("glue", "database/t"), ARN.format("glue", "table/t/*"),
                          RESULTS)


def task_documents(archive_prefix: str = "") -> dict[str, dict[str, Any]]:
    return {
        "collector": iam.collector_task(STREAM, TABLES["properties"]),
        "archiver": iam.archiver_task(STREAM, TABLES["leases"], TABLES["rollups"],
                                      TABLES["recent"], TABLES["properties"], ARCHIVE,
                                      archive_prefix, [KEY]),
        "dashboard": iam.dashboard_task(TABLES["properties"], TABLES["rollups"],
                                        [ARCHIVE, REPLICA], ATHENA, archive_prefix, [KEY]),
        "compactor": iam.compactor_task(ARCHIVE, dataclasses.replace(ATHENA, write_views=True),
                                        archive_prefix, [KEY]),
    }


def other_documents() -> dict[str, dict[str, Any]]:
    return {
        "execution": iam.execution_role(
            [ARN.format("ecr", "repository/t/collector")],
            [ARN.format("logs", "log-group:/lambdalytics/t/dashboard")],
            [ARN.format("secretsmanager", "secret:t/admin-token-AbCdEf")]),
        "scheduler": iam.scheduler_role(
            ARN.format("ecs", "task-definition/t-compactor"), ARN.format("ecs", "cluster/t"),
            [f"arn:aws:iam::{ACCOUNT}:role/t-compactor-task",
             f"arn:aws:iam::{ACCOUNT}:role/t-compactor-exec"]),
        "alb-logs": iam.alb_log_bucket("arn:aws:s3:::t-alb-logs", "us-east-1", ACCOUNT, "alb"),
        "alb-logs-new-region": iam.alb_log_bucket("arn:aws:s3:::t-alb-logs", "ap-southeast-5",
                                                  ACCOUNT, "alb"),
    }


# parliament's community auditors flag these on purpose: the actions are privileged by nature
# and scoped as tightly as AWS allows (GetAuthorizationToken takes no resource; PassRole is on
# exactly two roles, to ECS only). Anything else they find fails.
# and parliament's own auditors flag one thing by design: retention writes lifecycle rules
# (bucket-wide in S3, so in effect able to expire any object) while the role's own deletes
# are scoped to the property prefixes; the alternative, deletes on the whole bucket, would
# be broader, not safer
EXPECTED_OWN = {"dashboard": {"RESOURCE_POLICY_PRIVILEGE_ESCALATION"}}
EXPECTED_COMMUNITY = {"execution": {("CREDENTIALS_EXPOSURE", ("ecr:getauthorizationtoken",))},
                      "scheduler": {("PERMISSIONS_MANAGEMENT_ACTIONS", ("iam:passrole",))}}


@pytest.mark.parametrize("service", sorted(ENTRIES))
def test_each_task_role_allows_exactly_what_its_code_calls(service: str) -> None:
    wanted = derived_actions(service) | IMPLIED[service]
    granted = allowed(task_documents()[service])
    assert granted - wanted == set(), f"{service}: allowed but never called"
    assert wanted - granted == set(), f"{service}: called but not allowed"


def test_the_derivation_sees_the_calls_it_should() -> None:
    """A check on the checker: known calls are found where they are."""
    assert {"kinesis:PutRecords", "kinesis:DescribeStreamSummary", "dynamodb:GetItem",
            "dynamodb:PutItem"} <= derived_actions("collector")
    assert "s3:ListBucket" in derived_actions("compactor")  # via get_paginator("list_objects_v2")
    assert "athena:StopQueryExecution" in derived_actions("dashboard")  # passed, not called
    assert "dynamodb:DeleteItem" not in derived_actions("collector")
    # a transaction of Puts and Deletes needs PutItem and DeleteItem, not an action of its own
    assert {"dynamodb:PutItem", "dynamodb:DeleteItem"} <= derived_actions("dashboard")
    assert not any(a.startswith("dynamodb:Transact") for a in derived_actions("dashboard"))


def test_a_new_call_is_seen_and_mapped() -> None:
    source = ast.parse("class Store:\n"
                       "    async def drop(self, key):\n"
                       "        await self._s3.delete_object(Bucket='b', Key=key)\n"
                       "        pages = self._s3.get_paginator('list_object_versions')\n")
    assert list(sites_in(source, "archiver.x")) == [
        ("archiver.x:Store.drop", "self._s3", "delete_object"),
        ("archiver.x:Store.drop", "self._s3", "list_object_versions")]
    # the archiver's role has neither: a call like this added to it fails the test above
    granted = allowed(task_documents()["archiver"])
    assert not {"s3:DeleteObject", "s3:ListBucketVersions"} & granted


def test_not_used_names_real_functions_and_the_compactors_lazy_imports_exist() -> None:
    for service, entries in NOT_USED.items():
        sites = {site for m in closure(ENTRIES[service]) for site, _r, _o in call_sites(m)}
        assert set(entries) <= sites, f"{service}: stale NOT_USED {set(entries) - sites}"
    lazy = {(fn.name, node.module) for fn in ast.walk(tree("lambdalytics.query_cli"))
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(fn) if isinstance(node, ast.ImportFrom) and node.module}
    assert lazy >= COMPACTOR_LAZY
    assert any(m == "dashboard.athena" for _f, m in lazy)  # `--athena` through _with_engine


@pytest.mark.parametrize("name", [*sorted(ENTRIES), *sorted(other_documents())])
@pytest.mark.parametrize("archive_prefix", ["", "site/a/"])
def test_parliament_finds_nothing(name: str, archive_prefix: str) -> None:
    doc = {**task_documents(archive_prefix), **other_documents()}[name]
    text = json.dumps(doc)
    own = parliament.analyze_policy_string(text)
    assert {f.issue for f in own.findings} == EXPECTED_OWN.get(name, set()), \
        [(f.issue, f.detail) for f in own.findings]
    for f in own.findings:  # exactly the lifecycle-versus-delete note, on the archive buckets
        assert "s3:PutLifecycleConfiguration" in f.detail
        assert "s3:DeleteObject" in f.detail
    community = parliament.analyze_policy_string(text, include_community_auditors=True)
    found = {(f.issue, tuple(f.location.get("actions", ()))) for f in community.findings
             if f.issue not in EXPECTED_OWN.get(name, set())}
    assert found == EXPECTED_COMMUNITY.get(name, set())


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["Statement"])


def test_resources_are_single_resources_and_prefixes() -> None:
    docs = task_documents("site/a/")
    for name, doc in {**docs, **other_documents()}.items():
        for st in statements(doc):
            if st["Effect"] == "Deny":  # the TLS-only statement of a bucket policy
                assert st["Sid"] == "TlsOnly"
                continue
            assert all("*" not in a for a in st["Action"]) if isinstance(st["Action"], list) \
                else "*" not in st["Action"]
            if st["Resource"] == "*":
                assert st["Action"] == ["ecr:GetAuthorizationToken"], (name, st)
    collector = {st["Sid"]: st for st in statements(docs["collector"])}
    assert collector["Stream"]["Resource"] == [STREAM]
    assert collector["Salts"]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["salt#*"]}}
    archiver = {st["Sid"]: st for st in statements(docs["archiver"])}
    assert archiver["Landing"]["Resource"] == [
        f"{ARCHIVE}/site/a/{t}/*" for t in ("hits", "filtered", "rejected")]
    assert archiver["Leases"]["Resource"] == [TABLES["leases"]]
    dashboard = {st["Sid"]: st for st in statements(docs["dashboard"])}
    assert dashboard["Lifecycle"]["Resource"] == [ARCHIVE, REPLICA]  # retention on both
    assert all(r.endswith("/property=*") for r in dashboard["DeleteProperty"]["Resource"])
    assert dashboard["Athena"]["Resource"] == [ATHENA.workgroup_arn]


def test_the_landing_prefixes_are_where_the_archiver_writes() -> None:
    from lambdalytics import archive_layout

    keys = [archive_layout.hits_key("site/a/", "p1", "pageview", "2026-01-02", "s-1-2"),
            archive_layout.filtered_key("site/a/", "p1", "2026-01-02", "s-1-2"),
            archive_layout.rejected_key("site/a/", "2026-01-02", "s-1-2")]
    landing = next(st for st in statements(task_documents("site/a/")["archiver"])
                   if st["Sid"] == "Landing")
    for key in keys:
        assert any(f"{ARCHIVE}/{key}".startswith(r.rstrip("*")) for r in landing["Resource"]), key


def test_scheduler_passes_exactly_the_compactors_two_roles_to_ecs() -> None:
    doc = other_documents()["scheduler"]
    by_sid = {st["Sid"]: st for st in statements(doc)}
    assert by_sid["PassRoles"]["Resource"] == [f"arn:aws:iam::{ACCOUNT}:role/t-compactor-task",
                                               f"arn:aws:iam::{ACCOUNT}:role/t-compactor-exec"]
    assert by_sid["PassRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert by_sid["RunTask"]["Resource"] == [ARN.format("ecs", "task-definition/t-compactor:*")]
    assert by_sid["RunTask"]["Condition"] == {"ArnEquals": {"ecs:cluster": ARN.format(
        "ecs", "cluster/t")}}


@pytest.mark.parametrize("doc", [iam.ecs_tasks_trust(ACCOUNT, "us-east-1"),
                                 iam.scheduler_trust(ACCOUNT)])
def test_trust_policies_name_one_service_from_this_account(doc: dict[str, Any]) -> None:
    # parliament does not read trust policies (no Resource): their shape is checked here
    (st,) = doc["Statement"]
    assert st["Effect"] == "Allow"
    assert st["Action"] == "sts:AssumeRole"
    assert list(st["Principal"]) == ["Service"]
    assert st["Principal"]["Service"].endswith(".amazonaws.com")
    assert st["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
