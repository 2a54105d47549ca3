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
    from Cython.Build import cythonize  # only a compiled build needs Cython and mypy
    from mypyc.build import mypycify

    compiled = runpy.run_path(str(ROOT / "lambdalytics" / "compiled.py"))
    paths = [name.replace(".", "/") + ".py" for name in compiled["HOT_MODULES"]]
    # one shared library for all of them (mypyc's "group"), named rather than hashed
    hot = mypycify(["--config-file", str(ROOT / "pyproject.toml"), *paths],
                   opt_level="3", group_name="lambdalytics_hotpath")
    native = [name.replace(".", "/") + ".pyx" for name in compiled["NATIVE_MODULES"]]
    return [*hot, *cythonize(native, quiet=True)]


setup(ext_modules=_ext_modules())
