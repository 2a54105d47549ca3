"""collector.device: categories against an independently labelled corpus, client hints, and
that no agent or header value makes detection raise.

The corpus (``tests/data/useragents``, vendored with its licence) is labelled by Matomo's device-detector,
a different library: we must agree on at least 90 % of every group, and every disagreement is
listed with its reason in ``fixtures/useragent_disagreements.json``. The list is kept exact:
an unlisted disagreement fails, and so does a listed one that now agrees.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from collector.bots import BotDetector, with_bot_category
from collector.device import CATEGORIES, UNKNOWN, ClientHints, Device, DeviceDetector
from tests.support import TESTDATA

CORPUS = TESTDATA / "useragents" / "device-detector-sample.csv"
DISAGREEMENTS = Path(__file__).parent / "fixtures" / "useragent_disagreements.json"
GROUPS = {"desktop": "desktop", "smartphone": "mobile", "tablet": "tablet", "tv": "tv",
          "console": "console", "wearable": "wearable", "bot": "bot"}

REDUCED_ANDROID = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/124.0.0.0 Mobile Safari/537.36")
WINDOWS_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0.0.0 Safari/537.36")


@pytest.fixture(scope="module")
def detector() -> DeviceDetector:
    return DeviceDetector()


@pytest.fixture(scope="module")
def bots() -> BotDetector:
    return BotDetector()


# --- the labelled corpus ----------------------------------------------------------------------


@dataclass(frozen=True)
class Labelled:
    user_agent: str
    theirs: str  # device-detector's group, in our names
    ours: str


@pytest.fixture(scope="module")
def labelled(detector: DeviceDetector, bots: BotDetector) -> list[Labelled]:
    with CORPUS.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 265, "the corpus changed: review the thresholds and the disagreements"
    out = []
    for row in rows:
        ua = row["user_agent"]
        device = with_bot_category(detector.detect(ua), bots.check(ua))
        out.append(Labelled(ua, GROUPS[row["device_type"]], device.category))
    return out


@pytest.mark.parametrize("group", sorted(set(GROUPS.values())))
def test_corpus_agreement_per_group(labelled: list[Labelled], group: str) -> None:
    rows = [r for r in labelled if r.theirs == group]
    agree = sum(r.ours == r.theirs for r in rows)
    assert rows
    # bots: precision over recall (a weak signal the browser corpus refutes is not used)
    least = 0.85 if group == "bot" else 0.90
    assert agree / len(rows) >= least, f"{group}: {agree}/{len(rows)}"


def test_every_disagreement_is_listed_with_its_reason(labelled: list[Labelled]) -> None:
    listed = json.loads(DISAGREEMENTS.read_text(encoding="utf-8"))["disagreements"]
    assert all(entry["why"].strip() for entry in listed)
    expected = {e["user_agent"]: (e["theirs"], e["ours"]) for e in listed}
    assert len(expected) == len(listed), "an agent is listed twice"
    actual = {r.user_agent: (r.theirs, r.ours) for r in labelled if r.ours != r.theirs}
    unlisted = {ua: v for ua, v in actual.items() if ua not in expected}
    now_agree = sorted(ua for ua in expected if ua not in actual)
    changed = {ua: (expected[ua], v) for ua, v in actual.items() if ua in expected and expected[ua] != v}
    assert not unlisted, f"disagreements missing from {DISAGREEMENTS.name}: {unlisted}"
    assert not now_agree, f"listed but now agreeing, remove them: {now_agree}"
    assert not changed, f"listed with another label (listed, now): {changed}"


def test_corpus_labels_are_known_categories(labelled: list[Labelled]) -> None:
    assert {r.ours for r in labelled} <= set(CATEGORIES)
    assert Counter(r.theirs for r in labelled)["bot"] == 60


# --- categories on representative agents ----------------------------------------------------

SAMPLES = [
    ("mobile", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"),
    ("mobile", REDUCED_ANDROID),
    ("mobile", "Mozilla/5.0 (Android 13; Mobile; rv:123.0) Gecko/123.0 Firefox/123.0"),
    ("mobile", "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0.0.0 Mobile Safari/537.36"),
    ("mobile", "Dalvik/2.1.0 (Linux; U; Android 12; SM-G991B Build/SP1A.210812.016)"),
    ("mobile", "Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i;Android; rv:48.0) "
               "Gecko/48.0 Firefox/48.0 KAIOS/2.5"),
    ("tablet", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Version/17.4 Mobile/15E148 Safari/604.1"),
    ("tablet", REDUCED_ANDROID.replace("Mobile Safari", "Safari")),
    ("tablet", "Mozilla/5.0 (Android 13; Tablet; rv:123.0) Gecko/123.0 Firefox/123.0"),
    ("tablet", "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36"),
    ("tablet", "Mozilla/5.0 (Linux; Android 11; Nokia T20) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0.0.0 Safari/537.36"),
    ("desktop", WINDOWS_CHROME),
    ("desktop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Version/17.4 Safari/605.1.15"),
    ("desktop", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"),
    ("desktop", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36"),
    ("tv", "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
           "76.0.3809.146/6.0 TV Safari/537.36"),
    ("tv", "Roku/DVP-12.0 (12.0.0.4182-88)"),
    ("tv", "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7633.3445N; wv) AppleWebKit/537.36 "
           "(KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36"),
    ("console", "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Version/13.0 Safari/605.1.15"),
    ("console", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox Series X) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Chrome/48.0.2564.82 Safari/537.36 Edge/20.02"),
    ("console", "Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/606.4 (KHTML, like Gecko) "
                "NF/6.0.1.15.4 NintendoBrowser/5.1.0.20393"),
    ("wearable", "Mozilla/5.0 (X11; Linux x86_64; Quest 3) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "OculusBrowser/31.0.0.0 SamsungBrowser/4.0 Chrome/120.0.0.0 VR Safari/537.36"),
]


@pytest.mark.parametrize(("category", "ua"), SAMPLES)
def test_category(detector: DeviceDetector, category: str, ua: str) -> None:
    assert detector.detect(ua).category == category


def test_fields_from_ua_parser(detector: DeviceDetector) -> None:
    ua = ("Mozilla/5.0 (Linux; Android 13; SM-A515F) AppleWebKit/537.36 (KHTML, like Gecko) "
          "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36")
    assert detector.detect(ua) == Device("mobile", "Samsung", "SM-A515F", "Samsung Internet", "24.0",
                                         "Android", "13")
    assert detector.detect(WINDOWS_CHROME) == Device("desktop", None, None, "Chrome", "124.0.0.0",
                                                     "Windows", "10")


def test_reduced_android_model_is_not_reported(detector: DeviceDetector) -> None:
    device = detector.detect(REDUCED_ANDROID)
    assert (device.brand, device.model) == (None, None)


def test_android_model_behind_a_locale_item(detector: DeviceDetector) -> None:
    ua = ("Mozilla/5.0 (Linux; U; Android 11; en-US; Retroid Pocket 3 Plus Build/RP1A.201005.001) "
          "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 UCBrowser/13.4.5.1308 "
          "Mobile Safari/537.36")
    device = detector.detect(ua)
    assert (device.category, device.model) == ("console", "Retroid Pocket 3 Plus")


@pytest.mark.parametrize("ua", ["", "   ", "abc", "-", "Mozilla/5.0", "\x00\x01", "\ud800 garbage"])
def test_empty_or_garbage_is_other_with_nothing_else(detector: DeviceDetector, ua: str) -> None:
    assert detector.detect(ua) == UNKNOWN == Device("other")
    hints = ClientHints(mobile=True, platform="Android", model="Pixel 8")
    assert detector.detect(ua, hints) == UNKNOWN


# --- client hints -----------------------------------------------------------------------------

ANDROID_HEADERS = {
    b"sec-ch-ua": b'"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
    b"sec-ch-ua-mobile": b"?1",
    b"sec-ch-ua-platform": b'"Android"',
    b"sec-ch-ua-platform-version": b'"14.0.0"',
    b"sec-ch-ua-model": b'"SM-S918B"',
    b"sec-ch-ua-full-version-list":
        b'"Chromium";v="124.0.6367.82", "Google Chrome";v="124.0.6367.82", "Not-A.Brand";v="99.0.0.0"',
}


def test_hints_parsed_from_headers() -> None:
    hints = ClientHints.from_headers(ANDROID_HEADERS)
    assert hints == ClientHints(
        brands=(("Chromium", "124"), ("Google Chrome", "124"), ("Not-A.Brand", "99")),
        full_version_list=(("Chromium", "124.0.6367.82"), ("Google Chrome", "124.0.6367.82"),
                           ("Not-A.Brand", "99.0.0.0")),
        mobile=True, platform="Android", platform_version="14.0.0", model="SM-S918B")


def test_no_hint_headers_no_hints() -> None:
    assert ClientHints.from_headers({b"user-agent": b"curl/8"}) is None
    assert ClientHints.from_headers({b"sec-ch-ua-model": b'""'}) is None  # a desktop's empty model


def test_structured_field_edge_cases() -> None:
    hints = ClientHints.from_headers({
        b"sec-ch-ua": b' "Not\\"A\\\\Brand" ; v = "8" ,"Opera";x=1;v="110" , garbage, "NoVersion"',
        b"sec-ch-ua-platform": b"Windows",  # unquoted: taken as it is
        b"sec-ch-ua-mobile": b"maybe",
    })
    assert hints is not None
    assert hints.brands == (('Not"A\\Brand', "8"), ("Opera", "110"), ("NoVersion", ""))
    assert (hints.platform, hints.mobile) == ("Windows", None)


def test_reduced_chrome_with_hints_gets_model_and_versions(detector: DeviceDetector) -> None:
    device = detector.detect(REDUCED_ANDROID, ClientHints.from_headers(ANDROID_HEADERS))
    assert device == Device("mobile", "Samsung", "SM-S918B", "Chrome Mobile", "124.0.6367.82",
                            "Android", "14")


def test_model_hint_categorises_the_real_device(detector: DeviceDetector) -> None:
    tablet_ua = REDUCED_ANDROID.replace("Mobile Safari", "Safari")
    hints = ClientHints(mobile=False, platform="Android", platform_version="13", model="SM-X200")
    device = detector.detect(tablet_ua, hints)
    assert (device.category, device.model, device.os_version) == ("tablet", "SM-X200", "13")
    tv = ClientHints(mobile=False, platform="Android", model="55U730GR")
    assert detector.detect(tablet_ua, tv).category == "tv"


@pytest.mark.parametrize(("platform_version", "windows"), [
    ("15.0.0", "11"), ("13.0.0", "11"), ("10.0.0", "10"), ("1.0.0", "10"),
    ("0.3.0", "8.1"), ("0.2.0", "8"), ("0.1.0", "7"), ("x", "10"),
])
def test_windows_version_from_platform_version(detector: DeviceDetector, platform_version: str,
                                               windows: str) -> None:
    hints = ClientHints.from_headers({b"sec-ch-ua-platform": b'"Windows"',
                                      b"sec-ch-ua-platform-version": f'"{platform_version}"'.encode()})
    device = detector.detect(WINDOWS_CHROME, hints)
    assert (device.os, device.os_version) == ("Windows", windows)


def test_grease_brands_are_ignored(detector: DeviceDetector) -> None:
    for grease in ("Not-A.Brand", "Not A(Brand", "Not)A;Brand", "Not_A Brand", " Not;A Brand", "Not/A)Brand"):
        only_grease = ClientHints(brands=((grease, "99"),))
        assert detector.detect(WINDOWS_CHROME, only_grease).browser == "Chrome"
        first = ClientHints(brands=((grease, "8"), ("Opera", "110"), ("Chromium", "124")))
        device = detector.detect(WINDOWS_CHROME, first)
        assert (device.browser, device.browser_version) == ("Opera", "110")


def test_brand_hint_names_a_chrome_identical_browser(detector: DeviceDetector) -> None:
    mac = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Safari/537.36")
    hints = ClientHints(full_version_list=(("Brave", "124.1.65.114"), ("Chromium", "124.0.6367.82"),
                                           ("Not-A.Brand", "99.0.0.0")),
                        platform="macOS", platform_version="14.4.1")
    device = detector.detect(mac, hints)
    assert (device.browser, device.browser_version) == ("Brave", "124.1.65.114")
    assert (device.os, device.os_version) == ("Mac OS X", "14.4.1")


def test_hints_refine_but_do_not_contradict(detector: DeviceDetector) -> None:
    iphone = SAMPLES[0][1]
    device = detector.detect(iphone, ClientHints(platform="Windows", platform_version="15.0.0",
                                                 brands=(("Microsoft Edge", "124"),)))
    assert (device.category, device.os, device.browser) == ("mobile", "iOS", "Mobile Safari")
    mobile_hint = detector.detect(WINDOWS_CHROME, ClientHints(mobile=True))
    assert mobile_hint.category == "mobile"  # what the browser says it is
    tablet = detector.detect(SAMPLES[6][1], ClientHints(mobile=True))
    assert tablet.category == "tablet"


def test_hints_from_gtag_params(detector: DeviceDetector) -> None:
    hints = ClientHints.from_gtag_params({
        "uafvl": "Chromium;124.0.6367.91|Google%20Chrome;124.0.6367.91|Not-A.Brand;99.0.0.0",
        "uamb": "1", "uap": "Android", "uapv": "13.0.0", "uam": "Pixel 7", "uaa": "", "uab": "",
    })
    assert hints is not None
    assert hints.full_version_list[1] == ("Google Chrome", "124.0.6367.91")
    assert hints.brands[1] == ("Google Chrome", "124")
    device = detector.detect(REDUCED_ANDROID, hints)
    assert device == Device("mobile", "Google", "Pixel 7", "Chrome Mobile", "124.0.6367.91", "Android", "13")
    assert ClientHints.from_gtag_params({"uamb": "", "tid": "G-1"}) is None


# --- robustness and the cache -----------------------------------------------------------------

header_values = st.binary(max_size=300) | st.sampled_from(list(ANDROID_HEADERS.values()))
hint_headers = st.dictionaries(st.sampled_from([*ANDROID_HEADERS, b"user-agent"]), header_values)
any_text = st.text(st.characters(exclude_categories=()), max_size=400)  # surrogates too


@given(ua=any_text | st.sampled_from([s[1] for s in SAMPLES]), headers=hint_headers,
       params=st.dictionaries(st.sampled_from(["uafvl", "uamb", "uap", "uapv", "uam"]), any_text))
@example(ua="\ud800", headers={b"sec-ch-ua-model": b'"\xff\xfe"'}, params={"uam": "\udfff"})
@example(ua=REDUCED_ANDROID, headers={b"sec-ch-ua-model": b'"\\\\1 $1 \\g<0>"'}, params={})
@example(ua="Mozilla/5.0 (Linux; Android 10; K)" * 100, headers={}, params={"uam": "x" * 10_000})
@hsettings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_never_raises(detector: DeviceDetector, bots: BotDetector, ua: str,
                      headers: dict[bytes, bytes], params: dict[str, str]) -> None:
    for hints in (ClientHints.from_headers(headers), ClientHints.from_gtag_params(params), None):
        device = detector.detect(ua, hints)
        assert device.category in CATEGORIES
        assert device == detector.detect(ua, hints)  # deterministic, cached or not
        verdict = bots.check(ua, hints)
        assert verdict.is_bot == (verdict.reason is not None)


def test_cache_is_a_bounded_lru() -> None:
    detector = DeviceDetector(cache_size=8)
    agents = [WINDOWS_CHROME.replace("124.0.0.0", f"124.0.{i}.0") for i in range(20)]
    for ua in agents:
        detector.detect(ua)
    assert detector.cache_info() == (0, 20)
    detector.detect(agents[-1])  # recent: still there
    assert detector.cache_info() == (1, 20)
    detector.detect(agents[0])  # least recently used: evicted long ago
    assert detector.cache_info() == (1, 21)
    hints = ClientHints(platform="Windows", platform_version="15.0.0")
    detector.detect(agents[-1], hints)  # the hints are part of the key
    assert detector.cache_info() == (1, 22)


def test_cache_size_zero_caches_nothing() -> None:
    detector = DeviceDetector(cache_size=0)
    detector.detect(WINDOWS_CHROME)
    detector.detect(WINDOWS_CHROME)
    assert detector.cache_info() == (0, 2)
    with pytest.raises(ValueError, match="cache_size"):
        DeviceDetector(cache_size=-1)


def test_long_agents_are_cut_before_the_cache() -> None:
    detector = DeviceDetector()
    long = WINDOWS_CHROME + " x" * 5000
    assert detector.detect(long) == detector.detect(long + " different tail")
    assert detector.cache_info() == (1, 1)


def test_benchmark_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/enrich_device.py end to end on small numbers (it prints; nothing is timed here)."""
    from bench import enrich_device

    assert enrich_device.main(["--distinct", "100", "--draws", "2000", "--stream-distinct", "300",
                               "--cache", "100", "--legacy", "3", "--steps", "20",
                               "--flush-mb", "1"]) == 0
    out = capsys.readouterr().out
    for line in ("machine:", "uncached, steady state", "cache hit", "BotDetector.check",
                 "DeviceDetector miss rate", "each step alone, 10 new agents each",
                 "ua-parser: device", "Android model (re)", "all six",
                 "ua-parser 1.x BasicResolver"):
        assert line in out
