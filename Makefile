# Two entry points: `make run` (the default pipeline) and `make test` (the test suite).
# Both create .venv on first use and install the package with its pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# On a CPU-only Linux machine, PyPI's torch wheel is the CUDA build (several GB). Point pip at the
# CPU wheels instead, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu, or at a local wheel folder.
TORCH_INDEX ?=
PIP_TORCH := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)

.PHONY: run test lint summary report clean

$(BIN)/snakemake: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_TORCH) -e '.[test]'
	touch $@

run: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES)

test: $(BIN)/snakemake
	$(BIN)/python -m pytest

summary: $(BIN)/snakemake
	$(BIN)/python -m sparsefeatures.tools.summary

report: $(BIN)/snakemake
	$(BIN)/snakemake --report report.html

lint: $(BIN)/snakemake
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
