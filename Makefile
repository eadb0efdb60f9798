# Zavod — developer commands. `make` (or `make help`) lists them.
#
# Settings come from the environment and `.env` (see .env.example). The targets that run the app
# (migrate, seed, web, worker, bootstrap) load `.env` through deploy/dev/run.sh --exec.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Where `pip install --user` puts uv, so a freshly installed uv is found.
PY_USER_BASE := $(shell python3 -m site --user-base 2>/dev/null)
export PATH := $(if $(PY_USER_BASE),$(PY_USER_BASE)/bin:)$(HOME)/.local/bin:$(PATH)

APP := app.main:create_app
WITH_ENV := deploy/dev/run.sh --exec
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k tenancy -x"`.
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium

.PHONY: help install dev test lint migrate bootstrap seed worker web compose-check clean \
        services stop-services ensure-uv ensure-chromium

help: ## Show this list of targets
	@echo "Zavod — make targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

ensure-uv:
	@if ! command -v uv >/dev/null 2>&1; then \
		echo "uv not found: installing it with pip"; \
		python3 -m pip install --user uv || pip install uv \
			|| python3 -m pip install --user --break-system-packages uv; \
	fi
	@if ! command -v uv >/dev/null 2>&1; then \
		bin="$$(python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)" \
			&& mkdir -p "$(HOME)/.local/bin" && ln -sf "$$bin" "$(HOME)/.local/bin/uv" \
			&& echo "uv: linked $$bin into $(HOME)/.local/bin" || true; \
	fi
	@command -v uv >/dev/null 2>&1 || { echo "uv could not be installed or found; see https://docs.astral.sh/uv/" >&2; exit 1; }

install: ensure-uv ## Install the locked dependencies into .venv (uv sync --frozen)
	uv sync --frozen

dev: ensure-uv ## Run everything locally on http://localhost:8000 (finds/starts PostgreSQL + Redis, migrates, seeds demo data, web + worker)
	deploy/dev/run.sh

ensure-chromium:
	@if [ -x $(CHROMIUM) ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "$(CHROMIUM) not found: installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y chromium; \
	else \
		echo "WARNING: $(CHROMIUM) not found and this user cannot install it." >&2; \
		echo "         Install it with:  sudo apt-get update && sudo apt-get install -y chromium" >&2; \
		if [ "$${CI:-}" = true ]; then echo "CI: browser tests need Chromium; stopping." >&2; exit 1; fi; \
	fi

test: install ensure-chromium ## Run the whole suite on real PostgreSQL + Redis (found or started privately); installs Chromium when missing
	@args=(); \
	if [ ! -x $(CHROMIUM) ]; then \
		if [ "$${CI:-}" = true ]; then echo "CI: $(CHROMIUM) is still missing; stopping." >&2; exit 1; fi; \
		echo "WARNING: no $(CHROMIUM): skipping the browser tests (-m 'not browser')." >&2; \
		args=(-m "not browser"); \
	fi; \
	services="$$(deploy/dev/run.sh --services | grep '^export ')"; eval "$$services"; \
	export TEST_DATABASE_ADMIN_URL="$${DATABASE_ADMIN_URL:-}" TEST_REDIS_URL="$${REDIS_URL:-}"; \
	status=0; \
	echo "uv run pytest $${args[*]:-} $(PYTEST_ARGS)"; \
	uv run pytest "$${args[@]}" $(PYTEST_ARGS) || status=$$?; \
	if [ "$$status" = 5 ]; then echo "make test: pytest collected no tests (exit 5)"; status=0; fi; \
	exit $$status

lint: ensure-uv ## Lint with ruff (ruff check app tasks tests)
	uv run ruff check app tasks tests

bootstrap: ensure-uv ## Create the non-superuser database role and database (uses DATABASE_ADMIN_URL; idempotent)
	$(WITH_ENV) uv run python -m app.db.bootstrap

migrate: ensure-uv ## Apply database migrations (run `make bootstrap` first on a new server)
	$(WITH_ENV) uv run litestar --app $(APP) database upgrade --no-prompt

seed: ensure-uv ## Load the demo clients and users when the database is empty (idempotent)
	$(WITH_ENV) uv run litestar --app $(APP) zavod seed-demo

web: ensure-uv ## Run the web process only (uvicorn on :8000)
	$(WITH_ENV) uv run uvicorn $(APP) --factory --host 0.0.0.0 --port 8000

worker: ensure-uv ## Run the background worker only (SAQ)
	$(WITH_ENV) uv run saq tasks.worker.settings

services: ## Find or start PostgreSQL + Redis (private ones under ./var if needed) and print their URLs
	@deploy/dev/run.sh --services

stop-services: ## Stop the private PostgreSQL / Redis under ./var
	@deploy/dev/run.sh --stop

compose-check: ## Validate docker-compose.yml (docker compose config -q; else a YAML check in Python)
	@if docker compose version >/dev/null 2>&1; then \
		docker compose config -q && echo "docker-compose.yml: OK (docker compose config -q)"; \
	else \
		echo "docker compose plugin not available: checking the YAML with Python instead"; \
		py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python; \
		$$py deploy/check_yaml.py; \
	fi

clean: ## Remove caches and test artifacts, stop private servers (keeps .venv and var/ data)
	@deploy/dev/run.sh --stop
	rm -rf .pytest_cache .ruff_cache test-artifacts
	find . -path ./.venv -prune -o -path ./.git -prune -o -path ./var -prune -o \
		-type d -name __pycache__ -print0 | xargs -0 rm -rf
	@echo "Local databases and media stay in var/ (rm -rf var/ to drop them)."
