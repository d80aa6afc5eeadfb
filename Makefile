# InstaForge: `make up` runs the whole product on this machine; `make test` runs every check and test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up install test test-fast lint lint-imports typecheck migrations-check pytest e2e browser clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Install, migrate, create the demo workspace, then run web, worker, dispatcher and sandbox until Ctrl-C.
## Demo mode is explicit: the product's own default is production (DEBUG off), which refuses the demo's values.
up: export DEBUG := true
## Ports: WEB_PORT and SANDBOX_PORT (8000 and 8001 unless set); a busy one is named before anything starts.
up: install
	$(PY) manage.py ports_check >/dev/null
	$(PY) manage.py migrate --noinput
	$(PY) manage.py schedules_sync
	$(PY) manage.py demo_setup
	devtools/up

## Lint, types, migrations, then the whole test suite (browser tests included).
test: install browser lint lint-imports typecheck migrations-check pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## The architecture's import contracts (.importlinter): e.g. no product app imports the sandbox or devtools.
lint-imports: install
	$(VENV)/bin/lint-imports --no-logo --no-cache

typecheck: install
	$(VENV)/bin/mypy .

migrations-check: install
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

## Every test: all but the slow ones spread over the cores (pytest-xdist: a test database, and a Redis database, per
## worker), then the slow ones (kill -9, several dispatcher processes, long fuzzing), spread the same way: on 2 cores
## PostgreSQL's slow tests took 11:21 one after another and 6:40 so, SQLite's 6:54 and 4:16 (CI had passed 30 minutes).
pytest: install
	$(PY) -m pytest -n auto --maxprocesses=8 -m "not slow"
	$(PY) -m pytest -n auto --maxprocesses=8 -m slow

## The quick loop while coding (under 2 minutes on 2 cores): every test but the slow ones (pytest -m slow) and the
## browser tests, spread over the machine's cores by pytest-xdist. `make test` still runs everything.
test-fast: install
	$(PY) -m pytest -q -n auto --maxprocesses=8 -m "not slow and not e2e"

e2e: install browser
	$(PY) -m pytest -m e2e tests/e2e

## Debian's chromium and chromium-driver for the browser tests (never a downloaded browser).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "Browser tests need Debian's chromium and chromium-driver: sudo apt-get install chromium chromium-driver" >&2; exit 1; fi

clean:
	rm -rf $(VENV) db.sqlite3* test_db.sqlite3* staticfiles .mypy_cache .ruff_cache .pytest_cache
