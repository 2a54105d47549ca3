"""The admin API under uvicorn on a loopback port, against moto: auth on every route,
problems for bad input, the property life cycle end to end, 503 when DynamoDB is away."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import boto3
import httpx
import pytest
from fastapi.routing import APIRoute

from dashboard.admin import PUBLIC_PATHS, create_app, resolve_token
from dashboard.settings import AdminSettings
from lambdalytics import aws, bootstrap
from lambdalytics.resources import BucketSpec
from tests.support import isolate_aws_env, serving_app

TOKEN = "t" * 20 + "-admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def running_admin(settings: AdminSettings) -> Iterator[str]:
    with serving_app(create_app(settings), "admin API") as url:
        yield url


def provisioned(moto_url: str, prefix: str) -> AdminSettings:
    settings = AdminSettings(resource_prefix=prefix, aws_endpoint_url=moto_url,
                             aws_region="us-east-1", log_format="text", admin_token=TOKEN,
                             archive_buckets=(f"{prefix}-archive", f"{prefix}-lake"))

    async def provision() -> None:
        res = settings.resources
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            for table in (res.properties, res.rollups):
                await bootstrap.ensure_table(ddb, table)
        async with aws.client(aws.session(), "s3", settings) as s3:
            for bucket in settings.retention_buckets():
                await bootstrap.ensure_bucket(s3, BucketSpec(bucket), "us-east-1")

    asyncio.run(provision())
    return settings


@pytest.fixture
def admin_settings(moto_url: str, prefix: str) -> AdminSettings:
    return provisioned(moto_url, prefix)


@pytest.fixture
def admin(admin_settings: AdminSettings) -> Iterator[httpx.Client]:
    with running_admin(admin_settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def shared_admin(moto_url: str) -> Iterator[httpx.Client]:
    """One server for the tests that only read or fail (auth, bad input)."""
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the autouse isolation
        isolate_aws_env(mp)
        with running_admin(provisioned(moto_url, "t" + secrets.token_hex(5))) as url, \
                httpx.Client(base_url=url, timeout=30) as client:
            yield client


def is_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["title"]
    return body


def routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves, found by walking its routes."""
    app = create_app(AdminSettings(admin_token=TOKEN)).app
    out = [(method, route.path) for route in app.routes if isinstance(route, APIRoute)
           for method in sorted(route.methods)]
    assert len(out) >= 12  # the walk found the routes (11 admin routes and /healthz)
    return out


ROUTES = routes()


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[1] not in PUBLIC_PATHS])
def test_every_admin_route_answers_401_without_the_token(
        shared_admin: httpx.Client, method: str, path: str) -> None:
    url = re.sub(r"\{[^}]+\}", "p1", path)
    for authorization in [None, "Bearer", f"Bearer {TOKEN[:-1]}x", f"Bearer {TOKEN}x",
                          f"Basic {TOKEN}", f"bearer{TOKEN}", f"Token {TOKEN}",
                          "Bearer " + "x" * 5000]:
        headers = {"Authorization": authorization} if authorization is not None else {}
        r = shared_admin.request(method, url, headers=headers, json={"name": "x"})
        body = is_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in r.text
        assert "detail" in body
    ok = shared_admin.request(method, url, headers=AUTH, json={"name": "x"})
    assert ok.status_code != 401


def test_only_health_and_documentation_are_public(shared_admin: httpx.Client) -> None:
    admin = shared_admin
    assert {p for _, p in ROUTES} & PUBLIC_PATHS == {"/healthz"}
    assert admin.get("/healthz").json() == {"status": "ok"}
    doc = admin.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for method, path in ROUTES:
        op = doc["paths"][path][method.lower()]
        ok = next(c for c in op["responses"] if c.startswith("2"))
        assert "$ref" in json.dumps(op["responses"][ok]), (method, path)  # a response model
        if path != "/healthz":
            assert op["security"] == [{"HTTPBearer": []}]
    is_problem(admin.get("/nope"), 401)  # unknown paths too


def test_the_document_declares_the_problems_as_answered() -> None:
    """Every error is answered application/problem+json, a body that is not JSON with a 400
    (test_bad_input_is_a_problem_never_a_500): the document says so, for every operation."""
    doc = create_app(AdminSettings(admin_token=TOKEN)).app.openapi()
    operations = [(f"{method.upper()} {path}", op) for path, item in doc["paths"].items()
                  for method, op in item.items()]
    errors = [(name, status, list(response.get("content", {}))) for name, op in operations
              for status, response in op["responses"].items() if int(status) >= 400]
    assert errors
    assert [e for e in errors if e[2] != ["application/problem+json"]] == []
    with_body = [(name, op) for name, op in operations if "requestBody" in op]
    assert with_body
    assert [name for name, op in with_body if "400" not in op["responses"]] == []


