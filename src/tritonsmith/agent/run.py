"""`tritonsmith run`: set up a run folder, the model, the workers and the knowledge, run the agent,
pick the winner by re-measuring the fastest verified kernels, and write the summary."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from tritonsmith.agent import prompts
from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.lineage import Candidate, speed_score
from tritonsmith.agent.loop import Agent
from tritonsmith.agent.progress import Progress
from tritonsmith.agent.store import RunStore
from tritonsmith.config import ConfigError, check_ranges
from tritonsmith.durable import folder_lock, read_text
from tritonsmith.evaluate import EvalConfig, WorkerPool
from tritonsmith.interrupt import Interrupted
from tritonsmith.task import Task

# what must match for a folder to be resumed rather than refused
IDENTITY = ("model", "mode", "start_from", "temperature")


def run_task(task: Task, config: RunConfig, out: str | Path, llm: Any = None, quiet: bool = False,
             pool: WorkerPool | None = None) -> dict[str, Any]:
    """One agent run in folder `out`, which no other process may use meanwhile (FolderInUse).
    `pool`: warm workers to share across runs (a bench); else one is made."""
    check_ranges(config)
    with folder_lock(out, "run folder"):
        return _run_locked(task, config, out, llm, quiet, pool)


def _run_locked(task: Task, config: RunConfig, out: str | Path, llm: Any, quiet: bool,
                pool: WorkerPool | None) -> dict[str, Any]:
    from tritonsmith.llm import Budget, make_llm

    store = RunStore(out)
    _check_resumable(store, task, config)
    store.save_config({"task": task.name, **dataclasses.asdict(config)})
    state = store.load_state() or {}
    budget = Budget.from_snapshot(state["budget"]) if state.get("budget") else Budget()
    budget.max_tokens, budget.max_usd, budget.max_wall_s = config.budget_tokens, config.budget_usd, config.budget_wall_s
    if llm is None:
        llm = make_llm(config.model, api_base=config.api_base,
                       api_key=os.environ.get(config.api_key_env) if config.api_key_env else None,
                       cache_path=store.cache_path, mode="replay" if config.replay else "record",
                       price_per_mtok=tuple(config.price_per_mtok) if config.price_per_mtok else None,
                       max_retries=config.llm_retries, timeout_s=config.llm_timeout_s)
        if not config.replay:  # what every call recorded here cost, also those after the last save or cut off
            budget.restore_spending(llm.cache.recorded_spend())
    start_source = _start_source(task, config)
    started = time.perf_counter()
    own_pool = pool is None
    if own_pool:
        eval_config = EvalConfig(timeout_s=config.eval_timeout_s, workers_per_gpu=config.workers_per_gpu)
        from tritonsmith.runs.pools import make_pool
        pool = make_pool(config, eval_config, workers=config.parallel if config.device == "cpu" else None)
    try:
        context = build_context(task, config, pool.device_name if pool.device_kind != "cpu" else None)
        progress = Progress(config, quiet=quiet)
        agent = Agent(task, config, llm, budget, pool, store, context, start_source=start_source,
                      progress=progress, error_guide=_error_guide(config))
        agent.run()
        progress.close()
        if agent.stop_kind == "interrupted":
            raise Interrupted(f"finished work is saved in {out}")
        if agent.waiting and agent.stop_kind is None:  # a queued model: the lineages went as far as they could
            from tritonsmith.llm import RepliesPending
            raise RepliesPending(agent.waiting)
        on_gpu = pool.device_kind != "cpu"
        device_name = pool.device_name
        # the same workers re-measure and tune: no two timings ever share a GPU, also in a bench of many tasks
        winner, final = select_winner(task, agent, store, config, on_gpu, pool)
        tuning = None
        if winner is not None and final is not None and config.tune_budget_s > 0:
            tuning, tuned_final = tune_winner(task, store.candidate_source(winner.id), config, store, final, pool=pool)
            final = tuned_final or final
    finally:
        if own_pool:
            pool.close()
    summary = write_summary(task, config, agent, store, budget, winner, final, device_name, on_gpu,
                            time.perf_counter() - started, tuning)
    return summary


def build_context(task: Task, config: RunConfig, device_name: str | None) -> prompts.Context:
    from tritonsmith.knowledge.hardware import describe, profile_for

    context = prompts.Context(task=task, task_text=prompts.task_description(task),
                              environment=prompts.environment(device_name, stack_versions()))
    profile = profile_for(device_name) if config.hardware_knowledge else None
    if profile is not None:
        context.hardware = describe(profile)
    if config.guide_knowledge:
        from tritonsmith.knowledge.guide import guide_sections
        context.guide = guide_sections(kind=task.kind, vendor=profile.vendor if profile else "nvidia")
    if config.one_shot:
        from tritonsmith.knowledge.retrieval import ExampleCorpus
        from tritonsmith.suites import load_suite
        corpus = ExampleCorpus.from_tasks(load_suite("builtin"))
        for path in config.corpus:
            (corpus.add_folder if Path(path).is_dir() else corpus.add_json)(path)
        found = corpus.search(task.instruction, k=1, exclude={task.id})
        if found:
            example = found[0]
            context.example = f"{example.description.strip()}\n```python\n{example.code.strip()}\n```"
    return context


def stack_versions() -> str:
    """torch's and Triton's versions as installed, read from their package metadata (neither is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for label, names in (("torch", ("torch",)), ("Triton", ("triton", "pytorch-triton-rocm", "pytorch-triton"))):
        for name in names:
            try:
                found.append(f"{label} {version(name)}")
                break
            except PackageNotFoundError:
                continue
    return ", ".join(found) or "torch and Triton versions unknown"


def select_winner(task: Task, agent: Agent, store: RunStore, config: RunConfig, on_gpu: bool,
                  pool: WorkerPool) -> tuple[Candidate | None, dict[str, Any] | None]:
    """Re-measure the fastest few with more repetitions: the best of many noisy measurements is biased up."""
    verified = [c for c in agent.candidates.values() if c.passed]
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


def write_summary(task: Task, config: RunConfig, agent: Agent, store: RunStore, budget: Any,
                  winner: Candidate | None, final: dict[str, Any] | None, device_name: str | None,
                  on_gpu: bool, wall_s: float, tuning: dict[str, Any] | None = None) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for c in agent.candidates.values():
        statuses[c.status] = statuses.get(c.status, 0) + 1
    speed_measured = final is not None
    summary = {
        "task": task.name, "model": config.model, "mode": config.mode, "device": device_name,
        "solved": winner is not None, "best_candidate": winner.id if winner else None,
        "speedup": final.get("speedup") if final else None,
        "speedup_vs_torch": final.get("speedup_vs_torch") if final else None,
        "speed_measured": speed_measured,
        "speed_reason": None if speed_measured else (
            "no GPU, so candidates were verified on the Triton CPU interpreter only"
            if not on_gpu else "no verified kernel to measure"),
        "search_speedup": winner.speedup if winner else None,
        "rounds": {lin.index: lin.round for lin in agent.lineages},
        "lineage_end": {lin.index: lin.done for lin in agent.lineages},
        "restarts": sum(lin.restarts for lin in agent.lineages),
        "candidates": len(agent.candidates), "statuses": statuses,
        "stop_reason": agent.stop_reason, "stop_kind": agent.stop_kind, "budget": budget.snapshot(), "wall_s": round(wall_s, 1),
        "last_failure": None if winner is not None else agent.last_failure,
        "agent_overhead_per_round_s": round(agent.overhead_s / agent.steps, 4) if agent.steps else None,
        "final_result": final,
        "tuning": tuning,
    }
    if winner is not None:
        source = store.candidate_source("tuned" if tuning and tuning.get("tuned") else winner.id)
        header = (f"# tritonsmith: best kernel for {task.name} (candidate {winner.id}, model {config.model}); "
                  + (f"speedup {summary['speedup']:.3f}x vs baseline on {device_name}\n"
                     if summary["speedup"] else "verified on the CPU interpreter; speed not measured\n"))
        store.write("best.py", header + source)
    store.write("summary.json", json.dumps(summary, indent=2, default=str))
    store.write("summary.md", summary_text(summary))
    return summary


def summary_text(summary: dict[str, Any]) -> str:
    lines = [f"# {summary['task']} with {summary['model']}", ""]
    if summary["solved"]:
        lines.append(f"Best kernel: {summary['best_candidate']} (best.py).")
    elif summary.get("last_failure"):
        lines.append(f"No candidate passed the evaluator; the last attempt: {summary['last_failure'].rstrip('.')}.")
    else:
        lines.append("No candidate passed the evaluator.")
    if summary["speed_measured"]:
        speedup = summary["speedup"]
        lines.append(f"Speedup vs baseline: {speedup:.3f}x; vs PyTorch: {summary['speedup_vs_torch']:.3f}x "
                     f"(re-measured on {summary['device']})." if speedup else "Speed measured vs PyTorch only.")
    else:
        lines.append(f"Speed not measured: {summary['speed_reason']}.")
    tuning = summary.get("tuning")
    if tuning:
        before = tuning.get("speedup_before_tuning")
        lines.append(f"Tuning: {'applied' if tuning.get('tuned') else 'kept the untuned kernel'}"
                     + (f" (speedup before tuning {before:.3f}x)" if before else "")
                     + (f"; {tuning['reason']}" if tuning.get("reason") else "") + ".")
    spent = summary["budget"]["spent"]
    cost = f"${spent['usd']:.4f}" + (f" (+{spent['unpriced_calls']} calls of unknown price)"
                                     if spent.get("unpriced_calls") else "")
    if spent.get("estimated_calls"):
        cost += f"; the tokens of {spent['estimated_calls']} replies written by hand into the queue are estimates"
    if spent.get("interrupted_calls"):
        cost += f"; {spent['interrupted_calls']} calls were cut off by a stop (their tokens are unknown)"
    tally = ", ".join(f"{k} {v}" for k, v in summary["statuses"].items())
    lines += ["", f"Candidates: {summary['candidates']}" + (f" ({tally})" if tally else "")
              + f"; trap restarts: {summary['restarts']}.",
              f"Spent: {spent.get('tokens', 0)} tokens, {cost}, {summary['wall_s']} s.",
              f"Stopped because: {(summary['stop_reason'] or 'all lineages finished').rstrip('.')}."]
    return "\n".join(lines) + "\n"


def _start_source(task: Task, config: RunConfig) -> str | None:
    if config.mode != "optimize":
        return None
    if config.start_from:
        return read_text(config.start_from, "kernel to start from (start_from)")
    if not task.baseline:
        raise ConfigError(f"optimize mode needs a kernel to start from: task {task.name} has no baseline, "
                          "so pass --start-from FILE.")
    return task.baseline


def _check_resumable(store: RunStore, task: Task, config: RunConfig) -> None:
    previous = store.load_config()
    if previous is None:
        return
    if previous.get("task") != task.name:
        raise ConfigError(f"{store.folder} holds a run of task {previous.get('task')}; use another --out.")
    for key in IDENTITY:
        if previous.get(key) != getattr(config, key):
            raise ConfigError(f"{store.folder} holds a run with {key}={previous.get(key)!r}, not "
                              f"{getattr(config, key)!r}; resume it with the same setting or use another --out.")


def _error_guide(config: RunConfig):
    if not config.guide_knowledge:
        return None
    from tritonsmith.knowledge.guide import guide_sections
    return lambda error: guide_sections(error=error, max_chars=2000) if error else ""
