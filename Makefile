# `make demo`: set up .venv and evaluate a kernel; `make test`: set up .venv and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PyTorch's CPU build (a 190 MB download; PyPI's default Linux build is the CUDA one, several GB). Override
# with TORCH_INDEX=https://pypi.org/simple for PyPI's default build.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

# torch and triton are installed only if the venv lacks them, so a user's CUDA/ROCm build is never replaced.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || { \
		$(BIN)/python -m pip install -q --no-deps "torch==2.13.0" --index-url $(TORCH_INDEX) \
		|| echo "PyTorch's CPU index could not be used: installing PyPI's default torch build (on Linux, the CUDA build: several GB)"; \
		$(BIN)/python -m pip install -q "torch==2.13.0"; }  # its dependencies (or, failing the above, torch itself)
	$(BIN)/python -c "import triton" 2>/dev/null || $(BIN)/python -m pip install -q triton
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/tritonsmith tasks
	$(BIN)/tritonsmith eval builtin:softmax examples/softmax_candidate.py

test: setup
	$(BIN)/python -m ruff check src tests benchmarks
	$(BIN)/python -m pytest -n auto -q -m "not ray"; first=$$?; \
	$(BIN)/python -m pytest -q -m ray; second=$$?; \
	if [ $$first -ne 0 ]; then exit $$first; fi; exit $$second

lint: setup
	$(BIN)/python -m ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
