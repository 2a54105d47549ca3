"""PropertyStore against moto over HTTP: issuing, importing, secrets, updates, deletion."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdalytics import aws
from lambdalytics.api_secrets import digest
from lambdalytics.properties import (
    InvalidProperty,
    Property,
    PropertyError,
    PropertyExists,
    PropertyNotFound,
    PropertyStore,
    RandomIssuer,
    SecretNotFound,
    StoreUnavailable,
    TrackingIdNotFound,
    TrackingIdTaken,
)
from lambdalytics.property_policy import Goal
from lambdalytics.settings import CommonSettings
from tests.lambdalytics.properties_support import common_settings, property_table, raw_items


@pytest.fixture
def common(moto_url: str, prefix: str) -> CommonSettings:
    return common_settings(moto_url, prefix)


@pytest.fixture
async def ddb(common: CommonSettings) -> AsyncIterator[Any]:
    async with property_table(common) as client:
        yield client


@pytest.fixture
def table(common: CommonSettings) -> str:
    return common.resources.properties.name


@pytest.fixture
def store(ddb: Any, table: str) -> PropertyStore:
    return PropertyStore(ddb, table)


class Forced(RandomIssuer):
    """Proposes the given candidates first, then random ones."""

    def __init__(self, ua: list[str] | None = None, g: list[str] | None = None) -> None:
        self.uas = iter(ua or [])
        self.gs = iter(g or [])
        self.proposed: list[str] = []

    def ua(self) -> str:
        tid = next(self.uas, None) or super().ua()
        self.proposed.append(tid)
        return tid

    def measurement_id(self) -> str:
        tid = next(self.gs, None) or super().measurement_id()
        self.proposed.append(tid)
        return tid


async def test_create_issues_ids_in_googles_formats(store: PropertyStore) -> None:
    created = await store.create("Shop", firebase_platforms=["android", "ios"])
    prop = created.property
    assert re.fullmatch(r"p[0-9a-f]{12}", prop.property_id)
    (ua,) = prop.ua_ids
    (g,) = prop.measurement_ids
    assert re.fullmatch(r"UA-[1-9][0-9]{8}-1", ua)
    assert re.fullmatch(r"G-[A-Z0-9]{10}", g)
    assert [t.split(":")[2] for t in prop.firebase_app_ids] == ["android", "ios"]
    assert all(re.fullmatch(r"1:[0-9]{12}:[a-z]+:[0-9a-f]{16}", t) for t in prop.firebase_app_ids)
    for tid in prop.tracking_ids:
        assert await store.lookup(tid) == prop
    assert await store.get(prop.property_id) == prop
    assert [p.property_id for p in await store.list()] == [prop.property_id]
    assert (prop.created_at, prop.updated_at, prop.version) == (prop.created_at, prop.created_at, 1)


async def test_a_secret_is_stored_only_as_its_digest(store: PropertyStore, ddb: Any,
                                                     table: str) -> None:
    created = await store.create("Shop", secret_label="server")
    assert created.secret is not None
    secret = created.secret.secret
    assert len(secret) >= 32  # 24 random bytes, URL-safe base64
    prop = created.property
    assert prop.verify_secret(secret) == created.secret.record.secret_id
    assert prop.verify_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert prop.verify_secret("") is None
    added = await store.add_secret(prop.property_id, label="second")
    imported = await store.add_secret(prop.property_id, secret="AbCdEfGhIjKlMnOpQrStUv")
    dump = json.dumps(await raw_items(ddb, table))
    for clear in (secret, added.secret, imported.secret):
        assert clear not in dump
        assert digest(clear) in dump
    again = await store.require(prop.property_id)
    assert again.verify_secret(added.secret) == added.record.secret_id
    assert again.verify_secret(imported.secret) == imported.record.secret_id
    assert sorted(s.label for s in again.api_secrets) == ["", "second", "server"]


async def test_secrets_are_revoked_one_by_one(store: PropertyStore) -> None:
    created = await store.create("Shop")
    pid = created.property.property_id
    assert created.secret is not None
    other = await store.add_secret(pid)
    await store.revoke_secret(pid, created.secret.record.secret_id)
    prop = await store.require(pid)
    assert prop.verify_secret(created.secret.secret) is None
    assert prop.verify_secret(other.secret) == other.record.secret_id
    with pytest.raises(SecretNotFound):
        await store.revoke_secret(pid, created.secret.record.secret_id)
    with pytest.raises(PropertyNotFound):
        await store.revoke_secret("nope", other.record.secret_id)
    with pytest.raises(InvalidProperty):  # the same secret twice would be ambiguous
        await store.add_secret(pid, secret=other.secret)
    with pytest.raises(InvalidProperty):  # too short to import
        await store.add_secret(pid, secret="short")


async def test_a_taken_candidate_is_replaced_not_shared(ddb: Any, table: str) -> None:
    """The uniqueness logic itself, in sequence: the second create is forced to propose the
    ids the first one holds. Only the conditional claim in the transaction can notice."""
    first = await PropertyStore(ddb, table, issuer=Forced(["UA-111111111-1"], ["G-AAAAAAAAAA"])) \
        .create("one", with_secret=False)
    forced = Forced(["UA-111111111-1", "UA-111111111-1"], ["G-AAAAAAAAAA", "G-AAAAAAAAAA"])
    second = await PropertyStore(ddb, table, issuer=forced).create("two", with_secret=False)
    assert forced.proposed[:4] == ["UA-111111111-1", "G-AAAAAAAAAA"] * 2
    assert not set(first.property.tracking_ids) & set(second.property.tracking_ids)
    store = PropertyStore(ddb, table)
    assert (await store.lookup("G-AAAAAAAAAA")) == first.property
    for tid in second.property.tracking_ids:
        assert await store.lookup(tid) == second.property
    assert len(await store.list()) == 2


async def test_issuing_gives_up_rather_than_sharing_an_id(ddb: Any, table: str) -> None:
    await PropertyStore(ddb, table, issuer=Forced(g=["G-BBBBBBBBBB"])).create("one")
    stuck = Forced(g=["G-BBBBBBBBBB"] * 100)
    with pytest.raises(PropertyError, match="no free ids"):
        await PropertyStore(ddb, table, issuer=stuck).create("two")
    items = await raw_items(ddb, table)
    assert sum(i["pk"]["S"].startswith("property#") for i in items) == 1  # nothing half-written
    assert len(items) == 3  # one property, its UA and G aliases


class OneAtATime:
    """The real client, one request in flight at a time (moto is not concurrency-safe)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = asyncio.Lock()

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)

        async def serialised(**kwargs: Any) -> Any:
            async with self._lock:
                await asyncio.sleep(0)  # let the other creates run up to their next call
                return await call(**kwargs)
        return serialised


