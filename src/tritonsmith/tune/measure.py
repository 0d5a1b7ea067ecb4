"""A `measure(source, limit_s) -> (status, ms)` callable on the guarded evaluator, for tune_kernel.

Every configuration is timed in the same interleaved rounds as the kernel being tuned (it stands in
for the task's baseline in the evaluation), so a configuration is compared with the original on the
same clocks and temperature, not with a time measured minutes earlier in another process. The time
returned is the original's first measured time scaled by that ratio: comparable across calls, and
immune to drift between them.
"""

from __future__ import annotations

import copy

from tritonsmith.evaluate.pool import WorkerPool
from tritonsmith.evaluate.result import EvalResult
from tritonsmith.task import Task
from tritonsmith.util.stats import geometric_mean


def geometric_mean_ms(result: EvalResult) -> float | None:
    """The candidate's time over the task's perf cases (geometric mean), or None if any is missing."""
    times = [p.candidate_ms for p in result.perf]
    if not times or any(t is None or t <= 0 for t in times):
        return None
    return geometric_mean(times)


def relative_time(result: EvalResult) -> float | None:
    """Geometric mean over perf cases of candidate time / baseline time, measured in the same rounds."""
    ratios = [p.candidate_ms / p.baseline_ms for p in result.perf
              if p.candidate_ms and p.baseline_ms and p.candidate_ms > 0 and p.baseline_ms > 0]
    if not ratios or len(ratios) != len(result.perf):
        return None
    return geometric_mean(ratios)


TUNE_TIMING = {"rounds": 3, "max_rounds": 3, "warmup_ms": 5, "reference": False}
"""Timing of one configuration while searching: the configuration and the original, 3 interleaved
rounds (evaluate/timing.py); the PyTorch reference is not timed. A winner is re-measured with VERIFY_TIMING."""

VERIFY_TIMING = {"rounds": 6, "max_rounds": 40, "ci": 0.005, "warmup_ms": 25, "reference": False, "total_ms": 0}
"""Timing of a finalist's verification (`PoolMeasure.verifier()`), each perf case with its full budget (no
share of an evaluation's total): at least 6 interleaved rounds (an even count, so that with two functions in
rotating order each is timed first as often as second), more until the speedup's 95% interval is within
±0.5% (each of N perf cases to ±0.5%·√N: timing.TimingSettings.from_job), at most 40. On a 4x H200 tuning run the search's short timing gave a 1.135x gain that a full evaluation put
at 0.962x (online_softmax_long, docs/benchmarks.md); the search ranks, the verification decides."""


class PoolMeasure:
    """Evaluates each source in full (every correctness case, perf shapes, guards, timing) on a pool,
    timed against `original` (the kernel being tuned, imported under the guards like any generated
    code; default: the task's baseline).

    The latest EvalResult per source is kept in `results`. `timing` overrides the pool's timing
    settings (default TUNE_TIMING; None: the pool's own). A measurement may take at most `timeout_s`
    (default: the pool's) and at most the `limit_s` of the call (the tuner's time left); after the first
    one (the original, with cold compile caches), at most `timeout_factor` times as long as it took, and
    never under `min_timeout_s`: a configuration whose compile runs for minutes is skipped as a timeout
    instead of eating the budget.
    """

    def __init__(self, pool: WorkerPool, task: Task, timeout_s: float | None = None,
                 timing: dict | None = TUNE_TIMING, original: str | None = None,
                 timeout_factor: float = 5.0, min_timeout_s: float = 60.0):
        self.pool = pool
        self.task = task
        self.original = original
        self.timeout_s = timeout_s
        self.timing = timing
        self.timeout_factor = timeout_factor
        self.min_timeout_s = min_timeout_s
        self.first_wall_s: float | None = None
        self.anchor_ms: float | None = None
        self.results: dict[str, EvalResult] = {}
        self.scale: PoolMeasure = self
        """Whose first measurement anchors the times returned (a verifier's: the search measure's)."""

    def verifier(self, timing: dict | None = VERIFY_TIMING) -> PoolMeasure:
        """The same evaluation with longer timing, for tune_kernel's `verify`: its times are on this
        measure's scale (this one's first time, scaled by each source's ratio to the original), and it
        shares this one's `results` and timeouts."""
        other = copy.copy(self)  # shallow: the same pool, task, original, timeouts and `results`
        other.timing, other.scale = timing, self
        return other

    def current_timeout(self, limit_s: float | None = None) -> float | None:
        first = self.scale.first_wall_s
        limits = [t for t in (self.timeout_s, limit_s) if t is not None]
        if first is not None:
            limits.append(max(self.min_timeout_s, self.timeout_factor * first))
        return max(1.0, min(limits)) if limits else None

    def __call__(self, source: str, limit_s: float | None = None) -> tuple[str, float | None]:
        result = self.pool.evaluate(self.task, source, timeout_s=self.current_timeout(limit_s), timing=self.timing,
                                    baseline=self.original)
        scale = self.scale
        if scale.first_wall_s is None and result.wall_s:
            scale.first_wall_s = result.wall_s
        self.results[source] = result
        if not result.passed:
            return result.status, None
        if scale.anchor_ms is None:
            scale.anchor_ms = geometric_mean_ms(result)
        ratio = relative_time(result)
        if ratio is None or scale.anchor_ms is None:  # no baseline timed in the same rounds
            return result.status, geometric_mean_ms(result)
        return result.status, scale.anchor_ms * ratio
