# The two commands of the README: `make local` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# kinesis-mock for the resharding tests (tests/kinesis_mock.py), installed with npm into a
# git-ignored folder; the stamp names the version, so changing it installs again
NPM_DIR := .cache/npm
KINESIS_LOCAL := 0.6.2
KINESIS_MOCK := $(NPM_DIR)/.kinesis-local-$(KINESIS_LOCAL)

.PHONY: setup local test lint bench

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(KINESIS_MOCK):
	mkdir -p $(NPM_DIR)
	npm install --prefix $(NPM_DIR) --no-save --no-package-lock --no-audit --no-fund \
		--ignore-scripts kinesis-local@$(KINESIS_LOCAL)
	touch $@

setup: $(VENV)/.installed $(KINESIS_MOCK)

local: setup
	$(BIN)/lambdalytics local

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lambdalytics schema --check

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/collect_bench.py
