# AutoGen Lab: every target creates .venv and installs what it needs on first use.
# make demo   real books, the paper's four models trained, two surveys open; serve (Ctrl-C stops)
# make test   the whole test suite (PostgreSQL/Redis when DATABASE_URL/CELERY_BROKER_URL say so)
# make lint   ruff check and format check
# make bench  the benchmarks (figures printed, baselines measured in the same run)

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: demo test lint format bench worker clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed
	$(PY) manage.py demo --port $(PORT)

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

worker: $(VENV)/.installed
	$(VENV)/bin/celery -A autogen worker -Q default,gpu --concurrency 1 -l info

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
