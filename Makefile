# Each target creates the virtual environment it needs; nothing else must be installed first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench bench-overhead bench-pyspy bench-memory-line clean chromium nodejs postgresql

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.demo

# `make demo DEMO="example -m pyinstrument"` runs another target or method.
DEMO ?= scheduler

demo: $(VENV)/.demo
	$(BIN)/profwork run $(DEMO)
	@echo "The profwork command is $(abspath $(BIN))/profwork: run it by that path, or put it on your PATH with 'source $(VENV)/bin/activate'."

# The browser tests need Debian's chromium; install it when it is missing (as root, or via sudo).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The example plug-in's reader test records a real Chrome/Node CPU profile with Debian's nodejs
# (`node --cpu-prof`); install it when it is missing.
nodejs:
	@command -v node >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null; }

# The PostgreSQL tests start a throwaway server (tests/pg.py) from Debian's postgresql, whose
# initdb and pg_ctl live in /usr/lib/postgresql/<version>/bin; install it when it is missing.
postgresql:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

test: $(VENV)/.dev chromium nodejs postgresql
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check profwork targets tests benchmarks examples
	$(BIN)/ruff format --check profwork targets tests benchmarks examples
	$(BIN)/mypy profwork targets examples/profwork-example-plugin/profwork_example

# Benchmarks (not tests): figures and PASS/MISS against the issues' targets, JSON in benchmarks/out/.
# `bench` runs both, about 4.5 minutes here: `bench-overhead` (issue 10) about 2.5, `bench-pyspy`
# (issue 12) about 2 (its first run also records ~20 s of py-spy data). pyinferno is only the py-spy
# benchmark's reference column, so it is installed here rather than in the dev extra; without it
# the column is skipped.
bench: bench-overhead bench-pyspy

bench-overhead: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_overhead.py

bench-pyspy: $(VENV)/.dev
	@$(BIN)/python -c "import pyinferno" 2>/dev/null || $(BIN)/python -m pip install --quiet pyinferno \
	  || echo "pyinferno could not be installed: its column is skipped"
	$(BIN)/python benchmarks/bench_pyspy.py

# Issue 18: -m memory vs a plain tracemalloc runner, -m line vs kernprof -l (about 3 minutes).
bench-memory-line: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_memory_line.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
