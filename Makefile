# Each target creates the virtual environment it needs; nothing else must be installed first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.demo

demo: $(VENV)/.demo
	$(BIN)/profwork run example

# The browser tests need Debian's chromium; install it when it is missing (as root, or via sudo).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: $(VENV)/.dev chromium
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check profwork targets tests benchmarks
	$(BIN)/ruff format --check profwork targets tests benchmarks
	$(BIN)/mypy profwork targets

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
