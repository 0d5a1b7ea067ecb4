# `make demo`: set up .venv and evaluate a kernel; `make test`: set up .venv and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

# torch and triton are installed only if the venv lacks them, so a user's CUDA/ROCm build is never replaced.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -c "import triton" 2>/dev/null || $(BIN)/python -m pip install -q triton
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/tritonsmith tasks
	$(BIN)/tritonsmith eval builtin:softmax examples/softmax_candidate.py

test: setup
	$(BIN)/python -m ruff check src tests benchmarks
	$(BIN)/python -m pytest -n auto -q

lint: setup
	$(BIN)/python -m ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
