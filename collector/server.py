"""Run the collector under uvicorn with production settings (no access log: it holds IPs)."""

from __future__ import annotations

import uvicorn

from collector.app import Overrides, create_app
from collector.settings import CollectorSettings


def config(settings: CollectorSettings, overrides: Overrides | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, overrides),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        log_config=None,  # the entrypoint configured logging
        proxy_headers=False,  # X-Forwarded-For is handled by the collector itself
        server_header=False,
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        timeout_keep_alive=65,  # longer than the ALB's 60 s idle timeout
    )


def serve(settings: CollectorSettings) -> None:
    uvicorn.Server(config(settings)).run()
