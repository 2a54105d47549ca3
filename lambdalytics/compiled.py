"""Which of the collector's hot modules this process runs compiled.

A build with ``LAMBDALYTICS_COMPILE=1`` (setup.py; the collector image's default) compiles
:data:`HOT_MODULES` with mypyc into C extensions, which Python imports in place of the
sources beside them, and builds :data:`NATIVE_MODULES` from their Cython sources; the
default build is pure Python. Nothing in the code depends on which:
the collector logs it at start-up and the benchmarks print it, and the test suite refuses
to run over compiled modules it did not ask for (a stale build would shadow edited sources).

This module imports nothing of the project's, so setup.py can read :data:`HOT_MODULES` from
the file before anything is built.
"""

from __future__ import annotations

import importlib
import importlib.machinery

# The modules every hit goes through (docs/benchmarks.md, "Where a hit's time goes inside
# the server"). Not here: collector/protocol.py, whose class extends uvicorn's protocol
# (compiled, it broke request parsing under load: docs/benchmarks.md, "Compiling the hot
# path with mypyc"); lambdalytics/hit.py, whose schema is read from the Hit dataclass's
# annotations, which mypyc replaces with runtime classes (``str | None`` becomes ``type``);
# and everything off the path of a hit.
HOT_MODULES: tuple[str, ...] = (
    "collector.bots",
    "collector.campaign",
    "collector.clientip",
    "collector.collect",
    "collector.device",
    "collector.edge",
    "collector.enrich",
    "collector.geo",
    "collector.http",
    "collector.ingest",
    "collector.policy",
    "collector.privacy",
    "collector.referrer",
    "collector.sink",
    "collector.ua",
)

# Written in Cython rather than compiled from Python: the byte-level scan of a payload
# (collector/uascan.pyx). It has no Python source: a pure Python build has no such module and
# collector.ua reads every payload itself (the tests check both give the same hit).
NATIVE_MODULES: tuple[str, ...] = ("collector.uascan",)

BUILT_MODULES: tuple[str, ...] = HOT_MODULES + NATIVE_MODULES


def is_compiled(module: str) -> bool:
    """Whether ``module`` was imported from a C extension rather than its source (a native
    module that is not there, in a pure Python build, is not)."""
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module or module not in NATIVE_MODULES:
            raise
        return False
    path = getattr(imported, "__file__", None) or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def compiled_modules() -> list[str]:
    """The :data:`BUILT_MODULES` this process imported compiled (importing them)."""
    return [name for name in BUILT_MODULES if is_compiled(name)]


def is_partial(built: list[str]) -> bool:
    """Whether ``built`` (:func:`compiled_modules`) is some of the modules a compiled build
    makes but not all."""
    return 0 < len(built) < len(BUILT_MODULES)


def describe(built: list[str] | None = None) -> str:
    """One line for the logs and the benchmarks' headers (``built``: :func:`compiled_modules`,
    when the caller has it already)."""
    compiled = len(compiled_modules() if built is None else built)
    if compiled == 0:
        return "interpreted (pure Python build)"
    if compiled == len(BUILT_MODULES):
        return (f"compiled ({len(HOT_MODULES)} hot modules with mypyc, {len(NATIVE_MODULES)} "
                "in Cython)")
    return (f"partly compiled: {compiled} of {len(BUILT_MODULES)} modules (a stale or broken "
            "build)")
