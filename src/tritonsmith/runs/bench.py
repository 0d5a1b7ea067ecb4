"""`tritonsmith bench`: a solver over every task of a suite, one TaskRecord per finished task.

Solvers: `agent` (the LLM agent, one run folder per task), `baseline` (each task's own baseline:
a sanity run of a suite on a device), `dir:PATH` (pre-written candidates, PATH/<task id>.py).
Each finished task is written at once; rerunning the same command skips finished tasks. With a queued
model (`queue:DIR`) a task whose lineages wait for replies is not finished: the bench goes on with the
other tasks and then raises RepliesPending for all the requests that wait.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import sys
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.lineage import Candidate
from tritonsmith.config import ConfigError
from tritonsmith.durable import FileError, folder_lock, read_text, write_atomic
from tritonsmith.evaluate import EvalConfig, EvalResult, WorkerPool
from tritonsmith.evaluate.pool import MemoryRetry, MemoryRetryDeferred, task_content_key, task_key
from tritonsmith.interrupt import interrupted
from tritonsmith.llm.errors import RepliesPending, ReplyPending
from tritonsmith.runs.pools import make_pool
from tritonsmith.runs.qualify import Qualification, QualificationStore, classify, gpu_only_note
from tritonsmith.runs.records import (
    TUNING_KEYS,
    LineageOutcome,
    RoundPoint,
    TaskRecord,
    perf_cases,
    timing_noise,
)
from tritonsmith.runs.store import ResultsStore, SettingsMismatch
from tritonsmith.suites import Suite, load_suite
from tritonsmith.task import Task, TaskError


def select_tasks(suite: str, pattern: str | None, instructions: str | None = None,
                 perf_scripts: str | None = None) -> Suite:
    tasks = load_suite(suite, instructions=instructions, perf_scripts=perf_scripts)
    if pattern:
        patterns = [p.strip() for p in pattern.split(",") if p.strip()]
        tasks = Suite([t for t in tasks if any(fnmatch.fnmatch(t.id, p) for p in patterns)],
                      [u for u in tasks.unsupported if any(fnmatch.fnmatch(u.path.stem, p) for p in patterns)])
        if not tasks:
            raise ConfigError(f"--tasks {pattern!r} matches no task of suite {suite}.")
    return tasks


def solve_suite(suite: str, solver: str, config: RunConfig, out: str | Path, pattern: str | None = None,
              instructions: str | None = None, perf_scripts: str | None = None, jobs: int | None = None,
              stream: Any = sys.stderr, rerun: Collection[str] = ()) -> list[TaskRecord]:
    """`jobs` tasks at once (default: one per evaluation worker for baseline/dir solvers, one for the agent,
    whose lineages already keep the workers busy). No other process may use `out` meanwhile (FolderInUse).
    `rerun`: statuses whose finished tasks a resume runs again (baseline and dir: solvers; the earlier records
    stay in results.jsonl, the last one counts)."""
    check_solver(solver)  # before the lock makes the folder
    with folder_lock(out, "bench folder"):
        return _solve_suite_locked(suite, solver, config, out, pattern, instructions, perf_scripts, jobs, stream,
                                   set(rerun))


def _solve_suite_locked(suite: str, solver: str, config: RunConfig, out: str | Path, pattern: str | None,
                      instructions: str | None, perf_scripts: str | None, jobs: int | None,
                      stream: Any, rerun: set[str]) -> list[TaskRecord]:
    tasks = select_tasks(suite, pattern, instructions, perf_scripts)
    if tasks.unsupported:
        count = len(tasks.unsupported)
        stream.write(f"{count} {'file' if count == 1 else 'files'} of suite {suite} not supported, not run: "
                     + "; ".join(f"{u.path.name} ({u.reason.rstrip('.')})" for u in tasks.unsupported) + "\n")
    store, settings = _results_store(out, suite, solver, config, pattern)
    finished = store.records()  # read once: the tasks a resume skips, and the progress so far
    again = [record for record in finished if record.status in rerun]
    if again:
        stream.write(f"running {len(again)} finished {'task' if len(again) == 1 else 'tasks'} again "
                     f"({', '.join(sorted(rerun))}); their earlier records stay in {store.results_path}\n")
        finished = [record for record in finished if record.status not in rerun]
    done = {record.task for record in finished}
    todo = [t for t in tasks if t.name not in done]
    if not todo:  # a resume of a finished bench: no worker is started for nothing
        which = "the one task of this bench is" if len(tasks) == 1 else f"all {len(tasks)} tasks of this bench are"
        stream.write(f"{which} already finished in {out}: nothing to run.\n")
        return store.records()
    progress = BenchProgress(len(tasks), finished, stream)
    # A baseline or dir: bench evaluates each task once (again only where memory ran short, after `forget`): a
    # keeper's references would be lent to no later job, and held twice (the keeper's, the job's copy) meanwhile.
    eval_config = EvalConfig(timeout_s=config.eval_timeout_s, workers_per_gpu=config.workers_per_gpu,
                             reuse_references=solver == "agent")
    workers = (config.parallel if solver == "agent" else jobs or None) if config.device == "cpu" else None
    waiting: list[ReplyPending] = []
    with make_pool(config, eval_config, workers, stream) as pool:
        store.save_settings(settings)  # the bench has started: its folder is its now
        qualifications = QualificationStore(pool.device_name or pool.device_kind)
        progress.stages = getattr(pool, "stages", None)  # (a cluster's evaluations are not looked into)
        known = qualifications.load()
        alone = known_alone(tasks, known, eval_config.seeds, getattr(pool, "alone_tasks", None))
        if alone and eval_config.workers_per_gpu > 1:
            stream.write(f"{len(alone)} of the tasks ran short of GPU memory beside others in an earlier bench on "
                         "this device model: they run last, each alone on its GPU\n")
        note = gpu_only_note(list(tasks), pool.device_kind)
        if note:
            stream.write(note + "\n")

        futures: list[Future] = []
        submitting = threading.Lock()

        def attempt(task: Task, earlier: dict[str, Any] | None = None) -> None:
            progress.start(task.name)
            deferred = None
            try:
                deferred = run_task(task, earlier)
            finally:
                progress.end(task.name)
                forget = getattr(pool, "forget", None)  # its references leave the GPU for the tasks after it
                if forget is not None and not interrupted():
                    forget(task)
            if deferred is None:
                return
            try:  # noted for a resume, should this bench be cut off first
                store.defer(task.name, deferred)
            except OSError as err:  # (the task is still tried again now)
                stream.write(f"could not note in {out} that {task.name} is to be tried again: {err}\n")
            if not interrupted():  # tried again after the tasks queued now
                progress.deferred(task.name)
                with submitting:
                    futures.append(executor.submit(attempt, task, deferred))

        def run_task(task: Task, earlier: dict[str, Any] | None) -> dict[str, Any] | None:
            """The task solved and its record stored; or, where its evaluation ran short of GPU memory beside
            others for the first time, that try (the caller queues the task again)."""
            if interrupted():  # Ctrl-C: no new task starts
                return None
            started = time.perf_counter()
            key = task_content_key(task, eval_config.seeds)  # (the qualification store's)
            evaluation = None
            try:
                record, evaluation = solve(task, solver, config, pool, Path(out), MemoryRetry(earlier))
            except MemoryRetryDeferred as deferred:
                return deferred.first
            except TaskError as err:
                record = TaskRecord(task.name, task.suite or "", solver_name(solver), "error", False, False,
                                    error=str(err))
                if solver == "baseline":  # the task's make_inputs or reference failed: it cannot qualify
                    found = classify(task.name, "error", str(err), qualifications.device, task_error=True)
                    record.qualified, record.qualification = found.qualified, found.reason
            except RepliesPending as pending:  # not finished: the next pass goes on with it
                waiting.extend(pending.waiting)
                progress.wait(task.name, len(pending.waiting))
                return None
            if interrupted():  # not finished but cut short (its pool closed under it): a resume runs it again
                return None
            record.wall_s = round(time.perf_counter() - started + float((earlier or {}).get("wall_s") or 0), 2)
            record.device = qualifications.device
            if solver == "baseline" and record.qualified is not None:  # the gold against itself decides
                alone_tasks = getattr(pool, "alone_tasks", None)  # (a Ray cluster's pool: what was known stays)
                made_alone = (task_key(task, eval_config.seeds) in alone_tasks if alone_tasks is not None
                              else key in known and known[key].made_alone)
                qualifications.save(key, Qualification(task.name, record.qualified, record.qualification or "",
                                                       made_alone=made_alone))
            elif key in known:
                record.qualified, record.qualification = known[key].qualified, known[key].reason
            if evaluation is not None:  # kept with the record (never a cut-short one), and never at its cost
                try:
                    keep_evaluation(Path(out), task, evaluation)
                except OSError as err:
                    stream.write(f"could not keep {task.name}'s whole evaluation in {out}: {err}\n")
            store.append(record)
            progress.add(record)
            return None

        at_once = jobs or (1 if solver == "agent" else pool.size)
        executor = ThreadPoolExecutor(max_workers=at_once)
        try:
            deferrals = store.deferred()  # a resume: those queued again before it was cut off go last, from that try
            # then the tasks known to need their GPU alone (each stops the GPU's other evaluations): after them all
            last = sorted(todo, key=lambda task: (task.name in alone, task.name in deferrals))  # (stable)
            futures.extend(executor.submit(attempt, task, deferrals.get(task.name)) for task in last)
            waited = 0
            while waited < len(futures):  # (a task tried again is queued at the end: waited for last)
                with submitting:
                    future = futures[waited]
                while True:
                    try:
                        future.result(timeout=5)
                        break
                    except FutureTimeout:
                        progress.running()
                waited += 1
        finally:  # at Ctrl-C: queued tasks are dropped and the pool is closed under those in flight
            executor.shutdown(wait=not interrupted(), cancel_futures=True)
    if waiting and not interrupted():
        raise RepliesPending(waiting)
    return store.records()


def known_alone(tasks: Collection[Task], known: dict[str, Qualification], seeds: list[int],
                alone_tasks: dict[str, str] | None) -> set[str]:
    """The names of the tasks whose gold an earlier bench on this device model made alone for want of GPU memory
    (Qualification.made_alone), added to the pool's `alone_tasks` (None: a pool that has none, a Ray cluster's):
    their evaluations are made alone at once, rather than each running short beside others first."""
    if alone_tasks is None:
        return set()
    names = set()
    for task in tasks:
        known_as = known.get(task_content_key(task, seeds))
        if known_as is not None and known_as.made_alone:
            alone_tasks[task_key(task, seeds)] = ("an earlier bench on this device model made this task's gold alone "
                                                  "for want of GPU memory beside others (its qualification)")
            names.add(task.name)
    return names


def bench_settings(suite: str, solver: str, config: RunConfig, pattern: str | None) -> dict[str, Any]:
    """What a bench folder's bench.json holds: the identity settings a resume is checked against, and the config."""
    return {"suite": suite, "tasks": pattern, "solver": solver,
            "model": config.model if solver == "agent" else None, "mode": config.mode, "rounds": config.rounds,
            "parallel": config.parallel, "device": config.device,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": dataclasses.asdict(config)}


def _results_store(out: str | Path, suite: str, solver: str, config: RunConfig,
                   pattern: str | None) -> tuple[ResultsStore, dict[str, Any]]:
    """The bench folder's store and the settings to write into it once the bench has started (on a resume,
    checked against those it was run with). Nothing is written here: a bench that cannot start leaves the
    folder as it was."""
    store = ResultsStore(out)
    settings = bench_settings(suite, solver, config, pattern)
    try:
        store.check_settings(settings)
    except SettingsMismatch as err:
        raise ConfigError(str(err)) from None
    return store, settings


def check_solver(solver: str) -> None:
    """ConfigError unless `solver` is agent, baseline or dir:PATH of an existing folder."""
    if solver.startswith("dir:"):
        if not Path(solver[4:]).is_dir():
            raise ConfigError(f"--solver {solver}: no such folder of candidates.")
    elif solver not in ("agent", "baseline"):
        raise ConfigError(f"unknown --solver {solver!r}: use agent, baseline or dir:PATH.")


def solver_name(solver: str) -> str:
    return "dir" if solver.startswith("dir:") else solver


def solve(task: Task, solver: str, config: RunConfig, pool: WorkerPool, out: Path,
          memory_retry: MemoryRetry | None = None) -> tuple[TaskRecord, EvalResult | None]:
    """The task's record, and the evaluation it sums up (the baseline and dir: solvers' one; None for the
    agent's, kept in its run folder). `memory_retry`: passed to the pool's evaluation of a baseline or dir
    candidate (raises MemoryRetryDeferred where it asks the first try short of memory back); the agent's own
    evaluations make such a try again alone at once."""
    if solver == "baseline":
        if not task.baseline:
            return TaskRecord(task.name, task.suite or "", "baseline", "error", False, False,
                              error=f"task {task.name} has no baseline kernel"), None
        result = pool.evaluate(task, task.baseline, timeout_s=config.eval_timeout_s, gold=True,
                               memory_retry=memory_retry)
        record = from_result(task, "baseline", result)
        raised = [case for case in result.evidence.get("skipped_perf_cases") or [] if "(PERF_INPUT_ERRORS)" in case]
        found = classify(task.name, result.status, result.message, pool.device_name or pool.device_kind,
                         dropped=result.evidence.get("unreproducible_cases"), skipped=raised)
        record.qualified, record.qualification = found.qualified, found.reason
        return record, result
    if solver.startswith("dir:"):
        path = Path(solver[4:]) / f"{task.id}.py"
        if not path.exists():
            return TaskRecord(task.name, task.suite or "", "dir", "error", False, False,
                              error=f"no candidate file {path}"), None
        try:
            source = read_text(path, "candidate")
        except FileError as err:
            return TaskRecord(task.name, task.suite or "", "dir", "error", False, False,
                              error=str(err).rstrip(".")), None
        result = pool.evaluate(task, source, timeout_s=config.eval_timeout_s, memory_retry=memory_retry)
        return from_result(task, "dir", result), result
    if solver == "agent":
        return solve_with_agent(task, config, pool, out), None
    raise ConfigError(f"unknown --solver {solver!r}: use agent, baseline or dir:PATH.")


EVALUATIONS = "evaluations"  # in a bench folder: each baseline or dir: evaluation's whole result, TASK_ID.json


def keep_evaluation(out: Path, task: Task, result: EvalResult) -> None:
    """The evaluation's whole result (cases, perf, evidence), beside the record that sums it up: what a reader
    of a failed or slow task looks at next."""
    folder = out / EVALUATIONS
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / f"{task.id}.json", json.dumps(result.to_dict(), indent=1, default=str) + "\n")


