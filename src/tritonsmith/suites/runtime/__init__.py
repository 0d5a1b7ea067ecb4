"""What runs beside the candidate, in the evaluator's worker and its reference keeper: the code that the
generated task files and their harnesses call. Nothing here reads a benchmark file; the adapters that do
(the modules of suites/) import nothing from here but torch-free constants and the pytest call planner.

- this module: seeding, and loading a module from a file (the gold code, a KernelBench problem);
- tensors.py: walking nested values for tensors, copying them, results as tensors;
- perf_call.py: what each perf input's maker noted (the calls on copies of the inputs: util/copied_calls.py);
- pytest_runner.py, monkeypatch.py: the subset of pytest that GEAK's ROCm tests need;
- geak_perf.py: GEAK-eval's TritonBench-G perf scripts, run without GEAK-eval;
- rocm_perf.py: GEAK's ROCm perf tests, their op captured as data and rebuilt on any code.

torch and numpy are imported inside the functions that need them, so importing this package costs nothing.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from tritonsmith.suites.runtime.tensors import as_tensors
from tritonsmith.util.modules import load_module

__all__ = ["as_tensors", "load_gold", "load_module", "seed_all"]  # what generated task files import


def seed_all(seed: int) -> None:
    """Python's, NumPy's and torch's generators seeded alike."""
    import random

    import numpy
    import torch
    random.seed(seed)
    numpy.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# name -> (file, digest of its content) of each gold module loaded in this process
_GOLD_LOADED: dict[str, tuple[str, str]] = {}


def load_gold(name: str, path: str):
    """A task's gold code (its generated gold file), imported once per process under `name`, and again where
    the file now holds other code: a worker or keeper outlives a task, and two tasks of one id (two checkouts,
    or a task file edited between evaluations) have one name but not one gold."""
    loaded = (path, hashlib.sha256(Path(path).read_bytes()).hexdigest())
    module = sys.modules.get(name)
    if module is not None and _GOLD_LOADED.get(name) == loaded:
        return module
    module = load_module(name, path)
    _GOLD_LOADED[name] = loaded
    return module
