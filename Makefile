# The two commands of the README: `make local` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# kinesalite, the Kinesis of `lambdalytics local` (lambdalytics/kinesalite.py), and
# kinesis-mock for the resharding tests (tests/kinesis_mock.py), installed with npm into a
# git-ignored folder; the stamp names the versions, so changing one installs again
# (--ignore-scripts: nothing is built; kinesalite keeps its data in memory, not in leveldown)
NPM_DIR := .cache/npm
KINESIS_LOCAL := 0.6.2
KINESALITE := 3.3.3
NPM_STAMP := $(NPM_DIR)/.kinesis-local-$(KINESIS_LOCAL)-kinesalite-$(KINESALITE)

.PHONY: setup local test lint bench compiled test-compiled wheel lock audit

# Installed from the lock (requirements/dev.txt: every version pinned, every file's hash
# checked), then the project itself, editable, without dependencies or build isolation
# (setuptools is in the lock). The images install requirements/runtime.txt the same way.
$(VENV)/.installed: pyproject.toml requirements/dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(NPM_STAMP):
	mkdir -p $(NPM_DIR)
	npm install --prefix $(NPM_DIR) --no-save --no-package-lock --no-audit --no-fund \
		--ignore-scripts kinesis-local@$(KINESIS_LOCAL) kinesalite@$(KINESALITE)
	touch $@

setup: $(VENV)/.installed $(NPM_STAMP)

# The lock files, made with uv (in the dev extra) from pyproject.toml, for CPython 3.11 on
# Linux (the images' python:3.11-slim-bookworm; the hashes cover every platform's wheels):
# dev.txt is resolved first (CI and `make setup`), then the images' subsets within it, so all
# agree on every version: runtime.txt (the project's dependencies: all three images),
# compile.txt (plus the compile extra: the collector image's build stage) and build.txt
# (setuptools and wheel: the other images build the project's wheel with them); local.txt
# (plus the local extra: compose's emulator, bootstrap and demo image, docker/local.Dockerfile).
# `make lock` after changing a dependency; `make lock LOCK_ARGS=--upgrade` to take new
# releases. tests/docker/test_lock.py fails while a lock no longer satisfies pyproject.toml.
LOCK := $(BIN)/uv pip compile --quiet --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --generate-hashes --custom-compile-command 'make lock'
LOCK_ARGS ?=
lock: $(VENV)/.installed
	$(LOCK) $(LOCK_ARGS) pyproject.toml --extra dev -o requirements/dev.txt
	$(LOCK) pyproject.toml -c requirements/dev.txt -o requirements/runtime.txt
	$(LOCK) pyproject.toml --extra compile -c requirements/dev.txt -o requirements/compile.txt
	$(LOCK) requirements/build.in -c requirements/dev.txt -o requirements/build.txt
	$(LOCK) pyproject.toml --extra local -c requirements/dev.txt -o requirements/local.txt

# Known vulnerabilities of every locked dependency (pip-audit asks PyPI's and OSV's
# advisory databases: it needs pypi.org and api.osv.dev, so it is not part of `make test`)
audit: $(VENV)/.installed
	$(BIN)/pip-audit --strict --disable-pip --require-hashes -r requirements/dev.txt

# the demo by default: a new user's first command shows a full dashboard;
# `make local LOCAL_ARGS=` starts an empty stack
LOCAL_ARGS ?= --demo
local: setup
	$(BIN)/lambdalytics local $(LOCAL_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lambdalytics schema --check

test: lint
	$(BIN)/pytest
	$(MAKE) test-compiled

# The compiled build (setup.py, LAMBDALYTICS_COMPILE=1: the hot modules through mypyc, as
# the collector image has them), tested apart from the sources: a copy of the working tree
# (tracked and new files, not ignored ones; outside git, all but the venv, caches and build
# output) in .cache/compiled/lambdalytics, built in place there, with a link to the npm cache
# (kinesalite, kinesis-mock), as the tests expect. The working tree itself
# never gets compiled modules, which would shadow its sources; the tests refuse to run over
# them.
COMPILED := .cache/compiled
COMPILED_TREE := $(COMPILED)/lambdalytics
COMPILED_TESTS := tests/collector tests/bench/test_serve_settings.py \
	tests/lambdalytics/test_compiled.py

compiled: setup
	rm -rf $(COMPILED_TREE)
	mkdir -p $(COMPILED_TREE)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard \
			| tar --null -T - --ignore-failed-read -c 2>/dev/null; \
	else \
		tar -c --exclude=./.venv --exclude=./.cache --exclude=./build --exclude=./dist \
			--exclude='*.so' --exclude=__pycache__ --exclude='*.egg-info' .; \
	fi | tar -x -C $(COMPILED_TREE)
	mkdir -p $(COMPILED_TREE)/.cache && ln -sfn $(abspath .cache/npm) $(COMPILED_TREE)/.cache/npm
	cd $(COMPILED_TREE) && LAMBDALYTICS_COMPILE=1 $(abspath $(BIN))/python setup.py --quiet \
		build_ext --inplace > build.log 2>&1 || { tail -40 build.log; exit 1; }

test-compiled: compiled
	cd $(COMPILED_TREE) && LAMBDALYTICS_EXPECT_COMPILED=1 $(abspath $(BIN))/pytest \
		-p no:cacheprovider $(COMPILED_TESTS)

# A wheel of the compiled build in dist/ (the collector image builds the same way)
wheel: setup
	LAMBDALYTICS_COMPILE=1 $(BIN)/pip wheel --no-build-isolation --no-deps -w dist .

bench: setup
	$(BIN)/python bench/collect_bench.py
