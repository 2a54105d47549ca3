"""Collector settings: built once in the entrypoint (or from keyword arguments in tests)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from collector.sink import SinkLimits
from lambdalytics.settings import CommonSettings


class CollectorSettings(CommonSettings):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(
        256 * 1024, ge=16 * 1024,
        description="hard cap on a request body or query: past it, 413 without reading on "
        "(above every protocol's own limit: GA4 MP bodies go to 130 kB)",
    )
    sink_max_in_flight: int = Field(4, ge=1, le=64, description="PutRecords calls at once "
                                    "(an emulator gets one at a time whatever this says)")
    sink_linger_ms: float = Field(10.0, ge=0, le=1000)
    sink_max_queued: int = Field(20_000, ge=1)
    sink_retry_budget_s: float = Field(3.0, gt=0, le=60)
    retry_after_s: int = Field(5, ge=1)
    property_ttl_s: float = Field(60.0, gt=0)
    property_negative_ttl_s: float = Field(30.0, gt=0)
    property_stale_s: float = Field(3600.0, ge=0)
    filtered_flush_s: float = Field(10.0, gt=0)
    fast_path: bool = Field(True, description="serve the hit endpoints from the lean ASGI path")
    hit_protocol: bool = Field(
        True, description="with fast_path, answer the hit endpoints in the HTTP protocol "
                          "itself, without ASGI (collector.protocol); off: the lean ASGI path")
    kinesis_thread: bool = Field(
        True, description="run the Kinesis client on an event loop of its own thread, so that "
                          "a PutRecords call goes out while the hit requests are answered")
    kinesis_switch_interval_ms: float = Field(
        1.0, gt=0, le=100,
        description="while the Kinesis thread runs, the interpreter's switch interval "
                    "(sys.setswitchinterval): the longest a busy hit path keeps the GIL from a "
                    "PutRecords call's next step (Python's default: 5 ms)")
    drain_timeout_s: float = Field(20.0, gt=0, description="longest a shutdown waits to drain")
    geoip_database: str | None = Field(
        None, description="path of a MaxMind GeoIP2/GeoLite2 City or Country database")
    trusted_proxy_hops: int = Field(
        0, ge=0, le=10, description="proxies we run in front (behind one ALB: 1); "
                                    "X-Forwarded-For is read through exactly these")
    bot_policy: Literal["filter", "filter_all", "flag"] = Field(
        "filter", description="bots: filter the strong signals and flag the heuristics' "
        "(filter), filter every bot (filter_all), or forward them all flagged (flag); "
        "counted either way")
    enrich_cache_size: int = Field(20_000, ge=0, description="entries per enrichment LRU")

    def sink_limits(self) -> SinkLimits:
        return SinkLimits(
            linger=self.sink_linger_ms / 1000,
            max_in_flight=self.sink_max_in_flight,
            max_queued=self.sink_max_queued,
            retry_budget=self.sink_retry_budget_s,
            retry_after=self.retry_after_s,
        )
