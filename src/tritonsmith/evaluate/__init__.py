"""Running one candidate against one task in an isolated worker: call, exec, guards, timing."""

from tritonsmith.evaluate.pool import DeviceError, EvalConfig, EvaluationCancelled, WorkerPool, evaluate
from tritonsmith.evaluate.result import STATUSES, CaseResult, EvalResult, PerfResult

__all__ = ["STATUSES", "CaseResult", "DeviceError", "EvalConfig", "EvalResult", "EvaluationCancelled", "PerfResult",
           "WorkerPool", "evaluate"]
