"""Properties in DynamoDB: the ids we issue or import, API secrets' digests and the policy.

Item layout in the properties table (key ``pk``):

- ``property#<property_id>``: the property (:class:`Property`: name, tracking ids, policy,
  the digests of its API secrets, created/updated times and a ``version`` counter that every
  write bumps, so a read-modify-write can be made conditional on it).
- ``tid#<tracking id>``: one alias item per tracking id (``UA-…``, ``G-…``, Firebase app
  id) pointing at its property. Aliases are claimed with ``attribute_not_exists`` in the
  same transaction as the property item, so a tracking id belongs to at most one property
  and a property is never half-written.

Issued ids: ``UA-<account>-1`` with a random 9-digit account per property (UA ids show the
account, so properties do not share one), ``G-`` + 10 upper-case alphanumerics (as Google's
measurement ids), and Firebase-shaped app ids ``1:<project number>:<platform>:<16 hex>`` on
request. A candidate that turns out to be taken (the transaction's cancellation reason for
its alias says so) is replaced and the transaction retried; an *imported* id that is taken
is an error (:class:`TrackingIdTaken`). The uniqueness rests on DynamoDB's conditional
transaction alone, not on the candidates being random.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import string
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from lambdalytics import api_secrets
from lambdalytics import property_policy as policy
from lambdalytics.api_secrets import ApiSecret, SecretError
from lambdalytics.property_policy import Goal, PolicyError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

# ASCII digits only and a true end (\Z): `\d` takes any Unicode digit, `$` a trailing newline
UA_TRACKING_ID = re.compile(r"^UA-[0-9]{1,12}-[0-9]{1,6}\Z")
GA4_MEASUREMENT_ID = re.compile(r"^G-[A-Z0-9]{4,16}\Z")
FIREBASE_APP_ID = re.compile(r"^[0-9]:[0-9]+:[a-zA-Z]+:[a-zA-Z0-9]+\Z")
PROPERTY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\Z")  # an archive partition value
FIREBASE_PLATFORMS = ("android", "ios", "web")
ID_KINDS = ("ua", "ga4", *FIREBASE_PLATFORMS)  # what add_tracking_ids can issue
MAX_TRACKING_IDS = 50  # the property and its aliases fit one transaction (≤ 100 actions)
MAX_SECRETS = 20
ISSUE_ATTEMPTS = 8
_GA4_ALPHABET = string.ascii_uppercase + string.digits

UPDATABLE = frozenset({
    "name", "enabled", "allowed_hostnames", "timezone", "currency", "goals", "retention_days",
    "ip_precision", "geo_precision", "bot_policy", "rate_limit", "cookieless",
})
_RETRYABLE = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "TransactionInProgressException",
    "TransactionConflictException", "ResourceNotFoundException",
})


class PropertyError(Exception):
    """Base of this module's errors."""


class InvalidProperty(PropertyError, ValueError):
    """A value that cannot be stored (bad id, policy or secret)."""


class TrackingIdTaken(PropertyError):
    """A tracking id is already registered to a property."""


class PropertyExists(PropertyError):
    """A property with this id already exists."""


class PropertyNotFound(PropertyError):
    """No property with this id."""


class SecretNotFound(PropertyError):
    """The property has no API secret with this id."""


class TrackingIdNotFound(PropertyError):
    """The property does not own this tracking id."""


class StoreUnavailable(PropertyError):
    """DynamoDB is unreachable, throttling or failing: retryable (the admin API answers 503)."""