async def test_concurrent_creates_never_share_an_id(ddb: Any, table: str) -> None:
    """Twelve creates at once, drawing from a pool of four G- ids so they collide often.

    What this can and cannot show: moto is not safe under concurrent requests (its conditional
    writes are not atomic, reference/aws.md §6.2, and concurrent TransactWriteItems even fail
    inside moto with "dictionary changed size during iteration"), so a thin wrapper lets one
    request at a time through to it. The twelve creates still interleave at every await —
    one's claim lands between another's candidates and its retry — which is the store's part;
    that two claims of one alias cannot both succeed is DynamoDB's part (attribute_not_exists
    in one transaction), which no emulator here can show. The sequential tests above force the
    collisions deterministically.
    """
    pool = itertools.cycle(["G-CCCCCCCCC1", "G-CCCCCCCCC2", "G-CCCCCCCCC3", "G-CCCCCCCCC4"])

    class Pooled(RandomIssuer):
        def measurement_id(self) -> str:
            return next(pool) if secrets_left() else super().measurement_id()

    budget = [40]

    def secrets_left() -> bool:
        budget[0] -= 1
        return budget[0] >= 0

    store = PropertyStore(OneAtATime(ddb), table, issuer=Pooled())  # type: ignore[arg-type]
    results = await asyncio.gather(*(store.create(f"site {i}", with_secret=False)
                                     for i in range(12)), return_exceptions=True)
    made = [r.property for r in results if not isinstance(r, BaseException)]
    assert len(made) == 12, [r for r in results if isinstance(r, BaseException)]
    ids = [t for p in made for t in p.tracking_ids]
    assert len(ids) == len(set(ids))
    items = await raw_items(ddb, table)
    aliases = {i["pk"]["S"][4:]: i["property_id"]["S"] for i in items if i["pk"]["S"].startswith("tid#")}
    assert aliases == {t: p.property_id for p in made for t in p.tracking_ids}


