# Two entry points: `make run` (the main job: the server, on the embedded toy model) and
# `make test` (everything CI checks).
# Both create .venv on first use. torch is installed first, pinned to the CPU wheel this
# kind of machine carries, so pip never pulls a multi-GB CUDA build for a CPU machine.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKED := engine nodes formats apps tests bench training
# The editor is built by npm from its lock file; rebuilt when a source changes.
WEB_DEPS := web/node_modules/.package-lock.json
WEB_BUILT := web/dist/index.html
WEB_SOURCES := $(shell find web/src -type f) web/index.html web/vite.config.ts web/tsconfig.json

.PHONY: setup run demo test lint web-test bench clean

setup: $(STAMP) $(WEB_BUILT)

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

$(WEB_BUILT): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run build

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[dev,ray]'
	touch $(STAMP)

run: setup
	$(BIN)/diffgraph serve

demo: setup
	$(BIN)/diffgraph run workflows/toy_txt2img.json

lint: setup
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/mypy

web-test: $(WEB_DEPS)
	cd web && npm test

test: lint web-test setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/executor_overhead.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache web/node_modules web/dist
