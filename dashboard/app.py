"""The dashboard service: one FastAPI app, one origin (docs/dashboard.md).

The admin API (dashboard.admin: its routes, problems and auth guard), plus the reports API
(dashboard.reports_api), realtime (dashboard.realtime), share links (dashboard.shares), ``/v1/me``
and the web page (``/`` and ``/static``). The guard admits the admin token everywhere and a
share token for its property's reads (dashboard.auth). Every response carries the security
headers, errors included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from archiver.rollup_store import RollupsRefused, RollupStore, RollupsUnavailable
from dashboard import admin
from dashboard.admin import API_RESPONSES, RETRY_AFTER, AdminState, Guard, Problem, problem
from dashboard.athena import AthenaEngine
from dashboard.auth import Caller, authorizer, readable
from dashboard.duck import ManagedDuckDB
from dashboard.engine import Engine
from dashboard.listing import Listing, LocalListing, S3Listing
from dashboard.metrics import DashboardMetrics, RequestMetrics
from dashboard.mirror import ArchiveMirror
from dashboard.realtime import Realtime
from dashboard.reports_api import (
    EngineSource,
    Fixed,
    ReportsService,
    add_report_routes,
    install_report_errors,
)
from dashboard.settings import DashboardSettings
from dashboard.shares import Share, ShareNotFound, ShareStore
from dashboard.versions import DataVersions
from lambdalytics import aws, emf

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class DashboardApp(FastAPI):
    """FastAPI with the security headers added to every response, those of its outermost
    error handler included (a middleware inside it would miss an unhandled error's 500)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in SECURITY_HEADERS if h[0] not in present)]
            await send(message)

        await super().__call__(scope, receive, with_headers)


# --- models ----------------------------------------------------------------------------------


class PropertyBrief(BaseModel):
    property_id: str
    name: str
    timezone: str
    currency: str
    enabled: bool


class ShareOut(BaseModel):
    share_id: str
    label: str
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, s: Share) -> ShareOut:
        return cls(share_id=s.share_id, label=s.label, created_at=s.created_at,
                   expires_at=s.expires_at)


class MeShare(BaseModel):
    share_id: str
    label: str
    expires_at: datetime | None


class MeOut(BaseModel):
    role: str
    properties: list[PropertyBrief]
    share: MeShare | None


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field("", max_length=200)
    expires_in_days: int | None = Field(None, ge=1, le=3660, description="null: never expires")


class NewShareOut(ShareOut):
    token: str = Field(description="shown this once; only its SHA-256 is kept")
    url: str


class ShareListOut(BaseModel):
    shares: list[ShareOut]


class ShareRevokedOut(BaseModel):
    share_id: str
    revoked: bool = True


class DashboardState:
    def __init__(self) -> None:
        self.reports: ReportsService | None = None
        self.realtime: Realtime | None = None
        self.shares: ShareStore | None = None


def _brief(p: Any) -> PropertyBrief:
    return PropertyBrief(property_id=p.property_id, name=p.name, timezone=p.timezone,
                         currency=p.currency, enabled=p.enabled)


async def _listing(settings: DashboardSettings, stack: AsyncExitStack, root: str) -> Listing:
    if not root.startswith("s3://"):
        return LocalListing(root)
    bucket, _, prefix = root[len("s3://"):].partition("/")
    s3 = await stack.enter_async_context(aws.client(aws.session(), "s3", settings, _cfg(settings)))
    return S3Listing(s3, bucket, prefix)


def _cfg(settings: DashboardSettings, pool: int = 20) -> Any:
    return aws.config(max_attempts=settings.aws_max_attempts,
                      connect_timeout=settings.aws_connect_timeout_s, pool=pool)


async def _engines(settings: DashboardSettings, stack: AsyncExitStack, root: str,
                   engine: Engine | None, listing: Listing) -> EngineSource:
    if engine is not None:
        return Fixed(engine)
    if settings.dashboard_engine == "athena":
        athena = settings.resources.athena
        # one attempt per call: the engine retries with its own budget
        client = await stack.enter_async_context(
            aws.client(aws.session(), "athena", settings, aws.config(max_attempts=1)))
        return Fixed(AthenaEngine(client, workgroup=settings.athena_workgroup or athena.workgroup,
                                  database=settings.athena_database or athena.database,
                                  output_location=settings.athena_output_location))
    mirror = None
    if isinstance(listing, S3Listing):  # DuckDB reads a local copy of what reports read
        mirror = ArchiveMirror(listing.client, listing.bucket, listing.prefix,
                               directory=settings.dashboard_cache_dir,
                               max_bytes=settings.dashboard_cache_max_bytes)
    managed = ManagedDuckDB(root, endpoint_url=settings.endpoint_url("s3"),
                            region=settings.aws_region, mirror=mirror)
    stack.callback(managed.close)
    return managed


