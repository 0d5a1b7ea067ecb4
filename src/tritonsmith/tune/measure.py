"""A `measure(source) -> (status, ms)` callable on the guarded evaluator, for tune_kernel."""

from __future__ import annotations

import math

from tritonsmith.evaluate.pool import WorkerPool
from tritonsmith.evaluate.result import EvalResult
from tritonsmith.task import Task


def geometric_mean_ms(result: EvalResult) -> float | None:
    """The candidate's time over the task's perf cases (geometric mean), or None if any is missing."""
    times = [p.candidate_ms for p in result.perf]
    if not times or any(t is None or t <= 0 for t in times):
        return None
    return math.exp(sum(math.log(t) for t in times) / len(times))


TUNE_TIMING = {"rounds": 3, "warmup_ms": 10, "rep_ms": 50, "reference": False}
"""Timing of one configuration while searching: the candidate and the task's baseline, 3 interleaved
rounds of 50 ms each; the PyTorch reference is not timed. A winner is re-measured with full settings."""


class PoolMeasure:
    """Evaluates each source in full (every correctness case, perf shapes, guards, timing) on a pool.

    The latest EvalResult per source is kept in `results`, so a report can show the evaluator's own
    record (speedup vs the task's baseline measured in the same interleaved rounds) for the winner.
    `timing` overrides the pool's timing settings (default TUNE_TIMING; None: the pool's own).
    """

    def __init__(self, pool: WorkerPool, task: Task, timeout_s: float | None = None,
                 timing: dict | None = TUNE_TIMING):
        self.pool = pool
        self.task = task
        self.timeout_s = timeout_s
        self.timing = timing
        self.results: dict[str, EvalResult] = {}

    def __call__(self, source: str) -> tuple[str, float | None]:
        result = self.pool.evaluate(self.task, source, timeout_s=self.timeout_s, timing=self.timing)
        self.results[source] = result
        return result.status, geometric_mean_ms(result) if result.passed else None
