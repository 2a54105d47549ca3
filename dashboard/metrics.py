"""Prometheus metrics of the dashboard (its own registry), counted by a pure ASGI middleware:
responses by status class and their duration. Read by lambdalytics.emf once a minute (the
CloudWatch names are in lambdalytics.emf.DASHBOARD)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class DashboardMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.responses = Counter("lambdalytics_dashboard_responses",
                                 "HTTP responses by status class", ["class"],
                                 registry=self.registry)
        self.request_seconds = Histogram("lambdalytics_dashboard_request_seconds",
                                         "Time to the response's start", buckets=LATENCY_BUCKETS,
                                         registry=self.registry)
        self._by_class = {c: self.responses.labels(c) for c in CLASSES}

    def observe(self, status: int, seconds: float) -> None:
        self._by_class[CLASSES[min(max(status // 100, 1), 5) - 1]].inc()
        self.request_seconds.observe(seconds)


class RequestMetrics:
    """ASGI middleware: counts every HTTP response (an unhandled error as a 500)."""

    def __init__(self, app: Any, metrics: DashboardMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = []

        async def counted(message: Any) -> None:
            if message["type"] == "http.response.start" and not status:
                status.append(int(message["status"]))
                self.metrics.observe(status[0], time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, counted)
        except Exception:
            if not status:
                self.metrics.observe(500, time.perf_counter() - started)
            raise
