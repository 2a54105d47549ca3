"""Micro-benchmark of the traffic-source enrichment: µs per referrer classification
(uncached and cached), per spam check and per campaign-field extraction.

What it measures, on a deterministic, realistic mix of hits (``--seed``):

1. loading the vendored data (:class:`collector.referrer.ReferrerClassifier`), in ms;
2. :meth:`ReferrerClassifier.classify_uncached` over the whole mix, then per kind of
   referrer: direct, internal (same site, varied paths), search (Google origin-only, Bing,
   DuckDuckGo, Yandex and Baidu with terms in UTF-8 and GB2312), social (Facebook's l.php
   with a long ``u``, t.co, LinkedIn, Reddit), webmail, referral (thousands of blog hosts)
   and garbage;
3. :meth:`ReferrerClassifier.classify` with every referrer already cached (cache hits), and
   a stream drawn with Zipf-like weights through a fresh cache of ``--cache`` entries
   (µs per call and miss rate: internal and referral URLs repeat far less than
   "https://www.google.com/");
4. :meth:`ReferrerClassifier.is_spam`, uncached and cached;
5. :func:`collector.campaign.campaign_fields` on page URLs (70 % untagged, 20 % utm-tagged,
   10 % with a click id) and :func:`collector.campaign.is_paid_click`.

Times are per call with the timing loop's own cost subtracted, best of a few repeats.
Nothing is asserted: it prints the figures and the machine they came from.

    python bench/enrich_referrer.py
    python bench/enrich_referrer.py --hits 50000 --cache 2048 --seed 7
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `collector` importable
    sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402
from collector.campaign import campaign_fields, is_paid_click  # noqa: E402
from collector.referrer import ReferrerClassifier  # noqa: E402

T = TypeVar("T")
SITE = "www.shop.example"
WORDS = ("running", "shoes", "trail", "waterproof", "jacket", "men", "women", "sale", "size",
         "review", "best", "cheap", "near me", "2026", "café", "niño", "größe", "туфли")
CN_WORDS = ("你好", "跑鞋", "天气", "价格")


def machine() -> list[str]:
    cpu = cpu_model()
    return [f"machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
            f"python:  {platform.python_implementation()} {platform.python_version()}"]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def referrers(rng: random.Random, count: int, blogs: Sequence[str]) -> dict[str, list[str | None]]:
    """``count`` referrers per kind; the mix's weights are applied by :func:`mix`."""
    def path() -> str:
        parts = ("p", "c", "shoes", "men", "sale", str(rng.randrange(9999)))
        return "/" + "/".join(rng.choice(parts) for _ in range(rng.randrange(1, 4)))

    def search() -> str:
        pick = rng.randrange(6)
        if pick == 0:  # Google sends its origin only
            return rng.choice(("https://www.google.com/", "https://www.google.co.uk/",
                               "https://www.google.de/", "https://www.google.com.au/"))
        if pick == 1:
            return f"https://www.bing.com/search?q={quote(_words(rng, 3))}&form=QBLH"
        if pick == 2:
            return "https://duckduckgo.com/"
        if pick == 3:
            return f"https://yandex.ru/search/?text={quote(_words(rng, 2))}&lr=213"
        if pick == 4:
            return f"https://www.baidu.com/s?wd={quote(rng.choice(CN_WORDS))}&ie=utf-8"
        return f"https://www.baidu.com/s?wd={quote(rng.choice(CN_WORDS).encode('gb2312'))}"

    def social() -> str:
        pick = rng.randrange(4)
        if pick == 0:
            return ("https://l.facebook.com/l.php?u=" + quote(f"https://{SITE}{path()}", safe="")
                    + f"&h=AT{rng.getrandbits(128):032x}")
        if pick == 1:
            return f"https://t.co/{rng.getrandbits(40):010x}"
        if pick == 2:
            return "https://www.linkedin.com/"
        return f"https://www.reddit.com/r/running/comments/{rng.getrandbits(24):x}/"

    def direct() -> None:
        return None

    def internal() -> str:
        return f"https://{SITE}{path()}?ref={rng.randrange(100)}"

    def webmail() -> str:
        return rng.choice(("https://mail.google.com/", "https://outlook.live.com/",
                           "android-app://com.google.android.gm/"))

    def referral() -> str:
        return f"https://{rng.choice(blogs)}{path()}"

    def garbage() -> str:
        return rng.choice(("not a url", "http://[::1", "about:blank", "https://exa mple.com/",
                           f"x{rng.random()}"))

    gen: dict[str, Callable[[], str | None]] = {
        "direct": direct, "internal": internal, "search": search, "social": social,
        "webmail": webmail, "referral": referral, "garbage": garbage,
    }
    return {kind: [make() for _ in range(count)] for kind, make in gen.items()}


WEIGHTS = {"direct": 25, "internal": 30, "search": 22, "social": 10, "webmail": 2,
           "referral": 10, "garbage": 1}


def mix(rng: random.Random, by_kind: dict[str, list[str | None]], n: int) -> list[str | None]:
    kinds = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=n)
    return [rng.choice(by_kind[k]) for k in kinds]