@dataclass(frozen=True, slots=True)
class Property:
    property_id: str
    name: str
    tracking_ids: tuple[str, ...]
    enabled: bool = True
    created_at: str = ""
    updated_at: str = ""
    allowed_hostnames: tuple[str, ...] = ()  # empty: every hostname
    timezone: str = "UTC"
    currency: str = "USD"
    goals: tuple[Goal, ...] = ()
    retention_days: int | None = None  # None: keep until the property is deleted
    ip_precision: str = policy.DEFAULT_IP_PRECISION
    geo_precision: str = policy.DEFAULT_GEO_PRECISION
    bot_policy: str = "default"
    rate_limit: int | None = None  # hits/s per collector task; None: no limit
    cookieless: bool = False  # the collector derives a daily visitor id (collector.visitor)
    api_secrets: tuple[ApiSecret, ...] = ()
    version: int = 0

    @property
    def ua_ids(self) -> tuple[str, ...]:
        return tuple(t for t in self.tracking_ids if UA_TRACKING_ID.match(t))

    @property
    def measurement_ids(self) -> tuple[str, ...]:
        return tuple(t for t in self.tracking_ids if GA4_MEASUREMENT_ID.match(t))

    @property
    def firebase_app_ids(self) -> tuple[str, ...]:
        return tuple(t for t in self.tracking_ids if FIREBASE_APP_ID.match(t))

    def verify_secret(self, secret: str) -> str | None:
        """The id of the API secret ``secret`` is, or None (constant time, one SHA-256)."""
        return api_secrets.verify(secret, self.api_secrets)


def property_key(property_id: str) -> str:
    return f"property#{property_id}"


def alias_key(tracking_id: str) -> str:
    return f"tid#{tracking_id}"


def valid_tracking_id(tracking_id: str) -> bool:
    return bool(
        UA_TRACKING_ID.match(tracking_id)
        or GA4_MEASUREMENT_ID.match(tracking_id)
        or FIREBASE_APP_ID.match(tracking_id)
    )


def new_property_id() -> str:
    return "p" + secrets.token_hex(6)


def check_property_id(property_id: str) -> str:
    if not isinstance(property_id, str) or not PROPERTY_ID.match(property_id):
        raise InvalidProperty(f"property id {property_id!r} must be lower-case "
                              "[a-z0-9][a-z0-9_-]*, at most 64 characters")
    return property_id


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- issuing ids ---------------------------------------------------------------------------


class IdIssuer(Protocol):
    """Proposes candidate ids; the store claims them (tests force collisions with their own)."""

    def ua(self) -> str: ...
    def measurement_id(self) -> str: ...
    def firebase_app_id(self, platform: str) -> str: ...


class RandomIssuer:
    def ua(self) -> str:
        return f"UA-{secrets.randbelow(900_000_000) + 100_000_000}-1"

    def measurement_id(self) -> str:
        return "G-" + "".join(secrets.choice(_GA4_ALPHABET) for _ in range(10))

    def firebase_app_id(self, platform: str) -> str:
        project = secrets.randbelow(900_000_000_000) + 100_000_000_000
        return f"1:{project}:{platform}:{secrets.token_hex(8)}"


# --- validation ------------------------------------------------------------------------------


def _validated(prop: Property) -> Property:
    """``prop`` with every field checked and normalised, or InvalidProperty."""
    try:
        check_property_id(prop.property_id)
        bad = [t for t in prop.tracking_ids if not valid_tracking_id(t)]
        if bad or not prop.tracking_ids:
            raise InvalidProperty(f"invalid tracking ids: {bad or list(prop.tracking_ids)}")
        if len(set(prop.tracking_ids)) != len(prop.tracking_ids):
            raise InvalidProperty("a tracking id is listed twice")
        if len(prop.tracking_ids) > MAX_TRACKING_IDS:
            raise InvalidProperty(f"at most {MAX_TRACKING_IDS} tracking ids per property")
        if len(prop.api_secrets) > MAX_SECRETS:
            raise InvalidProperty(f"at most {MAX_SECRETS} API secrets per property")
        return dataclasses.replace(
            prop,
            name=policy.check_name(prop.name),
            allowed_hostnames=policy.check_hostnames(prop.allowed_hostnames),
            timezone=policy.check_timezone(prop.timezone),
            currency=policy.check_currency(prop.currency),
            goals=policy.check_goals(prop.goals),
            retention_days=policy.check_optional_int("retention_days", prop.retention_days,
                                                     policy.MAX_RETENTION_DAYS),
            ip_precision=policy.check_choice("ip_precision", prop.ip_precision,
                                             policy.IP_PRECISIONS),
            geo_precision=policy.check_choice("geo_precision", prop.geo_precision,
                                              policy.GEO_PRECISIONS),
            bot_policy=policy.check_choice("bot_policy", prop.bot_policy, policy.BOT_POLICIES),
            rate_limit=policy.check_optional_int("rate_limit", prop.rate_limit,
                                                 policy.MAX_RATE_LIMIT),
        )
    except (PolicyError, SecretError) as exc:
        raise InvalidProperty(str(exc)) from None


