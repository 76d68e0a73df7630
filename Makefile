# Two commands on a fresh machine:  make run  (the workflow)  and  make test  (the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE_ARGS ?=
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test install lint bench gpu-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Installs only when pyproject.toml changed since the last install.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The linters CI runs (through the test suite): ruff, snakefmt, and Snakemake's own linter.
lint: install
	$(BIN)/python -m ruff check src tests bench
	$(BIN)/python -m snakefmt --check .
	$(BIN)/snakemake --lint

bench: install
	$(BIN)/python -m bench.ranking
	$(BIN)/python -m bench.kernels
	$(BIN)/python -m bench.subnormals

# On a CUDA machine: compiled kernel tests, kernel benchmarks and paper-size trainer steps,
# appended to bench/RESULTS.md.
gpu-check: install
	$(BIN)/python -m bench.gpu_check

clean:
	rm -rf results logs benchmarks .snakemake data/synthetic
