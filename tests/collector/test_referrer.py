from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from collector.campaign import campaign_fields, is_paid_click
from collector.referrer import (
    DATA_DIR,
    MEDIUMS,
    Referrer,
    ReferrerClassifier,
    ReferrerDataError,
    campaign_medium_class,
    is_paid_medium,
)

PAGE = "www.example.com"


@pytest.fixture(scope="module")
def classifier() -> ReferrerClassifier:
    return ReferrerClassifier()


def test_every_vendored_pattern_compiles(classifier: ReferrerClassifier) -> None:
    assert classifier.unusable_patterns == []


# --- search --------------------------------------------------------------------------------


@pytest.mark.parametrize(("referrer", "source", "term"), [
    # Google: modern browsers send only the origin; older links and /url carry q
    ("https://www.google.co.uk/", "google", None),
    ("https://www.google.com", "google", None),
    ("https://www.google.de/search?q=wanderschuhe+herren&hl=de", "google", "wanderschuhe herren"),
    ("https://www.google.com/url?sa=t&q=lambda%20analytics&url=x", "google", "lambda analytics"),
    ("https://google.com.au/", "google", None),
    ("https://encrypted.google.com/", "google", None),
    ("android-app://com.google.android.googlequicksearchbox/", "google", None),
    # Bing, with its country subdomains
    ("https://www.bing.com/search?q=caf%C3%A9+cr%C3%A8me&form=QBLH", "bing", "café crème"),
    ("https://www.bing.com/", "bing", None),
    ("https://cn.bing.com/search?q=%E5%A4%A9%E6%B0%94", "bing", "天气"),
    # DuckDuckGo hides the term; a q still counts when present
    ("https://duckduckgo.com/", "duckduckgo", None),
    ("https://duckduckgo.com/?q=privacy+analytics", "duckduckgo", "privacy analytics"),
    ("https://html.duckduckgo.com/", "duckduckgo", None),  # local.json
    # Yandex: text=, other country domains through the {} placeholder
    ("https://yandex.ru/search/?text=%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82&lr=213", "yandex",
     "привет"),
    ("https://yandex.com.tr/", "yandex", None),
    ("https://ya.ru/", "yandex", None),  # local.json
    # Baidu: wd=, UTF-8 or its listed gb2312, and its /link? redirect (local.json)
    ("https://www.baidu.com/s?wd=%E4%BD%A0%E5%A5%BD", "baidu", "你好"),
    ("https://www.baidu.com/s?wd=%C4%E3%BA%C3", "baidu", "你好"),
    ("https://www.baidu.com/link?url=abcdef&wd=&eqid=1", "baidu", None),
    ("https://m.baidu.com/", "baidu", None),
    # others from the list
    ("https://uk.search.yahoo.com/search?p=weather", "yahoo", "weather"),
    ("https://r.search.yahoo.com/_ylt=AwrE/RU=https%3a%2f%2fexample.com/RK=2", "yahoo", None),
    ("https://www.ecosia.org/search?q=trees", "ecosia", "trees"),
    ("https://search.brave.com/search?q=brave+browser", "brave", "brave browser"),
    ("https://www.google.com/imgres?imgurl=x", "google images", None),
    ("https://1.cz/s/hledat", "1.cz", "hledat"),  # a path pattern instead of a parameter
])
def test_search_engines(classifier: ReferrerClassifier, referrer: str, source: str,
                        term: str | None) -> None:
    assert classifier.classify(referrer, PAGE) == Referrer("search", source, term)


def test_search_term_is_cleaned_and_capped(classifier: ReferrerClassifier) -> None:
    got = classifier.classify("https://www.bing.com/search?q=%20%20a%0A%0Db%09%00c%20", PAGE)
    assert got.term == "a b c"
    long_term = classifier.classify("https://www.bing.com/search?q=" + "x" * 3000, PAGE)
    assert long_term.term == "x" * 500


