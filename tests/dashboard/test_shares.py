"""Share links under uvicorn against moto: made, listed, used, confined to their property and
to reads, revoked, expired, and refused once their property is deleted."""

from __future__ import annotations

import re
from collections.abc import Iterator

import boto3
import httpx
import pytest

from dashboard.settings import DashboardSettings
from tests.dashboard import dashboard_support as ds
from tests.dashboard import report_fixture as fx

DAYS = {"from": "2026-03-28", "to": "2026-03-29"}


@pytest.fixture
def settings(moto_url: str, prefix: str) -> DashboardSettings:
    return ds.provision(moto_url, prefix, fx.write_archive(moto_url))


@pytest.fixture
def clock() -> ds.Clock:
    return ds.Clock()


@pytest.fixture
def api(settings: DashboardSettings, clock: ds.Clock) -> Iterator[httpx.Client]:
    with ds.client(settings, clock=clock) as c:
        yield c


def share(api: httpx.Client, prop: str = fx.SHOP, **body: object) -> dict[str, object]:
    r = api.post(f"/v1/properties/{prop}/shares", headers=ds.AUTH, json=body)
    assert r.status_code == 201, r.text
    made: dict[str, object] = r.json()
    return made


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_share_link_from_creation_to_revocation(api: httpx.Client,
                                                  settings: DashboardSettings) -> None:
    made = share(api, label="board meeting", expires_in_days=30)
    token = str(made["token"])
    assert re.fullmatch(r"lts_[A-Za-z0-9_-]{43}", token)
    assert made["url"] == str(api.base_url).rstrip("/") + f"/#share={token}"  # its own origin
    assert made["label"] == "board meeting"
    assert made["created_at"] == "2026-03-29T12:00:30Z"
    assert made["expires_at"] == "2026-04-28T12:00:30Z"
    # the table keeps its digest only
    ddb = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url, region_name="us-east-1")
    table = ddb.scan(TableName=settings.resources.properties.name)["Items"]
    assert token not in str(table)
    assert any(i["pk"]["S"].startswith("share#") for i in table)

    listed = api.get(f"/v1/properties/{fx.SHOP}/shares", headers=ds.AUTH)
    assert listed.json() == {"shares": [{k: made[k] for k in (
        "share_id", "label", "created_at", "expires_at")}]}
    assert token not in listed.text
    assert api.get(f"/v1/properties/{fx.OTHER}/shares", headers=ds.AUTH).json() == {"shares": []}

    me = api.get("/v1/me", headers=bearer(token)).json()
    assert me == {"role": "share", "properties": [{
        "property_id": fx.SHOP, "name": "Shop", "timezone": fx.ZONE, "currency": "EUR",
        "enabled": True}], "share": {"share_id": made["share_id"], "label": "board meeting",
                                     "expires_at": "2026-04-28T12:00:30Z"}}
    body = ds.report(api, "overview", headers=bearer(token), **DAYS)
    assert ds.rows_of(body)[0][3:6] == (4, 7, 12)
    csv = api.get(f"/v1/properties/{fx.SHOP}/reports/pages", headers=bearer(token),
                  params={**DAYS, "format": "csv"})
    assert csv.text.startswith("page_path,pageviews,visitors\n/,5,3\n")
    assert api.get("/v1/reports", headers=bearer(token)).status_code == 200
    assert api.get(f"/v1/properties/{fx.SHOP}/realtime", headers=bearer(token)).status_code == 200

    revoked = api.delete(f"/v1/properties/{fx.SHOP}/shares/{made['share_id']}", headers=ds.AUTH)
    assert revoked.json() == {"share_id": made["share_id"], "revoked": True}
    refused = ds.is_problem(api.get("/v1/me", headers=bearer(token)), 401)
    assert refused["detail"] == "this share link is revoked or unknown"
    assert api.get(f"/v1/properties/{fx.SHOP}/shares", headers=ds.AUTH).json() == {"shares": []}
    ds.is_problem(api.delete(f"/v1/properties/{fx.SHOP}/shares/{made['share_id']}",
                             headers=ds.AUTH), 404)


