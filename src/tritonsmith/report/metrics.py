"""Suite metrics over TaskRecords: pure functions, plain JSON-able dicts. docs/metrics.md has the formulas.

Every fraction is over ALL tasks of the bench (a task that errored counts as failed); speedups are
over the correct tasks that have a measured speedup, and are None with a reason when there is none.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tritonsmith.runs.records import LineageOutcome, TaskRecord, latest
from tritonsmith.util.stats import geometric_mean

FAST_P = (1.0, 1.5, 2.0)
NOISE_FLOOR = 0.01  # the least timing noise assumed: self-speedups stayed within 0.990-1.007 (docs/benchmarks.md)


@dataclass(frozen=True)
class Outcome:
    """What counts of one task (or lineage) at some point: did it run, did it pass, how fast."""

    call_ok: bool
    exec_ok: bool
    speedup: float | None = None  # only for an exec_ok outcome with a measured speedup
    noise: float | None = None  # the speedup's timing noise (TaskRecord.speedup_noise); None: not recorded

    def faster_than(self, p: float) -> bool:
        """Correct, and more than p times as fast as the baseline beyond the timing noise."""
        margin = max(self.noise or 0.0, NOISE_FLOOR)
        return self.exec_ok and self.speedup is not None and self.speedup > p * (1 + margin)


def suite_metrics(records: Iterable[TaskRecord]) -> dict:
    """The headline metrics, pass@k, sequential and parallel scaling, cost and statuses of a bench."""
    records = latest(records)
    finals = [final_outcome(record) for record in records]
    return {
        "tasks": len(records),
        "statuses": dict(sorted(Counter(record.status for record in records).items())),
        **summarize(finals, speed_reasons=[r.speed_reason for r, o in zip(records, finals) if o.exec_ok]),
        "pass_at_k": pass_at_k(records),
        "sequential": sequential_scaling(records),
        "parallel": parallel_scaling(records),
        "cost": cost(records),
        "tuning": tuning_metrics(records),
        "qualified": qualified_metrics(records),
        "devices": devices(records),
    }


def devices(records: list[TaskRecord]) -> dict[str, int]:
    """How many tasks each device evaluated ({} where no record says: written before records kept it); records
    that do not say, beside some that do (a bench resumed since), count as "not recorded"."""
    if not any(record.device for record in records):
        return {}
    return dict(Counter(record.device or "not recorded" for record in records))


def qualified_metrics(records: list[TaskRecord]) -> dict | None:
    """The headline metrics again over the qualified tasks only (whose gold passes its own evaluation on the
    device, runs/qualify.py), with the counts and the reasons of the others; None when no task's
    qualification is known. The metrics above stay over all tasks, as GEAK-eval reports them."""
    known = [r for r in records if r.qualified is not None]
    if not known:
        return None
    qualified = [r for r in known if r.qualified]
    finals = [final_outcome(r) for r in qualified]
    return {"tasks": len(qualified), "unqualified": len(known) - len(qualified), "unknown": len(records) - len(known),
            "unqualified_reasons": {r.task: r.qualification for r in known if not r.qualified},
            **summarize(finals, speed_reasons=[r.speed_reason for r, o in zip(qualified, finals) if o.exec_ok])}


def task_rows(records: Iterable[TaskRecord]) -> list[dict]:
    """One row per task (the last record of each), in the order the tasks first finished."""
    rows = []
    for record in latest(records):
        outcome = final_outcome(record)
        rows.append({
            "task": record.task, "suite": record.suite, "solver": record.solver, "status": record.status,
            "call_ok": outcome.call_ok, "exec_ok": outcome.exec_ok, "speedup": outcome.speedup,
            "speedup_vs_torch": record.speedup_vs_torch, "speed_reason": record.speed_reason,
            "lineages": len(record.lineages), "lineages_passed": sum(lin.exec_ok for lin in record.lineages),
            "tokens": record.tokens, "usd": record.usd, "wall_s": record.wall_s, "error": record.error,
            "speedup_before_tuning": speedup_before_tuning(record, outcome) if record.tuning else None,
            "tuned": bool(record.tuning.get("tuned")) if record.tuning else None,
        })
    return rows


def final_outcome(record: TaskRecord) -> Outcome:
    """The task's outcome as recorded; a task that could not be attempted did not even run."""
    if record.status == "error":
        return Outcome(False, False)
    return Outcome(record.call_ok, record.exec_ok, _speedup(record.exec_ok, record.speedup), record.speedup_noise)


