# The README's commands. `make run` starts the system; `make test` runs every test.
.DEFAULT_GOAL := help
UV ?= uv
PYTEST_ARGS ?=

.PHONY: help env services node run test lint fmt bench

help:
	@echo "make run    start the whole system on http://127.0.0.1:3001 (SQLite, local RabbitMQ)"
	@echo "make test   run the whole test suite against real RabbitMQ and PostgreSQL"
	@echo "make lint   ruff + mypy"
	@echo "make bench  short benchmark set"

env:
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.9,<1"
	@$(UV) sync --frozen --quiet

services:
	@bash .ci/services

# The TypeScript client's tools (clients/typescript), exactly as package-lock.json lists them.
node:
	@command -v npm >/dev/null 2>&1 || { echo "error: make test needs Node.js >= 20.19 and npm" >&2; exit 1; }
	@cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error

run: env
	@$(UV) run --frozen qahub-notify dev $(RUN_ARGS)

# Everything but the tests that stop or alarm the shared RabbitMQ node, or run on the private
# 3-node cluster, runs on 3 workers (each test has its own vhost and database); those run
# alone afterwards, in one process (one cluster for all of them). The TypeScript client's
# Vitest suite runs first. The root conftest.py skips those tests unless QAHUB_SERIAL_PASS=1,
# which only the serial pass sets. Pytest's exit 5 ("no tests collected", e.g. PYTEST_ARGS
# names a folder without any) is accepted only outside CI: in CI they must run.
test: env services node
	cd clients/typescript && npm test
	$(UV) run --frozen pytest -n 3 -m "not broker_restart and not cluster" $(PYTEST_ARGS)
	QAHUB_SERIAL_PASS=1 $(UV) run --frozen pytest -m "broker_restart or cluster" $(PYTEST_ARGS) \
	  || { rc=$$?; [ $$rc -eq 5 ] && [ -z "$$CI" ]; }

lint: env
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

fmt: env
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: env services
	@bash bench/setup.sh
	$(UV) run --frozen python bench/latency.py
	$(UV) run --frozen python bench/fanout.py --count 1000
	$(UV) run --frozen python bench/connections.py --streams 10000
	$(UV) run --frozen python bench/replay.py --log-events 20000
	$(UV) run --frozen python bench/api_throughput.py --count 1000
