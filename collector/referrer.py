"""Where a hit came from: the referrer's medium, source and search term, and referrer spam.

The data is vendored in ``collector/data/`` (its README names sources, commits and
licences): Matomo's search-engine and social-network lists and its referrer-spam list
(all public domain), plus ``local.json``, our own additions (newer engines and networks,
and webmail hosts). :class:`ReferrerClassifier` loads it once, into host-keyed dicts.

Rules, in order; the first that applies wins:

1. **paid** — a paid click id on the hit (gclid, dclid, gbraid, wbraid, msclkid: see
   :func:`collector.campaign.is_paid_click`; fbclid is on every Facebook outbound link,
   so it is not one), or a paid campaign medium, as GA4's default channels define them:
   one containing ``cp`` (cpc, cpm, cpv…), starting with ``paid``, or ppc, retargeting,
   display, banner, expandable, interstitial.
2. **email** — campaign medium email, e-mail, e_mail, e mail or newsletter.
3. **social** — campaign medium social, social-network, social-media, social network,
   social media or sm.
   Campaign tags come first because they are the site owner's explicit word, and mail
   clients and apps send no referrer. Source and term still come from the referrer when
   it names one (paid from google.com → source google); direct and internal give none.
4. **direct** — no referrer.
5. **internal** — the referrer's host is the page's host, ignoring case, port, a trailing
   dot and a leading ``www.`` on either side. Internal referrals are not sources (source
   None). A *different* subdomain (blog.example.com → shop.example.com) is a referral:
   without the public-suffix list, example.co.uk's subdomains cannot be told from two
   sites under co.uk, and GA's own default likewise counts only the same host as a
   self-referral.
6. **social** or **email** — the host, or a parent domain of it, is on the social list
   (m.facebook.com, l.facebook.com, old.reddit.com, t.co) or the webmail list
   (mail.google.com, outlook.live.com, android-app://com.google.android.gm); the longest
   listed match wins.
7. **email** — the host's first label is ``webmail`` or ``mail``, with three labels or
   more (webmail.example.net, mail.example.org): an organisation's own webmail.
8. **search** — the host is a listed search engine (exactly, or behind ``www.``, ``m.`` or
   ``mobile.``; the lists' ``{}`` stands for one country-code label or top-level domain,
   co.uk-style pairs included), *and* a search term is found in one of the engine's query
   parameters or path patterns, or the path matches one of its "hidden keyword" patterns
   (Google, Bing, DuckDuckGo… send only their origin). A portal listed only for its
   search page (www.cnn.com with ``query``) counts only when it carries a term.
9. **referral** — any other referrer with a host; source is the host without ``www.``.
   A referrer with no usable host (not a URL, unparseable) is a referral with source None.

Source names are the list's name lowercased, without ``!`` (google, bing, yahoo, facebook,
twitter, gmail). Terms are percent-decoded (UTF-8, else the engine's listed charsets),
whitespace-collapsed and at most 500 characters. Hosts are compared in lower case and
punycode, so an IDN matches in either spelling. Nothing here raises on any input.

:meth:`ReferrerClassifier.classify` keeps a bounded LRU of (referrer, page host) → rules
5-9; the campaign rules are applied on top of it on every call. ``is_spam`` keeps its own
LRU, of the same size. The enrichment calls neither: :meth:`ReferrerClassifier.assess` answers
both from one parse of the referrer and one LRU (the same size again) of (referrer, page host)
→ spam or rules 5-9.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from collector.errors import CollectorError

if TYPE_CHECKING:
    from functools import _CacheInfo, _lru_cache_wrapper

__all__ = [
    "DATA_DIR", "MEDIUMS", "Referrer", "ReferrerClassifier", "ReferrerDataError",
    "campaign_medium_class", "is_paid_medium",
]

DATA_DIR: Final = Path(__file__).with_name("data")
MEDIUMS: Final = ("search", "social", "email", "paid", "referral", "internal", "direct")
DEFAULT_CACHE_SIZE: Final = 8192
TERM_MAX: Final = 500
REFERRER_MAX: Final = 4096  # characters of a referrer looked at (dr is capped at 2048 bytes)

PAID_MEDIUMS: Final = frozenset(
    {"ppc", "retargeting", "display", "banner", "expandable", "interstitial"})
EMAIL_MEDIUMS: Final = frozenset({"email", "e-mail", "e_mail", "e mail", "newsletter"})
SOCIAL_MEDIUMS: Final = frozenset(
    {"social", "social-network", "social-media", "social network", "social media", "sm"})

_COMBINED_TLD: Final = frozenset({"com", "org", "net", "co", "it", "edu"})
_SEARCH_PREFIXES: Final = ("www.", "m.", "mobile.")
_WEBMAIL_LABELS: Final = frozenset({"webmail", "mail"})
_DNS_NAME: Final = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}\Z")  # after IDNA
_IPV6: Final = re.compile(r"[0-9a-f:.]+\Z")
_LISTED: Final = re.compile(r"[a-z0-9_.{}-]+\Z")
_NAME_DROP: Final = re.compile(r"[!\"]")
_GENERIC_LABELS: Final = frozenset({"www", "m", "mobile", "com", "net", "org", "co", "edu"})

Pattern = str | re.Pattern[str]  # a query parameter name, or a regex over path?query


class ReferrerDataError(CollectorError):
    """The vendored referrer data is missing or malformed (a start-up, terminal error)."""


@dataclass(frozen=True, slots=True)
class Referrer:
    medium: str  # one of MEDIUMS
    source: str | None
    term: str | None

    def fields(self) -> dict[str, str]:
        """The Hit fields this sets: referrer_medium, and referrer_source/term when known."""
        out = {"referrer_medium": self.medium}
        if self.source is not None:
            out["referrer_source"] = self.source
        if self.term is not None:
            out["referrer_term"] = self.term
        return out


DIRECT: Final = Referrer("direct", None, None)
INTERNAL: Final = Referrer("internal", None, None)
UNKNOWN: Final = Referrer("referral", None, None)


def is_paid_medium(medium: str) -> bool:
    m = medium.strip().lower()
    return m in PAID_MEDIUMS or "cp" in m or m.startswith("paid")


def campaign_medium_class(medium: str | None, paid_click: bool = False) -> str | None:
    """The medium a campaign tag alone decides (rules 1-3), or None."""
    if paid_click:
        return "paid"
    m = medium.strip().lower() if isinstance(medium, str) else ""
    if not m:
        return None
    if is_paid_medium(m):
        return "paid"
    if m in EMAIL_MEDIUMS:
        return "email"
    return "social" if m in SOCIAL_MEDIUMS else None


def _with_campaign(own: Referrer, campaign_medium: str | None, paid_click: bool) -> Referrer:
    """The campaign rules (1-3) on top of what the referrer says on its own."""
    medium = campaign_medium_class(campaign_medium, paid_click)
    if medium is None:
        return own
    if own.medium in ("direct", "internal"):
        return Referrer(medium, None, None)
    return Referrer(medium, own.source, own.term)


@dataclass(frozen=True, slots=True)
class _Engine:
    source: str
    path: str  # "" or a path prefix the configuration is limited to (/images/search)
    params: tuple[Pattern, ...]
    hidden: tuple[Pattern, ...]
    charsets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Url:
    host: str
    path: str
    query: str
    fragment: str


class ReferrerClassifier:
    def __init__(self, data_dir: Path | None = None, *,
                 cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        folder = DATA_DIR if data_dir is None else data_dir
        self.unusable_patterns: list[str] = []  # listed regexes Python cannot compile
        self._search: dict[str, list[_Engine]] = {}
        self._named: dict[str, Referrer] = {}  # social and webmail hosts
        local = _load_json(folder / "local.json")
        for data in (_load_json(folder / "search_engines.json"), local.get("search", {})):
            self._add_engines(data)
        for data in (_load_json(folder / "socials.json"), local.get("social", {})):
            _add_hosts(self._named, "social", data)
        _add_hosts(self._named, "email", local.get("email", {}))
        for engines in self._search.values():
            engines.sort(key=lambda e: len(e.path), reverse=True)
        # one label of each search key: a host with none of them cannot match any key
        self._anchors = frozenset(_anchor(key) for key in self._search)
        self._spam = frozenset(_read_spammers(folder / "spammers.txt"))
        self._cached: _lru_cache_wrapper[Referrer] = lru_cache(maxsize=cache_size)(self._own)
        self._spam_cached: _lru_cache_wrapper[bool] = lru_cache(maxsize=cache_size)(
            self.is_spam_uncached)
        self._judged: _lru_cache_wrapper[Referrer | None] = lru_cache(maxsize=cache_size)(
            self._judge)

    def classify(self, referrer: str | None, page_hostname: str | None, *,
                 campaign_medium: str | None = None, paid_click: bool = False) -> Referrer:
        return self._classify(referrer, page_hostname, campaign_medium, paid_click, cached=True)

    def classify_uncached(self, referrer: str | None, page_hostname: str | None, *,
                          campaign_medium: str | None = None,
                          paid_click: bool = False) -> Referrer:
        """The same answer as :meth:`classify`, without the cache (benchmarks, checks)."""
        return self._classify(referrer, page_hostname, campaign_medium, paid_click, cached=False)

    def cache_info(self) -> _CacheInfo:
        return self._cached.cache_info()

    def is_spam(self, referrer: str | None) -> bool:
        """The referrer's host, or a parent domain of it, is on the referrer-spam list."""
        if not isinstance(referrer, str) or not referrer.strip():
            return False
        return self._spam_cached(referrer.strip()[:REFERRER_MAX])

    def is_spam_uncached(self, referrer: str | None) -> bool:
        url = _parse(referrer) if isinstance(referrer, str) else None
        return url is not None and any(s in self._spam for s in _suffixes(url.host))

    def assess(self, referrer: str | None, page_hostname: str | None, *,
               campaign_medium: str | None = None, paid_click: bool = False) -> Referrer | None:
        """None when :meth:`is_spam` says so, else what :meth:`classify` says: the
        enrichment's one call, with one parse of the referrer and one cache for both."""
        text = referrer.strip()[:REFERRER_MAX] if isinstance(referrer, str) else ""
        if not text:
            own = DIRECT
        else:
            judged = self._judged(text, page_hostname if isinstance(page_hostname, str) else None)
            if judged is None:
                return None
            own = judged
        return _with_campaign(own, campaign_medium, paid_click)

    def assess_cache_info(self) -> _CacheInfo:
        return self._judged.cache_info()

    def _judge(self, referrer: str, page_hostname: str | None) -> Referrer | None:
        url = _parse(referrer)
        if url is not None and any(s in self._spam for s in _suffixes(url.host)):
            return None
        return self._own_url(url, page_hostname)

    def _classify(self, referrer: str | None, page_hostname: str | None,
                  campaign_medium: str | None, paid_click: bool, *, cached: bool) -> Referrer:
        text = referrer.strip()[:REFERRER_MAX] if isinstance(referrer, str) else ""
        page = page_hostname if isinstance(page_hostname, str) else None
        own = DIRECT
        if text:
            own = self._cached(text, page) if cached else self._own(text, page)
        return _with_campaign(own, campaign_medium, paid_click)

    def _own(self, referrer: str, page_hostname: str | None) -> Referrer:
        """What the referrer says on its own (rules 5-9), before any campaign tag."""
        return self._own_url(_parse(referrer), page_hostname)

    def _own_url(self, url: _Url | None, page_hostname: str | None) -> Referrer:
        if url is None:
            return UNKNOWN
        bare = _bare(url.host)
        if page_hostname is not None and bare == _page_host(page_hostname):
            return INTERNAL
        for host in _suffixes(url.host):
            named = self._named.get(host)
            if named is not None:
                return named
        if bare.count(".") >= 2 and bare.partition(".")[0] in _WEBMAIL_LABELS:
            return Referrer("email", bare, None)
        return self._search_engine(url) or Referrer("referral", bare, None)

    def _search_engine(self, url: _Url) -> Referrer | None:
        labels = url.host.split(".")
        if self._anchors.isdisjoint(labels):
            return None
        engines = _listed_engines(self._search, url.host, labels)
        path = url.path.lower()
        matching = [e for e in engines if path.startswith(e.path)]
        for engine in matching:
            term = _term(engine, url)
            if term is not None:
                return Referrer("search", engine.source, term)
        subject = _subject(url)
        for engine in matching:
            if any(_hidden_matches(p, url.path, subject) for p in engine.hidden):
                return Referrer("search", engine.source, None)
        return None

    def _add_engines(self, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise ReferrerDataError("search engines: expected a mapping of names")
        for name, configs in data.items():
            for config in configs if isinstance(configs, list) else []:
                if not isinstance(config, Mapping):
                    continue
                params = self._patterns(config.get("params"))
                hidden = self._patterns(config.get("hiddenkeyword"))
                charsets = tuple(c for c in _strings(config.get("charsets")) if _known_codec(c))
                for listed in _strings(config.get("urls")):
                    split = _split_listed(listed)
                    if split is not None:
                        key, path = split
                        self._search.setdefault(key, []).append(
                            _Engine(_source_name(name), path, params, hidden, charsets))

    def _patterns(self, values: Any) -> tuple[Pattern, ...]:
        out: list[Pattern] = []
        for value in _strings(values):
            if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
                try:
                    out.append(re.compile(value[1:-1]))
                except re.error:
                    self.unusable_patterns.append(value)
            elif value.strip():
                out.append(value)
        return tuple(out)


# --- loading -------------------------------------------------------------------------------


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReferrerDataError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ReferrerDataError(f"{path}: expected a JSON object")
    inner = data.get("data", data) if "source" in data else data
    if not isinstance(inner, dict):
        raise ReferrerDataError(f"{path}: expected an object under 'data'")
    return inner


def _read_spammers(path: Path) -> Iterator[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as exc:
        raise ReferrerDataError(f"cannot read {path}: {exc}") from exc
    for line in lines:
        host = _normal_host(line)
        if host is not None and "." in host:
            yield host


def _add_hosts(index: dict[str, Referrer], medium: str, data: Any) -> None:
    if not isinstance(data, Mapping):
        raise ReferrerDataError(f"{medium} hosts: expected a mapping of names")
    for name, hosts in data.items():
        named = Referrer(medium, _source_name(name), None)
        for listed in _strings(hosts):
            split = _split_listed(listed)
            if split is not None and "{}" not in split[0]:
                index.setdefault(split[0], named)  # the first list to name a host keeps it


def _strings(values: Any) -> list[str]:
    return [str(v) for v in values] if isinstance(values, list) else []


def _split_listed(listed: str) -> tuple[str, str] | None:
    """A list entry (host, host/path, or scheme://host) → (host key, path prefix)."""
    text = listed.strip().lower()
    if "://" in text:
        text = text.partition("://")[2]
    if "//" in text:
        return None
    host, slash, path = text.partition("/")
    host = host.rstrip(".")
    if "." not in host or not _LISTED.match(host):
        return None
    return host, (slash + path if path else "")


def _source_name(name: object) -> str:
    return " ".join(_NAME_DROP.sub("", unquote(str(name))).split()).lower()


def _anchor(key: str) -> str:
    """The most telling label of a search key: long, and not generic like www or com."""
    labels = [label for label in key.split(".") if label != "{}"]
    return max(labels, key=lambda label: (label not in _GENERIC_LABELS, len(label)))


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


# --- matching ------------------------------------------------------------------------------


def _normal_host(host: str) -> str | None:
    host = host.strip().rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except (UnicodeError, ValueError):
            return None
    if len(host) > 253:
        return None
    if _DNS_NAME.match(host) or (":" in host and _IPV6.match(host)):
        return host
    return None  # empty, an empty or over-long label, or characters no host has


def _parse(referrer: str) -> _Url | None:
    try:
        parts = urlsplit(referrer.strip()[:REFERRER_MAX])
        hostname = parts.hostname
    except ValueError:
        return None
    host = _normal_host(hostname) if hostname else None
    if host is None:
        return None
    return _Url(host, parts.path, parts.query, parts.fragment)


@lru_cache(maxsize=4096)
def _page_host(page_hostname: str) -> str | None:
    """The page's host as compared with a referrer's: normalised, without port or www."""
    text = page_hostname.strip()
    try:
        hostname = urlsplit(text if "://" in text else "//" + text).hostname
    except ValueError:
        return None
    host = _normal_host(hostname) if hostname else None
    return _bare(host) if host else None


def _bare(host: str) -> str:
    return host[4:] if host.startswith("www.") and host.count(".") >= 2 else host


def _suffixes(host: str) -> Iterator[str]:
    """The host, then each parent domain: a.b.example.com, b.example.com, example.com, com."""
    while True:
        yield host
        dot = host.find(".")
        if dot < 0:
            return
        host = host[dot + 1:]


def _listed_engines(index: Mapping[str, list[_Engine]], host: str,
                    labels: list[str]) -> list[_Engine]:
    """The engines listed under the most specific key the host matches: the host itself,
    google.{} for google.de or google.co.uk, {}.bing.com for cn.bing.com; then the same
    without a leading www., m. or mobile."""
    candidates = [(host, labels)]
    if len(labels) >= 3 and host.startswith(_SEARCH_PREFIXES):
        candidates.append((host.partition(".")[2], labels[1:]))
    for base, parts in candidates:
        found = index.get(base)
        if found is not None:
            return found
        last = parts[-1]
        if len(last) == 2 and last.isalpha():
            if len(parts) >= 3 and parts[-2] in _COMBINED_TLD:
                found = index.get(".".join(parts[:-2]) + ".{}")
                if found is not None:
                    return found
            found = index.get(base[:-2] + "{}")
            if found is not None:
                return found
        for i, label in enumerate(parts[:-1]):
            if len(label) == 2 and label.isalpha():
                found = index.get(".".join([*parts[:i], "{}", *parts[i + 1:]]))
                if found is not None:
                    return found
    return []


def _subject(url: _Url) -> str:
    return (url.path + ("?" + url.query if url.query else ""))[:REFERRER_MAX]


def _hidden_matches(pattern: Pattern, path: str, subject: str) -> bool:
    if isinstance(pattern, str):
        return path == pattern
    return pattern.search(subject) is not None


def _term(engine: _Engine, url: _Url) -> str | None:
    for param in engine.params:
        if isinstance(param, str):
            raw = _query_value(url.query, param) or _query_value(url.fragment, param)
        else:
            match = param.search(_subject(url))
            raw = match.group(1) if match is not None and match.re.groups else None
        term = _decode(raw, engine.charsets) if raw else None
        if term:
            return term
    return None


def _query_value(query: str, name: str) -> str | None:
    """The raw (still percent-encoded) first non-empty value of ``name`` in a query string."""
    if not query:
        return None
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if ("%" in key or "+" in key) and key != name:
            key = unquote(key.replace("+", " "))
        if key == name and value:
            return value
    return None


def _decode(raw: str, charsets: Iterable[str]) -> str | None:
    data = unquote_to_bytes(raw.replace("+", " "))
    text = None
    for charset in ("utf-8", *charsets):
        try:
            text = data.decode(charset)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        text = data.decode("utf-8", "replace")
    term = " ".join("".join(c for c in text if c.isprintable() or c.isspace()).split())
    return term[:TERM_MAX] or None
