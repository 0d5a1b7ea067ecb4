"""`tritonsmith run`: set up a run folder, the model, the workers and the knowledge, let the agent search,
pick the winner by re-measuring the fastest verified kernels, tune it, and write the summary."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.context import build_context, error_guide
from tritonsmith.agent.ledger import Ledger
from tritonsmith.agent.lineage import Candidate
from tritonsmith.agent.loop import Agent
from tritonsmith.agent.progress import Progress
from tritonsmith.agent.store import RunStore
from tritonsmith.agent.winner import select_winner, tune_winner
from tritonsmith.config import ConfigError, check_ranges
from tritonsmith.durable import folder_lock, read_text
from tritonsmith.evaluate import EvalConfig, WorkerPool
from tritonsmith.interrupt import Interrupted
from tritonsmith.summary import RunSummary
from tritonsmith.task import Task

# what must match for a folder to be resumed rather than refused
IDENTITY = ("model", "mode", "start_from", "temperature")


def solve_task(task: Task, config: RunConfig, out: str | Path, llm: Any = None, quiet: bool = False,
               pool: WorkerPool | None = None) -> RunSummary:
    """One agent run in folder `out`, which no other process may use meanwhile (FolderInUse).
    `pool`: warm workers to share across runs (a bench); else one is made."""
    check_settings(config)
    with folder_lock(out, "run folder"):
        return _solve_locked(task, config, out, llm, quiet, pool)


def check_settings(config: RunConfig) -> None:
    """ConfigError for settings no run can go on with: a number out of range, a price that is not two numbers,
    or a kernel to start from outside optimize mode."""
    check_ranges(config)
    if config.price_per_mtok is not None and len(config.price_per_mtok) != 2:
        raise ConfigError(f"--price-per-mtok (price_per_mtok) takes two prices, input and output, e.g. 3,15 (got "
                          f"{','.join(f'{p:g}' for p in config.price_per_mtok)}).")
    if config.start_from and config.mode != "optimize":
        raise ConfigError("start_from is the kernel that optimize mode starts from, but the mode is "
                          f"{config.mode}: add --mode optimize (mode: optimize in a config), or leave it out.")


def _solve_locked(task: Task, config: RunConfig, out: str | Path, llm: Any, quiet: bool,
                  pool: WorkerPool | None) -> RunSummary:
    store = RunStore(out)
    _check_resumable(store, task, config)
    start_source = _start_source(task, config)  # (a file that cannot be read leaves the folder as it was)
    store.save_config({"task": task.name, **dataclasses.asdict(config)})
    budget = _budget(store, config)
    llm = llm if llm is not None else _model(config, store, budget)
    started = time.perf_counter()
    own_pool = pool is None
    if own_pool:
        eval_config = EvalConfig(timeout_s=config.eval_timeout_s, workers_per_gpu=config.workers_per_gpu)
        from tritonsmith.runs.pools import make_pool
        pool = make_pool(config, eval_config, workers=config.parallel if config.device == "cpu" else None)
    try:
        on_gpu, device_name = pool.device_kind != "cpu", pool.device_name
        context = build_context(task, config, pool.device_name if on_gpu else None)
        progress = Progress(config, quiet=quiet)
        agent = Agent(task, config, llm, budget, pool, store, context, start_source=start_source,
                      progress=progress, error_guide=error_guide(config))
        agent.search()
        progress.close()
        ledger = agent.ledger
        if ledger.stop_kind == "interrupted":
            raise Interrupted(f"finished work is saved in {out}")
        if ledger.waiting and ledger.stop_kind is None:  # a queued model: the lineages went as far as they could
            from tritonsmith.llm import RepliesPending
            raise RepliesPending(ledger.waiting)
        # the same workers re-measure and tune: no two timings ever share a GPU, also in a bench of many tasks
        winner, final = select_winner(task, ledger.candidates.values(), store, config, on_gpu, pool)
        tuning = None
        if winner is not None and final is not None and config.tune_budget_s > 0:
            tuning, tuned_final = tune_winner(task, store.candidate_source(winner.id), config, store, final, pool=pool)
            final = tuned_final or final
    finally:
        if own_pool:
            pool.close()
    summary = summarize(task, config, ledger, winner, final, device_name, on_gpu,
                        time.perf_counter() - started, tuning)
    write_summary(summary, store, tuned=bool(tuning and tuning.get("tuned")))
    return summary


def _budget(store: RunStore, config: RunConfig) -> Any:
    """The run's budget: what a resumed run had spent, with the limits configured now."""
    from tritonsmith.llm import Budget

    state = store.load_state() or {}
    budget = Budget.from_snapshot(state["budget"]) if state.get("budget") else Budget()
    budget.max_tokens, budget.max_usd, budget.max_wall_s = config.budget_tokens, config.budget_usd, config.budget_wall_s
    return budget


