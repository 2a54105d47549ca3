"""Run the guard on the crawler list (collector/crawlerguard.py) over this corpus: print what
it changes in collector/data/crawler_guard.json, and with ``--write`` write it.

    .venv/bin/python -m tests.data.useragents.guard [--write]
"""

from __future__ import annotations

import argparse
import json
import sys

from collector import crawlerguard
from tests.data.useragents import corpus


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the guard file")
    args = parser.parse_args(argv)
    path = crawlerguard.guard_path()
    old = crawlerguard.read_guard_file(path) if path.exists() else {}
    new, problems = crawlerguard.make(crawlerguard.list_entries(), old.get("narrowed", []),
                                      corpus.human_agents())
    for line in crawlerguard.changes(old, new) or ["no change"]:
        print(line)
    for line in problems:
        print("PROBLEM:", line, file=sys.stderr)
    if args.write:
        path.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n", "utf-8")
        print(f"wrote {path}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
