"""``python -m dashboard``: the dashboard service (admin API, reports, realtime, share links
and the web page) under uvicorn on ``admin_host``:``admin_port``, settings from the
environment (LAMBDALYTICS_*)."""

from __future__ import annotations

import uvicorn

from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from lambdalytics import logs


def main(settings: DashboardSettings | None = None) -> None:
    settings = settings or DashboardSettings()
    logs.configure(settings.log_level, settings.log_format)
    # no access log: it would carry client addresses; our handler carries the rest
    # keep-alive longer than the ALB's 60 s idle timeout: the balancer closes idle connections
    # first, never a connection it is about to send a request on (a 502)
    uvicorn.run(create_app(settings), host=settings.admin_host, port=settings.admin_port,
                access_log=False, log_config=None, server_header=False, timeout_keep_alive=65)


if __name__ == "__main__":
    main()
