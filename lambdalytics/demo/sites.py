"""The demo's world, as data: three sites (their properties, pages and goals), where their
visitors are, what they browse with, and where they come from.

Nothing here is random: :mod:`lambdalytics.demo.traffic` draws visitors and sessions from
these tables with a seeded generator. Places use real ISO codes, regions, cities and time
zones; their addresses are documentation and benchmarking ranges (198.18.0.0/15,
2001:db8::/32), which :mod:`lambdalytics.demo.geodb` maps to them in a made-up database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdalytics.property_policy import Goal


@dataclass(frozen=True, slots=True)
class Page:
    path: str
    title: str
    weight: float = 1.0
    product: tuple[str, str, float] | None = None  # item id, name, price (shop pages)


@dataclass(frozen=True, slots=True)
class Site:
    property_id: str
    name: str
    hostname: str
    timezone: str
    currency: str
    ua_id: str | None  # analytics.js (/collect) when set
    ga4_id: str | None  # gtag.js (/g/collect) and the backend's /mp/collect when set
    share: float  # of the demo's sessions
    pages: tuple[Page, ...]
    goals: tuple[Goal, ...] = ()
    ecommerce: bool = False
    backend_events: tuple[str, ...] = ()  # Measurement Protocol events its server sends
    campaigns: tuple[str, ...] = field(default=())  # newsletter utm_campaign names

    @property
    def tracking_ids(self) -> list[str]:
        return [t for t in (self.ua_id, self.ga4_id) if t]


def _products() -> tuple[Page, ...]:
    items = (("Merino Trail Jacket", 189.0), ("Linen Field Shirt", 69.0),
             ("Canvas Harbor Tote", 45.0), ("Wool Ridge Beanie", 29.0),
             ("Denim Work Apron", 59.0), ("Down Summit Parka", 349.0),
             ("Cotton Camp Socks (3-pack)", 19.0), ("Waxed Rain Hat", 39.0))
    return tuple(Page(f"/products/{name.lower().split(' (')[0].replace(' ', '-')}",
                      f"{name} – Northwind Outfitters", 3.0 / (i + 1),
                      (f"NW-{1001 + i}", name, price))
                 for i, (name, price) in enumerate(items))


SHOP = Site(
    "pshop", "Northwind Outfitters", "shop.northwind.example", "Europe/Berlin", "EUR",
    None, "G-NORTHWND01", 0.45,
    (Page("/", "Northwind Outfitters – Outdoor clothing", 8),
     Page("/collections/jackets", "Jackets – Northwind Outfitters", 3),
     Page("/collections/new", "New arrivals – Northwind Outfitters", 2.5),
     Page("/collections/sale", "Sale – Northwind Outfitters", 2),
     *_products(),
     Page("/cart", "Your cart – Northwind Outfitters", 1.5),
     Page("/checkout", "Checkout – Northwind Outfitters", 0.8),
     Page("/pages/shipping", "Shipping & returns – Northwind Outfitters", 0.6),
     Page("/pages/about", "Our story – Northwind Outfitters", 0.4),
     Page("/search", "Search – Northwind Outfitters", 1.0)),
    goals=(Goal("Purchase", "event_name", "equals", "purchase"),
           Goal("Reached checkout", "page_path", "equals", "/checkout")),
    ecommerce=True, backend_events=("refund",),
    campaigns=("spring-sale", "new-arrivals", "loyalty-weekly"))

BLOG = Site(
    "pblog", "Contoso Engineering Blog", "blog.contoso.example", "America/New_York", "USD",
    "UA-424242-1", None, 0.35,
    (Page("/", "Contoso Engineering", 6),
     Page("/2024/06/scaling-postgres-to-a-billion-rows", "Scaling Postgres to a billion rows", 5),
     Page("/2024/05/our-kubernetes-cost-cuts", "How we cut our Kubernetes bill by 40%", 4),
     Page("/2024/04/rust-in-the-hot-path", "Rust in the hot path", 3),
     Page("/2024/03/incident-review-march", "Incident review: the March outage", 2),
     Page("/2024/02/feature-flags-done-right", "Feature flags done right", 1.5),
     Page("/2023/11/observability-on-a-budget", "Observability on a budget", 1.2),
     Page("/tags/databases", "Posts tagged databases", 1),
     Page("/about", "About the team", 0.6),
     Page("/newsletter", "Subscribe to the newsletter", 0.7),
     Page("/newsletter/thanks", "Thanks for subscribing", 0.2),
     Page("/careers", "Careers at Contoso", 0.8)),
    goals=(Goal("Newsletter signup", "page_path", "equals", "/newsletter/thanks"),
           Goal("Careers visit", "page_path", "prefix", "/careers")),
    campaigns=("weekly-digest", "launch-week"))

DOCS = Site(
    "pdocs", "Fabrikam Cloud Docs", "docs.fabrikam.example", "Asia/Tokyo", "JPY",
    None, "G-FABRIKAM22", 0.20,
    (Page("/", "Fabrikam Cloud documentation", 5),
     Page("/getting-started", "Getting started – Fabrikam Cloud", 5),
     Page("/guides/authentication", "Authentication – Fabrikam Cloud", 3),
     Page("/guides/webhooks", "Webhooks – Fabrikam Cloud", 2.5),
     Page("/api/reference", "API reference – Fabrikam Cloud", 4),
     Page("/api/errors", "Error codes – Fabrikam Cloud", 1.5),
     Page("/sdk/python", "Python SDK – Fabrikam Cloud", 2),
     Page("/sdk/javascript", "JavaScript SDK – Fabrikam Cloud", 2),
     Page("/pricing", "Pricing – Fabrikam Cloud", 1.5),
     Page("/changelog", "Changelog – Fabrikam Cloud", 1),
     Page("/signup", "Create your account – Fabrikam Cloud", 0.8)),
    goals=(Goal("Sign-up", "event_name", "equals", "sign_up"),
           Goal("Pricing visit", "page_path", "prefix", "/pricing")),
    backend_events=("sign_up", "purchase"), campaigns=("release-notes", "webinar-invite"))

SITES: tuple[Site, ...] = (SHOP, BLOG, DOCS)


@dataclass(frozen=True, slots=True)
class Place:
    country: str
    continent: str
    region: str | None  # ISO 3166-2 subdivision code, without the country
    city: str
    timezone: str
    languages: tuple[str, ...]
    country_name: str


# where visitors are, with a weight per site's home market (shop: Europe, blog: Americas,
# docs: Asia and everywhere)
PLACES: tuple[tuple[Place, float, float, float], ...] = (
    (Place("US", "NA", "NY", "New York", "America/New_York", ("en-us",), "United States"), 6, 30, 8),
    (Place("US", "NA", "CA", "San Francisco", "America/Los_Angeles", ("en-us",), "United States"), 3, 18, 6),
    (Place("US", "NA", "TX", "Austin", "America/Chicago", ("en-us", "es-us"), "United States"), 2, 8, 2),
    (Place("CA", "NA", "ON", "Toronto", "America/Toronto", ("en-ca", "fr-ca"), "Canada"), 1, 6, 2),
    (Place("BR", "SA", "SP", "São Paulo", "America/Sao_Paulo", ("pt-br",), "Brazil"), 1, 4, 2),
    (Place("MX", "NA", "CMX", "Mexico City", "America/Mexico_City", ("es-mx",), "Mexico"), 0.5, 3, 1),
    (Place("DE", "EU", "BE", "Berlin", "Europe/Berlin", ("de-de", "de", "en-us"), "Germany"), 22, 4, 3),
    (Place("DE", "EU", "BY", "Munich", "Europe/Berlin", ("de-de", "de"), "Germany"), 12, 2, 1),
    (Place("DE", "EU", "HH", "Hamburg", "Europe/Berlin", ("de-de",), "Germany"), 8, 1, 1),
    (Place("AT", "EU", "9", "Vienna", "Europe/Vienna", ("de-at", "de"), "Austria"), 6, 0.5, 0.5),
    (Place("CH", "EU", "ZH", "Zurich", "Europe/Zurich", ("de-ch", "fr-ch"), "Switzerland"), 5, 0.5, 0.5),
    (Place("NL", "EU", "NH", "Amsterdam", "Europe/Amsterdam", ("nl-nl", "en-us"), "Netherlands"), 5, 2, 1),
    (Place("FR", "EU", "IDF", "Paris", "Europe/Paris", ("fr-fr", "fr"), "France"), 5, 2, 1.5),
    (Place("GB", "EU", "ENG", "London", "Europe/London", ("en-gb",), "United Kingdom"), 6, 8, 3),
    (Place("SE", "EU", "AB", "Stockholm", "Europe/Stockholm", ("sv-se", "en-us"), "Sweden"), 3, 1, 0.5),
    (Place("PL", "EU", "MZ", "Warsaw", "Europe/Warsaw", ("pl-pl", "pl"), "Poland"), 3, 1.5, 1),
    (Place("ES", "EU", "MD", "Madrid", "Europe/Madrid", ("es-es",), "Spain"), 3, 1, 0.5),
    (Place("IT", "EU", "25", "Milan", "Europe/Rome", ("it-it",), "Italy"), 3, 1, 0.5),
    (Place("IN", "AS", "KA", "Bengaluru", "Asia/Kolkata", ("en-in", "en-us"), "India"), 1, 6, 8),
    (Place("JP", "AS", "13", "Tokyo", "Asia/Tokyo", ("ja", "ja-jp"), "Japan"), 1, 1.5, 30),
    (Place("JP", "AS", "27", "Osaka", "Asia/Tokyo", ("ja",), "Japan"), 0.5, 0.5, 12),
    (Place("KR", "AS", "11", "Seoul", "Asia/Seoul", ("ko-kr", "ko"), "South Korea"), 0.5, 1, 5),
    (Place("SG", "AS", None, "Singapore", "Asia/Singapore", ("en-sg", "zh-cn"), "Singapore"), 0.5, 1, 4),
    (Place("AU", "OC", "NSW", "Sydney", "Australia/Sydney", ("en-au",), "Australia"), 1, 3, 3),
    (Place("ZA", "AF", "GP", "Johannesburg", "Africa/Johannesburg", ("en-za",), "South Africa"), 0.5, 1, 0.5),
)

CONTINENTS = {"AF": ("Africa", 6255146), "AS": ("Asia", 6255147), "EU": ("Europe", 6255148),
              "NA": ("North America", 6255149), "OC": ("Oceania", 6255151),
              "SA": ("South America", 6255150)}


# (user agent, device category, weight, screen): real browsers' agent strings
BROWSERS: tuple[tuple[str, str, float, str], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36", "desktop", 24, "1920x1080"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36", "desktop", 12, "1440x900"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4.1 Safari/605.1.15", "desktop", 6, "2560x1440"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
     "desktop", 5, "1366x768"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67", "desktop", 5, "1536x864"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop", 2,
     "1920x1080"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36", "desktop", 1.5, "2560x1440"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1", "mobile", 16, "390x844"),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Mobile Safari/537.36", "mobile", 14, "412x915"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36", "mobile", 4, "360x800"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1", "mobile", 2, "393x852"),
    ("Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4.1 Mobile/15E148 Safari/604.1", "tablet", 3, "820x1180"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36", "tablet", 1, "800x1280"),
)

# crawlers and headless browsers (filtered under the default bot policy) and heuristics'
# verdicts (forwarded flagged)
FILTERED_BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.6367.91 Safari/537.36",
)
FLAGGED_BOTS = (
    "Mozilla/5.0 (compatible; PageProbe/1.3; +https://pageprobe.example/about)",
    "Mozilla/5.0 (compatible; Linkwatch/3.1)",
    "Mozilla/5.0",
)
SERVER_AGENT = "python-requests/2.31.0"  # the backends' Measurement Protocol client
SPAM_REFERRERS = ("http://darodar.com/", "https://buttons-for-website.com/",
                  "http://01casino-x.ru/")

# (kind, referrer or utm tags, weight); "{campaign}" and "{q}" are filled in per session
SOURCES: tuple[tuple[str, str, float], ...] = (
    ("direct", "", 26),
    ("search", "https://www.google.com/", 30),
    ("search", "https://www.bing.com/search?q={q}", 5),
    ("search", "https://duckduckgo.com/", 4),
    ("search", "https://www.ecosia.org/search?q={q}", 1),
    ("search", "https://search.yahoo.co.jp/search?p={q}", 1),
    ("social", "https://t.co/", 3),
    ("social", "https://l.facebook.com/", 3),
    ("social", "https://www.reddit.com/r/programming/", 3),
    ("social", "https://news.ycombinator.com/", 3),
    ("social", "https://www.linkedin.com/", 2),
    ("social", "https://l.instagram.com/", 1.5),
    ("referral", "https://github.com/fabrikam/fabrikam-python", 2),
    ("referral", "https://stackoverflow.com/questions/78111234/", 2),
    ("referral", "https://dev.to/t/devops", 1),
    ("referral", "https://www.outdoorgearlab.example/best-rain-jackets", 1.5),
    ("email", "utm_source=newsletter&utm_medium=email&utm_campaign={campaign}", 5),
    ("paid", "utm_source=google&utm_medium=cpc&utm_campaign=brand&gclid={gclid}", 3),
    ("social_paid", "utm_source=facebook&utm_medium=paid_social&utm_campaign={campaign}", 1),
)
QUERIES = ("rain jacket", "postgres scaling", "kubernetes cost", "webhooks api",
           "merino jacket", "python sdk", "feature flags")
