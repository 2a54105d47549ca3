"""Refresh the vendored referrer data from downloaded upstream files.

Maintainer tool, not part of the collector at run time. It converts Matomo's YAML lists
into the JSON that :mod:`collector.referrer` reads (so PyYAML is needed here only, never
at run time), copies the spam list verbatim, and records where each file came from::

    pip install pyyaml        # once; not a runtime dependency of lambdalytics
    python collector/data/refresh.py \\
        --search-engines SearchEngines.yml --socials Socials.yml \\
        --lists-commit <sha of matomo-org/searchengine-and-social-list> \\
        --spammers spammers.txt --spam-commit <sha of matomo-org/referrer-spam-list>

Any argument pair may be left out to refresh only the other source. The structure of the
YAML is kept as it is (names → configurations → urls, params, hiddenkeyword, charsets,
backlink); the JSON adds a ``source`` block. Afterwards update the table in README.md and
run ``pytest tests/collector/test_referrer.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LISTS_REPO = "matomo-org/searchengine-and-social-list"
LISTS_LICENSE = "public domain: Unlicense (composer.json), CC0-1.0 (package.json)"
SPAM_REPO = "matomo-org/referrer-spam-list"
SPAM_LICENSE = "public domain (README: 'Public Domain (no copyright)')"


def _yaml_load(path: Path) -> Any:
    yaml = importlib.import_module("yaml")  # maintainer-only dependency, imported lazily
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _check_engines(data: Any) -> list[str]:
    problems: list[str] = []
    if not isinstance(data, dict):
        return ["search engines: top level is not a mapping"]
    for name, configs in data.items():
        if not isinstance(configs, list):
            problems.append(f"{name}: not a list of configurations")
            continue
        for config in configs:
            if not isinstance(config, dict) or not isinstance(config.get("urls"), list):
                problems.append(f"{name}: a configuration without urls")
                continue
            for value in [*(config.get("params") or []), *(config.get("hiddenkeyword") or [])]:
                text = str(value)
                if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
                    try:
                        re.compile(text[1:-1])
                    except re.error as exc:
                        problems.append(f"{name}: pattern {text!r} does not compile: {exc}")
    return problems


def _check_socials(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["socials: top level is not a mapping"]
    return [f"{name}: not a list of hosts" for name, hosts in data.items()
            if not isinstance(hosts, list)]


def _write_json(path: Path, source: dict[str, str], data: Any) -> None:
    text = json.dumps({"source": source, "data": data}, ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search-engines", type=Path, help="downloaded SearchEngines.yml")
    parser.add_argument("--socials", type=Path, help="downloaded Socials.yml")
    parser.add_argument("--lists-commit", help=f"commit of {LISTS_REPO} the files are from")
    parser.add_argument("--spammers", type=Path, help="downloaded spammers.txt")
    parser.add_argument("--spam-commit", help=f"commit of {SPAM_REPO} the file is from")
    parser.add_argument("--retrieved", default=dt.datetime.now(dt.UTC).date().isoformat(),
                        help="retrieval date (default: today, UTC)")
    parser.add_argument("--out", type=Path, default=HERE, help="data directory to write")
    args = parser.parse_args(argv)

    problems: list[str] = []
    if (args.search_engines or args.socials) and not args.lists_commit:
        parser.error("--lists-commit is required with --search-engines / --socials")
    if args.spammers and not args.spam_commit:
        parser.error("--spam-commit is required with --spammers")

    if args.search_engines:
        engines = _yaml_load(args.search_engines)
        problems += _check_engines(engines)
        _write_json(args.out / "search_engines.json", {
            "repository": LISTS_REPO, "path": "SearchEngines.yml", "commit": args.lists_commit,
            "retrieved": args.retrieved, "license": LISTS_LICENSE}, engines)
        print(f"search_engines.json: {len(engines)} engines")
    if args.socials:
        socials = _yaml_load(args.socials)
        problems += _check_socials(socials)
        _write_json(args.out / "socials.json", {
            "repository": LISTS_REPO, "path": "Socials.yml", "commit": args.lists_commit,
            "retrieved": args.retrieved, "license": LISTS_LICENSE}, socials)
        print(f"socials.json: {len(socials)} networks")
    if args.spammers:
        raw = args.spammers.read_bytes()
        raw.decode("utf-8")  # refuse a file that is not UTF-8 text
        (args.out / "spammers.txt").write_bytes(raw)
        (args.out / "spammers.source.json").write_text(json.dumps({
            "repository": SPAM_REPO, "path": "spammers.txt", "commit": args.spam_commit,
            "retrieved": args.retrieved, "license": SPAM_LICENSE}, indent=1) + "\n",
            encoding="utf-8")
        count = sum(1 for line in raw.decode("utf-8").splitlines() if line.strip())
        print(f"spammers.txt: {count} hosts")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
