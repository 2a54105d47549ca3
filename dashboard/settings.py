"""Settings of the admin API (and of the `lambdalytics properties` commands, which share the
archive buckets and prefix): built once in the entrypoint, or from keyword arguments in tests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from lambdalytics import archive_layout
from lambdalytics.settings import CommonSettings


class AdminSettings(CommonSettings):
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(8081, ge=0, le=65535)
    admin_token: SecretStr | None = Field(
        None, description="bearer token of the admin API (at least 32 characters)")
    admin_token_secret: str | None = Field(
        None, description="or: the ARN or name of a Secrets Manager secret holding it")
    archive_buckets: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="buckets whose lifecycle carries retention, comma-separated "
                        "(default: the archive bucket)")
    archive_prefix: str = Field("", pattern=r"^([a-z0-9][a-z0-9_\-/]*/)?$",
                                description="key prefix in the archive buckets, '' or ending in /")
    aws_max_attempts: int = Field(3, ge=1, le=10)
    aws_connect_timeout_s: float = Field(3.0, gt=0)
    max_body_bytes: int = Field(64 * 1024, ge=1024)

    @field_validator("archive_buckets", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(b.strip() for b in value.split(",") if b.strip())
        return value

    def retention_buckets(self) -> tuple[str, ...]:
        return self.archive_buckets or (self.resources.archive.name,)


class DashboardSettings(AdminSettings):
    """The dashboard service: the admin API plus reports, realtime, share links and the page,
    on ``admin_host``:``admin_port``."""

    dashboard_engine: Literal["duckdb", "athena"] = Field(
        "duckdb", description="duckdb: reports over the archive's objects; athena: in the "
                              "deployment's workgroup (LAMBDALYTICS_ATHENA_*)")
    archive_location: str | None = Field(
        None, description="the archive root DuckDB reads and the data version lists: s3://… or "
                          "a directory (default: the archive bucket and archive_prefix)")
    dashboard_cache_dir: str | None = Field(
        None, description="where the DuckDB engine keeps its copy of the archive objects "
                          "reports read (default: a temporary directory, removed at exit)")
    dashboard_cache_max_bytes: int = Field(4 * 1024**3, ge=1024**2)
    public_url: str | None = Field(
        None, pattern=r"^https?://[^/?#\s]+$",
        description="the origin printed in share links, e.g. https://stats.example.com "
                    "(default: the request's own origin)")

    def archive_root(self) -> str:
        """The archive root, ending in '/'."""
        if self.archive_location:
            loc = self.archive_location
            return loc if loc.endswith("/") else loc + "/"
        return archive_layout.archive_root(self.resources.archive.name, self.archive_prefix)
