"""Who is asking: the admin token (everything) or a share token (read-only, one property).

The check runs in the admin API's :class:`~dashboard.admin.Guard` (an ASGI middleware in front
of the whole app, so no route can be left open), with :func:`authorizer` in place of the
admin-only check. The page and its assets, ``/healthz`` and the OpenAPI documents are public.
A share token may only ``GET`` ``/v1/me``, ``/v1/reports`` and its own property's reports and
realtime (403 otherwise); an unknown, revoked or expired one is a 401. The principal is put
in the request's state for the routes (:func:`principal`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from dashboard.admin import (
    PUBLIC_PATHS,
    RETRY_AFTER,
    AdminState,
    ASGIApp,
    Authorize,
    Scope,
    problem,
    token_matches,
    unauthorized,
)
from dashboard.shares import TOKEN_PREFIX, Share, ShareStore
from lambdalytics.properties import StoreUnavailable

PAGE_PATHS = frozenset({"/"})
STATIC_PREFIX = "/static/"
_SHARE_READS = re.compile(r"/v1/properties/([^/]+)/(?:reports/[^/]+|realtime)\Z")
_SHARE_ANY = frozenset({"/v1/me", "/v1/reports"})


@dataclass(frozen=True, slots=True)
class Principal:
    role: Literal["admin", "share"]
    share: Share | None = None

    def may_read(self, property_id: str) -> bool:
        return self.share is None or self.share.property_id == property_id


ADMIN = Principal("admin")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path in PAGE_PATHS or path.startswith(STATIC_PREFIX)


def share_may(method: str, path: str, share: Share) -> bool:
    if method != "GET":
        return False
    if path in _SHARE_ANY:
        return True
    m = _SHARE_READS.match(path)
    return m is not None and m.group(1) == share.property_id


def authorizer(state: AdminState, shares: Callable[[], ShareStore | None]) -> Authorize:
    async def authorize(scope: Scope, token: str | None) -> ASGIApp | None:
        path = scope["path"]
        if is_public(path):
            return None
        if token_matches(token, state.token_digest):
            scope.setdefault("state", {})["principal"] = ADMIN
            return None
        if token is None or not token.startswith(TOKEN_PREFIX):
            return unauthorized("a valid bearer token (the admin token or a share token) "
                                "is required")
        store = shares()
        try:
            if store is None:
                raise StoreUnavailable("not started")
            verdict = await store.verify(token)
        except StoreUnavailable:
            return problem(503, "share tokens cannot be checked now",
                           headers={"Retry-After": RETRY_AFTER})
        if verdict.share is None:
            return unauthorized("this share link has expired" if verdict.expired
                                else "this share link is revoked or unknown")
        if not share_may(scope["method"], path, verdict.share):
            return problem(403, "a share link reads its own property's reports and realtime only")
        scope.setdefault("state", {})["principal"] = Principal("share", verdict.share)
        return None

    return authorize


_bearer_scheme = HTTPBearer(auto_error=False,
                            description="the admin token, or a share token (lts_…)")


def principal(request: Request, _creds: Annotated[HTTPAuthorizationCredentials | None,
                                                  Depends(_bearer_scheme)]) -> Principal:
    """The Guard's verdict (401 if the app is ever served without it)."""
    who = request.scope.get("state", {}).get("principal")
    if not isinstance(who, Principal):
        raise StarletteHTTPException(401, "a valid bearer token is required",
                                     headers={"WWW-Authenticate": "Bearer"})
    return who


Caller = Annotated[Principal, Depends(principal)]


def readable(who: Principal, property_id: str) -> None:
    """403 unless ``who`` may read ``property_id`` (the Guard already refused, this is the
    route's own check)."""
    if not who.may_read(property_id):
        raise StarletteHTTPException(403, "a share link reads its own property only")
