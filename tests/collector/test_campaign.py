from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from collector import ua
from collector.campaign import (
    CLICK_ID_MAX,
    CLICK_IDS,
    LIMITS,
    PAID_CLICK_IDS,
    campaign_fields,
    is_paid_click,
)

URL = "https://www.example.com/landing"


def test_all_tags_and_click_ids_from_the_url() -> None:
    got = campaign_fields(
        f"{URL}?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"
        "&utm_term=running+shoes&utm_content=banner%2Dtop&utm_id=c-42"
        "&gclid=Cj0KCQiA&dclid=CKr2&gbraid=0AAAA&wbraid=CkoK&fbclid=IwAR0&msclkid=9f8e7d", {})
    assert got == {
        "campaign_source": "newsletter", "campaign_medium": "email",
        "campaign_name": "spring_sale", "campaign_term": "running shoes",
        "campaign_content": "banner-top", "campaign_id": "c-42",
        "gclid": "Cj0KCQiA", "dclid": "CKr2", "gbraid": "0AAAA", "wbraid": "CkoK",
        "fbclid": "IwAR0", "msclkid": "9f8e7d",
    }


def test_explicit_fields_win_field_by_field() -> None:
    explicit = {"campaign_source": "partner", "gclid": "explicit-gclid", "dclid": "explicit-dclid"}
    got = campaign_fields(
        f"{URL}?utm_source=url-source&utm_medium=cpc&gclid=url-gclid&dclid=url-dclid&wbraid=w",
        explicit)
    assert got == {"campaign_source": "partner", "campaign_medium": "cpc",
                   "gclid": "explicit-gclid", "dclid": "explicit-dclid", "wbraid": "w"}


@pytest.mark.parametrize("blank", [None, "", "   ", 5, b"bytes", ["x"]])
def test_a_blank_or_non_text_explicit_value_does_not_count(blank: object) -> None:
    got = campaign_fields(f"{URL}?utm_source=url&gclid=g", {"campaign_source": blank,
                                                            "gclid": blank})
    assert got == {"campaign_source": "url", "gclid": "g"}


def test_explicit_values_only() -> None:
    assert campaign_fields(None, {"campaign_name": " Black Friday ", "page_title": "x"}) == {
        "campaign_name": "Black Friday"}


def test_with_the_ua_parser() -> None:
    # cs/cm on the hit beat utm_ in dl; the URL's other tags still count
    parsed = ua.parse([
        ("v", "1"), ("tid", "UA-12345-1"), ("cid", "555"), ("t", "pageview"),
        ("dl", f"{URL}?utm_source=google&utm_medium=cpc&utm_campaign=brand&gclid=abc"),
        ("cs", "newsletter"), ("cm", "email"),
    ])
    assert parsed.valid
    got = campaign_fields(parsed.fields.get("page_location"), parsed.fields)
    assert got == {"campaign_source": "newsletter", "campaign_medium": "email",
                   "campaign_name": "brand", "gclid": "abc"}
    assert is_paid_click(got)


@pytest.mark.parametrize(("query", "expected"), [
    ("utm_source=a%20b", "a b"),
    ("utm_source=a+b", "a b"),
    ("utm_source=%20%20padded%20", "padded"),
    ("utm_source=first&utm_source=second", "first"),  # the first value of a repeated key
    ("utm_source=&utm_source=second", "second"),  # ...that is not empty
    ("utm_source=caf%C3%A9", "café"),
    ("utm_source=bad%ZZ", "bad%ZZ"),  # invalid escapes stay as sent
    ("utm_source=%C3%28", "\ufffd("),  # invalid UTF-8 is replaced
    ("x=1&&utm_source=s&=&utm_source", "s"),
])
def test_url_value_decoding(query: str, expected: str) -> None:
    assert campaign_fields(f"{URL}?{query}", {}) == {"campaign_source": expected}


@pytest.mark.parametrize("location", [
    f"{URL}#utm_source=fragment",  # GA reads the fragment only with allowAnchor
    f"{URL}?UTM_SOURCE=upper",  # keys are exact, as GA's
    f"{URL}?utm_sourcex=a&xutm_source=b",
    f"{URL}?utm_source=",
    f"{URL}?utm_source=%20",
    URL,
    "",
    None,
])
def test_nothing_to_take(location: str | None) -> None:
    assert campaign_fields(location, {}) == {}


