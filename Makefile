# Rapport's everyday tasks (CONTRIBUTING.md). `make help` lists them.
# They use ./.venv when it is there, else python3 on PATH; PYTHON=... overrides.
# CI runs .ci/run, which does what `make lint wheel-check tests` does, plus setup.

PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
POSTGRES_URL ?= $(or $(RAPPORT_TEST_POSTGRES_URL),postgresql://postgres@127.0.0.1:5432/test)
PYTEST = $(PYTHON) -m pytest -q -p no:cacheprovider
# mypy finds modules by folder; `rapport` is the repository root under another name.

.PHONY: help install lint format types tests tests-sqlite tests-postgres wheel-check

help:  ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## editable install with the test and contributor tools
	$(PYTHON) -m pip install -e '.[dev]'

lint:  ## ruff check, ruff format --check, the import contracts
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	PATH="$(abspath $(dir $(PYTHON))):$$PATH" lint-imports

format:  ## rewrite the code in the project's format, fixing what ruff can
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

types:  ## mypy, strict, over all four packages (the same script CI runs)
	PYTHON=$(PYTHON) .ci/typecheck

tests-sqlite:  ## the suite without its PostgreSQL cases
	env -u RAPPORT_TEST_POSTGRES_URL $(PYTEST) -m 'not postgres'

tests-postgres:  ## only the PostgreSQL cases (POSTGRES_URL=... to point elsewhere)
	RAPPORT_TEST_POSTGRES_URL=$(POSTGRES_URL) $(PYTEST) -m postgres

tests:  ## the whole suite, every database test on SQLite and PostgreSQL
	RAPPORT_TEST_POSTGRES_URL=$(POSTGRES_URL) $(PYTEST)

wheel-check:  ## build the wheel, install it in a fresh venv beside Django Channels, run it
	$(PYTHON) .ci/wheel-check
