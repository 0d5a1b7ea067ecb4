"""The caller's side: warm worker hosts, one job at a time each, with timeouts and recovery.

The caller never imports candidate code (nor torch): it writes the candidate to a job folder,
hands the job to a host process (evaluate/processes.py), and turns what comes back, or the lack of it,
into an EvalResult (evaluate/job_result.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tritonsmith.evaluate.errors import out_of_memory
from tritonsmith.evaluate.gpu_lock import gpu_lock_path
from tritonsmith.evaluate.job_result import add_roofline, check_physical, to_result, worker_overhead
from tritonsmith.evaluate.peaks import PeaksError, peaks_for
from tritonsmith.evaluate.processes import DeviceError, EvaluationCancelled, HostProcess, Keepers
from tritonsmith.evaluate.result import EvalResult
from tritonsmith.evaluate.stage import read_stage
from tritonsmith.task import Task, TaskError


@dataclass
class EvalConfig:
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Seeds each correctness case is checked with (at least 3)."""
    timeout_s: float | None = None
    """Wall-clock limit for one evaluation; default 300 s on the CPU interpreter, 600 s on a GPU."""
    memory_gb: float = 8.0
    """Address-space limit of a CPU worker (GPU workers cannot take one: CUDA maps huge ranges)."""
    file_mb: int = 256
    """Largest file a worker may write (its stdout and stderr included)."""
    processes: int = 4096
    """RLIMIT_NPROC for the worker (not enforced for root; leftovers are killed either way)."""
    timing_rounds: int = 5
    """Interleaved rounds of candidate, baseline and reference timing, at least (evaluate/timing.py)."""
    timing_max_rounds: int = 40
    """Rounds at most, if the speedup's 95% interval has not reached `timing_ci` before."""
    timing_ci: float = 0.01
    """The speedup's 95% confidence interval wanted, ±timing_ci. The speedup is the geometric mean of the
    perf cases' ratios, so with N cases each case stops once its own interval is within ±timing_ci·√N (at
    most ±3%); the evaluation's pooled interval is in the evidence (`speedup_ci`). It is the samples' noise
    only: a bias that a case's conditions give both functions alike, or one function alone, is not in it."""
    timing_budget_ms: float = 1500.0
    """Milliseconds of timing per perf case at most, whatever the interval."""
    timing_total_ms: float = 3000.0
    """Milliseconds of sampling per evaluation, shared by its perf cases: a task with many perf cases gives
    each less (never under `rounds` rounds). The speedup is their geometric mean, whose interval narrows with
    their number, so 16 cases at 0.19 s each pin it down as one case at 1.5 s does; 0 turns the share off."""
    warmup_ms: float = 10.0
    """Milliseconds of warm-up calls per function and perf case (discarded)."""
    batch_ms: float = 0.2
    """GPU milliseconds per timing sample of a launch-bound kernel (timed in a batch of back-to-back calls)."""
    workers_per_gpu: int = 1
    """Evaluations at once on each GPU: they check correctness side by side, and take turns to time; one that
    runs out of GPU memory while others ran beside it is evaluated once more with none beside it."""
    reproducibility_check: str = "gpu"
    """Run the reference twice per check and drop the cases where the two runs disagree: "gpu" (on a GPU,
    where kernels read uninitialised memory or race), "always" or "never"."""
    reuse_references: bool = True
    """Make each task's inputs and reference outputs once per device, in a keeper process, and lend them to
    every later candidate of the task (each job copies them into its own memory before candidate code)."""
    check_memory: float = 0.3
    """The most of a GPU's memory one evaluation's checks (inputs and reference outputs, held at once by the
    checker and, inputs, by the candidate's process) may take, divided among the evaluations sharing the GPU:
    a task whose checks would take more gets fewer correctness checks (one at least), said in the evidence."""
    keepers: int | None = None
    """Keeper processes per device, each making one task's references at a time: None gives one per worker
    on a GPU (so that a bench's workers make several tasks' references at once) and one for the CPU."""
    torch_compile: bool = False
    """Also time torch.compile(reference) in the same interleaved rounds (slow: compiles every perf shape)."""
    measured_peaks: bool = True
    """On a GPU, report each perf case's fraction of the device's measured copy bandwidth and matmul
    FLOP/s too (measured once per device, about ten seconds, then cached: evaluate/peaks.py)."""