def lifecycle_ids(settings: AdminSettings, bucket: str) -> set[str]:
    s3 = boto3.client("s3", endpoint_url=settings.aws_endpoint_url, region_name="us-east-1")
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except s3.exceptions.ClientError:
        return set()
    return {r["ID"] for r in rules}


def test_a_property_from_creation_to_deletion(admin: httpx.Client,
                                              admin_settings: AdminSettings) -> None:
    r = admin.post("/v1/properties", headers=AUTH, json={
        "name": "Shop", "firebase_platforms": ["ios"], "timezone": "Europe/Paris",
        "currency": "EUR", "retention_days": 30, "allowed_hostnames": ["shop.example"],
        "goals": [{"name": "buy", "field": "event_name", "match": "equals", "value": "purchase"}],
        "secret_label": "server"})
    assert r.status_code == 201, r.text
    created = r.json()
    prop, secret = created["property"], created["api_secret"]
    pid = prop["property_id"]
    assert re.fullmatch(r"UA-[0-9]{9}-1", prop["ua_tracking_ids"][0])
    assert re.fullmatch(r"G-[A-Z0-9]{10}", prop["measurement_ids"][0])
    assert len(prop["firebase_app_ids"]) == 1
    assert len(secret["secret"]) >= 32
    assert secret["label"] == "server"

    shown = admin.get(f"/v1/properties/{pid}", headers=AUTH).json()
    assert shown == prop
    listed = admin.get("/v1/properties", headers=AUTH)
    assert secret["secret"] not in listed.text + json.dumps(shown)
    assert [p["property_id"] for p in listed.json()["properties"]] == [pid]
    hits_rule = f"lambdalytics:hits/property={pid}/"
    for bucket in admin_settings.retention_buckets():
        assert hits_rule in lifecycle_ids(admin_settings, bucket)

    patched = admin.patch(f"/v1/properties/{pid}", headers=AUTH,
                          json={"retention_days": None, "ip_precision": "16/32", "rate_limit": 50})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["retention_days"], patched.json()["ip_precision"],
            patched.json()["currency"]) == (None, "16/32", "EUR")
    assert hits_rule not in lifecycle_ids(admin_settings, admin_settings.retention_buckets()[0])

    assert admin.post(f"/v1/properties/{pid}/disable", headers=AUTH).json()["enabled"] is False
    assert admin.post(f"/v1/properties/{pid}/enable", headers=AUTH).json()["enabled"] is True

    added = admin.post(f"/v1/properties/{pid}/secrets", headers=AUTH, json={"label": "two"})
    assert added.status_code == 201
    ids = [s["secret_id"] for s in
           admin.get(f"/v1/properties/{pid}/secrets", headers=AUTH).json()["api_secrets"]]
    assert sorted(ids) == sorted([secret["secret_id"], added.json()["secret_id"]])
    revoked = admin.delete(f"/v1/properties/{pid}/secrets/{secret['secret_id']}", headers=AUTH)
    assert revoked.json() == {"property_id": pid, "secret_id": secret["secret_id"], "revoked": True}
    is_problem(admin.delete(f"/v1/properties/{pid}/secrets/{secret['secret_id']}", headers=AUTH),
               404)

    s3 = boto3.client("s3", endpoint_url=admin_settings.aws_endpoint_url, region_name="us-east-1")
    for bucket in admin_settings.retention_buckets():
        s3.put_object(Bucket=bucket, Key=f"hits/property={pid}/type=event/date=2026-01-01/"
                                         "s-1-1.json.gz", Body=b"x")
    gone = admin.delete(f"/v1/properties/{pid}", headers=AUTH)
    assert gone.json() == {"property_id": pid, "object_versions_deleted": 2,
                           "rollup_items_deleted": 0}
    is_problem(admin.get(f"/v1/properties/{pid}", headers=AUTH), 404)
    is_problem(admin.delete(f"/v1/properties/{pid}", headers=AUTH), 404)


