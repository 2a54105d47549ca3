"""The admin API: properties, their policy and their API secrets (FastAPI, OpenAPI documented).

Every route but ``/healthz`` and the API's own documentation needs ``Authorization: Bearer
<admin token>``; the check is an ASGI middleware in front of the whole app, so a route added
later cannot be left open by forgetting a dependency (the routes also declare the bearer
scheme, for the OpenAPI document). The token comes from settings or from Secrets Manager and
is compared in constant time. Errors are RFC 9457 problem documents
(``application/problem+json``); a request's input is never echoed back (an import carries API
secrets). DynamoDB or S3 unreachable or throttling → 503 with Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from dashboard.settings import AdminSettings
from lambdalytics import aws
from lambdalytics.properties import (
    InvalidProperty,
    Property,
    PropertyError,
    PropertyExists,
    PropertyNotFound,
    PropertyStore,
    SecretNotFound,
    StoreUnavailable,
    TrackingIdNotFound,
    TrackingIdTaken,
)
from lambdalytics.property_admin import PropertyAdmin
from lambdalytics.property_policy import Goal
from lambdalytics.retention import Retention, RetentionError

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
MIN_TOKEN_LENGTH = 32
RETRY_AFTER = "5"
PROBLEM = "application/problem+json"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Authorize = Callable[[Scope, "str | None"], Awaitable["ASGIApp | None"]]


# --- models ----------------------------------------------------------------------------------


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class GoalModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    field: Literal["page_path", "event_name"]
    match: Literal["equals", "prefix", "regex"]
    value: str = Field(max_length=256)


IpPrecision = Literal["24/48", "16/32", "none"]
GeoPrecision = Literal["city", "region", "country", "none"]
BotPolicy = Literal["default", "filter", "filter_all", "flag"]


class PolicyIn(BaseModel):
    """Policy fields; on PATCH only those sent change (``null`` clears retention or rate)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    allowed_hostnames: list[str] | None = Field(
        None, description="page hostnames / Origin hosts allowed; *.example.com for subdomains; "
                          "empty: any")
    timezone: str | None = Field(None, description="IANA time zone of the reports")
    currency: str | None = Field(None, description="ISO 4217 code")
    goals: list[GoalModel] | None = None
    retention_days: int | None = Field(None, ge=1, le=36_500,
                                       description="null: keep until the property is deleted")
    ip_precision: IpPrecision | None = None
    geo_precision: GeoPrecision | None = None
    bot_policy: BotPolicy | None = None
    rate_limit: int | None = Field(None, ge=1, le=1_000_000,
                                   description="hits/s per collector task; null: none")
    cookieless: bool | None = Field(None, description="the collector derives a daily visitor "
                                    "id (a salted hash); no client id is kept")

    def changes(self) -> dict[str, Any]:
        out = self.model_dump(exclude_unset=True)
        for name in ("enabled", "timezone", "currency", "ip_precision", "geo_precision",
                     "bot_policy", "allowed_hostnames", "goals", "name", "cookieless"):
            if name in out and out[name] is None:
                raise InvalidProperty(f"{name} cannot be null")
        if "goals" in out:
            out["goals"] = [Goal(**g) for g in out["goals"]]
        return out


class UpdateIn(PolicyIn):
    name: str | None = Field(None, max_length=200)


class CreateIn(PolicyIn):
    name: str = Field(max_length=200)
    property_id: str | None = Field(None, description="default: generated")
    firebase_platforms: list[Literal["android", "ios", "web"]] = Field(
        default_factory=list, description="issue one Firebase app id per platform")
    with_secret: bool = Field(True, description="issue one API secret, shown once")
    secret_label: str = Field("", max_length=100)

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in super().changes().items()
                if k not in {"name", "property_id", "firebase_platforms", "with_secret",
                             "secret_label"}}


class ImportIn(PolicyIn):
    name: str = Field(max_length=200)
    property_id: str | None = None
    tracking_ids: list[str] = Field(min_length=1, max_length=50,
                                    description="existing UA-…, G-… and Firebase app ids")
    api_secrets: list[SecretStr] = Field(default_factory=list, max_length=20,
                                         description="existing Measurement Protocol secrets")

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in super().changes().items()
                if k not in {"name", "property_id", "tracking_ids", "api_secrets"}}


class TrackingIdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracking_ids: list[str] = Field(default_factory=list, max_length=50,
                                    description="existing UA-…, G-… and Firebase app ids")
    issue: list[Literal["ua", "ga4", "android", "ios", "web"]] = Field(
        default_factory=list, max_length=10,
        description="issue a new id of each kind (ga4: a measurement id; a platform: a "
                    "Firebase app id)")


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field("", max_length=100)
    secret: SecretStr | None = Field(None, description="import an existing secret instead")


class SecretOut(BaseModel):
    secret_id: str
    label: str
    created_at: str


class NewSecretOut(SecretOut):
    secret: str = Field(description="shown this once; only its SHA-256 digest is stored")


class PropertyOut(BaseModel):
    property_id: str
    name: str
    tracking_ids: list[str]
    ua_tracking_ids: list[str]
    measurement_ids: list[str]
    firebase_app_ids: list[str]
    enabled: bool
    created_at: str
    updated_at: str
    allowed_hostnames: list[str]
    timezone: str
    currency: str
    goals: list[GoalModel]
    retention_days: int | None
    ip_precision: str
    geo_precision: str
    bot_policy: str
    rate_limit: int | None
    cookieless: bool
    api_secrets: list[SecretOut]
    version: int

    @classmethod
    def of(cls, p: Property) -> PropertyOut:
        return cls(
            property_id=p.property_id, name=p.name, tracking_ids=list(p.tracking_ids),
            ua_tracking_ids=list(p.ua_ids), measurement_ids=list(p.measurement_ids),
            firebase_app_ids=list(p.firebase_app_ids), enabled=p.enabled,
            created_at=p.created_at, updated_at=p.updated_at,
            allowed_hostnames=list(p.allowed_hostnames), timezone=p.timezone,
            currency=p.currency,
            goals=[GoalModel(name=g.name, field=g.field, match=g.match, value=g.value)
                   for g in p.goals],
            retention_days=p.retention_days, ip_precision=p.ip_precision,
            geo_precision=p.geo_precision, bot_policy=p.bot_policy, rate_limit=p.rate_limit,
            cookieless=p.cookieless,
            api_secrets=[SecretOut(secret_id=s.secret_id, label=s.label, created_at=s.created_at)
                         for s in p.api_secrets],
            version=p.version)


class CreatedOut(BaseModel):
    property: PropertyOut
    api_secret: NewSecretOut | None


class PropertyListOut(BaseModel):
    properties: list[PropertyOut]


class SecretListOut(BaseModel):
    api_secrets: list[SecretOut]


class RevokedOut(BaseModel):
    property_id: str
    secret_id: str
    revoked: bool = True


class DeletedOut(BaseModel):
    property_id: str
    object_versions_deleted: int
    rollup_items_deleted: int


class Health(BaseModel):
    status: str