async def test_import_keeps_existing_ids_and_secrets(store: PropertyStore, ddb: Any,
                                                     table: str) -> None:
    ids = ["UA-12345-6", "G-ABCDE12345", "1:123456789:android:abc123def456"]
    prop = await store.register("Old site", ids, property_id="old-site",
                                api_secrets_=["ExistingGoogleSecret01"], timezone="Europe/Paris",
                                currency="EUR")
    assert prop.tracking_ids == tuple(ids)
    assert (prop.ua_ids, prop.measurement_ids) == (("UA-12345-6",), ("G-ABCDE12345",))
    assert await store.lookup("1:123456789:android:abc123def456") == prop
    assert prop.verify_secret("ExistingGoogleSecret01") is not None
    assert "ExistingGoogleSecret01" not in json.dumps(await raw_items(ddb, table))
    with pytest.raises(TrackingIdTaken, match="G-ABCDE12345"):
        await store.register("copy", ["G-NEW0000001", "G-ABCDE12345"])
    assert await store.lookup("G-NEW0000001") is None  # nothing half-written
    with pytest.raises(PropertyExists):
        await store.register("same id", ["G-NEW0000002"], property_id="old-site")
    assert await store.lookup("G-NEW0000002") is None
    with pytest.raises(InvalidProperty):
        await store.register("bad", ["UA-1-1"], api_secrets_=["tooshort"])
    with pytest.raises(InvalidProperty):
        await store.register("bad", ["GA-1"])
    with pytest.raises(InvalidProperty):
        await store.register("bad", ["UA-1-1"], property_id="Upper")


@pytest.mark.parametrize(("changes", "message"), [
    ({"timezone": "Mars/Olympus"}, "IANA"),
    ({"timezone": "../../etc/passwd"}, "IANA"),
    ({"currency": "usd"}, "ISO 4217"),
    ({"currency": "XXX"}, "ISO 4217"),
    ({"allowed_hostnames": ["Example.com"]}, "hostname"),
    ({"allowed_hostnames": ["https://example.com"]}, "hostname"),
    ({"goals": [Goal("g", "page_path", "regex", "(")]}, "regular expression"),
    ({"goals": [Goal("g", "title", "equals", "x")]}, "field"),
    ({"goals": [Goal("g", "page_path", "equals", "/a"), Goal("g", "page_path", "equals", "/b")]},
     "unique"),
    ({"retention_days": 0}, "retention_days"),
    ({"rate_limit": -1}, "rate_limit"),
    ({"ip_precision": "8/16"}, "ip_precision"),
    ({"geo_precision": "street"}, "geo_precision"),
    ({"bot_policy": "allow"}, "bot_policy"),
    ({"name": " "}, "name"),
    ({"tracking_ids": ["G-X"]}, "cannot change"),
    ({"enabled": "yes"}, "enabled"),
])
async def test_bad_policy_is_refused(store: PropertyStore, changes: dict[str, Any],
                                     message: str) -> None:
    prop = (await store.create("site")).property
    with pytest.raises(InvalidProperty, match=message):
        await store.update(prop.property_id, changes)
    with pytest.raises(InvalidProperty, match=message):
        await store.create(**{"name": "other", **changes})
    assert await store.get(prop.property_id) == prop


