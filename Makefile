# Winback — `make help` lists the targets. Every target installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The demo shop's last day (its orders end there). The nightly is run for that date
# explicitly: a run without --as-of refuses data older than max_data_age_days.
DEMO_AS_OF ?= 2026-06-30
TYPECHECK := $(TOOLS)/typecheck

# Offline-safe defaults: no telemetry, no interpreter downloads (see README).
export DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup run test lint format bench bench-decisions bench-backtest serve demo-data mlflow-ui docs clean clean-all

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --extra spark --compile-bytecode --python $(PYTHON)
	@touch $@

setup: $(STAMP) ## Create .venv from uv.lock (idempotent; other targets call it)

run: setup ## Generate the demo shop (first time) and run the nightly flow on it
	@test -f data/demo/orders.csv || $(BIN)/winback demo-data --out data/demo --as-of $(DEMO_AS_OF)
	$(BIN)/winback nightly --data-dir data/demo --as-of $(DEMO_AS_OF)

demo-data: setup ## Regenerate the demo shop in data/demo
	$(BIN)/winback demo-data --out data/demo --as-of $(DEMO_AS_OF)

# The suite runs on both cores (pytest-xdist), a whole test module per worker so that a
# module's shared fixtures are built once; TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 2

test: setup ## Run the test suite (real DuckDB, dbt, GX, MLflow, Prefect) on TEST_WORKERS workers
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

lint: setup ## ruff (lint + format check), mypy on the package, sqlfluff on the dbt models
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# mypy sees the installed layout (winback.flows = flows/, ...) through a tree of links.
	@rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/winback
	@for f in winback/*.py winback/*/; do ln -s "$(CURDIR)/$${f%/}" $(TYPECHECK)/winback/; done
	@for d in flows models expectations; do ln -s "$(CURDIR)/$$d" $(TYPECHECK)/winback/$$d; done
	cd $(TYPECHECK) && $(CURDIR)/$(BIN)/mypy -p winback --config-file $(CURDIR)/pyproject.toml
	@# sqlfluff renders the models with the dbt vars the settings give (no defaults in SQL).
	@mkdir -p $(TOOLS)/sqlfluff && $(BIN)/winback config dbt-vars --sqlfluff > $(TOOLS)/sqlfluff/pyproject.toml
	cd dbt_project && WINBACK_DBT_WAREHOUSE_PATH=:memory: WINBACK_DBT_MEMORY_LIMIT=1GB \
		WINBACK_DBT_AS_OF_DATE=2026-06-30 ../$(BIN)/sqlfluff lint models \
		--config ../$(TOOLS)/sqlfluff/pyproject.toml

format: setup ## Apply ruff's formatting and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup ## Benchmarks: nightly flow at 10k/100k/1M customers, payment reminders (results in benchmarks/results/)
	$(BIN)/python benchmarks/bench.py --sizes $(or $(SIZES),10000 100000 1000000)
	$(BIN)/python benchmarks/reminders_bench.py

bench-decisions: setup ## Win-back list vs analyst baselines and a truth oracle in 3 unseen worlds x 2 budgets (benchmarks/results/decisions.md)
	$(BIN)/python benchmarks/decisions_bench.py $(if $(WORLDS),--worlds $(WORLDS))

bench-backtest: setup ## Does the nightly backtest's 95% interval cover the truth? 10 unseen worlds (benchmarks/results/backtest_coverage.md)
	$(BIN)/python benchmarks/backtest_coverage.py $(if $(WORLDS),--worlds $(WORLDS))

serve: setup ## Prefect UI (http://127.0.0.1:4200) on the project's Prefect home (every run is listed) + the scheduled flows
	$(BIN)/winback serve --port 4200

mlflow-ui: setup ## Browse model runs at http://127.0.0.1:5000 (the configured store, WINBACK_MLFLOW__TRACKING_URI)
	$(BIN)/winback mlflow-ui --port 5000

docs: setup ## Build the dbt docs site into warehouse/dbt_docs/ and serve it at http://127.0.0.1:8080
	$(BIN)/winback docs --serve --port 8080

clean: setup ## Remove what Winback generated; keeps data/ (but the demo shop), logs, the reminder ledger and export history
	$(BIN)/winback clean

clean-all: setup ## Remove everything, the merchant's data/ and the reminder ledger too (asks first)
	$(BIN)/winback clean --all