def test_a_portal_listed_for_its_search_page_needs_a_term(classifier: ReferrerClassifier) -> None:
    # www.cnn.com is in the Google entry for its search box, with no hidden-keyword pattern
    assert classifier.classify("https://www.cnn.com/world", PAGE) == Referrer(
        "referral", "cnn.com", None)
    assert classifier.classify("https://www.cnn.com/search?query=news", PAGE) == Referrer(
        "search", "google", "news")


def test_other_google_hosts_are_referrals(classifier: ReferrerClassifier) -> None:
    assert classifier.classify("https://docs.google.com/document/d/1", PAGE) == Referrer(
        "referral", "docs.google.com", None)
    assert classifier.classify("https://www.google.com/maps/place/x", PAGE) == Referrer(
        "referral", "google.com", None)


# --- social and email ----------------------------------------------------------------------


@pytest.mark.parametrize(("referrer", "source"), [
    ("https://www.facebook.com/", "facebook"),
    ("https://m.facebook.com/story.php?id=1", "facebook"),
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.example.com%2F", "facebook"),
    ("https://lm.facebook.com/", "facebook"),
    ("https://www.facebook.com/search/?q=shoes", "facebook"),  # listed as an engine too
    ("https://t.co/AbC123", "twitter"),
    ("https://x.com/someone/status/1", "twitter"),
    ("https://www.linkedin.com/feed/", "linkedin"),
    ("https://lnkd.in/abc", "linkedin"),
    ("android-app://com.linkedin.android/", "linkedin"),
    ("https://www.reddit.com/r/python/comments/x/", "reddit"),
    ("https://old.reddit.com/", "reddit"),
    ("https://out.reddit.com/t3_x?url=y", "reddit"),
    ("https://news.ycombinator.com/item?id=1", "hacker news"),
    ("https://www.youtube.com/watch?v=x", "youtube"),
    ("https://bsky.app/profile/x", "bluesky"),
])
def test_social_networks(classifier: ReferrerClassifier, referrer: str, source: str) -> None:
    assert classifier.classify(referrer, PAGE) == Referrer("social", source, None)


@pytest.mark.parametrize(("referrer", "source"), [
    ("https://mail.google.com/mail/u/0/", "gmail"),
    ("android-app://com.google.android.gm/", "gmail"),
    ("https://outlook.live.com/mail/0/inbox", "outlook.com"),
    ("https://outlook.office.com/", "outlook.com"),
    ("https://mail.yahoo.com/d/folders/1", "yahoo mail"),
    ("https://uk.mail.yahoo.com/", "yahoo mail"),
    ("https://mail.proton.me/u/0/inbox", "proton mail"),
    ("https://webmail.example-isp.net/", "webmail.example-isp.net"),
    ("https://mail.example.org/owa/", "mail.example.org"),
])
def test_webmail(classifier: ReferrerClassifier, referrer: str, source: str) -> None:
    assert classifier.classify(referrer, PAGE) == Referrer("email", source, None)


# --- internal, direct, referral ------------------------------------------------------------


@pytest.mark.parametrize(("referrer", "page"), [
    ("https://www.example.com/shop", "www.example.com"),
    ("https://example.com/shop", "www.example.com"),  # www variant, both ways
    ("https://www.example.com/shop", "example.com"),
    ("https://WWW.Example.COM./shop", "example.com"),  # case and a trailing dot
    ("http://example.com:8080/", "example.com"),  # the port does not matter
    ("https://example.com/", "example.com:443"),
    ("https://example.com/", "https://example.com/page"),  # a URL where a host was expected
    ("https://пример.рф/", "xn--e1afmkfd.xn--p1ai"),  # IDN, either spelling
])
def test_internal(classifier: ReferrerClassifier, referrer: str, page: str) -> None:
    assert classifier.classify(referrer, page) == Referrer("internal", None, None)


def test_a_sibling_subdomain_is_a_referral(classifier: ReferrerClassifier) -> None:
    # Decision (module docstring, rule 5): only the same host, or its www variant, is internal.
    assert classifier.classify("https://blog.example.com/post", "shop.example.com") == Referrer(
        "referral", "blog.example.com", None)
    assert classifier.classify("https://shop.example.com/", "example.com") == Referrer(
        "referral", "shop.example.com", None)


