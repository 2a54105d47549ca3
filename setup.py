"""The build's one option; everything else about the build is in pyproject.toml.

``LAMBDALYTICS_COMPILE=1`` compiles the collector's hot modules
(:data:`lambdalytics.compiled.HOT_MODULES`) with mypyc, the compiler that comes with mypy,
into C extensions; without it (the default) the distribution is pure Python. A compiled
build needs mypy, setuptools and a C compiler, and is made without build isolation, with
the mypy that type-checks this code:

    LAMBDALYTICS_COMPILE=1 pip wheel --no-build-isolation --no-deps -w dist .

``make wheel`` does that; the collector image builds this way (docker/collector.Dockerfile)
and ``make test`` runs the collector's tests over such a build. What it buys is measured in
docs/benchmarks.md ("Compiling the hot path with mypyc").
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent


def _ext_modules() -> list[object]:
    if os.environ.get("LAMBDALYTICS_COMPILE", "").strip().lower() not in {"1", "true", "yes"}:
        return []
    from mypyc.build import mypycify  # only a compiled build needs mypy

    hot = runpy.run_path(str(ROOT / "lambdalytics" / "compiled.py"))["HOT_MODULES"]
    paths = [name.replace(".", "/") + ".py" for name in hot]
    # one shared library for all of them (mypyc's "group"), named rather than hashed
    return list(mypycify(["--config-file", str(ROOT / "pyproject.toml"), *paths],
                         opt_level="3", group_name="lambdalytics_hotpath"))


setup(ext_modules=_ext_modules())
