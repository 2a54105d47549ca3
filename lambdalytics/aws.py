"""AWS client factory: one place that decides timeouts, retries and endpoints."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

if TYPE_CHECKING:
    from types_aiobotocore_athena import AthenaClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_kinesis import KinesisClient
    from types_aiobotocore_s3 import S3Client

    from lambdalytics.settings import CommonSettings


EMULATOR_REGION = "us-east-1"

# the domains AWS's own endpoints are under (commercial, China, dual-stack, GovCloud's ISO)
AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")


def is_emulator(endpoint_url: str | None) -> bool:
    """Whether an endpoint is something other than AWS itself: moto, kinesalite, an emulator
    on loopback. None (the SDK's default endpoint) is AWS."""
    if not endpoint_url:
        return False
    host = (urlsplit(endpoint_url).hostname or "").lower().rstrip(".")
    return not host.endswith(AWS_DOMAINS)


def session() -> AioSession:
    return get_session()


def config(*, max_attempts: int = 3, pool: int = 50, connect_timeout: float = 3.0,
           read_timeout: float = 10.0, validate: bool = True) -> AioConfig:
    """``validate=False`` skips botocore's parameter validation, for hot calls whose
    parameters the caller builds itself (PutRecords from the sink)."""
    return AioConfig(
        parameter_validation=validate,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=pool,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


@overload
def client(sess: AioSession, service: Literal["kinesis"], settings: CommonSettings,
           cfg: AioConfig | None = None) -> AbstractAsyncContextManager[KinesisClient]: ...
@overload
def client(sess: AioSession, service: Literal["dynamodb"], settings: CommonSettings,
           cfg: AioConfig | None = None) -> AbstractAsyncContextManager[DynamoDBClient]: ...
@overload
def client(sess: AioSession, service: Literal["s3"], settings: CommonSettings,
           cfg: AioConfig | None = None) -> AbstractAsyncContextManager[S3Client]: ...
@overload
def client(sess: AioSession, service: Literal["athena"], settings: CommonSettings,
           cfg: AioConfig | None = None) -> AbstractAsyncContextManager[AthenaClient]: ...
def client(sess: AioSession, service: str, settings: CommonSettings,
           cfg: AioConfig | None = None) -> AbstractAsyncContextManager[Any]:
    """An async client context; enter it on the process's AsyncExitStack."""
    kwargs: dict[str, Any] = {"config": cfg or config()}
    if settings.aws_region:
        kwargs["region_name"] = settings.aws_region
    endpoint = settings.endpoint_url(service)
    if endpoint:
        kwargs["endpoint_url"] = endpoint
        if not settings.aws_region and not sess.get_config_variable("region"):
            kwargs["region_name"] = EMULATOR_REGION  # an emulator takes any; botocore needs one
    return sess.create_client(service, **kwargs)  # type: ignore[call-overload,no-any-return]
