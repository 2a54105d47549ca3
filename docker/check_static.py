"""The dashboard image's static stage: check the web page's files before the wheel takes them.

There is nothing to compile: the page is plain ES modules (dashboard/static/*.js) and one
vendored library (uPlot, under vendor/, copied from its npm tarball). So the stage checks
what a bundler would otherwise have caught, and what a careless upgrade could break:

- every vendored file has the sha256 its README's table records (``| file | from | sha256 |``),
  and every vendored library keeps its LICENSE;
- every ``/static/…`` reference in index.html and every relative ``import … from "./x.js"``
  in a module names a file that is there.

``python docker/check_static.py DIR`` exits 1 with every problem listed, 0 with a summary.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

SHA_ROW = re.compile(r"^\|\s*([\w.-]+)\s*\|[^|]*\|\s*([0-9a-f]{64})\s*\|\s*$", re.M)
PAGE_REF = re.compile(r"""(?:src|href)="/static/([^"#?]+)\"""")
MODULE_IMPORT = re.compile(r"""\bfrom\s+["'](\./[^"']+)["']|\bimport\s+["'](\./[^"']+)["']""")


def problems(root: Path) -> tuple[list[str], int]:
    """(every problem found under ``root``, how many files were checked)."""
    found: list[str] = []
    checked = 0
    for readme in sorted(root.glob("vendor/*/README.md")):
        lib = readme.parent
        rows = SHA_ROW.findall(readme.read_text())
        if not rows:
            found.append(f"{readme.relative_to(root)}: no sha256 table")
        if not (lib / "LICENSE").is_file():
            found.append(f"{lib.relative_to(root)}: no LICENSE")
        for name, digest in rows:
            path = lib / name
            checked += 1
            if not path.is_file():
                found.append(f"{path.relative_to(root)}: missing")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                found.append(f"{path.relative_to(root)}: sha256 differs from {readme.name}'s")
    page = root / "index.html"
    if not page.is_file():
        return [*found, "index.html: missing"], checked
    for ref in PAGE_REF.findall(page.read_text()):
        checked += 1
        if not (root / ref).is_file():
            found.append(f"index.html: /static/{ref} is not there")
    for module in sorted(root.glob("*.js")):
        for groups in MODULE_IMPORT.findall(module.read_text()):
            ref = next(g for g in groups if g)
            checked += 1
            if not (module.parent / ref).resolve().is_file():
                found.append(f"{module.name}: imports {ref}, which is not there")
    return found, checked


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "dashboard/static")
    found, checked = problems(root)
    for problem in found:
        print(f"static: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"static: {checked} references and vendored files under {root} check out")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