def from_result(task: Task, solver: str, result: EvalResult) -> TaskRecord:
    point = RoundPoint(0, result.call_ok, result.exec_ok, result.speedup)
    data = result.to_dict()
    return TaskRecord(task.name, task.suite or "", solver, result.status, result.call_ok, result.exec_ok,
                      error=None if result.passed else result.message or f"status {result.status}",
                      speedup=result.speedup, speedup_vs_torch=result.speedup_vs_torch,
                      speed_reason=None if result.speedup is not None else result.speedup_reason,
                      speedup_noise=timing_noise(data), phases_s=result.evidence.get("phases_s"),
                      perf_cases=perf_cases(data), memory_retry=result.evidence.get("memory_retry"),
                      lineages=[LineageOutcome(0, result.call_ok, result.exec_ok, result.speedup, [point])])


def solve_with_agent(task: Task, config: RunConfig, pool: WorkerPool, out: Path) -> TaskRecord:
    from tritonsmith.agent.session import solve_task

    run_dir = Path("tasks") / task.id
    summary = solve_task(task, config, out / run_dir, quiet=True, pool=pool)
    candidates = [c for c in summary.judged if c.id != "start"]
    lineages = [lineage_outcome(index, [c for c in candidates if c.lineage == index], config.rounds)
                for index in range(config.parallel)]
    final = summary.final_result or {}
    best = next((c for c in candidates if c.id == summary.best_candidate), None)
    spent = summary.budget["spent"]
    status = final.get("status", best.status) if best else _best_status(candidates) or "error"
    tuning = summary.tuning
    return TaskRecord(
        task.name, task.suite or "", "agent", status,
        call_ok=any(c.call_ok for c in candidates), exec_ok=summary.solved,
        speedup=summary.speedup, speedup_vs_torch=summary.speedup_vs_torch,
        speed_reason=summary.speed_reason, lineages=lineages, tokens=spent.get("tokens", 0),
        usd=None if spent.get("unpriced_calls") else spent.get("usd", 0.0), run_dir=str(run_dir),
        error=summary.stop_reason if summary.stop_kind in ("llm", "start") else summary.last_failure,
        speedup_before_tuning=tuning.get("speedup_before_tuning") if tuning else None,
        tuning=tuning_outcome(tuning), speedup_noise=timing_noise(final))