def page_urls(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        base = f"https://{SITE}/{rng.choice(('', 'shoes', 'sale', 'p/123', 'c/men/trail'))}"
        roll = rng.random()
        if roll < 0.7:
            out.append(base + rng.choice(("", "?page=2", "?color=red&size=42")))
        elif roll < 0.9:
            out.append(base + f"?utm_source={rng.choice(('newsletter', 'google', 'facebook'))}"
                       f"&utm_medium={rng.choice(('email', 'cpc', 'social'))}"
                       f"&utm_campaign=spring_{rng.randrange(50)}&utm_content=hero"
                       + ("&utm_term=" + quote(_words(rng, 2)) if rng.random() < 0.3 else ""))
        else:
            key = rng.choice(("gclid", "gclid", "msclkid", "fbclid", "wbraid"))
            out.append(base + f"?{key}=Cj0KCQiA{rng.getrandbits(256):064x}")
    return out


def per_call_us(fn: Callable[[T], object], items: Sequence[T], repeats: int = 5) -> float:
    """Best-of-``repeats`` µs per ``fn(item)``, less the cost of the same loop calling nothing."""
    def run(f: Callable[[T], object]) -> float:
        started = time.perf_counter_ns()
        for item in items:
            f(item)
        return (time.perf_counter_ns() - started) / len(items) / 1000

    def nothing(_: T) -> None:
        return None

    base = min(run(nothing) for _ in range(repeats))
    return min(run(fn) for _ in range(repeats)) - base


def zipf_stream(rng: random.Random, pool: Sequence[str | None], n: int, s: float) -> list[str | None]:
    weights = [1.0 / (rank + 1) ** s for rank in range(len(pool))]
    return rng.choices(pool, weights=weights, k=n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=20_000, help="hits in the mix")
    parser.add_argument("--cache", type=int, default=8192, help="classifier cache entries")
    parser.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of the stream")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    for line in machine():
        print(line)
    started = time.perf_counter()
    classifier = ReferrerClassifier(cache_size=args.cache)
    print(f"load:    {(time.perf_counter() - started) * 1000:.1f} ms "
          "(vendored data read and indexed once per process)")

    blogs = [f"{rng.choice(('www.', '', 'blog.'))}site{i}.{rng.choice(('com', 'net', 'io', 'co.uk'))}"
             for i in range(5000)]
    by_kind = referrers(rng, max(args.hits // 4, 1000), blogs)
    hits = mix(rng, by_kind, args.hits)
    print(f"mix:     {args.hits} hits; weights %: "
          + ", ".join(f"{k} {w}" for k, w in WEIGHTS.items()))

    def uncached(ref: str | None) -> object:
        return classifier.classify_uncached(ref, SITE)

    def cached(ref: str | None) -> object:
        return classifier.classify(ref, SITE)

    print("\nclassify, uncached (µs per call)")
    print(f"  whole mix          {per_call_us(uncached, hits):7.2f}")
    for kind, refs in by_kind.items():
        print(f"  {kind:<18} {per_call_us(uncached, refs[:4000]):7.2f}")

    distinct = list(dict.fromkeys(hits))
    for ref in distinct:
        cached(ref)
    print("\nclassify, cached")
    print(f"  all hits in cache  {per_call_us(cached, hits):7.2f} µs per call "
          f"({len(distinct)} distinct referrers)")
    pool = list(dict.fromkeys(r for refs in by_kind.values() for r in refs))
    rng.shuffle(pool)
    stream = zipf_stream(rng, pool, args.hits * 5, args.zipf)
    fresh = ReferrerClassifier(cache_size=args.cache)
    t0 = time.perf_counter_ns()
    for ref in stream:
        fresh.classify(ref, SITE)
    per = (time.perf_counter_ns() - t0) / len(stream) / 1000
    info = fresh.cache_info()
    misses = info.misses / max(info.hits + info.misses, 1)
    print(f"  Zipf stream        {per:7.2f} µs per call over {len(stream)} calls, "
          f"{len(pool)} distinct, s={args.zipf}, cache {args.cache}: miss rate {misses:.1%}")

    referrers_only = [r for r in hits if r is not None]
    print("\nis_spam (µs per call)")
    print(f"  uncached           {per_call_us(classifier.is_spam_uncached, referrers_only):7.2f}")
    for ref in referrers_only:
        classifier.is_spam(ref)
    print(f"  cached             {per_call_us(classifier.is_spam, referrers_only):7.2f}")

    urls = page_urls(rng, args.hits)
    print("\ncampaign_fields (µs per call)")
    print(f"  page URL mix       {per_call_us(lambda u: campaign_fields(u, {}), urls):7.2f}")
    tagged = [u for u in urls if "utm_" in u]
    print(f"  utm-tagged only    {per_call_us(lambda u: campaign_fields(u, {}), tagged):7.2f}")
    explicit = {"campaign_source": "newsletter", "campaign_medium": "email", "gclid": "abc"}
    print(f"  with explicit cs/cm {per_call_us(lambda u: campaign_fields(u, explicit), urls):6.2f}")
    fields = [campaign_fields(u, {}) for u in urls]
    print(f"  is_paid_click      {per_call_us(is_paid_click, fields):7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
