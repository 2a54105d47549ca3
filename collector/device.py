"""Device detection: User-Agent (and User-Agent Client Hints, when sent) → :class:`Device`.

Parsing is ua-parser 1.x over its native accelerator (``ua-parser-rs``: the uap-core rules
as Rust regex sets) with the rules from ``ua-parser-builtins``. Measured with
bench/enrich_device.py (2-core VM): 40–65 µs per uncached agent of the mainstream browsers
and 80–95 µs on the corpus's odd ones, two thirds of it in ua-parser, against 1.4–2.3 ms for
the legacy pure-Python path that ``user_agents.parse`` takes. A bounded LRU
(:func:`functools.lru_cache`, implemented in C) keyed on the agent and the hints sits in
front, so a hit costs under a microsecond; real traffic has thousands of distinct agents, a
long tail that a small cache that is cleared when full would keep re-parsing.

ua-parser names the browser, OS and device model but has no device *type*, so the category
(desktop, mobile, tablet, tv, console, wearable, other) is derived here by ordered rule
tables, first match wins (:data:`STRONG_RULES`, :data:`MODEL_RULES`, :data:`UA_RULES`, then
ua-parser's own families). ``user_agents``' categorisation was not kept: it re-parses the
agent through ua-parser's legacy path (so it cannot sit on the fast path) and knows no TVs,
consoles or wearables. Bots are not this module's business: :mod:`collector.bots` decides
those, and :func:`collector.bots.with_bot_category` gives the Hit its ``bot`` category.

Client hints refine, never contradict, what the agent says: Chrome's reduced UA freezes the
Android model to ``K`` and versions to ``N.0.0.0``; the hints give the real model, OS version
(Windows platform version 13 and up is Windows 11) and full browser version. GREASE brands
are ignored. Browsers send the high-entropy hints only to origins that ask for them
(``Accept-CH``), so a collector on another host mostly gets them from gtag's ``uafvl``,
``uapv``, ``uam`` … parameters: :meth:`ClientHints.from_gtag_params`.

Nothing here raises on odd input: an empty or unparseable agent gives
``Device(category="other")`` with every other field None.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

import ua_parser_rs
from ua_parser import OS, Domain, PartialResult, Resolver, UserAgent, load_lazy_builtins
from ua_parser.regex import Resolver as RustResolver

MAX_UA_LENGTH = 1024  # longer agents are cut before parsing and caching (real ones are < 600)
MAX_HINT_LENGTH = 256  # per client-hint header or parameter
MAX_BRANDS = 16
CATEGORIES = ("desktop", "mobile", "tablet", "tv", "console", "wearable", "bot", "other")


@dataclass(frozen=True, slots=True)
class Device:
    """What the Hit's device and software columns get. ``category`` is one of
    :data:`CATEGORIES` (``bot`` only via :func:`collector.bots.with_bot_category`)."""

    category: str
    brand: str | None = None
    model: str | None = None
    browser: str | None = None
    browser_version: str | None = None
    os: str | None = None
    os_version: str | None = None


UNKNOWN = Device("other")


# --- client hints ---------------------------------------------------------------------------

_SF_ITEM = re.compile(r'"((?:[^"\\]|\\.)*)"([^,"]*(?:"(?:[^"\\]|\\.)*"[^,"]*)*)')
_SF_VERSION = re.compile(r';\s*v\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s"]+))')
_SF_STRING = re.compile(r'\s*"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)")


def _unescape(value: str) -> str:
    return _ESCAPE.sub(r"\1", value) if "\\" in value else value


def _sf_string(raw: str) -> str | None:
    """An RFC 8941 string (``"Windows"``); a bare token is taken as it is. Empty → None."""
    raw = raw[:MAX_HINT_LENGTH]
    m = _SF_STRING.match(raw)
    value = _unescape(m.group(1)) if m else raw.strip()
    return value.strip() or None


def _sf_brands(raw: str) -> tuple[tuple[str, str], ...]:
    """A brand list (``"Chromium";v="124", "Not-A.Brand";v="99"``) → ((brand, version), …).
    Malformed items are skipped."""
    out: list[tuple[str, str]] = []
    for m in _SF_ITEM.finditer(raw[:MAX_HINT_LENGTH]):
        brand = _unescape(m.group(1)).strip()
        v = _SF_VERSION.search(m.group(2))
        version = (_unescape(v.group(1)) if v.group(1) is not None else v.group(2)) if v else ""
        if brand:
            out.append((brand[:64], version.strip()[:32]))
        if len(out) == MAX_BRANDS:
            break
    return tuple(out)


def _sf_boolean(raw: str) -> bool | None:
    raw = raw.strip()
    return True if raw == "?1" else False if raw == "?0" else None


_HINT_HEADERS = (b"sec-ch-ua", b"sec-ch-ua-mobile", b"sec-ch-ua-platform",
                 b"sec-ch-ua-platform-version", b"sec-ch-ua-model", b"sec-ch-ua-full-version-list")


_HINT_SET = frozenset(_HINT_HEADERS)


def hint_values(headers: Mapping[bytes, bytes]) -> tuple[bytes, ...] | None:
    """The client-hint headers' values in :data:`_HINT_HEADERS` order, each cut to
    :data:`MAX_HINT_LENGTH` (all that :meth:`ClientHints.from_values` reads of them, so a
    bounded cache key), b"" for an absent one; None when the request has none of them (one
    pass over the request's few header names, before any parsing)."""
    if _HINT_SET.isdisjoint(headers):
        return None
    return tuple(headers.get(name, b"")[:MAX_HINT_LENGTH] for name in _HINT_HEADERS)


@dataclass(frozen=True, slots=True)
class ClientHints:
    """The User-Agent Client Hints that matter for device detection. Hashable: it is part of
    the detector's cache key."""

    brands: tuple[tuple[str, str], ...] = ()  # Sec-CH-UA: (brand, significant version)
    full_version_list: tuple[tuple[str, str], ...] = ()  # Sec-CH-UA-Full-Version-List
    mobile: bool | None = None  # Sec-CH-UA-Mobile
    platform: str | None = None  # Sec-CH-UA-Platform: Windows, macOS, Android, Chrome OS, Linux
    platform_version: str | None = None  # Sec-CH-UA-Platform-Version
    model: str | None = None  # Sec-CH-UA-Model (empty on desktops)

    @classmethod
    def from_headers(cls, headers: Mapping[bytes, bytes]) -> ClientHints | None:
        """From request headers keyed by lower-case name, as ASGI gives them. None when the
        request carries none of the hints."""
        values = hint_values(headers)
        return None if values is None else cls.from_values(values)

    @classmethod
    def from_values(cls, values: tuple[bytes, ...]) -> ClientHints | None:
        """From :func:`hint_values`' tuple. None when every value is empty."""
        brands, mobile, platform, platform_version, model, full_version_list = (
            v[:MAX_HINT_LENGTH].decode("latin-1") for v in values)
        hints = cls(
            brands=_sf_brands(brands),
            full_version_list=_sf_brands(full_version_list),
            mobile=_sf_boolean(mobile) if mobile else None,
            platform=_sf_string(platform),
            platform_version=_sf_string(platform_version),
            model=_sf_string(model),
        )
        return None if hints == _NO_HINTS else hints

    @classmethod
    def from_gtag_params(cls, params: Mapping[str, str]) -> ClientHints | None:
        """From the hints gtag.js reads with ``navigator.userAgentData`` and sends as GA4
        parameters: ``uafvl`` (``Chromium;124.0.6367.91|Google%20Chrome;124.0.6367.91``),
        ``uamb`` (0/1), ``uap``, ``uapv``, ``uam``. None when there are none."""
        fvl: list[tuple[str, str]] = []
        for item in params.get("uafvl", "")[:MAX_HINT_LENGTH].split("|")[:MAX_BRANDS]:
            brand, _, version = item.rpartition(";")
            brand = unquote(brand).strip()
            if brand:
                fvl.append((brand[:64], version.strip()[:32]))
        mobile = params.get("uamb", "").strip()

        def text(name: str) -> str | None:
            return params.get(name, "")[:MAX_HINT_LENGTH].strip() or None

        hints = cls(
            brands=tuple((b, v.partition(".")[0]) for b, v in fvl),
            full_version_list=tuple(fvl),
            mobile=True if mobile == "1" else False if mobile == "0" else None,
            platform=text("uap"),
            platform_version=text("uapv"),
            model=text("uam"),
        )
        return None if hints == _NO_HINTS else hints


_NO_HINTS = ClientHints()

# Brand names (Sec-CH-UA) → the family names ua-parser uses for the same browsers.
BRAND_FAMILIES: dict[str, str] = {
    "Google Chrome": "Chrome", "Chromium": "Chromium", "Microsoft Edge": "Edge",
    "Opera": "Opera", "Opera GX": "Opera", "Brave": "Brave", "Vivaldi": "Vivaldi",
    "YaBrowser": "Yandex Browser", "Yandex": "Yandex Browser", "Samsung Internet": "Samsung Internet",
    "Android WebView": "Chrome Mobile WebView", "HeadlessChrome": "HeadlessChrome",
    "DuckDuckGo": "DuckDuckGo", "Whale": "Whale", "Naver Whale": "Whale",
}
# Families a Chromium brand may replace: what the UA says when it cannot tell (Brave, and
# browsers with a Chrome-identical UA).
_GENERIC_FAMILIES = frozenset({"Chrome", "Chrome Mobile", "Chromium", "Chrome Mobile WebView", "Other"})
_CHROME_FAMILIES = frozenset({"Chrome", "Chrome Mobile", "Chrome Mobile iOS"})
_GREASE = re.compile(r"^[^a-z]*not[^a-z]*a[^a-z]*brand[^a-z]*$", re.IGNORECASE)

# Sec-CH-UA-Platform → ua-parser's OS family names.
PLATFORM_FAMILIES: dict[str, str] = {
    "Windows": "Windows", "macOS": "Mac OS X", "Android": "Android", "Chrome OS": "Chrome OS",
    "Chromium OS": "Chrome OS", "Linux": "Linux", "iOS": "iOS",
}
# The agent may name a coarser family than the hint: a Chromebook's Android apps say Linux.
_COMPATIBLE_OS = frozenset({("Linux", "Android"), ("Linux", "Chrome OS"), ("Android", "Chrome OS")})


def _hint_brand(hints: ClientHints) -> tuple[str, str] | None:
    """The most specific real brand: GREASE dropped, Chromium only if nothing else."""
    brands = [b for b in hints.full_version_list or hints.brands if not _GREASE.match(b[0])]
    specific = [b for b in brands if b[0] != "Chromium"]
    return (specific or brands)[0] if brands else None


def _windows_version(platform_version: str) -> str | None:
    """Windows' platform version → its marketing version (Microsoft's mapping)."""
    major, _, rest = platform_version.partition(".")
    if not major.isdigit():
        return None
    n = int(major)
    if n >= 13:
        return "11"
    if n >= 1:
        return "10"
    return {"1": "7", "2": "8", "3": "8.1"}.get(rest.partition(".")[0])


_DOTTED = re.compile(r"\d{1,10}(?:\.\d{1,10}){0,5}")
_TRAILING_ZEROS = re.compile(r"(?:\.0+)+$")


def _trim_version(version: str) -> str | None:
    """``14.0.0`` → ``14``; ``14.4.1`` stays; not a dotted number → None."""
    return _TRAILING_ZEROS.sub("", version) if _DOTTED.fullmatch(version) else None


def _refine(device: Device, hints: ClientHints) -> Device:
    category, os, os_version = device.category, device.os, device.os_version
    browser, browser_version = device.browser, device.browser_version
    model = device.model
    if hints.mobile and category in ("desktop", "other"):
        category = "mobile"
    hint_os = PLATFORM_FAMILIES.get(hints.platform or "")
    if hint_os and (os is None or os == hint_os or (os, hint_os) in _COMPATIBLE_OS):
        os = hint_os
        if hints.platform_version:
            version = (_windows_version(hints.platform_version) if hint_os == "Windows"
                       else _trim_version(hints.platform_version))
            os_version = version or os_version
    if (brand := _hint_brand(hints)) is not None:
        family, hint_version = BRAND_FAMILIES.get(brand[0], brand[0]), brand[1] or None
        if browser == family or (family == "Chrome" and browser in _CHROME_FAMILIES):
            # the same browser: a full version beats the agent's frozen N.0.0.0
            if hint_version and ("." in hint_version or not browser_version):
                browser_version = hint_version
        elif browser is None or browser in _GENERIC_FAMILIES:
            browser, browser_version = family, hint_version  # Brave & co. look like Chrome
    if hints.model and model is None:
        model = hints.model
    return Device(category, device.brand, model, browser, browser_version, os, os_version)


# --- categorisation -------------------------------------------------------------------------


class RuleSet:
    """Ordered (category, regex) rules, first match wins, compiled into one Rust regex set
    (linear time on any input, a few µs for the whole table)."""

    def __init__(self, rules: tuple[tuple[str, str], ...]) -> None:
        self._extractor = ua_parser_rs.UserAgentExtractor(
            (pattern, category, None, None, None, None) for category, pattern in rules)

    def first(self, text: str) -> str | None:
        m = self._extractor.extract(text)
        return m.family if m else None


# Tokens that settle the category wherever they appear in the agent.
STRONG_RULES: tuple[tuple[str, str], ...] = (
    # watches and head-mounted displays (device-detector files VR headsets as wearables too)
    ("wearable", r"(?i)\bwatchOS\b|\bWatch\d+,\d+|\bApple ?Watch\b|\bWear ?OS\b|\bPixel Watch"
                 r"|\bGalaxy Watch|\bTicWatch|\bsmart ?watch"),
    ("wearable", r"\bSM-R\d{3}"),  # Samsung Galaxy Watch / Gear, Tizen and Wear OS alike
    ("wearable", r"(?i)oculus|\bQuest\b|\bPico ?Browser|\bPico (?:Neo|G2|\d)|\bStandalone HMD\b"
                 r"|\bMobile VR\b|\bVR Safari|\bHoloLens|\bVision ?Pro\b|\bvisionOS\b"),
    ("console", r"(?i)playstation|\bxbox\b|nintendo|\bwii ?u?\b|\bOUYA\b|retroid ?pocket"
                r"|steam ?deck|\bAYANEO"),
    ("tv", r"(?i)smart-?tv|\bHbbTV\b|\bAndroid ?TV\b|\bGoogle ?TV\b|\bCrKey\b|\bBRAVIA\b"
           r"|\bWeb0S\b|webOS\.TV|\bNetCast|\bVIDAA\b|\bTiVo|\bRoku\b|\bApple ?TV\b|\btvOS\b"
           r"|\bCE-HTML\b|\bOpera TV\b|\bEspial\b|\bViera\b|\bAquos\b|\bNETTV\b|\bInettvBrowser"
           r"|\bFire ?TV\b|\bFreebox\b|\bDTV_|\bMiTV\b|\bMiBOX|\bTVBox\b"),
    ("tv", r"\bAFT[A-Z]{1,5}\b|\bTV\b"),  # Amazon Fire TV model codes; TV as a word
)

# Rules on the Android model (the item after "Android <version>;" and any locale or
# architecture items): device families that the agent's tokens do not reveal.
_ITEM = r"Android[ /]?[\d.]*;(?:[^;)]*;)*? ?"  # the start of an item of the Android comment
_END = r"(?:\)|;| Build/)"  # the end of the model


def _model(pattern: str) -> str:
    return f"{_ITEM}(?:{pattern})"


MODEL_RULES: tuple[tuple[str, str], ...] = (
    ("wearable", _model(r"LEM\d|LEO-[A-Z]{2,4}\b|[^;)]*(?i:\bwatch\b)")),  # Lemfo, Huawei Watch 2
    ("console", _model(r"RG\d{3}[A-Z]{0,3}\b")),  # Anbernic handhelds
    # PCs running Android (Chromebooks' Android apps, Android-x86 laptops and NUCs)
    ("desktop", _model(r"[^;)]*(?i:chromebook|pixelbook|\blatitude\b|travelmate|\bsatellite\b|\bNUC\d"
                       r"|\bAIO\b|thinkpad|ideapad|inspiron|probook|elitebook|\bvostro\b|optiplex"
                       r"|thinkcentre)")),
    # TV panels name their screen size first (55U730GR, 32LEX-7127); TV boxes and sticks
    ("tv", _model(r"(?:24|28|32|39|40|42|43|48|49|50|55|58|60|65|70|75|77|85|86|98)[A-Z]{1,4}-?\d"
                  r"|[^;)]*(?:LED-?\d{2}|4K\b|4K-|(?i:\bUHD\b|[a-z]box\b))"
                  r"|(?i:MXQ|X96|H96|T95|TX\d|M8S|BB2|KM\d|A95X|HK1|Tanix|Mecool|Ugoos|Zidoo|Beelink)\b")),
    # tablets: Tab/Pad names, kids' and Wi-Fi-only models, and known tablet model codes
    # (Samsung SM-T/P/X, Lenovo TB-/YT-, Amazon KF…, Huawei -W09 Wi-Fi models, Teclast
    # T/P + two digits, Digma Optima/Plane)
    ("tablet", _model(r"[^;)]*(?:(?i:tab|pad|kids|wi-?fi|\boptima[\s_]|\bplane[\s_]\d)|\bTB-"
                      rf"|-W\d{{2}}{_END})"
                      r"|SM-[TPX]\d|GT-P\d|YT-|KF[A-Z]{2,6}\b|Nexus (?:7|9|10)\b|Xoom"
                      rf"|[TP]\d{{2}}(?:[A-Z][A-Za-z]*)?(?:_|\(|{_END})")),
)

# The rest, in order: PC overrides, tablet tokens, phone tokens, Android without "Mobile"
# (Google's convention for tablets), desktop OSes.
UA_RULES: tuple[tuple[str, str], ...] = (
    ("desktop", r"Tablet PC|(?i:chromebook|pixelbook)|\bCrOS\b|\bWTOS\b|\(PC;"
                r"|^Microsoft-(?:Delivery-Optimization|CryptoAPI|WNS)/"),
    ("tablet", r"\biPad\b|/apad\b|(?i:\btablet\b)|\bKindle\b|\bPlayBook\b|Windows NT [\d.]+; ARM;"
               r"|; KF[A-Z]{2,6}(?: Build|\))|\bNexus (?:7|9|10)\b"),
    ("mobile", r"\biPhone\b|\biPod\b|(?i:\bmobile\b|\bmobi\b)|Windows Phone|IEMobile|BlackBerry"
               r"|\bBB10\b|Opera Mini|(?i:\bJ2ME\b|\bMIDP\b|\bKAIOS\b|symbian|symbos|series ?60|\bS60\b)"
               r"|\bNokia[A-Z]?\d|\bPhone;|^Dalvik/"),  # Dalvik (Android apps' HTTP stack): mostly phones
    ("tablet", r"\bAndroid\b"),
    ("desktop", r"Windows NT|(?i:\bwin(?:dows|32|64|95|98|nt|10|11)\b|\bmac ?os\b)|Macintosh"
                r"|Mac_PowerPC|\bX11\b|\bWayland\b|\bLinux\b|Ubuntu|Fedora|Debian|CentOS|FreeBSD"
                r"|OpenBSD|NetBSD|SunOS|\bDesktop\b"),
)

_DEVICE_FAMILIES: dict[str, str] = {
    "iPad": "tablet", "iPhone": "mobile", "iPod": "mobile", "iOS-Device": "mobile",
    "AppleTV": "tv", "Apple Watch": "wearable", "Generic Smartphone": "mobile",
    "Generic Feature Phone": "mobile", "Generic Tablet": "tablet", "Kindle": "tablet",
}
_MAC_MODEL = re.compile(r"^(?:Mac|iMac|MacBook|Macmini|MacPro|PowerMac|PowerBook)")
_OS_FAMILIES: dict[str, str] = {
    "iOS": "mobile", "Android": "mobile", "Windows Phone": "mobile", "BlackBerry OS": "mobile",
    "Symbian OS": "mobile", "KaiOS": "mobile", "Firefox OS": "mobile", "Tizen": "mobile",
    "Windows": "desktop", "Mac OS X": "desktop", "Linux": "desktop", "Chrome OS": "desktop",
    "Ubuntu": "desktop", "Fedora": "desktop", "Debian": "desktop", "FreeBSD": "desktop",
    "watchOS": "wearable", "WatchOS": "wearable", "tvOS": "tv", "ATV OS X": "tv",
}

# The Android model: after "Android <version>;" and any locale / architecture items.
_ANDROID_MODEL = re.compile(
    r"Android[ /]?[\d.]*;(?: (?:[a-z]{2,3}(?:[-_][A-Za-z]{2,4}){0,2}|U|arm(?:_64|64)?|x86(?:_64)?);)*"
    r" ([^;)]+?)(?: Build/[^;)]*)?\s*[;)]")
_REDUCED_ANDROID = "(Linux; Android 10; K)"  # Chrome's frozen platform and model
_GENERIC_BRANDS = frozenset({"Generic", "Spider"})
_NO_DEVICE = Domain.USER_AGENT | Domain.OS
_PLACEHOLDER_MODELS = frozenset({"K", "Smartphone", "Feature Phone", "Tablet", "Desktop"})


def android_model(user_agent: str) -> str | None:
    if "Android" not in user_agent:
        return None
    m = _ANDROID_MODEL.search(user_agent)
    model = m.group(1).strip() if m else ""
    return model if model and model != "K" else None


@dataclass(frozen=True, slots=True)
class Categoriser:
    """:data:`STRONG_RULES`, :data:`MODEL_RULES` and :data:`UA_RULES` in that order, one
    Rust regex set; then ua-parser's families."""

    rules: RuleSet

    @classmethod
    def default(cls) -> Categoriser:
        return cls(RuleSet(STRONG_RULES + MODEL_RULES + UA_RULES))

    def by_agent(self, user_agent: str) -> str | None:
        """The category the agent's tokens settle, if they do."""
        return self.rules.first(user_agent)

    @staticmethod
    def by_families(parsed: PartialResult) -> str:
        """Failing that, ua-parser's device and OS families."""
        if parsed.device is not None:
            if category := _DEVICE_FAMILIES.get(parsed.device.family):
                return category
            if parsed.device.brand == "Apple" and _MAC_MODEL.match(parsed.device.family):
                return "desktop"
        if parsed.os is not None and (category := _OS_FAMILIES.get(parsed.os.family)):
            return category
        return "other"


# --- detection ------------------------------------------------------------------------------


def _version(v: UserAgent | OS) -> str | None:
    return ".".join(filter(None, (v.major, v.minor, v.patch, v.patch_minor))) or None


def _clean(text: str) -> str:
    """Cut to :data:`MAX_UA_LENGTH`; replace lone surrogates, which the Rust side cannot take."""
    text = text[:MAX_UA_LENGTH].strip()
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def detect(resolver: Resolver, categorise: Categoriser, user_agent: str,
           hints: ClientHints | None) -> Device:
    """The uncached detection (a pure function of its arguments)."""
    ua = _clean(user_agent)
    if not ua:
        return UNKNOWN
    if hints is not None and hints.model and _REDUCED_ANDROID in ua:
        # rebuild the agent Chrome reduced, so that one parse sees the real model
        version = hints.platform_version if hints.platform == "Android" else None
        android = (_trim_version(version) if version else None) or "10"
        ua = _clean(ua.replace(_REDUCED_ANDROID, f"(Linux; Android {android}; {hints.model})", 1))
    category = categorise.by_agent(ua)
    # ua-parser's device rules (a third of its time) find nothing on a Windows or Linux PC
    pc = category == "desktop" and "Android" not in ua and "Mac" not in ua
    parsed = resolver(ua, _NO_DEVICE if pc else Domain.ALL)
    if category is None:
        category = categorise.by_families(parsed)
    agent, os, dev = parsed.user_agent, parsed.os, parsed.device
    brand = dev.brand if dev and dev.brand and dev.brand not in _GENERIC_BRANDS else None
    if brand and brand.startswith("Generic"):
        brand = None  # Generic_Android, Generic_Android_Tablet: the model stays
    dev_model = dev.model if dev and dev.brand != "Spider" else None
    if dev_model is None or dev_model in _PLACEHOLDER_MODELS:
        dev_model = android_model(ua)  # ua-parser found none (a locale item hides it from its rules)
    if agent is not None and agent.family == "Other":
        agent = None
    if os is not None and os.family == "Other":
        os = None
    if category == "other" and agent is None and os is None and brand is None and dev_model is None:
        return UNKNOWN
    device = Device(category, brand, dev_model,
                    agent.family if agent else None, _version(agent) if agent else None,
                    os.family if os else None, _version(os) if os else None)
    return device if hints is None else _refine(device, hints)


class DeviceDetector:
    """:func:`detect` behind a bounded LRU keyed on (agent, hints)."""

    def __init__(self, cache_size: int = 10_000, *, resolver: Resolver | None = None) -> None:
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self._detect = functools.partial(
            detect, resolver or RustResolver(load_lazy_builtins()), Categoriser.default())
        self._cached = functools.lru_cache(maxsize=cache_size)(self._detect)

    def detect(self, user_agent: str, hints: ClientHints | None = None) -> Device:
        return self._cached(user_agent[:MAX_UA_LENGTH], hints)

    def detect_uncached(self, user_agent: str, hints: ClientHints | None = None) -> Device:
        """The same answer as :meth:`detect`, without this detector's cache (for a caller
        that caches the agent's whole verdict itself: collector.enrich)."""
        return self._detect(user_agent[:MAX_UA_LENGTH], hints)

    def cache_info(self) -> tuple[int, int]:
        """(hits, misses) since construction."""
        info = self._cached.cache_info()
        return info.hits, info.misses
