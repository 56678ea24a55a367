# kefu-flow: `make up` starts the product, `make test` runs the tests. Both set themselves up.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
POSTGRES_TEST_URL ?= postgresql+psycopg://root@127.0.0.1:5432/test

.PHONY: up test test-sqlite test-postgres faults bench lint format clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

## Start Prefect server, runner, inbox API, mail sink and the demo organisation (Ctrl-C stops).
up: $(STAMP)
	$(BIN)/python -m launch

## The browser tests drive Debian's chromium (Playwright's own browser download does not work
## on closed networks); CJK fonts so that screenshots show Chinese.
browser:
	@if command -v chromium >/dev/null && fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	else echo "Install Chromium for the browser tests: sudo apt-get install chromium fonts-noto-cjk"; exit 1; fi

## Lint, then the whole suite on SQLite, then again on PostgreSQL when one answers (always in CI);
## two pytest-xdist workers, each with its own database and stack (the e2e tests mostly wait).
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) test-sqlite
	@if [ -n "$$CI" ] || $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(subst postgresql+psycopg,postgresql,$(POSTGRES_TEST_URL))').close()" 2>/dev/null; then \
		$(MAKE) test-postgres; \
	else echo "PostgreSQL not reachable at $(POSTGRES_TEST_URL): skipped the PostgreSQL run"; fi

test-sqlite: $(STAMP)
	$(BIN)/pytest -n 2

test-postgres: $(STAMP)
	KEFU_TEST_POSTGRES_URL=$(POSTGRES_TEST_URL) $(BIN)/pytest -n 2

## The fault suite alone (part of `make test`): kill -9 of the Prefect server, runner, API and
## outbox sender while fifty complaints run to closing (about 6 minutes; KEFU_TEST_POSTGRES_URL=…
## for PostgreSQL).
faults: $(STAMP)
	$(BIN)/pytest -m faults -o log_cli=true -o log_cli_level=WARNING tests/faults

## Benchmarks: figures and ratios against a baseline measured in the same run.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[test,bench]"
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) data