# --- auth, size cap and problems -------------------------------------------------------------


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def token_matches(given: str | None, expected: bytes) -> bool:
    """Constant time in the token's content (both sides hashed to the same length first)."""
    return given is not None and hmac.compare_digest(_digest(given), expected)


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def problem(status_code: int, detail: str | None = None, *,
            errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(title=HTTPStatus(status_code).phrase, status=status_code, detail=detail,
                   errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status_code,
                        media_type=PROBLEM, headers=headers)


class Guard:
    """ASGI middleware: 401 without the admin token on every non-public path; 413 for a body
    over the cap (declared or streamed), before the app reads it. ``authorize`` replaces the
    admin-token check (the dashboard also admits share tokens): it answers the response that
    refuses the request, or None to let it through."""

    def __init__(self, app: ASGIApp, state: AdminState, max_body: int, *,
                 authorize: Authorize | None = None) -> None:
        self.app = app
        self.state = state
        self.max_body = max_body
        self.authorize = authorize or self._admin_only

    async def _admin_only(self, scope: Scope, token: str | None) -> ASGIApp | None:
        if scope["path"] in PUBLIC_PATHS or token_matches(token, self.state.token_digest):
            return None
        return unauthorized("a valid admin bearer token is required")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        refusal = await self.authorize(scope, bearer(headers))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        for name, value in headers:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                await problem(413, f"the body exceeds {self.max_body} bytes")(scope, receive, send)
                return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise _TooLarge
            return message

        try:
            await self.app(scope, capped, send)
        except _TooLarge:
            await problem(413, f"the body exceeds {self.max_body} bytes")(scope, receive, send)


class _TooLarge(Exception):
    pass


def unauthorized(detail: str) -> JSONResponse:
    return problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


_STATUS: list[tuple[type[Exception], int]] = [
    (InvalidProperty, 422), (TrackingIdTaken, 409), (PropertyExists, 409),
    (PropertyNotFound, 404), (SecretNotFound, 404), (TrackingIdNotFound, 404),
    (StoreUnavailable, 503),
    (RetentionError, 502), (PropertyError, 503),
]


def install_problems(app: FastAPI) -> None:
    _problem_document(app)

    @app.exception_handler(RequestValidationError)
    async def invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]  # never "input": an import carries secrets
        return problem(422, "the request is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail) if exc.detail else None,
                       headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(PropertyError)
    async def property_error(_req: Request, exc: PropertyError) -> JSONResponse:
        code = next(c for t, c in _STATUS if isinstance(exc, t))
        if code >= 500:
            log.warning("admin API: %s", exc)
        return problem(code, str(exc), headers={"Retry-After": RETRY_AFTER} if code == 503 else None)

    @app.exception_handler(BotoCoreError)
    async def aws_down(_req: Request, exc: BotoCoreError) -> JSONResponse:
        log.warning("admin API: AWS unreachable: %s", type(exc).__name__)
        return problem(503, "AWS is unreachable", headers={"Retry-After": RETRY_AFTER})

    @app.exception_handler(ClientError)
    async def aws_error(_req: Request, exc: ClientError) -> JSONResponse:
        code = exc.response.get("Error", {}).get("Code", "")
        log.error("admin API: AWS error %s", code)
        return problem(502, f"AWS refused the request ({code})")


def _problem_document(app: FastAPI) -> None:
    """The OpenAPI document as the errors are answered: application/problem+json (FastAPI
    writes application/json for a response model), and a 400 for a body that is not JSON."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        problem_ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
        for item in document.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                if "requestBody" in operation:
                    responses.setdefault("400", {"description": "the body is not JSON",
                                                 "content": {PROBLEM: problem_ref}})
                for code, response in responses.items():
                    content = response.get("content", {})
                    if code.isdigit() and int(code) >= 400 and "application/json" in content:
                        content[PROBLEM] = content.pop("application/json")
        return document

    app.openapi = openapi  # type: ignore[method-assign]


# --- the app ---------------------------------------------------------------------------------


@dataclass
class AdminState:
    token_digest: bytes = b""
    admin: PropertyAdmin | None = None
    # called with the property id once a property is deleted (the dashboard revokes its shares)
    on_deleted: list[Callable[[str], Awaitable[None]]] = field(default_factory=list)


_bearer_scheme = HTTPBearer(auto_error=False, description="the admin token")


def authorised(request: Request,
               creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)]) -> None:
    """The Guard already refused requests without the token; this documents the scheme in
    OpenAPI and checks again, in case the app is ever served without the Guard."""
    state: AdminState = request.app.state.admin
    if creds is None or not token_matches(creds.credentials, state.token_digest):
        raise StarletteHTTPException(401, "a valid admin bearer token is required",
                                     headers={"WWW-Authenticate": "Bearer"})


def admin_service(request: Request) -> PropertyAdmin:
    state: AdminState = request.app.state.admin
    if state.admin is None:
        raise StoreUnavailable("not started")
    return state.admin


Admin = Annotated[PropertyAdmin, Depends(admin_service)]


async def resolve_token(settings: AdminSettings, stack: AsyncExitStack) -> str:
    """The admin token: from settings, or read once from Secrets Manager at start-up."""
    if settings.admin_token is not None:
        token = settings.admin_token.get_secret_value()
    elif settings.admin_token_secret:
        kwargs: dict[str, Any] = {"config": _aws_config(settings)}
        if settings.aws_region:
            kwargs["region_name"] = settings.aws_region
        if settings.aws_endpoint_url:
            kwargs["endpoint_url"] = settings.aws_endpoint_url
        sm: Any = await stack.enter_async_context(
            aws.session().create_client("secretsmanager", **kwargs))
        resp = await sm.get_secret_value(SecretId=settings.admin_token_secret)
        token = str(resp.get("SecretString", "")).strip()
    else:
        raise RuntimeError("set LAMBDALYTICS_ADMIN_TOKEN or LAMBDALYTICS_ADMIN_TOKEN_SECRET")
    if len(token) < MIN_TOKEN_LENGTH:
        raise RuntimeError(f"the admin token must have at least {MIN_TOKEN_LENGTH} characters")
    return token


def _aws_config(settings: AdminSettings) -> Any:
    return aws.config(max_attempts=settings.aws_max_attempts,
                      connect_timeout=settings.aws_connect_timeout_s, pool=10)


async def open_admin(settings: AdminSettings, stack: AsyncExitStack, state: AdminState) -> Any:
    """Start the admin API's resources on ``stack`` (the token, DynamoDB and S3 clients, the
    property service) into ``state``; returns the DynamoDB client, for other services."""
    state.token_digest = _digest(await resolve_token(settings, stack))
    sess = aws.session()
    cfg = _aws_config(settings)
    ddb = await stack.enter_async_context(aws.client(sess, "dynamodb", settings, cfg))
    s3 = await stack.enter_async_context(aws.client(sess, "s3", settings, cfg))
    res = settings.resources
    state.admin = PropertyAdmin(
        PropertyStore(ddb, res.properties.name),
        Retention(s3, ddb, buckets=settings.retention_buckets(),
                  archive_prefix=settings.archive_prefix,
                  rollups_table=res.rollups.name))
    return ddb


API_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem}, 413: {"model": Problem}, 422: {"model": Problem},
    503: {"model": Problem}}


def create_app(settings: AdminSettings) -> Any:
    """The admin API as an ASGI app (FastAPI behind the auth guard)."""
    state = AdminState()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await open_admin(settings, stack, state)
            yield
            state.admin = None

    api = FastAPI(title="Lambdalytics admin API", version="1", lifespan=lifespan,
                  responses=API_RESPONSES)
    install_problems(api)
    add_admin_routes(api)
    api.state.admin = state
    return Guard(api, state, settings.max_body_bytes)


def add_admin_routes(api: FastAPI) -> None:
    """``/healthz`` and the admin routes (properties, tracking ids, API secrets) on ``api``
    (routes of the app itself: the OpenAPI walk and the tests see them as they are)."""
    auth = [Depends(authorised)]
    found: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
    conflict: dict[int | str, dict[str, Any]] = {409: {"model": Problem}, 404: {"model": Problem}}

    @api.get("/healthz", response_model=Health, tags=["operations"], summary="Liveness")
    async def healthz() -> Health:
        return Health(status="ok")

    @api.post("/v1/properties", response_model=CreatedOut, status_code=status.HTTP_201_CREATED,
              dependencies=auth, tags=["properties"], responses=conflict,
              summary="Create a property: new UA and G- ids (and Firebase app ids), one API secret")
    async def create(body: CreateIn, svc: Admin) -> CreatedOut:
        created = await svc.create(
            body.name, property_id=body.property_id, firebase_platforms=body.firebase_platforms,
            with_secret=body.with_secret, secret_label=body.secret_label, **body.changes())
        new = created.secret
        return CreatedOut(property=PropertyOut.of(created.property), api_secret=None if new is None
                          else NewSecretOut(secret_id=new.record.secret_id, label=new.record.label,
                                            created_at=new.record.created_at, secret=new.secret))

    @api.post("/v1/properties/import", response_model=PropertyOut,
              status_code=status.HTTP_201_CREATED, dependencies=auth, tags=["properties"],
              responses=conflict, summary="Register existing tracking ids and API secrets")
    async def import_(body: ImportIn, svc: Admin) -> PropertyOut:
        prop = await svc.import_(body.name, body.tracking_ids, property_id=body.property_id,
                                 api_secrets_=[s.get_secret_value() for s in body.api_secrets],
                                 **body.changes())
        return PropertyOut.of(prop)

    @api.get("/v1/properties", response_model=PropertyListOut, dependencies=auth,
             tags=["properties"], summary="List properties")
    async def list_(svc: Admin) -> PropertyListOut:
        return PropertyListOut(properties=[PropertyOut.of(p) for p in await svc.store.list()])

    @api.get("/v1/properties/{property_id}", response_model=PropertyOut, dependencies=auth,
             tags=["properties"], responses=found, summary="Show a property")
    async def show(property_id: str, svc: Admin) -> PropertyOut:
        return PropertyOut.of(await svc.store.require(property_id))

    @api.patch("/v1/properties/{property_id}", response_model=PropertyOut, dependencies=auth,
               tags=["properties"], responses=found,
               summary="Change a property's name or policy (only the fields sent)")
    async def update(property_id: str, body: UpdateIn, svc: Admin) -> PropertyOut:
        return PropertyOut.of(await svc.update(property_id, body.changes()))

    @api.post("/v1/properties/{property_id}/disable", response_model=PropertyOut,
              dependencies=auth, tags=["properties"], responses=found,
              summary="Disable: its hits are filtered (reason disabled_property)")
    async def disable(property_id: str, svc: Admin) -> PropertyOut:
        return PropertyOut.of(await svc.set_enabled(property_id, False))

    @api.post("/v1/properties/{property_id}/enable", response_model=PropertyOut,
              dependencies=auth, tags=["properties"], responses=found, summary="Enable")
    async def enable(property_id: str, svc: Admin) -> PropertyOut:
        return PropertyOut.of(await svc.set_enabled(property_id, True))

    @api.delete("/v1/properties/{property_id}", response_model=DeletedOut, dependencies=auth,
                tags=["properties"], responses=found,
                summary="Delete a property and all its data (objects, versions, rollups)")
    async def delete(property_id: str, svc: Admin, request: Request) -> DeletedOut:
        gone = await svc.delete(property_id)
        for hook in request.app.state.admin.on_deleted:
            await hook(property_id)
        return DeletedOut(property_id=property_id, object_versions_deleted=gone.objects,
                          rollup_items_deleted=gone.rollups)

    @api.post("/v1/properties/{property_id}/tracking-ids", response_model=PropertyOut,
              dependencies=auth, tags=["properties"], responses=conflict,
              summary="Add existing tracking ids to a property, or issue new ones")
    async def add_tracking_ids(property_id: str, body: TrackingIdsIn, svc: Admin) -> PropertyOut:
        return PropertyOut.of(await svc.add_tracking_ids(property_id, body.tracking_ids,
                                                         list(body.issue)))

    @api.delete("/v1/properties/{property_id}/tracking-ids/{tracking_id}",
                response_model=PropertyOut, dependencies=auth, tags=["properties"],
                responses=found, summary="Take a tracking id from a property (it keeps one)")
    async def remove_tracking_id(property_id: str, tracking_id: str, svc: Admin) -> PropertyOut:
        return PropertyOut.of(await svc.remove_tracking_id(property_id, tracking_id))

    @api.get("/v1/properties/{property_id}/secrets", response_model=SecretListOut,
             dependencies=auth, tags=["secrets"], responses=found,
             summary="List a property's API secrets (never the secrets themselves)")
    async def secrets(property_id: str, svc: Admin) -> SecretListOut:
        prop = await svc.store.require(property_id)
        return SecretListOut(api_secrets=PropertyOut.of(prop).api_secrets)

    @api.post("/v1/properties/{property_id}/secrets", response_model=NewSecretOut,
              status_code=status.HTTP_201_CREATED, dependencies=auth, tags=["secrets"],
              responses=found, summary="Add an API secret (returned this once) or import one")
    async def add_secret(property_id: str, body: SecretIn, svc: Admin) -> NewSecretOut:
        made = await svc.add_secret(property_id, label=body.label,
                                    secret=body.secret.get_secret_value() if body.secret else None)
        return NewSecretOut(secret_id=made.record.secret_id, label=made.record.label,
                            created_at=made.record.created_at, secret=made.secret)

    @api.delete("/v1/properties/{property_id}/secrets/{secret_id}", response_model=RevokedOut,
                dependencies=auth, tags=["secrets"], responses=found, summary="Revoke an API secret")
    async def revoke_secret(property_id: str, secret_id: str, svc: Admin) -> RevokedOut:
        await svc.revoke_secret(property_id, secret_id)
        return RevokedOut(property_id=property_id, secret_id=secret_id)