async def test_update_changes_policy_and_keeps_the_rest(store: PropertyStore) -> None:
    created = await store.create("site")
    pid = created.property.property_id
    goals = [Goal("signup", "event_name", "equals", "sign_up"),
             Goal("docs", "page_path", "prefix", "/docs/")]
    new = await store.update(pid, {
        "name": "Site", "allowed_hostnames": ["example.com", "*.example.com"],
        "timezone": "America/New_York", "currency": "EUR", "goals": goals, "retention_days": 30,
        "ip_precision": "16/32", "geo_precision": "country", "bot_policy": "flag",
        "rate_limit": 500, "enabled": False})
    assert new == await store.require(pid)
    assert new.version == 2
    assert new.goals == tuple(goals)
    assert new.api_secrets == created.property.api_secrets
    assert new.tracking_ids == created.property.tracking_ids
    cleared = await store.update(pid, {"retention_days": None, "rate_limit": None})
    assert (cleared.retention_days, cleared.rate_limit, cleared.currency) == (None, None, "EUR")
    with pytest.raises(PropertyNotFound):
        await store.update("missing", {"name": "x"})


class WriteBetween:
    """The real client; before its first put_item, somebody else changes the property."""

    def __init__(self, client: Any, meddle: Any) -> None:
        self._client = client
        self._meddle = meddle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def put_item(self, **kwargs: Any) -> Any:
        if self._meddle is not None:
            meddle, self._meddle = self._meddle, None
            await meddle()
        return await self._client.put_item(**kwargs)


async def test_an_update_never_loses_a_concurrent_write(store: PropertyStore, ddb: Any,
                                                        table: str) -> None:
    pid = (await store.create("site")).property.property_id
    added: list[str] = []

    async def meddle() -> None:
        added.append((await store.add_secret(pid, label="meanwhile")).record.secret_id)

    racing = PropertyStore(WriteBetween(ddb, meddle), table)  # type: ignore[arg-type]
    new = await racing.update(pid, {"currency": "JPY"})
    assert new.currency == "JPY"
    assert added[0] in {s.secret_id for s in new.api_secrets}  # re-read, re-applied
    assert new == await store.require(pid)
    assert new.version == 3  # created 1, the secret 2, the update (its first put refused) 3


async def test_disable_enable_and_delete(store: PropertyStore) -> None:
    prop = (await store.create("site", firebase_platforms=["web"])).property
    await store.set_enabled(prop.property_id, False)
    assert not (await store.require(prop.property_id)).enabled
    await store.set_enabled(prop.property_id, True)
    assert (await store.require(prop.property_id)).enabled
    with pytest.raises(PropertyNotFound):
        await store.set_enabled("missing", False)
    await store.delete(prop.property_id)
    assert await store.get(prop.property_id) is None
    for tid in prop.tracking_ids:
        assert await store.lookup(tid) is None
    with pytest.raises(PropertyNotFound):
        await store.delete(prop.property_id)
    again = await store.register("again", list(prop.tracking_ids))  # the ids are free again
    assert await store.lookup(prop.tracking_ids[0]) == again


async def test_an_item_written_before_policies_reads_with_defaults(store: PropertyStore,
                                                                   ddb: Any, table: str) -> None:
    await ddb.put_item(TableName=table, Item={
        "pk": {"S": "property#legacy"}, "property_id": {"S": "legacy"}, "name": {"S": "Old"},
        "tracking_ids": {"L": [{"S": "UA-5-1"}]}, "enabled": {"BOOL": True},
        "created_at": {"S": "2024-01-01T00:00:00+00:00"}})
    await ddb.put_item(TableName=table, Item={"pk": {"S": "tid#UA-5-1"},
                                              "property_id": {"S": "legacy"}})
    old = await store.lookup("UA-5-1")
    assert old == Property("legacy", "Old", ("UA-5-1",), created_at="2024-01-01T00:00:00+00:00")
    new = await store.update("legacy", {"timezone": "Asia/Tokyo"})
    assert (new.timezone, new.version) == ("Asia/Tokyo", 1)
    assert (await store.add_secret("legacy")).secret  # api_secrets map exists now


class Throttled:
    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        async def fail(**_kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "slow down"}}, name)
        return fail


async def test_outages_are_store_unavailable(ddb: Any, table: str, common: CommonSettings) -> None:
    throttled = PropertyStore(Throttled(ddb), table)  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailable):
        await throttled.get("x")
    with pytest.raises(StoreUnavailable):
        await throttled.create("x")
    closed = common.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    async with aws.client(aws.session(), "dynamodb", closed,
                          aws.config(max_attempts=1, connect_timeout=1)) as down:
        with pytest.raises(StoreUnavailable):
            await PropertyStore(down, table).list()