def lineage_outcomes(record: TaskRecord) -> list[LineageOutcome]:
    """The task's lineages by index; a task without any (an error, a one-shot solver) is one attempt."""
    if record.status == "error" or not record.lineages:
        outcome = final_outcome(record)
        return [LineageOutcome(0, outcome.call_ok, outcome.exec_ok, outcome.speedup)]
    return sorted(record.lineages, key=lambda lin: lin.lineage)


def summarize(outcomes: list[Outcome], speed_reasons: Iterable[str | None] = ()) -> dict:
    """Accuracies, speedup and fast_p of one outcome per task."""
    total = len(outcomes)
    speedup = speedup_stats(outcomes, speed_reasons)
    # Correct tasks, none of them timed (the CPU interpreter): whether any is fast cannot be said.
    untimed = speedup["correct_tasks"] > 0 and speedup["tasks"] == 0
    return {
        "call_ok": sum(o.call_ok for o in outcomes),
        "exec_ok": sum(o.exec_ok for o in outcomes),
        "call_accuracy": _fraction(sum(o.call_ok for o in outcomes), total),
        "exec_accuracy": _fraction(sum(o.exec_ok for o in outcomes), total),
        "speedup": speedup,
        # fast_p (KernelBench's, counting only speedups beyond the timing noise): over all tasks.
        "fast_p": {f"{p:.1f}": None if untimed else _fraction(sum(o.faster_than(p) for o in outcomes), total)
                   for p in FAST_P},
        "fast_p_reason": speedup["reason"] if untimed else None,
    }


def speedup_stats(outcomes: list[Outcome], speed_reasons: Iterable[str | None] = ()) -> dict:
    """Geometric mean (ours) and arithmetic mean (GEAK's "average speedup") over measured correct tasks."""
    correct = sum(o.exec_ok for o in outcomes)
    speedups = [o.speedup for o in outcomes if o.exec_ok and o.speedup is not None]
    if not speedups:
        if not correct:
            reason = "no task passed, so there is no speedup to average"
        else:
            common = Counter(r for r in speed_reasons if r).most_common(1)
            why = f": {common[0][0]}" if common else ""
            reason = f"none of the {correct} correct tasks has a measured speedup{why}"
        return {"geomean": None, "arithmetic_mean": None, "tasks": 0, "correct_tasks": correct,
                "reason": reason}
    return {"geomean": geometric_mean(speedups),
            "arithmetic_mean": math.fsum(speedups) / len(speedups),
            "tasks": len(speedups), "correct_tasks": correct, "reason": None}


def tuning_metrics(records: list[TaskRecord]) -> dict | None:
    """The speedup before the last stage tuned the winners, and what tuning bought; None without tuning info.

    `speedup_before` is over the same tasks as the headline speedup, each with its winner's speedup
    before tuning (the final one where tuning kept the untuned kernel). `gain` is the tuner's own
    speedup over the winner where it was applied, and 1 where it kept the untuned kernel.
    """
    if not any(record.tuning for record in records):
        return None
    finals = [final_outcome(record) for record in records]
    before = [Outcome(o.call_ok, o.exec_ok, speedup_before_tuning(r, o)) for r, o in zip(records, finals)]
    attempted = [record for record, outcome in zip(records, finals) if record.tuning and outcome.exec_ok]
    gains = [gain for gain in map(_tuning_gain, attempted) if gain is not None]
    return {
        "attempted_tasks": len(attempted),
        "tuned_tasks": sum(bool(record.tuning.get("tuned")) for record in attempted),
        "speedup_before": speedup_stats(before),
        "gain": {"geomean": geometric_mean(gains),
                 "tasks": len(gains)},
    }


def speedup_before_tuning(record: TaskRecord, outcome: Outcome) -> float | None:
    """The task's speedup before tuning, for a task whose final speedup counts; None where it is unknown."""
    if outcome.speedup is None:
        return None
    if record.speedup_before_tuning is not None:
        return _speedup(True, record.speedup_before_tuning)
    return None if record.tuning and record.tuning.get("tuned") else outcome.speedup


def pass_at_k(records: list[TaskRecord]) -> list[dict]:
    """Unbiased pass@k over each task's lineages (Chen et al. 2021), averaged over all tasks.

    A task with n < k lineages counts with all of them (1 if any passed): the estimator needs n >= k.
    """
    counts = [(len(lins), sum(lin.exec_ok for lin in lins)) for lins in map(lineage_outcomes, records)]
    largest = max((n for n, _ in counts), default=0)
    points = []
    for k in range(1, largest + 1):
        values = [_pass_at_k(n, c, k) for n, c in counts]
        points.append({"k": k, "value": _fraction(math.fsum(values), len(values)),
                       "tasks_with_fewer_lineages": sum(n < k for n, _ in counts)})
    return points


