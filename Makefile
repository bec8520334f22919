# Two entry points (see README): `make demo` runs a real scan of the bundled examples
# (`make demo-archive`: a backfill of them from a web archive),
# `make test` runs the whole suite (lint, types, pattern examples, tests). Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-archive test bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("leakwatch needs Python 3.11 or newer (set PYTHON=...)" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

demo-archive: $(STAMP)
	$(BIN)/python examples/archive_demo.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/leakwatch patterns test
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_detect.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