def test_internal_needs_a_page_host(classifier: ReferrerClassifier) -> None:
    assert classifier.classify("https://www.example.com/", None) == Referrer(
        "referral", "example.com", None)
    assert classifier.classify("https://www.example.com/", "") == Referrer(
        "referral", "example.com", None)


@pytest.mark.parametrize("referrer", [None, "", "   "])
def test_direct(classifier: ReferrerClassifier, referrer: str | None) -> None:
    assert classifier.classify(referrer, PAGE) == Referrer("direct", None, None)


@pytest.mark.parametrize(("referrer", "expected"), [
    ("https://www.some-blog.net/2026/11/post", Referrer("referral", "some-blog.net", None)),
    ("http://www.com/", Referrer("referral", "www.com", None)),
    ("https://EXAMPLE.org", Referrer("referral", "example.org", None)),
    ("https://пример.рф/путь", Referrer("referral", "xn--e1afmkfd.xn--p1ai", None)),
    ("http://[2001:db8::1]/x", Referrer("referral", "2001:db8::1", None)),
    # no usable host: referral with no source, never an exception
    ("not a url", Referrer("referral", None, None)),
    ("www.example.org/no-scheme", Referrer("referral", None, None)),
    ("http://[::1", Referrer("referral", None, None)),
    ("http://exa mple.com/", Referrer("referral", None, None)),
    ("http://:80/", Referrer("referral", None, None)),
    ("file:///etc/passwd", Referrer("referral", None, None)),
    ("https://" + "a." * 200 + "com/", Referrer("referral", None, None)),
])
def test_referrals(classifier: ReferrerClassifier, referrer: str, expected: Referrer) -> None:
    assert classifier.classify(referrer, PAGE) == expected


# --- campaign signals ----------------------------------------------------------------------


def test_paid_by_click_id_keeps_the_referrers_source(classifier: ReferrerClassifier) -> None:
    fields = campaign_fields("https://www.example.com/?gclid=Cj0KCQiA", {})
    assert is_paid_click(fields)
    got = classifier.classify("https://www.google.com/", PAGE, paid_click=is_paid_click(fields))
    assert got == Referrer("paid", "google", None)


def test_paid_by_msclkid_from_bing_with_a_term(classifier: ReferrerClassifier) -> None:
    fields = campaign_fields("https://www.example.com/?msclkid=0123456789abcdef", {})
    got = classifier.classify("https://www.bing.com/search?q=running+shoes", PAGE,
                              paid_click=is_paid_click(fields))
    assert got == Referrer("paid", "bing", "running shoes")


@pytest.mark.parametrize("medium", ["cpc", "CPC", " ppc ", "paidsearch", "paid_social", "cpm",
                                    "display", "banner", "retargeting"])
def test_paid_by_campaign_medium(classifier: ReferrerClassifier, medium: str) -> None:
    fields = campaign_fields(f"https://www.example.com/?utm_source=x&utm_medium={medium}", {})
    got = classifier.classify(None, PAGE, campaign_medium=fields["campaign_medium"])
    assert got == Referrer("paid", None, None)


def test_fbclid_alone_is_not_paid(classifier: ReferrerClassifier) -> None:
    fields = campaign_fields("https://www.example.com/?fbclid=IwAR0abc", {})
    assert fields == {"fbclid": "IwAR0abc"}
    assert not is_paid_click(fields)
    got = classifier.classify("https://l.facebook.com/", PAGE, paid_click=is_paid_click(fields))
    assert got == Referrer("social", "facebook", None)


@pytest.mark.parametrize("medium", ["email", "E-mail", "newsletter", "e_mail"])
def test_email_by_campaign_medium(classifier: ReferrerClassifier, medium: str) -> None:
    # desktop mail clients send no referrer; a webmail referrer keeps its name
    assert classifier.classify(None, PAGE, campaign_medium=medium) == Referrer(
        "email", None, None)
    assert classifier.classify("https://mail.google.com/", PAGE, campaign_medium=medium) == (
        Referrer("email", "gmail", None))


