"""lambdalytics.compiled: which build of the hot modules runs, said in one line."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

from lambdalytics import compiled

ROOT = Path(__file__).resolve().parents[2]


def test_an_extension_module_counts_as_compiled_and_a_source_module_not() -> None:
    assert compiled.is_compiled("orjson.orjson")  # a C extension with a file
    assert not compiled.is_compiled("lambdalytics.resources")  # never compiled


def test_the_hot_modules_exist_and_setup_py_reads_them_without_importing_the_package() -> None:
    for name in compiled.HOT_MODULES:
        assert (ROOT / (name.replace(".", "/") + ".py")).is_file(), name
    for name in compiled.NATIVE_MODULES:  # Cython source and typing stub, no Python source
        base = ROOT / name.replace(".", "/")
        assert base.with_suffix(".pyx").is_file(), name
        assert base.with_suffix(".pyi").is_file(), name
        assert not base.with_suffix(".py").exists(), name
    read = runpy.run_path(str(ROOT / "lambdalytics" / "compiled.py"))
    assert read["HOT_MODULES"] == compiled.HOT_MODULES
    assert read["NATIVE_MODULES"] == compiled.NATIVE_MODULES


def test_a_native_module_absent_from_the_build_is_not_compiled_but_a_missing_one_is_an_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "NATIVE_MODULES", ("collector.no_such_native",))
    assert not compiled.is_compiled("collector.no_such_native")
    with pytest.raises(ModuleNotFoundError):
        compiled.is_compiled("collector.no_such_module")


@pytest.mark.parametrize(("built", "line"), [
    ([], "interpreted (pure Python build)"),
    (list(compiled.BUILT_MODULES), f"compiled ({len(compiled.HOT_MODULES)} hot modules with "
                                   "mypyc, 1 in Cython)"),
    (["collector.ua"], f"partly compiled: 1 of {len(compiled.BUILT_MODULES)} modules "
                       "(a stale or broken build)"),
])
def test_describe_says_which_build(monkeypatch: pytest.MonkeyPatch, built: list[str],
                                   line: str) -> None:
    assert compiled.describe(built) == line
    monkeypatch.setattr(compiled, "compiled_modules", lambda: built)
    assert compiled.describe() == line
    assert compiled.is_partial(built) == line.startswith("partly")


# read when the module is collected: every test's environment is stripped of LAMBDALYTICS_*
EXPECT_COMPILED = os.environ.get("LAMBDALYTICS_EXPECT_COMPILED") == "1"


def test_this_run_tests_the_build_it_was_asked_for() -> None:
    """make test: the sources; make test-compiled: every hot module compiled and every native
    module built."""
    expected = list(compiled.BUILT_MODULES) if EXPECT_COMPILED else []
    assert compiled.compiled_modules() == expected
