# Every target bootstraps .venv itself, so a fresh machine needs only `make demo` / `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BASE_STAMP := $(VENV)/.installed-base
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# compileall: the package is installed editable, and where PYTHONDONTWRITEBYTECODE is set
# every `mobility` call would otherwise compile it again.
$(BASE_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	$(PY) -m compileall -q mobility
	touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m compileall -q mobility
	touch $(BASE_STAMP) $@

demo: $(BASE_STAMP)
	$(VENV)/bin/mobility run experiments/quickstart.yaml --out results

test: $(DEV_STAMP)
	$(PY) -m pytest

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check mobility tests bench
	$(VENV)/bin/ruff format --check mobility tests bench

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BASE_STAMP) $(DEV_STAMP) $@

# The quick benchmarks; bench/resco.py and bench/signal_model.py take longer, run them alone.
bench: $(BENCH_STAMP)
	$(PY) bench/overhead.py
	$(PY) bench/sweep.py
	$(PY) bench/assignment.py
	$(PY) bench/dispatch.py
	$(PY) bench/shuttle_times.py

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
