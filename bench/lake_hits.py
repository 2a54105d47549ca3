"""The hits of one session, as the collector writes them (see :mod:`bench.lake_sessions`).

A line is built from :func:`bench.lake_traffic.frag` fragments of the Hit's column groups
in column order (identity, user and session, content, system, source, the hit type's own
fields, consent, maps, enrichment), none of them with an unset value: what ``orjson.dumps``
writes for the merged dict, which is what :func:`lambdalytics.hit.encode` writes for that
Hit (every 997th line is checked while generating; the smoke test checks every line). The
page and visitor groups are encoded once and reused by every hit that carries them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.lake_traffic import Page, Product, Site, frag, pick
from bench.traffic import add_tags
from lambdalytics.hit import Item

if TYPE_CHECKING:
    from bench.lake_sessions import Unit, Visitor

BOUNCE = 0.45  # sessions of one page
MORE_PAGES = 2.5  # mean pages after the second one
DWELL_MS = 45_000  # mean time on a page
CONVERSION = 0.03  # shop sessions that end in a purchase (of those with 2+ pages: twice that)
QUEUED = 0.05  # UA hits sent with a queue time (qt)
CURRENCY = {"US": "USD", "JP": "JPY", "BR": "BRL", "GB": "GBP", "AU": "AUD"}  # else EUR
_SCROLLS = tuple(frag({"event_category": "Scroll Depth", "event_action": a})
                 for a in ("25%", "50%", "75%", "90%"))
_EXTERNAL = ("https://github.com/contoso/sdk", "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
             "https://twitter.com/northwind", "https://en.wikipedia.org/wiki/Linen",
             "https://www.instagram.com/fabrikam/", "https://status.example.org/")
_OUTBOUND = tuple(frag({"event_category": "Outbound Link", "event_action": "click", "event_label": url})
                  for url in _EXTERNAL)
_CLICKS = tuple(frag({"event_params": {"link_domain": url.split("/")[2], "link_url": url,
                                        "outbound": "true"}}) for url in _EXTERNAL)
_VIDEOS = ("Getting started", "Spring collection", "Care guide", "Release walkthrough", "Interview")
_VIDEO_STARTS = tuple(frag({"event_params": {"video_provider": "youtube", "video_title": title},
                            "event_params_num": {"video_percent": 0.0}}) for title in _VIDEOS)
_FILES = ("guide.pdf", "price-list.pdf", "sdk-2.4.1.zip", "whitepaper.pdf", "changelog.txt")
_DOWNLOADS = tuple(frag({"event_category": "Download", "event_action": name.rpartition(".")[2],
                         "event_label": name}) for name in _FILES)
_SCROLLED = frag({"event_params_num": {"percent_scrolled": 90.0}})
_EXCEPTION = frag({"exception_description": "TypeError: Cannot read properties of undefined "
                                            "(reading 'length')", "exception_fatal": False})
_NI = b',"non_interaction":true'
_ENGAGED = (b',"session_engaged":false', b',"session_engaged":true')
_FIRST_VISIT, _SESSION_START = b',"first_visit":true', b',"session_start":true'


def _item(product: Product, quantity: int | None = None, position: int | None = None) -> Item:
    return Item(item_id=product.item_id, item_name=product.name, item_brand=product.brand,
                item_category=product.category, item_variant=product.variant, price=product.price,
                quantity=quantity, position=position)


def _basket(unit: Unit, site: Site, first: Product | None) -> list[tuple[Product, int]]:
    rng = unit.rng
    basket = [] if first is None else [(first, 1)]
    while not basket or (len(basket) < 4 and rng.random() < 0.35):
        basket.append((site.products[int(rng.random() * len(site.products))], 1 + (rng.random() < 0.15)))
    return basket


def _totals(basket: list[tuple[Product, int]], site: Site) -> tuple[float, float, float]:
    """Revenue (with US sales tax on top; elsewhere VAT is in the prices), shipping, tax."""
    subtotal = sum(p.price * q for p, q in basket)
    shipping = 0.0 if subtotal > 75 else 4.95
    tax = round(subtotal * (0.08 if site.home == "US" else 0.19 / 1.19), 2)
    return round(subtotal + shipping + (tax if site.home == "US" else 0.0), 2), shipping, tax


def _landing(page: Page, site: Site, tags: str, referrer: str) -> bytes:
    fields = {"page_location": add_tags(page.location, tags), "page_hostname": site.host,
              "page_path": page.path, "page_title": page.title}
    if referrer:
        fields["page_referrer"] = referrer
    return frag(fields)


def _pages(unit: Unit) -> int:
    rng = unit.rng
    return 1 if rng.random() < BOUNCE else min(2 + int(rng.expovariate(1 / MORE_PAGES)), 40)


# --- Universal Analytics ------------------------------------------------------------------


def ua_session(unit: Unit, site: Site, v: Visitor, start: int) -> None:
    rng = unit.rng
    random = rng.random
    pages = _pages(unit)
    source = site.sources[int(random() * len(site.sources))]
    t = start
    currency = CURRENCY.get(site.home, "EUR")
    first_product: Product | None = None

    def hit(at: int, kind: str, specific: bytes, head: bytes | None = None, cents: int = 0) -> None:
        received = at + (int(random() * 59_900) + 100 if random() < QUEUED else 0)
        unit.emit(site, received, at, kind, head or unit.head(site, "ua", kind),
                  b"".join((v.user, block, specific, tail)), cents=cents)

    for n in range(pages):
        page = unit.page(site, n == 0)
        if n == 0:  # the landing: its source's referrer and tags (later pages: analytics.js
            # sends no referrer for the site's own pages, so they read as direct)
            block = _landing(page, site, source.tags, source.referrer) + v.ua_system + source.source
        else:
            block = page.content + v.ua_system + site.direct
        tail = unit.dims(v.tier, page.section) + v.enrich
        product = site.products[page.product] if page.product >= 0 else None
        if product is not None:
            hit(t, "pageview", frag({"currency": currency, "product_action": "detail",
                                     "items": (_item(product),)}))
            first_product = first_product or product
        elif page.section == "checkout":
            hit(t, "pageview", frag({"currency": currency, "product_action": "checkout",
                                     "checkout_step": 1 + int(random() * 3)}))
        else:
            hit(t, "pageview", b"")
        dwell = 3000 + int(rng.expovariate(1 / DWELL_MS))
        for _ in range(3):
            if unit.left <= 0:
                return
            r, at = random(), t + int(random() * dwell)
            if r < 0.3:
                hit(at, "event", _SCROLLS[int(random() * 4)] + frag({"event_label": page.path}),
                    unit.head(site, "ua", "event") + _NI)
            elif r < 0.36:
                hit(at, "event", _OUTBOUND[int(random() * len(_OUTBOUND))])
            elif r < 0.42 and site.kind == "blog":
                hit(at, "event", frag({"event_category": "Video", "event_action": "play",
                                       "event_label": _VIDEOS[int(random() * len(_VIDEOS))],
                                       "event_value": 5 + int(random() * 300)}))
            elif r < 0.42 and site.kind == "docs":
                hit(at, "event", _DOWNLOADS[int(random() * len(_DOWNLOADS))])
            elif r < 0.54 and product is not None:
                hit(at, "event", frag({"event_category": "Ecommerce", "event_action": "add",
                                       "currency": currency, "product_action": "add",
                                       "items": (_item(product, 1),)}))
            elif r < 0.58:
                load = 400 + int(random() * 8600)
                hit(at, "timing", frag({
                    "timing_category": "Page", "timing_variable": "load", "timing_time_ms": load,
                    "timing_label": page.section, "perf_page_load_ms": load,
                    "perf_dns_ms": int(random() * 120), "perf_page_download_ms": 5 + int(random() * 400),
                    "perf_redirect_ms": 0, "perf_tcp_connect_ms": 10 + int(random() * 190),
                    "perf_server_response_ms": 40 + int(random() * 860),
                    "perf_dom_interactive_ms": load * 6 // 10, "perf_content_load_ms": load * 7 // 10}))
            elif r < 0.59:
                network = ("facebook", "twitter", "linkedin")[int(random() * 3)]
                hit(at, "social", frag({"social_network": network, "social_action": "share",
                                        "social_target": page.location}))
            elif r < 0.592:
                hit(at, "exception", _EXCEPTION)
            else:
                break
        t += dwell
        if unit.left <= 0:
            return
    if site.products and pages >= 2 and random() < CONVERSION * 2:  # classic ecommerce
        basket = _basket(unit, site, first_product)
        revenue, shipping, tax = _totals(basket, site)
        order = f"T{10_000_000 + int(random() * 89_999_999)}"
        hit(t, "transaction", frag({"transaction_id": order, "transaction_affiliation": "Online Store",
                                    "transaction_revenue": revenue, "transaction_shipping": shipping,
                                    "transaction_tax": tax, "currency": currency}),
            cents=round(revenue * 100))
        for product, quantity in basket:
            if unit.left <= 0:
                return
            hit(t + 50, "item", frag({"transaction_id": order, "currency": currency,
                                      "item_name": product.name, "item_price": product.price,
                                      "item_quantity": quantity, "item_code": product.item_id,
                                      "item_category": product.category}))


# --- GA4 (gtag.js) ---------------------------------------------------------------------------


def gtag_session(unit: Unit, site: Site, v: Visitor, start: int, number: int) -> None:
    rng = unit.rng
    random = rng.random
    pages = _pages(unit)
    source = site.sources[int(random() * len(site.sources))]
    session = v.user + frag({"session_id": str(start // 1000), "session_number": number})
    currency = CURRENCY.get(site.home, "EUR")
    t, engaged, previous, spent = start, False, "", 0
    basket: list[Product] = []
    first_visit = number == 1

    def event(at: int, name: str, engagement: int, specific: bytes, maps: bytes, kind: str = "event",
              first: bool = False, cents: int = 0) -> None:
        own = session + _ENGAGED[engaged]
        if engagement:
            own += b',"engagement_time_ms":%d' % engagement
        if first:
            own += _FIRST_VISIT + _SESSION_START if first_visit else _SESSION_START
        unit.emit(site, at, at, kind, unit.head(site, "gtag", kind, name),
                  b"".join((own, block, specific, v.consent, maps, v.gtag_post)), cents=cents)

    for n in range(pages):
        page = unit.page(site, n == 0)
        if n == 0:
            block = _landing(page, site, source.tags, source.referrer) + v.gtag_system + source.source
        else:  # gtag sends the site's own page as the referrer
            block = page.content + frag({"page_referrer": previous}) + v.gtag_system + site.internal
        previous = page.location
        product = site.products[page.product] if page.product >= 0 else None
        dwell = 3000 + int(rng.expovariate(1 / DWELL_MS))
        # a page_view after the first reports the engagement time of the page before
        event(t, "page_view", spent, b"", b"", "pageview", n == 0)
        spent = min(dwell, 1000 + int(random() * dwell))
        engaged = engaged or n > 0 or dwell > 10_000
        if product is not None:
            if unit.left <= 0:
                return
            event(t + 400, "view_item", 0, frag({"currency": currency, "items": (_item(product, 1, 1),)}),
                  frag({"event_params_num": {"value": product.price}}))
        for _ in range(3):
            if unit.left <= 0:
                return
            r, at = random(), t + int(random() * dwell)
            if r < 0.3:
                event(at, "scroll", 0, b"", _SCROLLED)
            elif r < 0.5:
                event(at, "user_engagement", 1000 + int(random() * dwell), b"", b"")
            elif r < 0.56:
                event(at, "click", 0, b"", _CLICKS[int(random() * len(_CLICKS))])
            elif r < 0.62 and page.section == "search":
                event(at, "view_search_results", 0, b"", frag({"event_params": {
                    "search_term": page.location.partition("q=")[2].replace("-", " ")}}))
            elif r < 0.66 and site.kind == "docs":
                name = _FILES[int(random() * len(_FILES))]
                event(at, "file_download", 0, b"", frag({"event_params": {
                    "file_extension": name.rpartition(".")[2], "file_name": name,
                    "link_url": f"https://{site.host}/files/{name}"}}))
            elif r < 0.66 and site.kind == "blog":
                event(at, "video_start", 0, b"", _VIDEO_STARTS[int(random() * len(_VIDEO_STARTS))])
            elif r < 0.72 and product is not None:
                basket.append(product)
                event(at, "add_to_cart", 0, frag({"currency": currency, "items": (_item(product, 1),)}),
                      frag({"event_params_num": {"value": product.price}}))
            else:
                break
        t += dwell
        if unit.left <= 0:
            return
    if site.products and pages >= 2 and random() < CONVERSION * 2:
        chosen = _basket(unit, site, basket[0] if basket else None)
        revenue, shipping, tax = _totals(chosen, site)
        items = tuple(_item(p, q, i + 1) for i, (p, q) in enumerate(chosen))
        order = f"{site.host.split('.')[1][:2].upper()}-{1_000_000 + int(random() * 9_000_000)}"
        event(t, "purchase", 1000 + int(random() * 19_000), frag({
            "transaction_id": order, "transaction_revenue": revenue, "transaction_shipping": shipping,
            "transaction_tax": tax, "currency": currency, "items": items}), b"", "transaction",
            cents=round(revenue * 100))


# --- Measurement Protocol (server side, late) and bots --------------------------------------


def mp_event(unit: Unit, site: Site, v: Visitor, received: int, event: int) -> None:
    """An event the site's backend reports for a visitor, ``received`` − ``event`` later."""
    rng = unit.rng
    tails = unit.world.server_tails
    tail = v.props + tails[int(rng.random() * len(tails))]
    session = v.user + frag({"session_id": str(event // 1000 - 60 - int(rng.random() * 1740)),
                             "engagement_time_ms": 1 + int(rng.random() * 5000)})
    if site.products and rng.random() < 0.6:
        chosen = _basket(unit, site, None)
        revenue, shipping, tax = _totals(chosen, site)
        specific = frag({"transaction_id": f"ORD-{10_000_000 + int(rng.random() * 90_000_000)}",
                         "transaction_revenue": revenue, "transaction_shipping": shipping,
                         "transaction_tax": tax, "currency": CURRENCY.get(site.home, "EUR"),
                         "items": tuple(_item(p, q, i + 1) for i, (p, q) in enumerate(chosen))})
        unit.emit(site, received, event, "transaction", unit.head(site, "ga4mp", "transaction", "purchase"),
                  session + specific + tail, cents=round(revenue * 100))
        return
    name = ("generate_lead", "sign_up", "trial_converted")[pick([0.5, 0.8, 1.0], rng.random())]
    lead_source = ("crm", "webinar", "sales")[int(rng.random() * 3)]
    maps: dict[str, Any] = {"event_params": {"lead_source": lead_source}}
    if name == "generate_lead":
        maps["event_params_num"] = {"value": float(20 + int(rng.random() * 380))}
    unit.emit(site, received, event, "event", unit.head(site, "ga4mp", "event", name),
              session + frag(maps) + tail)


def bot_session(unit: Unit, site: Site, start: int) -> None:
    """A crawl by an agent the bot rules flag but the default policy forwards: a few pages,
    uniform over the catalogue, from a data centre, a new client id every time."""
    rng, world = unit.rng, unit.world
    tail = world.bot_tails[int(rng.random() * len(world.bot_tails))]
    user = frag({"client_id": f"{1_000_000_000 + int(rng.random() * 9_000_000_000)}.{start // 1000}"})
    gtag = rng.random() < site.gtag_share
    session = user + frag({"session_id": str(start // 1000), "session_number": 1, "session_engaged": False})
    t = start
    for _ in range(1 + int(rng.random() * 4)):
        if unit.left <= 0:
            return
        page = site.pages[int(rng.random() * len(site.pages))]
        if gtag:
            unit.emit(site, t, t, "pageview", unit.head(site, "gtag", "pageview", "page_view"),
                      session + page.content + site.direct + tail, bot=site.ga4_id)
        else:
            unit.emit(site, t, t, "pageview", unit.head(site, "ua", "pageview"),
                      user + page.content + site.direct + tail, bot=site.ua_id)
        t += 200 + int(rng.random() * 4800)
