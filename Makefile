# The two commands of the README: `make local` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup local test lint bench

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

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
