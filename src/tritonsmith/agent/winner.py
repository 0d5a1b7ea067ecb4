"""After the search: pick the winner by re-measuring the fastest verified kernels, then let the tuner
search its launch parameters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.lineage import Candidate, speed_score
from tritonsmith.agent.store import RunStore
from tritonsmith.evaluate import WorkerPool
from tritonsmith.task import Task


def select_winner(task: Task, candidates: Iterable[Candidate], store: RunStore, config: RunConfig, on_gpu: bool,
                  pool: WorkerPool) -> tuple[Candidate | None, dict[str, Any] | None]:
    """Re-measure the fastest few with more repetitions: the best of many noisy measurements is biased up."""
    verified = [c for c in candidates if c.passed]
    if not verified:
        return None, None
    if not on_gpu or not any(c.timed for c in verified):
        return min(verified, key=lambda c: (c.round, c.lineage)), None
    finalists = sorted(verified, key=lambda c: c.score(), reverse=True)[:config.final_candidates]
    measured = {}
    for candidate in finalists:
        result = pool.evaluate(task, store.candidate_source(candidate.id), timeout_s=config.eval_timeout_s,
                               timing={"rounds": config.final_timing_rounds})
        measured[candidate.id] = result
        store.append({"type": "final_measure", "candidate": candidate.id, "result": result.to_dict()})
    passing = [c for c in finalists if measured[c.id].passed]
    if not passing:
        return None, None
    winner = max(passing, key=lambda c: speed_score(measured[c.id].speedup, measured[c.id].speedup_vs_torch))
    return winner, measured[winner.id].to_dict()


def tune_winner(task: Task, source: str, config: RunConfig, store: RunStore, untuned: dict[str, Any] | None = None,
                measure: Any = None, pool: WorkerPool | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The last stage: the tuner searches the winner's launch parameters (never what it computes),
    measuring on `pool` (or on `measure`, for tests). `untuned`: the winner's final EvalResult.

    The tuned kernel is evaluated again with the finalists' full timing and replaces the winner only if
    it passes and is faster there (the search's short timings can flatter it). Returns the tuning record
    for the summary, and the tuned kernel's EvalResult when it replaces the winner (its source is then
    saved as candidate `tuned`, which best.py becomes)."""
    from tritonsmith.knowledge.hardware import profile_for
    from tritonsmith.tune import PoolMeasure, tune_kernel

    before = untuned.get("speedup") if untuned else None
    try:
        verify = None  # a scripted measure (tests) verifies with itself
        if measure is None:
            measure = PoolMeasure(pool, task, timeout_s=config.eval_timeout_s, original=source)
            verify = measure.verifier()  # the finalists: longer timing
        profile = profile_for(pool.device_name) if pool else None
        result = tune_kernel(task, source, measure, config.tune_budget_s, verify=verify, profile=profile)
    except Exception as err:  # noqa: BLE001 - tuning is an extra: the untuned winner stands
        record = {"tuned": False, "reason": f"tuning failed: {type(err).__name__}: {err}",
                  "speedup_before_tuning": before}
        store.append({"type": "tune", **record})
        return record, None
    record = {"tuned": False, "config": result.config, "original_ms": result.original_ms, "tuned_ms": result.tuned_ms,
              "search_speedup": result.speedup, "speedup_from_tuning": None, "speedup_before_tuning": before,
              "stop_reason": result.stop_reason, "elapsed_s": round(result.elapsed_s, 1), "trials": len(result.trials)}
    evaluated = None
    if result.changed and result.verified and result.speedup and result.speedup > 1:
        if pool is None:  # a scripted measure (tests): its own record of the tuned source, timed by the search
            results = getattr(measure, "results", {})  # keyed by the source measured, before the header was added
            found = next((r for src, r in results.items() if result.tuned_source.rstrip().endswith(src.strip())), None)
            evaluated = found.to_dict() if found is not None else None
        else:
            try:
                evaluated = pool.evaluate(task, result.tuned_source, timeout_s=config.eval_timeout_s,
                                          timing={"rounds": config.final_timing_rounds}).to_dict()
            except Exception as err:  # noqa: BLE001 - e.g. a worker that will not restart: the untuned winner stands
                evaluated = {"status": f"not evaluated: {type(err).__name__}: {err}"}
            store.append({"type": "final_measure", "candidate": "tuned", "result": evaluated})
        record.update(_tuning_verdict(evaluated, untuned, result.speedup, measured=pool is not None))
    if record["tuned"]:
        store.save_candidate("tuned", result.tuned_source)
    store.append({"type": "tune", **record})
    return record, evaluated if record["tuned"] else None


def _tuning_verdict(evaluated: dict[str, Any] | None, untuned: dict[str, Any] | None, search_speedup: float,
                    measured: bool) -> dict[str, Any]:
    """Whether the tuned kernel replaces the winner, and its speedup over it (from the final measurements
    of both, vs the same baseline; the search's own figure only where no final measurement was made)."""
    if evaluated is None or evaluated.get("status") != "passed":
        status = evaluated.get("status") if evaluated else "not evaluated"
        return {"tuned": False, "reason": f"the tuned kernel failed its final evaluation ({status})"}
    if not measured:
        return {"tuned": True, "speedup_from_tuning": search_speedup, "speedup_basis": "search"}
    untuned = untuned or {}
    # the same yardstick for both: vs the task's baseline if both have it, else vs PyTorch if both have that
    key = next((k for k in ("speedup", "speedup_vs_torch") if evaluated.get(k) and untuned.get(k)), None)
    if key is None:
        return {"tuned": False, "reason": "the tuned and untuned kernels have no speedup measured the same way"}
    after, before = evaluated[key], untuned[key]
    if after <= before:
        return {"tuned": False, "reason": f"re-measured with full timing, the tuned kernel was not faster "
                f"({after:.3f}x vs {before:.3f}x)"}
    return {"tuned": True, "speedup_from_tuning": after / before, "speedup_basis": f"final measurements ({key})"}