def with_changes(prop: Property, changes: Mapping[str, Any]) -> Property:
    """``prop`` with ``changes`` (a subset of :data:`UPDATABLE`) applied and validated."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise InvalidProperty(f"cannot change {', '.join(sorted(unknown))}")
    fixed = dict(changes)
    for name in ("allowed_hostnames", "goals"):
        if name in fixed:
            fixed[name] = tuple(fixed[name])
    for name in ("enabled", "cookieless"):
        if name in fixed and not isinstance(fixed[name], bool):
            raise InvalidProperty(f"{name} must be true or false")
    return _validated(dataclasses.replace(prop, **fixed))


# --- the DynamoDB item -----------------------------------------------------------------------


def _to_item(prop: Property) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": property_key(prop.property_id)},
        "property_id": {"S": prop.property_id},
        "name": {"S": prop.name},
        "tracking_ids": {"L": [{"S": t} for t in prop.tracking_ids]},
        "enabled": {"BOOL": prop.enabled},
        "created_at": {"S": prop.created_at},
        "updated_at": {"S": prop.updated_at},
        "allowed_hostnames": {"L": [{"S": h} for h in prop.allowed_hostnames]},
        "timezone": {"S": prop.timezone},
        "currency": {"S": prop.currency},
        "goals": {"L": [{"M": {"name": {"S": g.name}, "field": {"S": g.field},
                               "match": {"S": g.match}, "value": {"S": g.value}}}
                        for g in prop.goals]},
        "ip_precision": {"S": prop.ip_precision},
        "geo_precision": {"S": prop.geo_precision},
        "bot_policy": {"S": prop.bot_policy},
        "cookieless": {"BOOL": prop.cookieless},
        "api_secrets": {"M": {s.secret_id: _secret_value(s) for s in prop.api_secrets}},
        "version": {"N": str(prop.version)},
    }
    if prop.retention_days is not None:
        item["retention_days"] = {"N": str(prop.retention_days)}
    if prop.rate_limit is not None:
        item["rate_limit"] = {"N": str(prop.rate_limit)}
    return item


def _secret_value(s: ApiSecret) -> dict[str, Any]:
    return {"M": {"digest": {"S": s.digest}, "created_at": {"S": s.created_at},
                  "label": {"S": s.label}}}


def _s(item: Mapping[str, Any], name: str, default: str) -> str:
    return str(item.get(name, {}).get("S", default))


def _n(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name, {}).get("N")
    return None if value is None else int(value)


def _from_item(item: Mapping[str, Any]) -> Property:
    """The property in an item; attributes an older item lacks take their defaults."""
    secrets_map = item.get("api_secrets", {}).get("M", {})
    return Property(
        property_id=item["property_id"]["S"],
        name=_s(item, "name", ""),
        tracking_ids=tuple(v["S"] for v in item.get("tracking_ids", {}).get("L", [])),
        enabled=item.get("enabled", {}).get("BOOL", True),
        created_at=_s(item, "created_at", ""),
        updated_at=_s(item, "updated_at", ""),
        allowed_hostnames=tuple(v["S"] for v in item.get("allowed_hostnames", {}).get("L", [])),
        timezone=_s(item, "timezone", "UTC"),
        currency=_s(item, "currency", "USD"),
        goals=tuple(Goal(g["M"]["name"]["S"], g["M"]["field"]["S"], g["M"]["match"]["S"],
                         g["M"]["value"]["S"]) for g in item.get("goals", {}).get("L", [])),
        retention_days=_n(item, "retention_days"),
        ip_precision=_s(item, "ip_precision", policy.DEFAULT_IP_PRECISION),
        geo_precision=_s(item, "geo_precision", policy.DEFAULT_GEO_PRECISION),
        bot_policy=_s(item, "bot_policy", "default"),
        rate_limit=_n(item, "rate_limit"),
        cookieless=item.get("cookieless", {}).get("BOOL", False),
        api_secrets=tuple(sorted(
            (ApiSecret(sid, v["M"]["digest"]["S"], v["M"]["created_at"]["S"],
                       v["M"].get("label", {}).get("S", ""))
             for sid, v in secrets_map.items()),
            key=lambda s: (s.created_at, s.secret_id))),
        version=_n(item, "version") or 0,
    )


@contextlib.asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    """DynamoDB outages and throttling → StoreUnavailable; anything else passes through."""
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _RETRYABLE:
            raise StoreUnavailable(f"{what}: {exc.response['Error']['Code']}") from exc
        raise
    except BotoCoreError as exc:  # connection refused, timeouts
        raise StoreUnavailable(f"{what}: {type(exc).__name__}") from exc


def _cancelled_indexes(exc: ClientError) -> list[int] | None:
    """Which actions of a cancelled transaction failed their condition (None: not said)."""
    reasons = exc.response.get("CancellationReasons")
    if not reasons:
        return None
    return [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]


# --- the store -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A secret just made: ``secret`` is shown this once and stored nowhere."""

    record: ApiSecret
    secret: str


