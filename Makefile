# Every target creates or refreshes the environment itself: a fresh clone needs only
# Python 3.11+. uv is installed into .uv/ from PyPI at a pinned version and installs the
# locked dependencies into .venv/.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
SYNCED := $(VENV)/.synced

.PHONY: venv lint format test test-fast bench demo dev-services clean

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

venv: $(SYNCED)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Two workers (pytest-xdist): most of the suite waits on servers, daemons and
# subprocesses, so on 2 cores two workers take about half the wall time. --dist loadgroup
# sends each module whole to one worker, and the modules that start Dagster processes or
# Chromium all to the same one (conftest.py says why). PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2

test: lint
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup

test-fast: venv
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not slow"

bench: venv
	$(VENV)/bin/python -m benchmarks

# e.g. make demo DEMO_ARGS="--days 7 --live-rate 10" (analytics-platform demo --help)
demo: venv
	$(VENV)/bin/analytics-platform demo $(DEMO_ARGS)

dev-services: venv
	$(VENV)/bin/analytics-platform dev-services --migrate

clean:
	rm -rf .venv .uv .dev-data .demo .dagster .archive artifacts .pytest_cache .ruff_cache .hypothesis