def sequential_scaling(records: list[TaskRecord]) -> list[dict]:
    """The metrics after each round r (0-based): each task's best over its lineages' points at round r.

    A lineage that ended before round r keeps its last point; one that recorded no points counts its
    final outcome throughout. Speedups here were measured during the search, not re-measured.
    """
    lineages = [lineage_outcomes(record) for record in records]
    rounds = max((point.round + 1 for lins in lineages for lin in lins for point in lin.rounds), default=0)
    return [{"round": r, **_scaling_point([_best(_at_round(lin, r) for lin in lins) for lins in lineages])}
            for r in range(rounds)]


def parallel_scaling(records: list[TaskRecord]) -> list[dict]:
    """The metrics using only the first k lineages of each task (best of them), for k = 1..max lineages."""
    lineages = [lineage_outcomes(record) for record in records]
    largest = max((len(lins) for lins in lineages), default=0)
    return [{"k": k, **_scaling_point([_best(_lineage_final(lin) for lin in lins[:k]) for lins in lineages])}
            for k in range(1, largest + 1)]


def cost(records: list[TaskRecord]) -> dict:
    """Tokens, dollars and task wall time: totals, per task and per solved (exec_ok) task."""
    total, solved = len(records), sum(final_outcome(r).exec_ok for r in records)
    unpriced = sum(r.usd is None for r in records)
    usd = None if unpriced else math.fsum(r.usd for r in records)
    return {
        "tokens": _per(sum(r.tokens for r in records), total, solved),
        "usd": {**_per(usd, total, solved),
                "reason": f"unknown: {unpriced} task(s) made a call whose price is unknown" if unpriced else None},
        # The sum of per-task wall times: with tasks run side by side it exceeds the bench's elapsed time.
        "wall_s": _per(math.fsum(r.wall_s for r in records), total, solved),
        "solved_tasks": solved,
    }


def _scaling_point(outcomes: list[Outcome]) -> dict:
    summary = summarize(outcomes)
    speedup = summary["speedup"]
    return {"call_accuracy": summary["call_accuracy"], "exec_accuracy": summary["exec_accuracy"],
            "speedup_geomean": speedup["geomean"], "speedup_arithmetic_mean": speedup["arithmetic_mean"],
            "speedup_tasks": speedup["tasks"]}


def _at_round(lineage: LineageOutcome, r: int) -> Outcome:
    if not lineage.rounds:
        return _lineage_final(lineage)
    reached = [point for point in lineage.rounds if point.round <= r]
    if not reached:
        return Outcome(False, False)
    point = max(reached, key=lambda p: p.round)
    return Outcome(point.call_ok, point.exec_ok, _speedup(point.exec_ok, point.speedup))


def _lineage_final(lineage: LineageOutcome) -> Outcome:
    return Outcome(lineage.call_ok, lineage.exec_ok, _speedup(lineage.exec_ok, lineage.speedup))


def _best(outcomes: Iterable[Outcome]) -> Outcome:
    outcomes = list(outcomes)
    speedups = [o.speedup for o in outcomes if o.exec_ok and o.speedup is not None]
    return Outcome(any(o.call_ok for o in outcomes), any(o.exec_ok for o in outcomes),
                   max(speedups) if speedups else None)


def _tuning_gain(record: TaskRecord) -> float | None:
    if not record.tuning.get("tuned"):
        return 1.0  # the untuned kernel was kept: tuning changed nothing
    return _speedup(True, record.tuning.get("speedup_from_tuning"))


def _pass_at_k(n: int, c: int, k: int) -> float:
    if n < k:
        return 1.0 if c else 0.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _speedup(exec_ok: bool, speedup: float | None) -> float | None:
    """A speedup counts only for a correct kernel, and only if it is a real measurement."""
    if not exec_ok or speedup is None or not math.isfinite(speedup) or speedup <= 0:
        return None
    return float(speedup)


def _fraction(count: float, total: int) -> float | None:
    return count / total if total else None


def _per(amount: float | None, tasks: int, solved: int) -> dict:
    return {"total": amount,
            "per_task": None if amount is None or not tasks else amount / tasks,
            "per_solved_task": None if amount is None or not solved else amount / solved}
