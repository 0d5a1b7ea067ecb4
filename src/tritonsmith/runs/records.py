"""What a bench keeps per task: one TaskRecord per finished task, the input of metrics and reports.

call_ok / exec_ok of a task are those of its best candidate (any candidate that ran / passed).
Each lineage keeps its best-so-far after every round, so sequential scaling (accuracy and speedup
after round r) and parallel scaling (the first k lineages) are computed from records alone.
`speedup` is the reported kernel's, after the last stage tuned it; `speedup_before_tuning` the
winner's as the search left it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class RoundPoint:
    """A lineage's best so far, after `round` (0-based) has finished."""

    round: int
    call_ok: bool
    exec_ok: bool
    speedup: float | None = None


@dataclass
class LineageOutcome:
    lineage: int
    call_ok: bool
    exec_ok: bool
    speedup: float | None = None
    rounds: list[RoundPoint] = field(default_factory=list)


TUNING_KEYS = ("tuned", "config", "speedup_from_tuning", "elapsed_s", "trials", "stop_reason", "reason")
"""What a TaskRecord keeps of the run summary's `tuning`: whether the tuned kernel replaced the winner,
its launch configuration, the tuner's own speedup over the winner, the search's time and trials, and why
it stopped (`reason`: why tuning failed)."""


@dataclass
class TaskRecord:
    task: str  # SUITE:ID
    suite: str
    solver: str  # agent | baseline | dir
    status: str  # the best candidate's EvalResult status, or "error"
    call_ok: bool
    exec_ok: bool
    speedup: float | None = None  # vs the task's baseline, re-measured; None with speed_reason
    speedup_vs_torch: float | None = None
    speed_reason: str | None = None
    lineages: list[LineageOutcome] = field(default_factory=list)
    tokens: int = 0
    usd: float | None = 0.0  # None when some call's price was unknown
    wall_s: float = 0.0
    run_dir: str | None = None  # relative to the bench folder: the task's run folder (trajectory)
    error: str | None = None  # why the task failed or could not be attempted (bad task, the verdict's message)
    speedup_before_tuning: float | None = None  # the winner's re-measured speedup before the tuner ran
    tuning: dict[str, Any] | None = None  # the tuning stage's outcome (TUNING_KEYS); None when it did not run
    speedup_noise: float | None = None  # timing_noise() of the measurement behind `speedup`; None: not recorded
    qualified: bool | None = None  # the task's gold passes its own evaluation on this device (runs/qualify.py)
    qualification: str | None = None  # why it does not, or what was dropped; None: not known on this device
    phases_s: dict[str, float] | None = None  # baseline/dir solvers: the evaluation's seconds per stage
    perf_cases: list[dict[str, Any]] | None = None  # baseline/dir solvers: each perf case's timing (PERF_CASE_KEYS)
    memory_retry: dict[str, Any] | None = None  # baseline/dir solvers: the first try's outcome where the evaluation,
    # short of GPU memory beside others, was made again alone (pool.py)
    device: str | None = None  # what it was evaluated on (the pool's GPU model, else its kind: "cpu"); None: a
    # record written before records kept it. A bench resumed on another machine holds several: the report says so

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRecord:
        """A record as to_dict wrote it; keys this version does not know (a later version's) are left out."""
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
        data["lineages"] = [LineageOutcome(**{**lin, "rounds": [RoundPoint(**p) for p in lin.get("rounds", [])]})
                            for lin in data.get("lineages", [])]
        return cls(**data)


PERF_CASE_KEYS = ("label", "speedup", "ratio_ci", "rounds", "timing_stopped", "timer", "candidate_ms",
                  "baseline_ms", "calls_per_sample", "clock_gap_ms", "clock_gaps_ms", "baseline_alone_ms")
"""What a TaskRecord keeps of each perf case of its evaluation: enough to see which case moved a speedup (the
last two only where present: each sample's clock gap where the checker's clock rejected it, and the baseline's time
alone where a candidate other than the gold was timed against it and the two were compared)."""


def perf_cases(result: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """Each perf case's timing in a result (PERF_CASE_KEYS, numbers to 4 significant digits); None: no case."""
    cases = [{k: (float(f"{p[k]:.4g}") if isinstance(p.get(k), float) else p.get(k)) for k in PERF_CASE_KEYS
              if k not in ("clock_gaps_ms", "baseline_alone_ms") or p.get(k) is not None}
             for p in (result or {}).get("perf") or []]
    return cases or None


def timing_noise(result: dict[str, Any] | None) -> float | None:
    """How much the kernel's own time moved while it was measured: over its perf cases, the median of the
    relative spread of its round medians ((max - min) / median across the interleaved timing rounds)."""
    spreads = sorted(p["candidate_spread"] for p in (result or {}).get("perf") or []
                     if p.get("candidate_spread") is not None)
    return spreads[len(spreads) // 2] if spreads else None


def latest(records: Iterable[TaskRecord]) -> list[TaskRecord]:
    """The last record of each task, in the order the tasks first appear."""
    by_task: dict[str, TaskRecord] = {}
    for record in records:
        by_task[record.task] = record
    return list(by_task.values())