@pytest.mark.parametrize("location", [
    "http://[::1?utm_source=s",  # urlsplit refuses it; the query is still read
    "?utm_source=s",
    "utm_source=nothing?utm_source=s",
    "http://ex.com/?utm_source=s#?utm_source=fragment",
])
def test_odd_urls(location: str) -> None:
    assert campaign_fields(location, {}) == {"campaign_source": "s"}


@pytest.mark.parametrize(("field", "tag"), [
    ("campaign_source", "utm_source"), ("campaign_medium", "utm_medium"),
    ("campaign_name", "utm_campaign"), ("campaign_term", "utm_term"),
    ("campaign_content", "utm_content"), ("campaign_id", "utm_id"),
])
def test_caps_like_ga(field: str, tag: str) -> None:
    limit = LIMITS[field]
    assert limit == {"campaign_source": 100, "campaign_medium": 50, "campaign_name": 100,
                     "campaign_term": 500, "campaign_content": 500, "campaign_id": 100}[field]
    assert campaign_fields(f"{URL}?{tag}={'x' * (limit + 7)}", {})[field] == "x" * limit
    assert campaign_fields(f"{URL}?{tag}={'x' * limit}", {})[field] == "x" * limit
    # bytes, cut on a character boundary: é is two bytes in UTF-8, 😀 four
    assert campaign_fields(f"{URL}?{tag}={'é' * limit}", {})[field] == "é" * (limit // 2)
    assert campaign_fields(None, {field: "a" + "😀" * limit})[field] == "a" + "😀" * (
        (limit - 1) // 4)


def test_a_cut_value_loses_trailing_space() -> None:
    value = "x" * 49 + " y"
    assert campaign_fields(None, {"campaign_medium": value}) == {"campaign_medium": "x" * 49}


@pytest.mark.parametrize("bad", ["x" * (CLICK_ID_MAX + 1), "has%20space", "t%09ab", "n%00ul"])
def test_bad_url_click_ids_are_ignored_not_cut(bad: str) -> None:
    assert campaign_fields(f"{URL}?gclid={bad}&msclkid=ok", {}) == {"msclkid": "ok"}


def test_explicit_click_ids_pass_through() -> None:
    long_id = "g" * (CLICK_ID_MAX + 50)
    assert campaign_fields(None, {"gclid": f" {long_id} "}) == {"gclid": long_id}


def test_a_very_long_query_is_bounded() -> None:
    noise = "&".join(f"k{i}=v" for i in range(20_000))
    assert campaign_fields(f"{URL}?{noise}&utm_source=late", {}) == {}
    assert campaign_fields(f"{URL}?utm_source=early&{noise}", {}) == {"campaign_source": "early"}


@pytest.mark.parametrize("name", PAID_CLICK_IDS)
def test_paid_click_ids(name: str) -> None:
    assert is_paid_click({name: "id"})


@pytest.mark.parametrize("fields", [
    {}, {"fbclid": "IwAR0"}, {"gclid": ""}, {"gclid": "  "}, {"gclid": None}, {"msclkid": 1},
    {"campaign_medium": "cpc"},  # a paid medium is the classifier's business, not a click id
])
def test_not_paid_clicks(fields: dict[str, Any]) -> None:
    assert not is_paid_click(fields)


_fields = st.sampled_from([*LIMITS, *CLICK_IDS, "page_title"])
_values = st.none() | st.text(max_size=600) | st.integers() | st.binary(max_size=10)
_locations = st.none() | st.text() | st.builds(
    lambda q: f"{URL}?{q}",
    st.lists(st.tuples(st.sampled_from(["utm_source", "utm_medium", "utm_term", "gclid",
                                        "fbclid", "utm_id", "x", ""]),
                       st.text(max_size=700)), max_size=8)
    .map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)))


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(location=_locations, explicit=st.dictionaries(_fields, _values, max_size=6))
@example(location="http://[?utm_source=%", explicit={})
@example(location="?utm_source=\udcff", explicit={"campaign_source": "\udcff"})
def test_never_raises_and_keeps_its_promises(location: str | None,
                                             explicit: dict[str, Any]) -> None:
    got = campaign_fields(location, explicit)
    assert set(got) <= {*LIMITS, *CLICK_IDS}
    for field, value in got.items():
        assert value
        assert value == value.strip()
        if field in LIMITS:
            assert len(value.encode("utf-8", "surrogatepass")) <= LIMITS[field]
        given_value = explicit.get(field)
        if isinstance(given_value, str) and given_value.strip():
            assert value.startswith(given_value.strip()[:1])  # the explicit value won
    assert isinstance(is_paid_click(got), bool)