def test_campaign_medium_beats_internal_and_search(classifier: ReferrerClassifier) -> None:
    assert classifier.classify("https://www.example.com/", PAGE, campaign_medium="email") == (
        Referrer("email", None, None))
    assert classifier.classify("https://duckduckgo.com/", PAGE, campaign_medium="cpc") == (
        Referrer("paid", "duckduckgo", None))
    assert classifier.classify(None, PAGE, campaign_medium="social") == Referrer(
        "social", None, None)


def test_other_campaign_mediums_leave_the_referrer_alone(classifier: ReferrerClassifier) -> None:
    for medium in ("organic", "referral", "affiliate", "", "  ", None):
        assert classifier.classify("https://t.co/x", PAGE, campaign_medium=medium) == Referrer(
            "social", "twitter", None)


def test_medium_helpers() -> None:
    for paid in ("CPC", "paid-search", "display", "cpv"):
        assert is_paid_medium(paid)
    for other in ("email", "organic", "referral"):
        assert not is_paid_medium(other)
    assert campaign_medium_class(None, paid_click=True) == "paid"
    assert campaign_medium_class("newsletter") == "email"
    assert campaign_medium_class("organic") is None


def test_fields_for_the_hit() -> None:
    assert Referrer("search", "google", "x").fields() == {
        "referrer_medium": "search", "referrer_source": "google", "referrer_term": "x"}
    assert Referrer("direct", None, None).fields() == {"referrer_medium": "direct"}


# --- spam ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("referrer", "spam"), [
    ("http://semalt.com/", True),
    ("https://www.semalt.com/crawler", True),
    ("http://semalt.semalt.com/", True),  # subdomains of a listed host
    ("http://darodar.com/?x", True),
    ("http://qiwi.xyz/", True),  # listed as QIWI.xyz
    ("http://prizesk.com/", True),  # listed with a trailing space
    ("http://xn--c1acygb.xn--p1ai/", True),  # listed in punycode...
    ("https://www.google.com/", False),
    ("https://notsemalt.com/", False),  # a suffix match is on whole labels
    ("https://semalt.com.example.org/", False),
    (None, False),
    ("", False),
    ("garbage", False),
    ("http://[::1", False),
])
def test_spam(classifier: ReferrerClassifier, referrer: str | None, spam: bool) -> None:
    assert classifier.is_spam(referrer) is spam


def test_spam_matches_an_idn_in_unicode(classifier: ReferrerClassifier) -> None:
    # ...so the same host in Unicode, as a browser may report it, matches too
    unicode_host = "xn--c1acygb.xn--p1ai".encode("ascii").decode("idna")
    assert classifier.is_spam(f"http://{unicode_host}/")


def test_a_spam_referrer_is_still_classified(classifier: ReferrerClassifier) -> None:
    assert classifier.classify("http://semalt.com/", PAGE) == Referrer(
        "referral", "semalt.com", None)


# --- data ----------------------------------------------------------------------------------


def test_vendored_data_records_its_provenance() -> None:
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    sources = [json.loads((DATA_DIR / name).read_text(encoding="utf-8"))["source"]
               for name in ("search_engines.json", "socials.json")]
    sources.append(json.loads((DATA_DIR / "spammers.source.json").read_text(encoding="utf-8")))
    for source in sources:
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
        assert source["commit"] in readme, f"README does not name {source['path']}'s commit"
        assert source["retrieved"] in readme
        assert "public domain" in source["license"].lower()
    assert (DATA_DIR / "LICENSE.md").is_file()


def _write_data(folder: Path, *, engines: object, socials: object, local: object,
                spam: str = "spam.example\n") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "search_engines.json").write_text(json.dumps({"source": {}, "data": engines}))
    (folder / "socials.json").write_text(json.dumps({"source": {}, "data": socials}))
    (folder / "local.json").write_text(json.dumps(local))
    (folder / "spammers.txt").write_text(spam)