def tuning_outcome(tuning: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a run summary's `tuning` that a TaskRecord keeps (timings in ms stay in the run folder)."""
    if not tuning:
        return None
    return {key: tuning[key] for key in TUNING_KEYS if tuning.get(key) is not None}


def lineage_outcome(index: int, candidates: list[Candidate], rounds: int) -> LineageOutcome:
    """Best so far after each round of one lineage."""
    points, call_ok, exec_ok, speedup = [], False, False, None
    by_round = {c.round: c for c in candidates}
    last_round = max(by_round, default=-1)
    for round_index in range(min(rounds, last_round + 1)):
        c = by_round.get(round_index)
        if c is not None:
            call_ok = call_ok or bool(c.call_ok)
            if c.passed:
                exec_ok = True
                if c.speedup is not None and (speedup is None or c.speedup > speedup):
                    speedup = c.speedup
        points.append(RoundPoint(round_index, call_ok, exec_ok, speedup))
    return LineageOutcome(index, call_ok, exec_ok, speedup, points)


def _best_status(candidates: list[Candidate]) -> str | None:
    order = ("passed", "rejected", "wrong_output", "runtime_error", "timeout", "crashed", "compile_error")
    statuses = {c.status for c in candidates}
    return next((s for s in order if s in statuses), None)


class BenchProgress:
    """tasks done/total, accuracy so far, spend, ETA: one line per finished task; and, when no task has
    finished for `quiet_s`, a line naming the tasks in flight and for how long (`running`)."""

    def __init__(self, total: int, records: list[TaskRecord], stream: Any, quiet_s: float = 60.0):
        self.total, self.stream = total, stream
        self.records = list(records)
        self.started = time.monotonic()
        self.fresh = 0
        self._lock = threading.Lock()
        self.quiet_s, self.said = quiet_s, time.monotonic()
        self.in_flight: dict[str, float] = {}  # task -> when it started
        self.stages: Callable[[], dict[str, str]] | None = None  # what each task's evaluations are doing (the pool's)

    def start(self, task: str) -> None:
        with self._lock:
            self.in_flight[task] = time.monotonic()

    def end(self, task: str) -> None:
        with self._lock:
            self.in_flight.pop(task, None)

    def deferred(self, task: str) -> None:
        with self._lock:
            self._say(f"[{len(self.records)}/{self.total}] {task}: ran short of GPU memory beside other "
                      "evaluations; tried again after the tasks queued now\n")

    def running(self) -> None:
        """If nothing was said for `quiet_s`: the tasks in flight, the longest first (a long pass shows where
        it waits)."""
        with self._lock:
            now = time.monotonic()
            if not self.in_flight or now - self.said < self.quiet_s:
                return
            tasks = sorted(self.in_flight.items(), key=lambda item: item[1])
            stages = self.stages() if self.stages is not None else {}
            self._say(f"[{len(self.records)}/{self.total}] running: " + ", ".join(
                f"{task} ({now - began:.0f} s{'; ' + stages[task] if stages.get(task) else ''})"
                for task, began in tasks) + "\n")

    def _say(self, line: str) -> None:
        self.stream.write(line)
        self.stream.flush()
        self.said = time.monotonic()

    def add(self, record: TaskRecord) -> None:
        with self._lock:
            self.in_flight.pop(record.task, None)
            self._add(record)

    def wait(self, task: str, requests: int) -> None:
        with self._lock:
            self._say(f"[{len(self.records)}/{self.total}] {task}: waiting for {requests} "
                      f"{'reply' if requests == 1 else 'replies'}\n")

    def _add(self, record: TaskRecord) -> None:
        self.records.append(record)
        self.fresh += 1
        done = len(self.records)
        execs = sum(r.exec_ok for r in self.records)
        calls = sum(r.call_ok for r in self.records)
        usd = [r.usd for r in self.records]
        spend = "$?" if None in usd else f"${sum(usd):.2f}"
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.fresh * (self.total - done)
        self._say(f"[{done}/{self.total}] {record.task}: {record.status}  exec {execs}/{done}  "
                  f"call {calls}/{done}  {spend}  ETA {int(eta) // 60}m{int(eta) % 60:02d}s\n")