def test_import_keeps_existing_ids_and_never_echoes_a_secret(admin: httpx.Client) -> None:
    body = {"name": "Old", "property_id": "old", "tracking_ids": ["UA-42-1", "G-OLD0000001"],
            "api_secrets": ["ExistingSecret123456"]}
    r = admin.post("/v1/properties/import", headers=AUTH, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["tracking_ids"] == ["UA-42-1", "G-OLD0000001"]
    assert len(r.json()["api_secrets"]) == 1
    assert "ExistingSecret123456" not in r.text
    taken = is_problem(admin.post("/v1/properties/import", headers=AUTH,
                                  json={**body, "property_id": "new"}), 409)
    assert "UA-42-1" in taken["detail"]
    bad = admin.post("/v1/properties/import", headers=AUTH,
                     json={**body, "property_id": "other", "timezone": 5})
    is_problem(bad, 422)
    assert "ExistingSecret123456" not in bad.text


def test_no_secret_or_token_in_any_log_line(admin: httpx.Client,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """Every logger at DEBUG (botocore's request dumps included) while secrets are made,
    imported, refused and revoked and the token is sent right and wrong."""
    caplog.set_level(logging.DEBUG)
    made = admin.post("/v1/properties", headers=AUTH, json={"name": "Logged"}).json()
    pid, secret = made["property"]["property_id"], made["api_secret"]["secret"]
    imported = "ImportedSecretForLogs0001"
    added = admin.post(f"/v1/properties/{pid}/secrets", headers=AUTH,
                       json={"secret": imported}).json()
    again = admin.post(f"/v1/properties/{pid}/secrets", headers=AUTH, json={"label": "x"}).json()
    refused = "tiny-secret"
    is_problem(admin.post(f"/v1/properties/{pid}/secrets", headers=AUTH,
                          json={"secret": refused}), 422)
    is_problem(admin.get("/v1/properties", headers={"Authorization": f"Bearer {TOKEN}x"}), 401)
    admin.delete(f"/v1/properties/{pid}/secrets/{added['secret_id']}", headers=AUTH)
    text = caplog.text
    assert "dynamodb" in text.lower()  # the capture saw the server's AWS calls
    for clear in (secret, imported, again["secret"], refused, TOKEN):
        assert clear not in text


def test_tracking_ids_are_added_and_removed(admin: httpx.Client) -> None:
    pid = admin.post("/v1/properties/import", headers=AUTH, json={
        "name": "Migrating", "tracking_ids": ["UA-800-1"]}).json()["property_id"]
    admin.post("/v1/properties/import", headers=AUTH, json={
        "name": "Other", "tracking_ids": ["G-OTHER00001"]})
    r = admin.post(f"/v1/properties/{pid}/tracking-ids", headers=AUTH,
                   json={"tracking_ids": ["UA-800-2"], "issue": ["ga4", "ios"]})
    assert r.status_code == 200, r.text
    grown = r.json()
    assert grown["ua_tracking_ids"] == ["UA-800-1", "UA-800-2"]
    assert re.fullmatch(r"G-[A-Z0-9]{10}", grown["measurement_ids"][0])
    assert re.fullmatch(r"1:[0-9]+:ios:[0-9a-f]{16}", grown["firebase_app_ids"][0])
    taken = is_problem(admin.post(f"/v1/properties/{pid}/tracking-ids", headers=AUTH,
                                  json={"tracking_ids": ["G-OTHER00001"]}), 409)
    assert "G-OTHER00001" in taken["detail"]
    is_problem(admin.post(f"/v1/properties/{pid}/tracking-ids", headers=AUTH,
                          json={"tracking_ids": ["UA-bad"]}), 422)
    is_problem(admin.post(f"/v1/properties/{pid}/tracking-ids", headers=AUTH,
                          json={"issue": ["tv"]}), 422)
    is_problem(admin.post(f"/v1/properties/{pid}/tracking-ids", headers=AUTH, json={}), 422)
    is_problem(admin.post("/v1/properties/missing/tracking-ids", headers=AUTH,
                          json={"tracking_ids": ["UA-800-9"]}), 404)

    r = admin.delete(f"/v1/properties/{pid}/tracking-ids/UA-800-1", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["ua_tracking_ids"] == ["UA-800-2"]
    is_problem(admin.delete(f"/v1/properties/{pid}/tracking-ids/UA-800-1", headers=AUTH), 404)
    for tid in [*grown["measurement_ids"], *grown["firebase_app_ids"]]:
        assert admin.delete(f"/v1/properties/{pid}/tracking-ids/{tid}",
                            headers=AUTH).status_code == 200
    is_problem(admin.delete(f"/v1/properties/{pid}/tracking-ids/UA-800-2", headers=AUTH), 422)


@pytest.mark.parametrize(("method", "path", "payload", "status"), [
    ("POST", "/v1/properties", b"{not json", 422),
    ("POST", "/v1/properties", {"name": "x", "unknown": 1}, 422),
    ("POST", "/v1/properties", {"name": "x", "timezone": "Nowhere/Land"}, 422),
    ("POST", "/v1/properties", {"name": "x", "currency": "ABC"}, 422),
    ("POST", "/v1/properties", {"name": "x", "property_id": "Bad Id"}, 422),
    ("POST", "/v1/properties", {"name": "x", "retention_days": 0}, 422),
    ("POST", "/v1/properties", {"name": "x", "ip_precision": "8/8"}, 422),
    ("POST", "/v1/properties", {"name": "x", "allowed_hostnames": ["a b"]}, 422),
    ("POST", "/v1/properties", {"name": "x", "goals": [
        {"name": "g", "field": "page_path", "match": "regex", "value": "(["}]}, 422),
    ("POST", "/v1/properties", {"name": "x", "enabled": None}, 422),
    ("POST", "/v1/properties", {"name": "\x00"}, 422),
    ("POST", "/v1/properties", [], 422),
    ("POST", "/v1/properties", b"x" * 70_000, 413),
    ("POST", "/v1/properties", b'{"name": "\xff"}', 400),  # not JSON (not UTF-8)
    ("PATCH", "/v1/properties/missing", {"name": "x"}, 404),
    ("PATCH", "/v1/properties/missing", {"tracking_ids": ["G-X"]}, 422),
    ("POST", "/v1/properties/import", {"name": "x", "tracking_ids": ["UA-x"]}, 422),
    ("POST", "/v1/properties/import", {"name": "x", "tracking_ids": []}, 422),
    ("POST", "/v1/properties/import",
     {"name": "x", "tracking_ids": ["UA-1-1"], "api_secrets": ["short"]}, 422),
    ("POST", "/v1/properties/missing/secrets", {}, 404),
    ("POST", "/v1/properties/missing/secrets", {"secret": "tiny"}, 422),
    ("DELETE", "/v1/properties/missing/secrets/s1", None, 404),
    ("DELETE", "/v1/properties/missing/secrets/..%2F..", None, 404),
    ("GET", "/v1/properties/%00", None, 404),
])
def test_bad_input_is_a_problem_never_a_500(shared_admin: httpx.Client, method: str, path: str,
                                            payload: Any, status: int) -> None:
    kwargs: dict[str, Any] = {}
    if isinstance(payload, bytes):
        kwargs["content"] = payload
        kwargs["headers"] = {**AUTH, "Content-Type": "application/json"}
    else:
        kwargs["headers"] = AUTH
        if payload is not None:
            kwargs["json"] = payload
    is_problem(shared_admin.request(method, path, **kwargs), status)


def test_dynamodb_unreachable_is_503(admin_settings: AdminSettings) -> None:
    down = admin_settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9",
                                             "aws_max_attempts": 1, "aws_connect_timeout_s": 0.5})
    with running_admin(down) as url:
        for method, path, body in [("GET", "/v1/properties", None),
                                   ("POST", "/v1/properties", {"name": "x"}),
                                   ("GET", "/v1/properties/p1", None)]:
            r = httpx.request(method, url + path, headers=AUTH, json=body, timeout=30)
            is_problem(r, 503)
            assert r.headers["retry-after"] == "5"


def test_token_from_secrets_manager(admin_settings: AdminSettings, prefix: str) -> None:
    sm = boto3.client("secretsmanager", endpoint_url=admin_settings.aws_endpoint_url,
                      region_name="us-east-1")
    token = "s" * 40
    arn = sm.create_secret(Name=f"{prefix}/admin-token", SecretString=token + "\n")["ARN"]
    settings = admin_settings.model_copy(update={"admin_token": None, "admin_token_secret": arn})
    with running_admin(settings) as url:
        assert httpx.get(f"{url}/v1/properties",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.get(f"{url}/v1/properties", headers=AUTH).status_code == 401


@pytest.mark.parametrize("token", [None, "short"])
async def test_refuses_to_start_without_a_usable_token(token: str | None) -> None:
    async with AsyncExitStack() as stack:
        with pytest.raises(RuntimeError, match=r"(?i)admin.token"):
            await resolve_token(AdminSettings(admin_token=token), stack)