def _model(config: RunConfig, store: RunStore, budget: Any) -> Any:
    """The configured model behind the run folder's record/replay cache."""
    from tritonsmith.llm import make_llm

    llm = make_llm(config.model, api_base=config.api_base,
                   api_key=os.environ.get(config.api_key_env) if config.api_key_env else None,
                   cache_path=store.cache_path, mode="replay" if config.replay else "record",
                   price_per_mtok=tuple(config.price_per_mtok) if config.price_per_mtok else None,
                   max_retries=config.llm_retries, timeout_s=config.llm_timeout_s)
    if not config.replay:  # what every call recorded here cost, also those after the last save or cut off
        budget.restore_spending(llm.cache.recorded_spend())
    return llm


def summarize(task: Task, config: RunConfig, ledger: Ledger, winner: Candidate | None, final: dict[str, Any] | None,
              device_name: str | None, on_gpu: bool, wall_s: float, tuning: dict[str, Any] | None) -> RunSummary:
    statuses: dict[str, int] = {}
    for c in ledger.candidates.values():
        statuses[c.status] = statuses.get(c.status, 0) + 1
    speed_measured = final is not None
    return RunSummary(
        task=task.name, model=config.model, mode=config.mode, device=device_name,
        solved=winner is not None, best_candidate=winner.id if winner else None,
        speedup=final.get("speedup") if final else None,
        speedup_vs_torch=final.get("speedup_vs_torch") if final else None,
        speed_measured=speed_measured,
        speed_reason=None if speed_measured else (
            "no GPU, so candidates were verified on the Triton CPU interpreter only"
            if not on_gpu else "no verified kernel to measure"),
        search_speedup=winner.speedup if winner else None,
        rounds={lin.index: lin.round for lin in ledger.lineages},
        lineage_end={lin.index: lin.stop_reason for lin in ledger.lineages},
        restarts=sum(lin.restarts for lin in ledger.lineages),
        candidates=len(ledger.candidates), statuses=statuses,
        stop_reason=ledger.stop_reason, stop_kind=ledger.stop_kind, budget=ledger.budget.snapshot(),
        wall_s=round(wall_s, 1), last_failure=None if winner is not None else ledger.last_failure,
        agent_overhead_per_round_s=round(ledger.overhead_s / ledger.steps, 4) if ledger.steps else None,
        final_result=final, tuning=tuning, judged=list(ledger.candidates.values()))


def write_summary(summary: RunSummary, store: RunStore, tuned: bool) -> None:
    """best.py (the winner's source, or the tuned kernel's, under a header), summary.json and summary.md."""
    if summary.solved:
        source = store.candidate_source("tuned" if tuned else summary.best_candidate)
        header = (f"# tritonsmith: best kernel for {summary.task} (candidate {summary.best_candidate}, "
                  f"model {summary.model}); "
                  + (f"speedup {summary.speedup:.3f}x vs baseline on {summary.device}\n"
                     if summary.speedup else "verified on the CPU interpreter; speed not measured\n"))
        store.write("best.py", header + source)
    store.write("summary.json", summary.to_json())
    store.write("summary.md", summary.text())


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
