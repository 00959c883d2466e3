# Quorum: `make run` serves the demo, `make test` runs the tests (README "Quick start").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format e2e fuzz bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,mlflow]'
	touch $@

run: $(BIN)/.installed
	DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DEBUG=1 $(BIN)/python manage.py load_demo
	@echo "Quorum: http://$(HOST):$(PORT)/  (web server and one Celery worker, with beat for the daily digest; Ctrl-C stops both)"
	DEBUG=1 HOST=$(HOST) PORT=$(PORT) SITE_URL=http://$(HOST):$(PORT) $(BIN)/honcho start -f Procfile.dev

# Tests run on SQLite unless DATABASE_URL is set; SECRET_KEY is a throwaway for the tests.
# Their files (SQLite, the embedded broker's messages, uploads) go under var/test/, so the
# tasks the tests enqueue never reach the `make run` worker and its database.
TEST_ENV = QUORUM_VAR_DIR=$${QUORUM_VAR_DIR:-var/test} SECRET_KEY=$${SECRET_KEY:-tests-only-not-secret}

test: $(BIN)/.installed
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

e2e: $(BIN)/.installed
	$(TEST_ENV) $(BIN)/pytest -m e2e $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# schemathesis against every API operation on gunicorn, about 3 minutes (docs/security.md,
# "Fuzzing"). Empties the database named by DATABASE_URL (its name must end in "fuzz"), or
# uses a throwaway SQLite file; writes its reports under var/fuzz/.
fuzz: $(BIN)/.installed
	$(BIN)/python fuzz/run.py $(FUZZ_ARGS)

# Performance targets of DESIGN.md; needs the local PostgreSQL (and Redis for the approvals
# and monitoring benches, about 10 minutes for the latter). Writes docs/benchmarks.md
# (BENCH="bench/bench_deployment.py …" runs only those and keeps the other sections).
bench: $(BIN)/.installed
	$(BIN)/python bench/report.py $(BENCH)

clean:
	rm -rf var/broker var/test var/test-*.sqlite3* staticfiles test-results