def test_a_data_dir_of_ones_own(tmp_path: Path) -> None:
    _write_data(tmp_path, engines={"Finder": [
        {"urls": ["find.example", "find.{}", "find.example/images"],
         "params": ["k", "/\\/s\\/([^\\/]+)/", "/(unclosed/"]}]},
        socials={"Chat": ["chat.example"]}, local={"email": {"Post": ["post.example"]}})
    c = ReferrerClassifier(tmp_path, cache_size=0)
    assert c.unusable_patterns == ["/(unclosed/"]
    assert c.classify("https://find.example/?k=a", PAGE) == Referrer("search", "finder", "a")
    assert c.classify("https://find.de/s/b", PAGE) == Referrer("search", "finder", "b")
    assert c.classify("https://find.example/", PAGE) == Referrer("referral", "find.example", None)
    assert c.classify("https://m.chat.example/", PAGE) == Referrer("social", "chat", None)
    assert c.classify("https://post.example/", PAGE) == Referrer("email", "post", None)
    assert c.is_spam("http://a.spam.example/")


@pytest.mark.parametrize("broken", ["missing", "not json", "a list", "wrong shape"])
def test_broken_data_fails_at_start_up(tmp_path: Path, broken: str) -> None:
    _write_data(tmp_path, engines={}, socials={}, local={})
    target = tmp_path / "search_engines.json"
    if broken == "missing":
        target.unlink()
    elif broken == "not json":
        target.write_text("{")
    elif broken == "a list":
        target.write_text("[]")
    else:
        target.write_text(json.dumps({"source": {}, "data": ["Google"]}))
    with pytest.raises(ReferrerDataError):
        ReferrerClassifier(tmp_path)


# --- properties ----------------------------------------------------------------------------

_hosts = st.sampled_from([
    "www.google.com", "google.co.uk", "cn.bing.com", "duckduckgo.com", "yandex.ru",
    "www.baidu.com", "m.facebook.com", "t.co", "mail.google.com", "www.example.com",
    "example.com", "semalt.com", "пример.рф", "[::1]", "a..b", "", "xn--", "-.-",
])
_urls = st.builds(
    lambda scheme, host, path, query: f"{scheme}{host}{path}{query}",
    st.sampled_from(["https://", "http://", "android-app://", "//", "", "ftp://", "HTTPS://"]),
    _hosts | st.text(max_size=30),
    st.sampled_from(["", "/", "/search", "/s", "/link", "/url", "/imgres"]) | st.text(max_size=30),
    st.sampled_from(["", "?q=", "?q=a+b", "?wd=%E4", "?text=%ZZ", "?p=%00", "?q=%C3%28&q=x"])
    | st.text(max_size=40).map(lambda s: "?" + s),
)


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(referrer=st.none() | st.text() | _urls,
       page=st.none() | st.text(max_size=40) | _hosts,
       medium=st.none() | st.text(max_size=20) | st.sampled_from(["cpc", "email", "social"]),
       paid=st.booleans())
@example(referrer="http://[", page="[", medium=None, paid=False)
@example(referrer="https://www.google.com/search?q=%ff%fe", page=None, medium=None, paid=False)
def test_classify_never_raises_and_cache_agrees(classifier: ReferrerClassifier,
                                                referrer: str | None, page: str | None,
                                                medium: str | None, paid: bool) -> None:
    got = classifier.classify(referrer, page, campaign_medium=medium, paid_click=paid)
    assert got.medium in MEDIUMS
    assert got == classifier.classify_uncached(referrer, page, campaign_medium=medium,
                                               paid_click=paid)
    if got.medium in ("direct", "internal"):
        assert got.source is None
        assert got.term is None
    if got.term is not None:
        assert got.medium in ("search", "paid", "email", "social")
        assert 0 < len(got.term) <= 500
        assert got.term == got.term.strip()
    assert classifier.is_spam(referrer) is classifier.is_spam_uncached(referrer)