class WorkerPool:
    """Warm workers for one device kind. `devices` lists GPU indices (one host each) or None for CPU."""

    def __init__(self, device: str = "auto", workers: int | None = None, gpus: list[int] | None = None,
                 config: EvalConfig | None = None, work_dir: str | Path | None = None):
        tuning = os.environ.get("TRITONSMITH_TRUSTED_TUNING") or "staged"
        if tuning not in ("staged", "full"):  # read by the trusted processes (autotuning.staged_bench)
            from tritonsmith.config import ConfigError
            raise ConfigError(f"TRITONSMITH_TRUSTED_TUNING is {tuning!r}: set it to 'full' (every config of a "
                              "trusted autotuning benchmarked in full) or 'staged' (the default), or unset it.")
        # Whole numbers read by the host processes, which would fail on a bad one only inside an evaluation.
        for name, meaning in (("TRITONSMITH_PARALLEL_COMPILES", "how many kernels a trusted process may compile "
                               "at once (0 or 1: one at a time, the default)"),
                              ("TRITONSMITH_CHECK_BUDGET_BYTES", "the bytes of checks an evaluation may hold on its "
                               "device (unset: the job's check_memory share of the GPU)"),
                              ("TRITONSMITH_KEEPER_BYTES", "the bytes of inputs and references a device's keepers "
                               "keep for reuse (unset: a quarter of the GPU's memory)")):
            value = os.environ.get(name) or "0"
            if not (value.isascii() and value.isdigit()):
                from tritonsmith.config import ConfigError
                raise ConfigError(f"{name} is {value!r}: set it to {meaning}, or unset it.")
        self.config = config or EvalConfig()
        self.device = device
        self._owns_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="tritonsmith-eval-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._slots: queue.Queue[int] = queue.Queue()
        self._hosts: list[HostProcess | None] = []
        self._env: list[dict[str, str]] = []
        self._gpu_of: list[int | None] = []
        self._counter = 0
        self._lock = threading.Lock()
        self._in_flight: dict[int, tuple[str, Path]] = {}  # slot -> (task name, job folder) of its evaluation
        self._cancelled = threading.Event()
        slots = self._plan(device, workers, gpus)
        for env, gpu in slots:
            self._env.append(env)
            self._gpu_of.append(gpu)
            self._hosts.append(None)
            self._slots.put(len(self._hosts) - 1)
        self._keepers: dict[int | None, Keepers] = {}
        self._gates = {gpu: MemoryGate() for gpu in self._gpu_of}
        self.alone_tasks: dict[str, str] = {}
        """Task keys (`task_key`) whose evaluations are made alone at once, and why: one of theirs was made alone
        for want of GPU memory, and had it then (`_evaluate_gated`); a caller may add those it knows of."""
        first = self._hosts[0] = self._start(0)  # fail early, with the device's own error, before any job
        if self.config.reuse_references:
            for gpu in dict.fromkeys(self._gpu_of):  # each GPU's own keepers (or the CPU workers')
                count = self.config.keepers or (self._gpu_of.count(gpu) if gpu is not None else 1)
                name = "cpu" if gpu is None else f"gpu{gpu}"
                self._keepers[gpu] = Keepers.start(max(1, count), self.work_dir, name, first.info["device"],
                                                   self._env[self._gpu_of.index(gpu)])
        self._start_rest()
        self.device_kind = first.info["device"]
        self.device_name = first.info.get("name")
        self.peaks: dict[str, Any] | None = None
        self.peaks_note: str | None = None
        if self.device_kind != "cpu" and self.config.measured_peaks and self.device_name:
            try:
                self.peaks = self.measure_peaks()
            except PeaksError as err:  # fractions of the datasheet peak are still reported
                self.peaks_note = str(err)

    def _plan(self, device: str, workers: int | None, gpus: list[int] | None) -> list[tuple[dict[str, str], int | None]]:
        """(environment, GPU index or None) of each worker: `workers` on the CPU, `workers_per_gpu` per GPU."""
        base = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        base["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, base.get("PYTHONPATH")) if p)
        base["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
        base.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # torch.compile in-process: no worker pool to outlive a job
        # @triton.autotune keeps its choice in Triton's cache: the baseline, tuned once by a trusted process
        # (references.py, `time_baseline`), is not tuned again in every job (triton_cache.py)
        base.setdefault("TRITON_CACHE_AUTOTUNING", "1")
        base.pop("TRITON_INTERPRET", None)
        if device == "cpu":
            return [(dict(base), None)] * (workers or 1)
        if gpus is None:
            visible = base.get("CUDA_VISIBLE_DEVICES") or base.get("HIP_VISIBLE_DEVICES")
            gpus = [int(g) for g in visible.split(",") if g.strip().isdigit()] if visible else None
        if device.startswith("cuda:"):
            gpus = [int(device.split(":", 1)[1])]
        if not gpus:
            gpus = [0]
        per_gpu = max(1, self.config.workers_per_gpu)
        return [(dict(base, CUDA_VISIBLE_DEVICES=str(g), HIP_VISIBLE_DEVICES=str(g)), g)
                for g in gpus for _ in range(per_gpu)]

    def _start_rest(self) -> None:
        """Warm every other worker now, in parallel, so that no evaluation pays for a start."""
        def start(slot: int) -> None:
            try:
                self._hosts[slot] = self._start(slot)
            except DeviceError:
                self._hosts[slot] = None  # retried, and reported, when the slot is first used
        threads = [threading.Thread(target=start, args=(slot,)) for slot in range(1, len(self._hosts))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _start(self, slot: int) -> HostProcess:
        request = "cpu" if self.device == "cpu" else ("cuda" if self.device.startswith("cuda") else "auto")
        return HostProcess(request, self._env[slot], self.work_dir / f"host-{slot}.log")

    def measure_peaks(self, refresh: bool = False) -> dict[str, Any]:
        """This GPU's measured copy bandwidth and matmul FLOP/s: cached, or measured now on the first
        worker's GPU (while no job runs there). Raises PeaksError."""
        return peaks_for(self.device_name, env=self._env[0], refresh=refresh)

    @property
    def size(self) -> int:
        """How many evaluations can run at once (one per worker)."""
        return len(self._hosts)

    def evaluate(self, task: Task, source: str, timeout_s: float | None = None,
                 timing: dict[str, Any] | None = None, baseline: str | None = None, gold: bool = False,
                 memory_retry: MemoryRetry | None = None) -> EvalResult:
        """Evaluate one candidate on the next free worker. `timing` overrides the pool's timing settings
        for this job: rounds, max_rounds, ci, budget_ms, total_ms, warmup_ms, batch_ms (evaluate/timing.TimingSettings),
        reference (False: the PyTorch reference is not timed).
        Finalists are re-measured, and the tuner measures, on the same workers with other settings,
        so that no two timings ever share a GPU. `baseline`: time against this source instead of the
        task's baseline (the tuner's original); it is treated as untrusted, imported under the guards.
        `gold`: `source` is the task's own baseline, evaluated against itself to qualify the task; when that
        baseline is the PyTorch reference (REFERENCE_TIMING "baseline", as KernelBench's Model), it need not
        launch Triton kernels. `memory_retry`: what to do when the evaluation runs short of GPU memory beside
        others (MemoryRetry); by default it is made again at once with none beside it."""
        if gold and source != task.baseline:
            raise ValueError("gold=True evaluates the task's own baseline: pass task.baseline as the source")
        self._check_not_cancelled()
        slot = self._slots.get()
        try:
            return self._evaluate_gated(slot, task, source, timeout_s, timing, baseline, gold, memory_retry)
        finally:
            self._slots.put(slot)

    def _evaluate_gated(self, slot: int, task: Task, source: str, timeout_s: float | None,
                        timing: dict[str, Any] | None, baseline: str | None, gold: bool,
                        memory_retry: MemoryRetry | None) -> EvalResult:
        """An evaluation beside the others on its GPU; one that ran out of GPU memory there while others ran
        beside it (the candidate, or the task's references) is evaluated once more with none beside it: what
        they held may have been what was missing. Only what fails alone too is the candidate's (or the task's).
        A caller that can go on with other work meanwhile (MemoryRetry) has the first such try handed back
        (MemoryRetryDeferred) and asks again later, beside others; only a second try short of memory beside
        others waits for the GPU alone (waiting stops every evaluation of the GPU: a task beside it that
        compiles for minutes would keep the whole GPU idle). A task one of whose evaluations was made alone so
        has every later evaluation in this pool made alone at once (an agent's candidates of a task too large to
        share the GPU would each run short beside others first)."""
        gpu = self._gpu_of[slot]
        gate = self._gates[gpu]
        began = time.perf_counter()
        earlier = memory_retry.earlier if memory_retry is not None else None
        key = task_key(task, self.config.seeds) if gpu is not None else ""
        if key in self.alone_tasks:
            return self._alone_at_once(key, slot, task, source, timeout_s, timing, baseline, gold)
        with gate.shared() as stay:
            self._check_not_cancelled()
            marked = key in self.alone_tasks  # (while this one waited to enter: it would run short beside others)
            if not marked:
                try:
                    result, failure = self._evaluate(slot, task, source, timeout_s, timing, baseline, gold), None
                    why = None if result.passed else result.message
                except TaskError as exc:
                    result, failure, why = None, exc, str(exc)
        if marked:
            return self._alone_at_once(key, slot, task, source, timeout_s, timing, baseline, gold)
        if why is None or gpu is None or not stay.beside or not short_of_memory(why):
            if why is not None and gpu is not None and not stay.beside and out_of_memory(why):
                if failure is not None:  # none beside it: it needs more than the GPU has
                    raise TaskError(f"{ALONE}: {failure}") from failure
                result.message = f"{ALONE}: {result.message}"
            if failure is not None:
                raise failure
            if earlier is not None:
                result.evidence["memory_retry"] = dict(earlier, note=(
                    "the first try (wall_s: its own) ran out of GPU memory beside other evaluations on this GPU; "
                    "evaluated again later, beside others (the result's wall_s: that try alone)"))
            return result
        first = {"status": result.status if result is not None else "task error", "message": why.strip()[:500],
                 "wall_s": round(time.perf_counter() - began, 3)}
        if result is not None:
            first["phases_s"] = result.evidence.get("phases_s")
        if memory_retry is not None and earlier is None:
            raise MemoryRetryDeferred(first)
        if earlier is not None:
            first = dict(earlier, again_beside_others=first)
        try:
            again = self._evaluate_alone(slot, task, source, timeout_s, timing, baseline, gold, ALONE_TOO,
                                         " (also when evaluated again with no other evaluation on this GPU)")
        except TaskError as exc:
            if not str(exc).startswith(ALONE_TOO):
                self.alone_tasks[key] = SHORT_BESIDE_OTHERS
            raise exc from failure
        if not (again.message or "").startswith(ALONE_TOO):  # alone, it had the memory (a candidate short even
            self.alone_tasks[key] = SHORT_BESIDE_OTHERS  # then is its own: the task's next ones still share the GPU)
        again.evidence["memory_retry"] = dict(first, note=(
            "the first try (wall_s: its own) ran out of GPU memory beside other evaluations on this GPU; evaluated "
            "again with no other evaluation of this pool on it" + (
                ", once a try later beside others ran short too (the result's wall_s: that try, the wait and the "
                "try alone)" if earlier is not None else " (the result's wall_s: both tries and the wait between)")))
        again.wall_s = round(time.perf_counter() - began, 3)
        return again

    def _alone_at_once(self, key: str, slot: int, task: Task, source: str, timeout_s: float | None,
                       timing: dict[str, Any] | None, baseline: str | None, gold: bool) -> EvalResult:
        """An evaluation of a task in `alone_tasks`, made alone without a try beside others first."""
        result = self._evaluate_alone(slot, task, source, timeout_s, timing, baseline, gold, ALONE, "")
        result.evidence["made_alone"] = "at once, with no other evaluation of this pool on its GPU: " + self.alone_tasks[key]
        return result

    def _evaluate_alone(self, slot: int, task: Task, source: str, timeout_s: float | None,
                        timing: dict[str, Any] | None, baseline: str | None, gold: bool, short: str,
                        otherwise: str) -> EvalResult:
        """The evaluation made with no other of this pool on its GPU (`MemoryGate.alone`); where it runs out of
        memory even so, its failure begins with `short` (the task, or the candidate, needs more than the GPU
        has), and a task error otherwise ends with `otherwise`."""
        with self._gates[self._gpu_of[slot]].alone():
            self._check_not_cancelled()
            try:
                result = self._evaluate(slot, task, source, timeout_s, timing, baseline, gold, alone=True)
            except TaskError as exc:
                if out_of_memory(str(exc)):
                    raise TaskError(f"{short}: {exc}") from exc
                if not otherwise:
                    raise
                raise TaskError(f"{exc}{otherwise}") from exc
        if not result.passed and out_of_memory(result.message):
            result.message = f"{short}: {result.message}"
        return result

    def _check_not_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise EvaluationCancelled("the pool was cancelled: no new evaluations start")

    def cancel(self) -> None:
        """Stop: evaluations in flight are killed and raise EvaluationCancelled, and no new one starts (for a
        first Ctrl-C). The pool stays usable for closing."""
        self._cancelled.set()

    def _evaluate(self, slot: int, task: Task, source: str, timeout_s: float | None,
                  timing: dict[str, Any] | None = None, baseline: str | None = None, gold: bool = False,
                  alone: bool = False) -> EvalResult:
        host = self._hosts[slot]
        if host is None or not host.alive():
            host = self._hosts[slot] = self._start(slot)
        with self._lock:
            self._counter += 1
            job_dir = self.work_dir / f"job-{self._counter:06d}"
        job_dir.mkdir()
        self._in_flight[slot] = (task.name, job_dir)
        try:
            message, timed_out, timeout, started = self._run_job(slot, host, task, source, job_dir, timeout_s,
                                                                 timing, baseline, gold, alone)
        finally:
            self._in_flight.pop(slot, None)
        wall = time.perf_counter() - started
        if message is None:  # the host died or hung: replace it
            host.close()
            self._hosts[slot] = None
        result = to_result(message, timed_out, timeout, job_dir, host.info.get("sandbox") or {})
        result.task_id = task.id
        result.wall_s = round(wall, 3)
        result.evidence.setdefault("device", host.info.get("name"))
        result.evidence["worker_overhead_s"] = worker_overhead(message, result)
        result.evidence.setdefault("confinement", {"not reported": "the candidate's process ended before it said",
                                                   "detected": host.info.get("sandbox")})
        if result.perf:
            add_roofline(result, task, self.peaks)
            check_physical(result)
            result.evidence["measured_peaks"] = (
                {k: self.peaks.get(k) for k in ("copy_gbps", "tflops", "measured_at")} if self.peaks
                else self.peaks_note or "not measured (EvalConfig.measured_peaks is off)")
        shutil.rmtree(job_dir, ignore_errors=True)
        return result

    def _run_job(self, slot: int, host: HostProcess, task: Task, source: str, job_dir: Path,
                 timeout_s: float | None, timing: dict[str, Any] | None, baseline: str | None,
                 gold: bool, alone: bool = False) -> tuple[dict[str, Any] | None, bool, float, float]:
        """The job run on the slot's host, with the task's references lent by the GPU's keeper: (the host's
        message, whether it timed out, the timeout, when it started). A job made `alone` makes its own: a
        keeper's were made at a share of the GPU's memory (the job's `check_memory`, not in their key)."""
        keepers = self._keepers.get(self._gpu_of[slot]) if not alone else None
        key = task_key(task, self.config.seeds) if keepers is not None else ""
        with keepers.lend(key) if keepers is not None else contextlib.nullcontext() as keeper:
            job = self._job(task, source, job_dir, slot, baseline, alone)
            if keeper is not None:
                job["task_key"], job["keeper"] = key, keeper.path()
                if job["keeper"] is None:
                    job["references_here"] = "the reference keeper is not running"
            else:  # (said in the evidence: references.prepare)
                job["references_here"] = (
                    "made alone for want of GPU memory: at the GPU's whole check share, where a keeper's "
                    "are made at a share of it" if alone and self._keepers else
                    "the pool keeps no references: EvalConfig.reuse_references")
            job["gold"] = gold
            job["timing"].update(timing or {})
            on_gpu = host.info["device"] != "cpu"
            timeout = timeout_s or self.config.timeout_s or (600 if on_gpu else 300)
            started = time.perf_counter()
            try:
                message, timed_out = host.run(job, timeout, self._cancelled)
            finally:
                if self._cancelled.is_set():
                    shutil.rmtree(job_dir, ignore_errors=True)
            asked = keeper.making() if timed_out and keeper is not None else None
            if asked is not None and (asked[1] == key or not asked[2]):
                # it would go on making them for nobody (or stand still), holding the GPU's making lock (alone, on
                # a second try: every other keeper of the GPU waits) and its memory: a TritonBench-G pass stood so
                keeper.restart(asked[0], f"its making of {task.name}'s references outlasted that job's {timeout:g} s "
                               "limit" if asked[2] else f"it did not answer after {task.name}'s job timed out")
        return message, timed_out, timeout, started

    def stages(self) -> dict[str, str]:
        """What each evaluation in flight is doing, by task name ("references for 230 s"; several evaluations of
        one task joined), as its checker last noted it (`stage.read_stage`: for display only)."""
        found: dict[str, list[str]] = {}
        for name, job_dir in list(self._in_flight.values()):
            stage = read_stage(job_dir)
            if stage:
                found.setdefault(name, []).append(stage)
        return {name: ", ".join(stages) for name, stages in found.items()}

    def _job(self, task: Task, source: str, job_dir: Path, slot: int = 0,
             baseline_source: str | None = None, alone: bool = False) -> dict[str, Any]:
        """The job an evaluation of `source` sends its host. One made `alone` (MemoryGate.alone: again, for want
        of GPU memory) has the shares of memory that its GPU's other evaluations would have had: the GPU's whole
        `check_memory`, and host memory shared only with the pool's other GPUs."""
        candidate = job_dir / "candidate.py"
        candidate.write_text(with_harness(source, task))
        job: dict[str, Any] = {
            "job_dir": str(job_dir), "task_path": str(task.path), "candidate_path": str(candidate),
            "entry_point": task.entry_point, "correctness_cases": list(task.correctness_cases),
            "perf_cases": list(task.perf_cases), "seeds": list(self.config.seeds),
            "tolerances": {k: {"atol": v.atol, "rtol": v.rtol} for k, v in task.tolerances.items()},
            "forbidden_ops": list(task.forbidden_ops), "allowed_ops": list(task.allowed_ops),
            "required_names": list(task.required_names),
            "limits": {"memory_bytes": int(self.config.memory_gb * 2**30), "file_bytes": self.config.file_mb * 2**20,
                       "processes": self.config.processes},
            "timing": {"rounds": self.config.timing_rounds, "max_rounds": self.config.timing_max_rounds,
                       "ci": self.config.timing_ci, "budget_ms": self.config.timing_budget_ms,
                       "total_ms": self.config.timing_total_ms,
                       "warmup_ms": self.config.warmup_ms, "batch_ms": self.config.batch_ms,
                       "torch_compile": self.config.torch_compile},
        }
        job["reproducibility_check"] = self.config.reproducibility_check
        beside = self._gpu_of.count(self._gpu_of[slot])  # the evaluations of its GPU (of the CPU: all of them)
        sharing = len(self._gpu_of) - beside + 1 if alone else len(self._gpu_of)
        job["host_share"] = 1 / sharing  # of host memory, for checks held there: every worker shares it
        if self._gpu_of[slot] is not None:
            job["gpu_lock"] = gpu_lock_path(self._gpu_of[slot])  # the machine's, not this pool's
            job["check_memory"] = self.config.check_memory / (1 if alone else beside)
        if baseline_source is not None or task.baseline:
            baseline = job_dir / "baseline.py"
            baseline.write_text(with_harness(baseline_source if baseline_source is not None else task.baseline, task))
            job["baseline_path"] = str(baseline)
            job["baseline_untrusted"] = baseline_source is not None
        if task.baseline:  # the task's own, run and timed where no candidate runs (references.py, time_baseline)
            trusted = job_dir / ("baseline.py" if baseline_source is None else "task_baseline.py")
            if baseline_source is not None:
                trusted.write_text(with_harness(task.baseline, task))
            job["trusted_baseline_path"] = str(trusted)
        return job

    def forget(self, task: Task) -> None:
        """The task's references are let go by the keepers that keep them (its evaluations are done: a bench's
        finished task), so that the GPU memory they held serves the tasks after it; an evaluation of it later
        has them made again."""
        key = task_key(task, self.config.seeds)
        for keepers in self._keepers.values():
            keepers.forget(key)

    def close(self) -> None:
        """Every host and keeper closed at once (each may take seconds to go: a busy host's job is killed, a
        keeper's CUDA context is torn down), so that a bench stopped by SIGTERM exits within a scheduler's grace."""
        processes = [host for host in self._hosts if host is not None]
        processes += [keeper for keepers in self._keepers.values() for keeper in keepers.members]
        self._hosts = [None] * len(self._hosts)
        self._keepers = {}
        closing = [threading.Thread(target=process.close, daemon=True) for process in processes]
        for thread in closing:
            thread.start()
        deadline = time.monotonic() + 60  # (a process stuck in the driver is not waited for past it)
        for thread in closing:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._owns_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def task_content_key(task: Task, seeds: list[int]) -> str:
    """What a task's inputs and reference outputs depend on, wherever its file lies: the task file's content (a
    suite's generated file holds its gold code), its cases (a caller may narrow them) and the seeds. What a
    task's qualification is stored under (runs/qualify.py): a moved checkout, or another machine's, finds it."""
    digest = hashlib.sha256(task.path.read_bytes())
    digest.update(json.dumps([list(seeds), task.correctness_cases, task.perf_cases], sort_keys=True,
                             default=str).encode())
    return digest.hexdigest()


def task_key(task: Task, seeds: list[int]) -> str:
    """`task_content_key` and the file's path (a task may read files beside it): a worker reuses references
    only under the same key."""
    return hashlib.sha256(f"{task_content_key(task, seeds)} {task.path}".encode()).hexdigest()


def with_harness(source: str, task: Task) -> str:
    """The candidate as evaluated: its own lines first (so error line numbers are its own), then the
    suite's harness, trusted code that defines the entry point on top of the candidate's functions."""
    if not task.harness:
        return source
    return f"{source.rstrip()}\n\n\n# --- appended by tritonsmith: the suite's harness ---\n{task.harness.strip()}\n"


def evaluate(task: Task, candidate_source: str, device: str = "auto", config: EvalConfig | None = None,
             timeout_s: float | None = None, gold: bool = False) -> EvalResult:
    """Evaluate one candidate in a fresh worker; for many candidates keep a WorkerPool open. `gold`: as
    WorkerPool.evaluate's. No reference keeper is started: there is no later job to lend to."""
    with WorkerPool(device=device, config=replace(config or EvalConfig(), reuse_references=False)) as pool:
        return pool.evaluate(task, candidate_source, timeout_s=timeout_s, gold=gold)


SHARED_GPU_TIMEOUTS = 3
"""An evaluation beside others on its GPU may take this many of its timeouts: a first try short of memory, the
wait for those beside it, and the try alone (`WorkerPool._evaluate_gated`); one behind it waits as long."""


@dataclass
class MemoryRetry:
    """Asks `WorkerPool.evaluate` to hand back a first try that ran short of GPU memory beside other evaluations
    (MemoryRetryDeferred) instead of waiting for the GPU alone at once, so that the caller goes on with other
    work and asks again later with that try as `earlier`: the try after it runs beside others, and only if it
    runs short too is the evaluation made alone."""

    earlier: dict[str, Any] | None = None


class MemoryRetryDeferred(Exception):
    """A first try ran short of GPU memory beside other evaluations (`first`: its status, message, wall_s and
    phases); evaluate again later with MemoryRetry(earlier=first)."""

    def __init__(self, first: dict[str, Any]):
        super().__init__(f"short of GPU memory beside other evaluations: {first.get('message', '')}"[:300])
        self.first = first


SHORT_BESIDE_OTHERS = "an earlier evaluation of this task ran short of GPU memory beside others"
ALONE = "out of GPU memory with no other evaluation on this GPU"
"""How the failure of an evaluation that ran out of GPU memory with none beside it begins (made again alone for
want of memory, and short again: ALONE_TOO): the task, or the candidate, needs more than the GPU has."""
ALONE_TOO = ALONE + " too"


def short_of_memory(text: str) -> bool:
    """Whether an evaluation's failure says that the GPU ran out of memory (PyTorch's or CUDA's words), for
    want of what others held: not where it asked for more than the whole GPU has (PyTorch says both)."""
    if not out_of_memory(text):
        return False
    lowered = text.lower()
    asked = re.search(r"tried to allocate ([\d.]+) (gib|mib|kib|b)\b", lowered)
    total = re.search(r"total capacity of ([\d.]+) (gib|mib|kib|b)\b", lowered)
    if asked and total:
        scale = {"gib": 2**30, "mib": 2**20, "kib": 2**10, "b": 1}
        return float(asked[1]) * scale[asked[2]] <= float(total[1]) * scale[total[2]]
    return True


class MemoryGate:
    """The evaluations of one GPU pass side by side (`shared`, which yields a Stay whose `beside` says whether
    any other was inside at the same time); one made alone (again for want of memory, or a task known to need
    it) passes `alone`, once those in flight have ended. Waiters pass in the order they came: none that came
    after one waiting to be alone enters before it (it is never starved), and one waiting to be alone lets
    those that came before it in first (a task whose every evaluation is made alone, an agent's candidates of
    it coming one after another, never keeps the other tasks' evaluations out)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._stays: set[Stay] = set()
        self._alone = False
        self._waiting: dict[int, bool] = {}  # the tickets of those waiting to enter: whether each waits to be alone
        self._tickets = itertools.count()

    @contextlib.contextmanager
    def _waited(self, alone: bool, ready):
        """Within the condition: wait in turn (a ticket) until `ready(ticket)`; the ticket goes however the wait
        ends (a KeyboardInterrupt while waiting must not leave the gate shut)."""
        ticket = next(self._tickets)
        self._waiting[ticket] = alone
        try:
            self._changed.wait_for(lambda: ready(ticket))
        finally:
            del self._waiting[ticket]
            self._changed.notify_all()
        yield

    @contextlib.contextmanager
    def shared(self):
        stay = Stay()
        with self._changed:
            with self._waited(False, lambda ticket: not self._alone and not any(
                    alone for other, alone in self._waiting.items() if other < ticket)):
                if self._stays:
                    stay.beside = True
                    for other in self._stays:
                        other.beside = True
                self._stays.add(stay)
        try:
            yield stay
        finally:
            with self._changed:
                self._stays.discard(stay)
                self._changed.notify_all()

    @contextlib.contextmanager
    def alone(self):
        with self._changed:
            with self._waited(True, lambda ticket: not (self._alone or self._stays) and not any(
                    other < ticket for other in self._waiting)):
                self._alone = True
        try:
            yield
        finally:
            with self._changed:
                self._alone = False
                self._changed.notify_all()


class Stay:
    """One evaluation's time inside a MemoryGate."""

    def __init__(self) -> None:
        self.beside = False