def test_a_share_token_reads_its_own_property_only(api: httpx.Client) -> None:
    token = bearer(share(api)["token"])
    for method, path in [
            ("GET", f"/v1/properties/{fx.OTHER}/reports/pages"),
            ("GET", f"/v1/properties/{fx.OTHER}/realtime"),
            ("GET", "/v1/properties"), ("GET", f"/v1/properties/{fx.SHOP}"),
            ("GET", f"/v1/properties/{fx.SHOP}/shares"),
            ("POST", f"/v1/properties/{fx.SHOP}/shares"),
            ("DELETE", f"/v1/properties/{fx.SHOP}"),
            ("POST", f"/v1/properties/{fx.SHOP}/disable"),
            ("PATCH", f"/v1/properties/{fx.SHOP}"),
            ("GET", f"/v1/properties/{fx.SHOP}/secrets"),
            ("POST", f"/v1/properties/{fx.SHOP}/reports/pages"),
            ("GET", f"/v1/properties/{fx.SHOP}/reports/pages/x"),
            ("GET", "/v1/nope")]:
        ds.is_problem(api.request(method, path, headers=token, json={}), 403)
    # nothing was changed by the refused requests
    assert api.get(f"/v1/properties/{fx.SHOP}", headers=ds.AUTH).json()["enabled"] is True
    admin = api.get("/v1/me", headers=ds.AUTH).json()
    assert admin["role"] == "admin"
    assert admin["share"] is None
    assert [p["property_id"] for p in admin["properties"]] == sorted(
        [fx.SHOP, fx.OTHER, fx.FALL, fx.FLAGGED])


def test_an_expired_share_is_refused(api: httpx.Client, clock: ds.Clock) -> None:
    made = share(api, expires_in_days=1)
    never = share(api, label="forever")
    assert never["expires_at"] is None
    assert api.get("/v1/me", headers=bearer(made["token"])).status_code == 200
    clock.now += 86_400  # the clock reaches expires_at: refused from that instant
    body = ds.is_problem(api.get("/v1/me", headers=bearer(made["token"])), 401)
    assert body["detail"] == "this share link has expired"
    assert api.get("/v1/me", headers=bearer(never["token"])).status_code == 200


def test_deleting_the_property_revokes_its_shares(api: httpx.Client,
                                                  settings: DashboardSettings) -> None:
    token = bearer(share(api, fx.OTHER)["token"])
    kept = bearer(share(api, fx.SHOP)["token"])
    assert api.get("/v1/me", headers=token).status_code == 200
    assert api.delete(f"/v1/properties/{fx.OTHER}", headers=ds.AUTH).status_code == 200
    assert ds.is_problem(api.get("/v1/me", headers=token), 401)["detail"] == \
        "this share link is revoked or unknown"
    ddb = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url, region_name="us-east-1")
    left = [i for i in ddb.scan(TableName=settings.resources.properties.name)["Items"]
            if i["pk"]["S"].startswith("share#")]
    assert [i["property_id"]["S"] for i in left] == [fx.SHOP]
    assert api.get("/v1/me", headers=kept).status_code == 200


@pytest.mark.parametrize(("prop", "body", "status"), [
    (fx.SHOP, {"expires_in_days": 0}, 422),
    (fx.SHOP, {"expires_in_days": 5000}, 422),
    (fx.SHOP, {"label": "x" * 201}, 422),
    (fx.SHOP, {"token": "lts_mine"}, 422),
    ("missing", {}, 404),
])
def test_bad_share_requests(api: httpx.Client, prop: str, body: dict[str, object],
                            status: int) -> None:
    ds.is_problem(api.post(f"/v1/properties/{prop}/shares", headers=ds.AUTH, json=body), status)


def test_share_links_print_the_public_url(settings: DashboardSettings) -> None:
    public = settings.model_copy(update={"public_url": "https://stats.example.com"})
    with ds.client(public, clock=ds.Clock()) as api:
        made = share(api)
    assert made["url"] == f"https://stats.example.com/#share={made['token']}"
