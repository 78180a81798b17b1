# sftlens: `make demo` runs the embedded study, `make test` runs the tests.
# Both create .venv and install sftlens into it first (idempotent).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints/cpu.txt
PIP_FLAGS := $(if $(wildcard $(CONSTRAINTS)),-c $(CONSTRAINTS),)
DEMO_OUT ?= runs/demo
# pytest-xdist processes for `make test` (each one builds the session fixtures, among them the
# Gemma conversion, so more workers need more memory); TEST_WORKERS=0 runs in this process
TEST_WORKERS ?= 2

.PHONY: setup demo test test-fast check format clean

$(BIN)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PIP_FLAGS) -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/sftlens demo --out $(DEMO_OUT)

test: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) tests

test-fast: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) -m "not slow" tests

check: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
