# Sluice: `make demo` runs the pipeline on the local stack; `make test` runs every test.
# Both install what they need first (`make setup`), so each works on a fresh clone.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help setup demo test lint up status down clean

help:  ## List what a newcomer can run
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: $(VENV)/.synced superset/.venv/.synced ml/.venv/.synced build/jars/kafka/.copied build/jars/spark/.copied tools/iac/.venv/.synced  ## Install system packages, the Python environment, the jars and the deployment checkers
	@scripts/install-system-packages

$(VENV)/.synced: pyproject.toml uv.lock
	@scripts/install-system-packages
	@command -v uv >/dev/null || python3 -m pip install --quiet uv==0.13.8
	uv sync --frozen
	@touch $@

# Superset has its own locked environment: it needs SQLAlchemy 1.4, Airflow 3 needs 2.x.
superset/.venv/.synced: superset/pyproject.toml superset/uv.lock $(VENV)/.synced
	uv sync --frozen --project superset
	@touch $@

# The moderation model's environment: PyTorch (the CUDA build; it runs on CPU too) and MLflow, kept out of Airflow's.
ml/.venv/.synced: ml/pyproject.toml ml/uv.lock $(VENV)/.synced
	uv sync --frozen --project ml
	@touch $@

build/jars/%/.copied: jars/%/pom.xml
	@scripts/install-system-packages
	rm -rf build/jars/$*
	mvn --batch-mode --quiet -f $< dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/build/jars/$*
	@touch $@

# The offline checks of helm/, terraform/ and docker/: helm, kubeconform and hclfmt built with `go install` into
# build/bin, and checkov and hadolint in their own locked environment (checkov pins many cloud SDKs).
tools/iac/.venv/.synced: scripts/install-iac-tools tools/iac/pyproject.toml tools/iac/uv.lock
	scripts/install-iac-tools
	@touch $@

demo: setup  ## Start the local stack and run the pipeline end to end
	$(BIN)/sluice demo

test: setup  ## Run linters, unit and integration tests (starts the stack if it is not running)
	$(BIN)/ruff check .
	PYTHONPATH=.:ml ml/.venv/bin/pytest ml/tests
	$(BIN)/pytest

lint: setup  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

up status down: setup  ## Start, inspect or stop the local stack
	$(BIN)/sluice $@

clean: down  ## Stop the stack and delete its state
	rm -rf .sluice