@dataclass(frozen=True, slots=True)
class Created:
    property: Property
    secret: NewSecret | None


class PropertyStore:
    """Reads and writes properties in one DynamoDB table (adapter over the real client)."""

    def __init__(self, client: DynamoDBClient, table: str, *, issuer: IdIssuer | None = None,
                 clock: Callable[[], str] = now) -> None:
        self._client = client
        self._table = table
        self._issuer = issuer or RandomIssuer()
        self._clock = clock

    # -- create and import --

    async def create(self, name: str, *, property_id: str | None = None,
                     firebase_platforms: Iterable[str] = (), with_secret: bool = True,
                     secret_label: str = "", **settings: Any) -> Created:
        """A new property with a fresh UA id and GA4 measurement id (and one Firebase app id
        per platform asked for), plus one API secret unless ``with_secret`` is false.
        ``settings``: any of :data:`UPDATABLE`."""
        platforms = tuple(firebase_platforms)
        for platform in platforms:
            if platform not in FIREBASE_PLATFORMS:
                raise InvalidProperty(f"platform must be one of {', '.join(FIREBASE_PLATFORMS)}")
        new = _made_secret(secret_label, self._clock()) if with_secret else None

        def candidates() -> list[str]:
            return [self._issuer.ua(), self._issuer.measurement_id(),
                    *(self._issuer.firebase_app_id(p) for p in platforms)]

        prop = await self._insert(name, candidates, issued=True, property_id=property_id,
                                  secrets_=(new.record,) if new else (), settings=settings)
        return Created(prop, new)

    async def register(self, name: str, tracking_ids: list[str], *,
                       property_id: str | None = None, enabled: bool = True,
                       api_secrets_: Iterable[str] = (), **settings: Any) -> Property:
        """Import: a property owning existing ``tracking_ids`` (and existing API secrets,
        of which only the digest is stored); TrackingIdTaken if any id is registered."""
        at = self._clock()
        records = []
        for secret in api_secrets_:
            try:
                api_secrets.check_secret(secret, imported=True)
            except SecretError as exc:
                raise InvalidProperty(str(exc)) from None
            records.append(ApiSecret(api_secrets.new_secret_id(), api_secrets.digest(secret), at))
        fixed = list(tracking_ids)
        return await self._insert(name, lambda: fixed, issued=False, property_id=property_id,
                                  secrets_=tuple(records), settings={**settings, "enabled": enabled})

    async def _insert(self, name: str, candidates: Callable[[], list[str]], *, issued: bool,
                      property_id: str | None, secrets_: tuple[ApiSecret, ...],
                      settings: Mapping[str, Any]) -> Property:
        at = self._clock()
        for _attempt in range(ISSUE_ATTEMPTS):
            base = Property(property_id=property_id or new_property_id(), name=name,
                            tracking_ids=tuple(candidates()), created_at=at, updated_at=at,
                            api_secrets=secrets_, version=1)
            prop = with_changes(base, settings)
            actions: list[Any] = [{"Put": {
                "TableName": self._table, "Item": _to_item(prop),
                "ConditionExpression": "attribute_not_exists(pk)"}}]
            actions += [{"Put": {
                "TableName": self._table,
                "Item": {"pk": {"S": alias_key(t)}, "property_id": {"S": prop.property_id}},
                "ConditionExpression": "attribute_not_exists(pk)"}} for t in prop.tracking_ids]
            try:
                async with _translated("create property"):
                    await self._client.transact_write_items(TransactItems=actions)
                return prop
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                failed = _cancelled_indexes(exc)
            if failed is None:  # not said which: find out by reading
                failed = [0] if await self.get(prop.property_id) else []
                failed += [i + 1 for i, t in enumerate(prop.tracking_ids)
                           if await self._owner(t) is not None]
            if 0 in failed and property_id is not None:
                raise PropertyExists(f"property {property_id} already exists")
            taken = [prop.tracking_ids[i - 1] for i in failed if i > 0]
            if taken and not issued:
                raise TrackingIdTaken(f"already registered: {', '.join(taken)}")
            # an issued candidate (or a generated property id) collided: draw again
        raise PropertyError(f"no free ids after {ISSUE_ATTEMPTS} attempts")

    # -- read --

    async def get(self, property_id: str, *, consistent: bool = True) -> Property | None:
        async with _translated("get property"):
            resp = await self._client.get_item(
                TableName=self._table, Key={"pk": {"S": property_key(property_id)}},
                ConsistentRead=consistent)
        item = resp.get("Item")
        return _from_item(item) if item else None

    async def require(self, property_id: str) -> Property:
        prop = await self.get(property_id)
        if prop is None:
            raise PropertyNotFound(f"no property {property_id}")
        return prop

    async def _owner(self, tracking_id: str, *, consistent: bool = True) -> str | None:
        async with _translated("look up tracking id"):
            resp = await self._client.get_item(
                TableName=self._table, Key={"pk": {"S": alias_key(tracking_id)}},
                ProjectionExpression="property_id", ConsistentRead=consistent)
        item = resp.get("Item")
        return item["property_id"]["S"] if item else None

    async def lookup(self, tracking_id: str) -> Property | None:
        """The property a tracking id belongs to, or None when nobody registered it. The
        collector's read (behind its cache): eventually consistent, half the read cost."""
        owner = await self._owner(tracking_id, consistent=False)
        return None if owner is None else await self.get(owner, consistent=False)

    async def list(self) -> list[Property]:
        out: list[Property] = []
        kwargs: dict[str, Any] = {"TableName": self._table,
                                  "FilterExpression": "begins_with(pk, :p)",
                                  "ExpressionAttributeValues": {":p": {"S": "property#"}}}
        while True:
            async with _translated("list properties"):
                resp = await self._client.scan(**kwargs)
            out.extend(_from_item(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return sorted(out, key=lambda p: (p.created_at, p.property_id))
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # -- change --

    async def update(self, property_id: str, changes: Mapping[str, Any]) -> Property:
        """Apply ``changes`` (a subset of :data:`UPDATABLE`): read, change, write back on the
        condition that nobody wrote in between (``version``), re-applied if somebody did."""
        for _attempt in range(5):
            old = await self.require(property_id)
            new = with_changes(old, changes)
            new = dataclasses.replace(new, version=old.version + 1, updated_at=self._clock())
            try:
                async with _translated("update property"):
                    await self._client.put_item(**self._put_unchanged(old, new))
                return new
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        raise StoreUnavailable(f"property {property_id} keeps changing; try again")

    def _put_unchanged(self, old: Property, new: Property) -> dict[str, Any]:
        """A Put of ``new`` on the condition that the item is still ``old``'s version."""
        put: dict[str, Any] = {"TableName": self._table, "Item": _to_item(new)}
        if old.version:
            put |= {"ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": {"N": str(old.version)}}}
        else:  # an item from before versions
            put["ConditionExpression"] = "attribute_exists(pk) AND attribute_not_exists(version)"
        return put

    # -- tracking ids --

    def _issue(self, kind: str) -> str:
        if kind == "ua":
            return self._issuer.ua()
        if kind == "ga4":
            return self._issuer.measurement_id()
        return self._issuer.firebase_app_id(kind)

    async def add_tracking_ids(self, property_id: str, tracking_ids: Iterable[str] = (), *,
                               issue: Iterable[str] = ()) -> Property:
        """More tracking ids for a property: existing ones (``tracking_ids``, imported:
        TrackingIdTaken if another property has one) and a new one of each kind in ``issue``
        (:data:`ID_KINDS`). One transaction: the property item, on the condition that nobody
        changed it since it was read, and a claimed alias per new id."""
        fixed, kinds = list(tracking_ids), list(issue)
        if not fixed and not kinds:
            raise InvalidProperty("name tracking ids to add or kinds of id to issue")
        for kind in kinds:
            if kind not in ID_KINDS:
                raise InvalidProperty(f"can issue {', '.join(ID_KINDS)}; not {kind!r}")
        for _attempt in range(ISSUE_ATTEMPTS):
            old = await self.require(property_id)
            if owned := [t for t in fixed if t in old.tracking_ids]:
                raise InvalidProperty(f"the property already has {', '.join(owned)}")
            added = fixed + [self._issue(kind) for kind in kinds]
            new = _validated(dataclasses.replace(
                old, tracking_ids=old.tracking_ids + tuple(added), version=old.version + 1,
                updated_at=self._clock()))
            actions: list[Any] = [{"Put": self._put_unchanged(old, new)}]
            actions += [{"Put": {
                "TableName": self._table,
                "Item": {"pk": {"S": alias_key(t)}, "property_id": {"S": property_id}},
                "ConditionExpression": "attribute_not_exists(pk)"}} for t in added]
            try:
                async with _translated("add tracking ids"):
                    await self._client.transact_write_items(TransactItems=actions)
                return new
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                failed = _cancelled_indexes(exc)
            if failed is None:  # not said which: find out by reading
                failed = [i + 1 for i, t in enumerate(added) if await self._owner(t) is not None]
            if taken := [added[i - 1] for i in failed if 0 < i <= len(fixed)]:
                raise TrackingIdTaken(f"already registered: {', '.join(taken)}")
            # the property changed meanwhile, or an issued candidate was taken: again
        raise StoreUnavailable(f"property {property_id} keeps changing; try again")

    async def remove_tracking_id(self, property_id: str, tracking_id: str) -> Property:
        """Take a tracking id from a property (it keeps at least one); collectors stop
        forwarding its hits within their cache TTL, and the id can be registered again."""
        for _attempt in range(ISSUE_ATTEMPTS):
            old = await self.require(property_id)
            if tracking_id not in old.tracking_ids:
                raise TrackingIdNotFound(f"property {property_id} has no tracking id "
                                         f"{tracking_id[:64]}")
            if len(old.tracking_ids) == 1:
                raise InvalidProperty("a property keeps at least one tracking id")
            new = dataclasses.replace(
                old, tracking_ids=tuple(t for t in old.tracking_ids if t != tracking_id),
                version=old.version + 1, updated_at=self._clock())
            actions: list[Any] = [{"Put": self._put_unchanged(old, new)}, {"Delete": {
                "TableName": self._table, "Key": {"pk": {"S": alias_key(tracking_id)}},
                "ConditionExpression": "attribute_not_exists(pk) OR property_id = :p",
                "ExpressionAttributeValues": {":p": {"S": property_id}}}}]
            try:
                async with _translated("remove tracking id"):
                    await self._client.transact_write_items(TransactItems=actions)
                return new
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
        raise StoreUnavailable(f"property {property_id} keeps changing; try again")

    async def _bump(self, property_id: str, set_: str, names: dict[str, str],
                    values: dict[str, Any], condition: str = "attribute_exists(pk)",
                    remove: str = "") -> Property:
        """One UpdateItem: ``SET {set_}, updated_at`` (and ``REMOVE {remove}``), version + 1."""
        expression = f"SET {set_ + ', ' if set_ else ''}updated_at = :now"
        if remove:
            expression += f" REMOVE {remove}"
        kwargs: dict[str, Any] = {
            "TableName": self._table, "Key": {"pk": {"S": property_key(property_id)}},
            "UpdateExpression": f"{expression} ADD version :one",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {**values, ":now": {"S": self._clock()},
                                          ":one": {"N": "1"}},
            "ReturnValues": "ALL_NEW"}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            async with _translated("update property"):
                resp = await self._client.update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise PropertyNotFound(f"no property {property_id}") from None
            raise
        return _from_item(resp["Attributes"])

    async def set_enabled(self, property_id: str, enabled: bool) -> None:
        await self._bump(property_id, "enabled = :e", {}, {":e": {"BOOL": enabled}})

    async def add_secret(self, property_id: str, *, label: str = "",
                         secret: str | None = None) -> NewSecret:
        """A new API secret (or an existing one imported: ``secret``); only its digest is
        stored, the returned :class:`NewSecret` is the one chance to see it."""
        try:
            if secret is not None:
                api_secrets.check_secret(secret, imported=True)
            made = _made_secret(label, self._clock(), secret)
        except SecretError as exc:
            raise InvalidProperty(str(exc)) from None
        prop = await self.require(property_id)
        if len(prop.api_secrets) >= MAX_SECRETS:
            raise InvalidProperty(f"at most {MAX_SECRETS} API secrets per property")
        if prop.verify_secret(made.secret) is not None:
            raise InvalidProperty("this secret is already registered to the property")
        await self._bump(property_id, "api_secrets.#id = :s", {"#id": made.record.secret_id},
                         {":s": _secret_value(made.record)},
                         "attribute_exists(pk) AND attribute_exists(api_secrets)")
        return made

    async def revoke_secret(self, property_id: str, secret_id: str) -> None:
        try:
            api_secrets.check_secret_id(secret_id)
        except SecretError as exc:
            raise SecretNotFound(str(exc)) from None
        try:
            await self._bump(property_id, "", {"#id": secret_id}, {},
                             "attribute_exists(pk) AND attribute_exists(api_secrets.#id)",
                             remove="api_secrets.#id")
        except PropertyNotFound:
            await self.require(property_id)
            raise SecretNotFound(f"property {property_id} has no secret {secret_id}") from None

    async def delete(self, property_id: str) -> Property:
        """Delete the property item and its aliases (its data: :mod:`lambdalytics.retention`)."""
        prop = await self.require(property_id)
        actions: list[Any] = [{"Delete": {
            "TableName": self._table, "Key": {"pk": {"S": property_key(property_id)}},
            "ConditionExpression": "attribute_exists(pk)"}}]
        actions += [{"Delete": {
            "TableName": self._table, "Key": {"pk": {"S": alias_key(t)}},
            "ConditionExpression": "attribute_not_exists(pk) OR property_id = :p",
            "ExpressionAttributeValues": {":p": {"S": property_id}}}} for t in prop.tracking_ids]
        try:
            async with _translated("delete property"):
                await self._client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise PropertyNotFound(f"no property {property_id}") from None
            raise
        return prop


def _made_secret(label: str, at: str, secret: str | None = None) -> NewSecret:
    try:
        api_secrets.check_label(label)
    except SecretError as exc:
        raise InvalidProperty(str(exc)) from None
    clear = secret if secret is not None else api_secrets.new_secret()
    record = ApiSecret(api_secrets.new_secret_id(), api_secrets.digest(clear), at, label)
    return NewSecret(record, clear)
