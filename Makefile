# Two commands for a newcomer: `make run` starts the exchange, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(RUNTIME)

run: $(RUNTIME)
	$(BIN)/exchange serve

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict

# The browser tests drive Debian's Chromium; CI runs as root on a clean machine.
CHROMIUM := /usr/bin/chromium

test: lint $(CHROMIUM)
	$(BIN)/python -m pytest

$(CHROMIUM):
	apt-get update && apt-get install -y --no-install-recommends chromium

bench: $(DEV)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