def create_app(settings: DashboardSettings, *, engine: Engine | None = None,
               rollups: RollupStore | None = None,
               clock: Callable[[], float] | None = None) -> FastAPI:
    """The dashboard app. ``engine``: the reports' engine instead of the one the settings
    name (DuckDB over the archive, its views kept fresh; or Athena); ``rollups``: the realtime
    store instead of the rollups table's; ``clock`` (epoch seconds): what "today" and "now"
    are, for tests."""
    admin_state = AdminState()
    state = DashboardState()
    now = clock or time.time
    metrics = DashboardMetrics()  # counted by RequestMetrics, read by EMF

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if settings.emf:  # EMF lines once a minute
                await emf.publish(stack, metrics.registry, emf.DASHBOARD, settings.resource_prefix)
            ddb = await admin.open_admin(settings, stack, admin_state)
            assert admin_state.admin is not None
            store = admin_state.admin.store
            res = settings.resources
            shares = ShareStore(ddb, res.properties.name, store,
                                clock=lambda: datetime.fromtimestamp(now(), UTC))
            admin_state.on_deleted.append(shares.revoke_all_quietly)
            root = settings.archive_root()
            listing = await _listing(settings, stack, root)
            source = await _engines(settings, stack, root, engine, listing)
            rollup_store = rollups
            if rollup_store is None:
                rdb = await stack.enter_async_context(
                    aws.client(aws.session(), "dynamodb", settings, _cfg(settings)))
                rollup_store = RollupStore(rdb, res.rollups.name)
            state.shares = shares
            state.reports = ReportsService(store, DataVersions(listing), source, clock=now)
            state.realtime = Realtime(rollup_store, clock=now)
            _app.state.reports = state.reports
            yield
            state.reports = state.realtime = state.shares = None
            _app.state.reports = None
            admin_state.admin = None

    api = DashboardApp(title="Lambdalytics dashboard", version="1", lifespan=lifespan,
                       responses=API_RESPONSES)
    admin.install_problems(api)
    install_report_errors(api)
    _install_errors(api)
    admin.add_admin_routes(api)
    add_report_routes(api)
    _add_routes(api, settings)
    if STATIC_DIR.is_dir():
        api.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    api.state.admin = admin_state
    api.state.dashboard = state
    api.state.reports = None

    api.add_middleware(Guard, state=admin_state, max_body=settings.max_body_bytes,
                       authorize=authorizer(admin_state, lambda: state.shares))
    api.add_middleware(RequestMetrics, metrics=metrics)  # outermost: counts 401s too
    return api


def _install_errors(api: FastAPI) -> None:
    @api.exception_handler(RollupsUnavailable)
    async def rollups_down(_req: Request, exc: RollupsUnavailable) -> JSONResponse:
        log.warning("dashboard: rollups unavailable: %s", exc)
        return problem(503, "the realtime rollups are unavailable",
                       headers={"Retry-After": RETRY_AFTER})

    @api.exception_handler(RollupsRefused)
    async def rollups_refused(_req: Request, exc: RollupsRefused) -> JSONResponse:
        log.error("dashboard: rollups refused: %s", exc)
        return problem(502, "DynamoDB refused the realtime read (the error is logged)")

    @api.exception_handler(ShareNotFound)
    async def no_share(_req: Request, exc: ShareNotFound) -> JSONResponse:
        return problem(404, str(exc))


def _state(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.dashboard
    if state.reports is None or state.realtime is None or state.shares is None:
        raise RollupsUnavailable("the dashboard is not started")
    return state


def _add_routes(api: FastAPI, settings: DashboardSettings) -> None:
    admin_only = [Depends(admin.authorised)]
    found: dict[int | str, dict[str, Any]] = {403: {"model": Problem}, 404: {"model": Problem}}

    @api.get("/", include_in_schema=False)
    async def page() -> Response:
        index = STATIC_DIR / "index.html"
        if not index.is_file():
            return problem(404, "the web page is not installed (dashboard/static/index.html)")
        return FileResponse(index, media_type="text/html; charset=utf-8")

    @api.get("/v1/me", response_model=MeOut, tags=["dashboard"],
             summary="Who the token is: admin (every property) or a share (its one property)")
    async def me(request: Request, who: Caller) -> MeOut:
        st = _state(request)
        assert st.reports is not None
        if who.share is None:
            store = request.app.state.admin.admin.store
            return MeOut(role="admin", properties=[_brief(p) for p in await store.list()],
                         share=None)
        prop = await st.reports.property(who.share.property_id)
        return MeOut(role="share", properties=[_brief(prop)],
                     share=MeShare(share_id=who.share.share_id, label=who.share.label,
                                   expires_at=who.share.expires_at))

    @api.get("/v1/properties/{property_id}/realtime", tags=["dashboard"], responses=found,
             summary="The last 30 minutes, from the rollups (cached about a second)")
    async def realtime(request: Request, property_id: str, who: Caller) -> dict[str, Any]:
        readable(who, property_id)
        st = _state(request)
        assert st.reports is not None
        assert st.realtime is not None
        await st.reports.property(property_id)
        answer, _cached = await st.realtime.answer(property_id)
        return answer

    @api.post("/v1/properties/{property_id}/shares", response_model=NewShareOut,
              status_code=status.HTTP_201_CREATED, dependencies=admin_only, tags=["shares"],
              responses=found, summary="Make a share link (read-only, this property)")
    async def create_share(request: Request, property_id: str, body: ShareIn) -> NewShareOut:
        shares = _state(request).shares
        assert shares is not None
        share, token = await shares.create(property_id, label=body.label,
                                           expires_in_days=body.expires_in_days)
        origin = settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
        return NewShareOut(**ShareOut.of(share).model_dump(), token=token,
                           url=f"{origin}/#share={token}")

    @api.get("/v1/properties/{property_id}/shares", response_model=ShareListOut,
             dependencies=admin_only, tags=["shares"], responses=found,
             summary="List a property's share links (never their tokens)")
    async def list_shares(request: Request, property_id: str) -> ShareListOut:
        shares = _state(request).shares
        assert shares is not None
        return ShareListOut(shares=[ShareOut.of(s) for s in await shares.list(property_id)])

    @api.delete("/v1/properties/{property_id}/shares/{share_id}", response_model=ShareRevokedOut,
                dependencies=admin_only, tags=["shares"], responses=found,
                summary="Revoke a share link")
    async def revoke_share(request: Request, property_id: str, share_id: str) -> ShareRevokedOut:
        shares = _state(request).shares
        assert shares is not None
        await shares.revoke(property_id, share_id)
        return ShareRevokedOut(share_id=share_id)
