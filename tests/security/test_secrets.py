"""API secrets (the GA4 MP api_secret, the admin token, share tokens): compared in constant time,
never logged, never echoed.

A static check walks the services' code for ``==``/``!=``/``in`` on anything named like a
secret; the verifiers are checked to go through ``hmac.compare_digest``. Then the dashboard and
the collector are served on loopback and sent requests carrying secrets, valid and invalid,
with every logger of this process at DEBUG (botocore's request dumps included): no record,
formatted as JSON or text, and no answer but the one that issues a secret, contains one.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
import orjson

from collector.settings import CollectorSettings
from dashboard import admin, auth, shares
from lambdalytics import api_secrets, bootstrap
from tests.dashboard import dashboard_support as ds
from tests.dashboard import report_fixture as fx
from tests.security.no_raw_ip import LogLines
from tests.support import running_collector

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("collector", "dashboard", "lambdalytics", "archiver")
SECRET_NAME = re.compile(r"secret|token|digest|passw|credential", re.IGNORECASE)
NOT_SECRET = re.compile(r"_id\Z|_ids\Z|label|prefix|format|_at\Z|_length\Z|bytes\Z", re.IGNORECASE)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return str(node.slice.value)
    if isinstance(node, ast.Call):  # digest(x) == stored
        return _name(node.func)
    return None


def plain_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, code) of every ``==``, ``!=``, ``in``, ``not in`` with an operand named like a
    secret (constants, ids, labels and None checks aside)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        for side in (node.left, *node.comparators):
            name = _name(side)
            if name and SECRET_NAME.search(name) and not NOT_SECRET.search(name) \
                    and not name.isupper():
                out.append((node.lineno, ast.unparse(node)))
    return out


def test_plain_comparisons_are_found() -> None:
    """The check itself: each of these would time how far a guess got."""
    for code in ["ok = given == api_secret", "ok = token != self.admin_token",
                 "ok = item['digest'] == d", "ok = secret in stored_secrets",
                 "ok = creds.credentials == expected", "ok = _digest(given) == expected"]:
        assert plain_comparisons(code), code
    for code in ["ok = secret is None", "ok = reason == INVALID_API_SECRET",
                 "ok = s.secret_id == wanted", "ok = hmac.compare_digest(a, b)"]:
        assert not plain_comparisons(code), code


def test_no_secret_is_compared_with_plain_equality() -> None:
    found = [f"{path.relative_to(REPO)}:{line}: {code}"
             for root in SERVICES for path in sorted((REPO / root).rglob("*.py"))
             for line, code in plain_comparisons(path.read_text())]
    assert found == [], "compare secrets with hmac.compare_digest:\n" + "\n".join(found)


def test_the_verifiers_compare_in_constant_time() -> None:
    for verifier in (admin.token_matches, api_secrets.verify, shares.ShareStore._lookup):
        assert "hmac.compare_digest(" in inspect.getsource(verifier), verifier
    # share tokens and the admin token are checked through those (no second path)
    assert "token_matches(" in inspect.getsource(auth.authorizer)
    assert "token_matches(" in inspect.getsource(admin.authorised)


def test_no_secret_in_any_log_line_or_answer(moto_url: str, prefix: str,
                                             captured: LogLines) -> None:
    settings = ds.provision(moto_url, prefix)
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1").create_bucket(
        Bucket=settings.resources.archive.name)  # a new property's retention rules go there
    clear: list[str] = [ds.TOKEN]
    leaks: list[str] = []

    def check(r: httpx.Response, *, issued: str | None = None) -> httpx.Response:
        for s in clear:
            if s != issued and s in r.text:
                leaks.append(f"{r.request.method} {r.request.url.path} echoes a secret")
        return r

    with ds.client(settings) as api:
        made = api.post("/v1/properties", headers=ds.AUTH, json={"name": "S"}).json()
        pid, mp_secret = made["property"]["property_id"], made["api_secret"]["secret"]
        clear.append(mp_secret)
        measurement_id = made["property"]["measurement_ids"][0]
        imported = "ImportedSecretForTheLogs01"
        clear += [imported, "bad secret with spaces!!", "Sh0rt"]
        # the answer that registers a secret shows it (once), as for one it makes
        check(api.post(f"/v1/properties/{pid}/secrets", headers=ds.AUTH,
                       json={"secret": imported}), issued=imported)
        for bad in ("bad secret with spaces!!", "Sh0rt"):  # refused: 422, never echoed
            r = check(api.post(f"/v1/properties/{pid}/secrets", headers=ds.AUTH,
                               json={"secret": bad}))
            assert r.status_code == 422
            r = check(api.post("/v1/properties/import", headers=ds.AUTH, json={
                "name": "I", "tracking_ids": ["UA-8800-1"], "api_secrets": [bad]}))
            assert r.status_code == 422
        share = api.post(f"/v1/properties/{fx.SHOP}/shares", headers=ds.AUTH, json={}).json()
        token = share["token"]
        clear.append(token)
        forged, wrong = "lts_" + secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        clear += [forged, wrong, ds.TOKEN[:-1] + "x"]
        for t in (token, forged, wrong, ds.TOKEN[:-1] + "x", ds.TOKEN):
            for path in ("/v1/me", f"/v1/properties/{fx.SHOP}/realtime", "/v1/properties",
                         f"/v1/properties/{fx.SHOP}/shares"):
                check(api.get(path, headers={"Authorization": f"Bearer {t}"}))
        check(api.delete(f"/v1/properties/{fx.SHOP}/shares/{share['share_id']}",
                         headers=ds.AUTH))
        check(api.get("/v1/me", headers={"Authorization": f"Bearer {token}"}))  # revoked: 401

    collector_hits(CollectorSettings(
        resource_prefix=prefix, aws_endpoint_url=moto_url, aws_region="us-east-1",
        sink_max_in_flight=1, sink_linger_ms=5, log_format="text"),
        measurement_id, [mp_secret, imported, "NotTheSecretOfThisProperty01"], check)
    clear.append("NotTheSecretOfThisProperty01")

    lines = captured.lines
    assert len(lines) > 50, "the capture saw little"
    assert any("botocore" in src for src, _ in lines)
    logged = [f"{src}: {line[:200]}" for src, line in lines for s in clear if s in line]
    assert logged == [], "\n".join(logged[:10])
    assert leaks == [], leaks


def collector_hits(settings: CollectorSettings, measurement_id: str, secrets_: list[str],
                   check: Callable[[httpx.Response], httpx.Response]) -> None:
    """MP requests with the property's secrets and a wrong one (the collector reads the
    dashboard's properties table: the same prefix)."""
    asyncio.run(bootstrap.provision(settings, (settings.resources.properties,), bucket=False))
    body = orjson.dumps({"client_id": "1.2", "events": [{"name": "signup"}]})
    with running_collector(settings) as c, httpx.Client(base_url=c.url, timeout=30) as http:
        for secret in secrets_:
            for path in ("/mp/collect", "/debug/mp/collect"):
                r = http.post(path, params={"measurement_id": measurement_id,
                                            "api_secret": secret}, content=body)
                assert r.status_code in (200, 204), r.text
                check(r)
            r = http.post("/mp/collect", params={"measurement_id": measurement_id,
                                                 "api_secret": secret}, content=b"{not json")
            check(r)