# --- tracking ids of an existing property ------------------------------------------------------


async def aliases(ddb: Any, table: str) -> dict[str, str]:
    return {i["pk"]["S"][4:]: i["property_id"]["S"] for i in await raw_items(ddb, table)
            if i["pk"]["S"].startswith("tid#")}


async def test_ids_are_added_imported_or_issued(ddb: Any, table: str) -> None:
    issuer = Forced(g=["G-DDDDDDDDD1", "G-DDDDDDDDD2"])
    store = PropertyStore(ddb, table, issuer=issuer)
    prop = (await store.register("UA only", ["UA-700-1"])).property_id
    other = await store.register("other", ["G-DDDDDDDDD1"])  # the first G- candidate is taken
    grown = await store.add_tracking_ids(prop, ["UA-700-2"], issue=["ga4", "web"])
    assert grown.tracking_ids[:3] == ("UA-700-1", "UA-700-2", "G-DDDDDDDDD2")
    assert re.fullmatch(r"1:[0-9]+:web:[0-9a-f]{16}", grown.tracking_ids[3])
    assert grown.version == 2
    assert await store.require(prop) == grown
    for tid in grown.tracking_ids:
        assert await store.lookup(tid) == grown
    assert (await aliases(ddb, table))["G-DDDDDDDDD1"] == other.property_id

    with pytest.raises(TrackingIdTaken, match="already registered: G-DDDDDDDDD1"):
        await store.add_tracking_ids(prop, ["UA-700-3", "G-DDDDDDDDD1"])
    with pytest.raises(InvalidProperty, match="already has UA-700-2"):
        await store.add_tracking_ids(prop, ["UA-700-2"])
    for bad in (["UA-x"], [], ["UA-700-9", "UA-700-9"]):
        with pytest.raises(InvalidProperty):
            await store.add_tracking_ids(prop, bad)
    with pytest.raises(InvalidProperty, match="can issue"):
        await store.add_tracking_ids(prop, issue=["android-tv"])
    with pytest.raises(PropertyNotFound):
        await store.add_tracking_ids("missing", ["UA-700-4"])
    assert await store.require(prop) == grown  # nothing of the refused ones was written
    assert "UA-700-3" not in await aliases(ddb, table)


async def test_a_removed_id_stops_resolving_and_is_free_again(store: PropertyStore, ddb: Any,
                                                              table: str) -> None:
    prop = await store.register("two ids", ["UA-701-1", "G-EEEEEEEEE1"])
    smaller = await store.remove_tracking_id(prop.property_id, "UA-701-1")
    assert smaller.tracking_ids == ("G-EEEEEEEEE1",)
    assert await store.lookup("UA-701-1") is None
    assert await store.lookup("G-EEEEEEEEE1") == smaller
    with pytest.raises(InvalidProperty, match="at least one"):
        await store.remove_tracking_id(prop.property_id, "G-EEEEEEEEE1")
    with pytest.raises(TrackingIdNotFound):
        await store.remove_tracking_id(prop.property_id, "UA-701-1")
    again = await store.register("new owner", ["UA-701-1"])
    assert (await aliases(ddb, table))["UA-701-1"] == again.property_id


async def test_concurrent_id_changes_are_all_kept(ddb: Any, table: str) -> None:
    """Six adds and a remove on one property at once (one request at a time to moto, the
    calls interleaved at every await: each reads the same version, only one write of a round
    wins its condition, the others read again and re-apply)."""
    store = PropertyStore(OneAtATime(ddb), table)  # type: ignore[arg-type]
    prop = await store.register("busy", ["UA-702-1", "UA-702-2"])
    results = await asyncio.gather(
        *(store.add_tracking_ids(prop.property_id, [f"UA-702-{n}"]) for n in range(3, 9)),
        store.remove_tracking_id(prop.property_id, "UA-702-2"), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    final = await store.require(prop.property_id)
    assert sorted(final.tracking_ids) == sorted(
        ["UA-702-1", *(f"UA-702-{n}" for n in range(3, 9))])
    assert final.version == 1 + 7
    assert {t for t, owner in (await aliases(ddb, table)).items()
            if owner == prop.property_id} == set(final.tracking_ids)
