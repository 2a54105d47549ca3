"""Enriched hit records as the collector writes them to Kinesis, for the archiver benchmark:
about 1.1 KB each, like the collector benchmark's enriched records, over a few properties,
Zipf-like pages, clients and countries, and a share of retried copies."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from lambdalytics import hit as hitmod

COUNTRIES = ("US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "NL", "ES", "IT", "PL", "SE", "AU")
BROWSERS = (("Chrome", "131.0.0", "desktop", "Windows", "10"),
            ("Mobile Safari", "18.1", "mobile", "iOS", "18.1"),
            ("Chrome Mobile", "131.0.6778", "mobile", "Android", "14"),
            ("Firefox", "133.0", "desktop", "Windows", "11"),
            ("Safari", "18.1", "desktop", "Mac OS X", "10.15.7"),
            ("Edge", "131.0.2903", "desktop", "Windows", "10"),
            ("Samsung Internet", "26.0", "tablet", "Android", "13"))
SOURCES = ((None, "direct", None), ("google", "search", "shoes"), ("facebook", "social", None),
           ("newsletter", "email", None), ("example-blog.com", "referral", None))


def _zipf(rng: random.Random, n: int) -> int:
    """An index in [0, n) with weights 1/rank (approximately, by inverse transform)."""
    return min(int(n ** rng.random()) - 1, n - 1)


def records(n: int, *, properties: int = 3, start: datetime | None = None, seed: int = 1,
            duplicate_share: float = 0.01) -> Iterator[tuple[bytes, str]]:
    """``n`` records (data, partition key); ``duplicate_share`` of them are retried copies of
    a recent record (a producer retry after a lost response)."""
    rng = random.Random(seed)
    t0 = start or datetime.now(UTC).replace(microsecond=0)
    recent: list[tuple[bytes, str]] = []
    for i in range(n):
        if recent and rng.random() < duplicate_share:
            yield recent[rng.randrange(len(recent))]
            continue
        prop = f"p{_zipf(rng, properties)}"
        page = _zipf(rng, 3000)
        client = f"{rng.randrange(10**9)}.{rng.randrange(10**9)}"
        when = t0 + timedelta(milliseconds=i * 5)
        browser, bversion, category, os_name, os_version = BROWSERS[_zipf(rng, len(BROWSERS))]
        source, medium, term = SOURCES[_zipf(rng, len(SOURCES))]
        kind = rng.choices(("pageview", "event", "timing", "transaction"), (58, 30, 8, 4))[0]
        fields: dict[str, object] = {
            "hit_id": hitmod.derived_hit_id("bench", str(seed), str(i)),
            "received_time": when, "event_time": when, "property_id": prop,
            "tracking_id": f"UA-{100 + int(prop[1:])}-1", "protocol": "ua", "type": kind,
            "data_source": "web", "client_id": client,
            "page_location": f"https://www.example.com/catalogue/section-{page % 40}/item-{page}"
                             f"?ref=nav&variant={page % 7}",
            "page_hostname": "www.example.com",
            "page_path": f"/catalogue/section-{page % 40}/item-{page}",
            "page_title": f"Item {page} – Section {page % 40} – Example Store",
            "page_referrer": None if source is None else f"https://{source}.example/",
            "language": "en-us", "screen_resolution": "1920x1080", "viewport_size": "1700x900",
            "document_encoding": "UTF-8", "screen_colors": "24-bit",
            "referrer_medium": medium, "referrer_source": source, "referrer_term": term,
            "custom_dimensions": {"1": "member" if page % 3 else "guest", "2": f"ab-{page % 2}"},
            "ip_truncated": f"203.0.{rng.randrange(256)}.0", "ip_anonymized": False,
            "geo_continent": "EU", "geo_country": COUNTRIES[_zipf(rng, len(COUNTRIES))],
            "geo_region": "BE", "geo_city": "Berlin", "geo_timezone": "Europe/Berlin",
            "device_category": category, "browser": browser, "browser_version": bversion,
            "os": os_name, "os_version": os_version, "is_bot": False,
        }
        if kind == "event":
            fields |= {"event_category": "video", "event_action": "play",
                       "event_label": f"clip-{page % 50}", "event_value": page % 100}
        elif kind == "timing":
            fields |= {"timing_category": "load", "timing_variable": "dom",
                       "timing_time_ms": 100 + page % 900}
        elif kind == "transaction":
            fields |= {"transaction_id": f"T{i}", "transaction_revenue": 19.99 + page % 50,
                       "currency": "EUR"}
        rec = (hitmod.encode_fields(fields), client)
        recent.append(rec)
        if len(recent) > 200:
            recent.pop(0)
        yield rec
