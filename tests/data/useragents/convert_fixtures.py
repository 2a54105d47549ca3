"""How device-detector-fixtures.csv.gz was made (run again only to move to a new release).

The source is Matomo device-detector's own test fixtures (``Tests/fixtures/*.yml``, LGPL-3.0),
as the Python port ``device_detector`` ships them in its source distribution on PyPI
(``device_detector/tests/fixtures/upstream``):

    .venv/bin/pip download --no-deps --no-binary :all: device_detector==6.5.1 -d /tmp/dd
    tar xzf /tmp/dd/device_detector-6.5.1.tar.gz -C /tmp/dd
    .venv/bin/python tests/data/useragents/convert_fixtures.py \\
        /tmp/dd/device_detector-6.5.1/device_detector/tests/fixtures/upstream

One row per distinct agent, in file order: the agent, the fixture file's group
(``smartphone-12.yml`` → ``smartphone``; ``bots.yml`` → ``bots``), and the labels device-detector
gives it: device type, client type and name, OS, bot name and category.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
COLUMNS = ("user_agent", "fixture", "device_type", "client_type", "client_name", "os_name",
           "bot_name", "bot_category")


def group(path: Path) -> str:
    stem = path.stem
    head, _, tail = stem.rpartition("-")
    return head if head and tail.isdigit() else stem


def _get(entry: dict[str, Any], section: str, key: str) -> str:
    part = entry.get(section)
    return str(part.get(key) or "") if isinstance(part, dict) else ""


def main(source: str) -> None:
    seen: set[str] = set()
    rows = []
    for path in sorted(Path(source).glob("*.yml")):
        for entry in yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader) or ():
            agent = entry.get("user_agent")
            if not isinstance(agent, str) or not agent or agent in seen:
                continue
            seen.add(agent)
            rows.append((agent, group(path), _get(entry, "device", "type"),
                         _get(entry, "client", "type"), _get(entry, "client", "name"),
                         _get(entry, "os", "name"), _get(entry, "bot", "name"),
                         _get(entry, "bot", "category")))
    target = HERE / "device-detector-fixtures.csv.gz"
    with gzip.GzipFile(target, "wb", compresslevel=9, mtime=0) as raw, \
            io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:  # the same bytes each time
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"{len(rows)} agents")


if __name__ == "__main__":
    main(sys.argv[1])
