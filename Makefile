# gapwatch -- the two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The BI connection path (duckdb-engine under SQLAlchemy 1.4, as Superset uses), tested by tests/test_bi.py.
BI_VENV := .venv-bi
BI_STAMP := $(BI_VENV)/.installed-stamp

# Telemetry off for Prefect, GX and dbt; no network calls in the default (sample) mode.
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
# The temporary Prefect server needs more than the default 20 s on a cold first start.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

# The report's browser test drives Debian's Chromium (headless, through Playwright's bundled driver).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser bi-env run test lint lock clean help

help:
	@echo "make run    - set up .venv (locked versions) and run the daily pipeline on the embedded sample"
	@echo "make test   - set up .venv and Debian's chromium (report browser test), run the test suite"
	@echo "make bench  - the benchmark grid (BENCH_ARGS=--large for 5000 tickers / 20 years)"
	@echo "make lint   - ruff"
	@echo "make lock   - regenerate requirements.lock from the current .venv"
	@echo "make clean  - remove .venv and the generated warehouse files"

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(BI_STAMP): tests/bi/requirements.lock
	test -x $(BI_VENV)/bin/python || $(PYTHON) -m venv $(BI_VENV)
	$(BI_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/bi/requirements.lock
	touch $(BI_STAMP)

bi-env: $(BI_STAMP)

# Debian's chromium (and a font for the report screenshot), installed only when missing.
browser:
	@if [ -x $(CHROMIUM) ]; then echo "browser: $$($(CHROMIUM) --version)"; else \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core && \
		$(CHROMIUM) --version; \
	fi

run: install
	$(BIN)/gapwatch run

test: install browser bi-env
	$(BIN)/python -m pytest

# The benchmark (not a test): BENCH_ARGS="--large" for the whole grid, "--tickers 500 --years 1,20" for cells.
bench: install
	$(BIN)/python tests/benchmark.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check flows tests

lock: install
	{ head -3 requirements.lock; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) $(BI_VENV)
	find warehouse -mindepth 1 ! -name README.md -exec rm -rf {} +
