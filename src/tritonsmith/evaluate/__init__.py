"""Running one candidate against one task in an isolated worker: call, exec, guards, timing.

Names are imported on first use, so that the processes beside a candidate (evaluate/checker.py,
evaluate/worker.py) never import the pool.
"""

from __future__ import annotations

from typing import Any

_WHERE = {"DeviceError": "processes", "EvalConfig": "pool", "EvaluationCancelled": "processes", "WorkerPool": "pool",
          "evaluate": "pool", "STATUSES": "result", "CaseResult": "result", "EvalResult": "result",
          "PerfResult": "result"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tritonsmith.evaluate' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f"tritonsmith.evaluate.{_WHERE[name]}"), name)
