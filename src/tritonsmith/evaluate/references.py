"""The references of one job: the task's inputs and reference outputs of every check (runs in the checker's
process, evaluate/checker.py, and in the reference keeper, evaluate/keeper.py; never beside candidate code).

Each check is made from fresh inputs, from memory pre-filled with a known byte; on a GPU the reference is run
a second time from memory filled with another byte (the host's too), and what differs is left out of comparisons
or the case is dropped (`drop_unreproducible`). A job borrows them from its device's keeper, which makes them with this same
code once per task, or makes them itself. The candidate's process makes the same inputs itself, checked by
their digests (`start_command`); the expected outputs never leave here.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import json
import os
import pickle
import re
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

import torch

from tritonsmith.evaluate.autotuning import (
    autotune_on_interpreter,
    compile_calls_ahead,
    parallel_compiles,
    tuning_alone,
)
from tritonsmith.evaluate.compare import as_outputs, compare_outputs, nan_from_filler, undefined_elements
from tritonsmith.evaluate.errors import device_fault, exception_text, out_of_memory
from tritonsmith.evaluate.gpu_lock import GpuLock, ScoutStopped, compiles_let_go, holding, making_lock_path
from tritonsmith.evaluate.keeper import receive_blob, send_blob
from tritonsmith.evaluate.runtime import (
    CHECK_SEED,
    TaskFailure,
    clock_timing,
    clone,
    held_bytes,
    host_available,
    host_memory_filled,
    hostable,
    import_file,
    import_task,
    input_digest,
    make_inputs,
    synchronize,
    tensors_of,
    time_first_call,
    to_host,
    where,
)
from tritonsmith.evaluate.timing import ClockTimer, GpuTimer, TimingSettings, holding_last
from tritonsmith.task import PERF_SEED, CaseSkipped, case_label
from tritonsmith.util.copied_calls import nothing_recorded, written_aligned
from tritonsmith.util.tensors import map_tensors

REFERENCE_TIMINGS = ("separate", "baseline", "none")
SMALL_BLOCK, SMALL_POOL = 1 << 20, 64 << 20  # PyTorch's small-block pool: blocks up to 1 MiB
FILL_MOST = 4 << 30
"""The most new memory filled for a reference run beyond what the allocator's cache holds (`fill_free_memory`)."""
KEEPER_FIELDS = ("task_path", "task_key", "correctness_cases", "perf_cases", "seeds", "tolerances",
                 "reproducibility_check", "gpu_lock", "check_memory", "host_share", "entry_point",
                 "trusted_baseline_path", "gold", "timing")  # what the keeper needs of a job to make its references
_REFERENCE_EVIDENCE = ("skipped_cases", "perf_shapes_checked", "perf_shapes_reason", "unreproducible_cases",
                       "reference_reproducible", "skipped_perf_cases", "reference_unwritten_elements",
                       "reference_memory_unfilled", "vacuous_cases", "correctness_checks_limited",
                       "references_split_s", "after_timing_checks", "reference_tuning", "compiled_ahead")


# what torch and Triton raise for code that needs a GPU on a machine without one (a CPU-only torch, which also
# lacks torch._C's CUDA functions; Triton's interpreter, which has no active driver)
NO_GPU = re.compile(r"not compiled with CUDA|no NVIDIA driver|CUDA driver|0 active drivers|"
                    r"cannot import name '_cuda\w*' from 'torch\._C'")


def needs_gpu(reason: str | None, exc: BaseException, where: str) -> str:
    """The task failure of a task whose own code needs a GPU, run on the CPU: why, what it raised (on which
    case), and what to do."""
    raised = (str(exc).strip().splitlines() or [""])[0]
    return (f"this task needs a GPU: {reason or 'its own code asks for one'}, and on the CPU its reference fails "
            f"on {where} with \"{type(exc).__name__}: {raised}\"; run it on a GPU with --device cuda")


def said(exc: BaseException) -> str:
    """The task's exception as a failure says it: its type and words, and a compile error's causes."""
    return exception_text(exc, f"{type(exc).__name__}: {exc}")


def reference_failed(where: str, exc: BaseException) -> str:
    """A failure of the task's own code (its inputs or its reference) on a case, `where` naming it."""
    return f"the task's make_inputs/reference failed on {where}: {said(exc)}"


class References:
    """The task and every check made of it: inputs, expected outputs, and the elements a reference leaves
    undefined."""

    stop_when_too_large: Callable[[int], None] | None = None
    """A reference keeper's (keeper.Keeper.stop_when_too_large): told what the checks take at least, once the
    correctness checks are made, it may stop the making."""

    def __init__(self, job: dict[str, Any]):
        self.job = job
        self.device = job["device"]
        self.on_gpu = self.device != "cpu"
        self.seeds: list[int] = job.get("seeds", [0, 1, 2])
        self.evidence: dict[str, Any] = {}
        self.gpu_lock = GpuLock(job.get("gpu_lock") if self.on_gpu else None)
        if self.on_gpu:
            compiles_let_go()
        self.run_need, self.base = 0, 0  # the most a reference run allocated beyond what it began with; that start

    def load_task(self) -> None:
        self.task = import_task(self.job)
        self.configure_task()

    def configure_task(self) -> None:
        self.reference_timing = getattr(self.task, "REFERENCE_TIMING", "separate")
        if self.reference_timing not in REFERENCE_TIMINGS:
            raise TaskFailure(f"the task's REFERENCE_TIMING is {self.reference_timing!r}; it must be one of "
                              f"{', '.join(REFERENCE_TIMINGS)}")
        # the task's own baseline against itself, to qualify the task, when that baseline is PyTorch code
        self.pytorch_gold = bool(self.job.get("gold")) and self.reference_timing == "baseline"
        if self.pytorch_gold:
            self.evidence["gold"] = ("the task's baseline is its PyTorch reference, evaluated against itself: the "
                                     "guards that require Triton kernels do not apply")
        self.tolerances = {k: (v["atol"], v["rtol"]) for k, v in self.job.get("tolerances", {}).items()}
        self.checker = getattr(self.task, "check", None)

    def make_check(self, case: dict[str, Any], index: int, seed: int, phase: str,
                   fill: int | None = None) -> dict[str, Any]:
        """Inputs, then the reference's outputs; with `fill`, the free memory is filled with that byte between
        the two (making inputs frees temporaries: a float32 randn cast to float16 left NaN in 1 of 64 halves of
        what the reference allocated next, the same in both runs, so never seen as unwritten). The host's
        malloc hands the reference memory filled too, with 0x00 in a run from zeroed memory and 0xFE in one from
        0xFF bytes (`host_memory_filled`: glibc gives no 0xFF): a reference that reads a host buffer it never wrote
        differs between the two runs (`drop_unreproducible`)."""
        waiting = time.perf_counter()
        in_reference = False  # what raised: the reference's run (PERF_INPUT_ERRORS may skip its case), or else
        with self.gpu_lock.shared():
            try:
                self.spent("gpu_lock_wait", waiting)
                began = time.perf_counter()
                args = make_inputs(self.task, case, seed, self.device)
                if fill is not None:
                    self.fill_free_memory(fill)
                self.spent("making_inputs", began)
                segments = _segments_allocated() if self.on_gpu else 0
                began, tuning_waited = time.perf_counter(), self.gpu_lock.alone_waited
                tuned, compiled = collections.Counter(self.gpu_lock.tuning_counts), self.gpu_lock.compile_s
                with (tuning_alone(self.gpu_lock) if self.on_gpu else contextlib.nullcontext(),
                      host_memory_filled(min(fill, 0xFE)) if fill is not None else contextlib.nullcontext()):
                    in_reference = True
                    expected = self.task.reference(*clone(args))  # a gold's autotuning is done alone
                synchronize(self.device)  # (its kernels' errors surface here)
                in_reference = False
                self.spent("reference_runs", began)
                self.add_split("tuning_alone_wait", self.gpu_lock.alone_waited - tuning_waited)
                self.count_tuning(self.gpu_lock.tuning_counts - tuned)
                if self.on_gpu:  # (the interpreter compiles nothing)
                    self.add_split("compiles", self.gpu_lock.compile_s - compiled)
            except CaseSkipped:
                raise
            except Exception as exc:
                which = "perf case" if phase == "perf_shape" else "case"
                if not self.on_gpu and NO_GPU.search(str(exc)):
                    raise TaskFailure(needs_gpu(getattr(self.task, "GPU_ONLY", None), exc,
                                                f"{which} {index} ({case_label(case)})")) from exc
                failure = TaskFailure(reference_failed(f"{which} {index} ({case_label(case)})", exc))
                failure.reference_raised = in_reference
                raise failure from exc
        grew = self.on_gpu and _segments_allocated() != segments  # memory from the driver, not filled
        return {"case": case, "index": index, "seed": seed, "phase": phase, "args": args, "expected": expected,
                **({"unfilled": True} if grew and fill is not None else {})}

    def spent(self, name: str, since: float) -> None:
        """Add the seconds from `since` to now to `name` in evidence['references_split_s']: where making a task's
        references goes (stages: perf_checks, correctness_checks, reproducibility, after_timing,
        baseline_alone, kernels_off_check; and across them: gpu_lock_wait, making_inputs, reference_runs,
        tuning_alone_wait, and compiles: Triton's, within reference runs, not the waits to take the GPU again)."""
        self.add_split(name, time.perf_counter() - since)

    def count_tuning(self, counts: collections.Counter) -> None:
        """Add a reference run's trusted autotuning to evidence['reference_tuning']: its configs kept (benchmarked
        in full, or, for a call of 12.5 ms or more, briefly: as many calls) and those cut after a brief benchmark
        ("cut"; autotuning.staged_bench)."""
        if counts:
            tuning = self.evidence.setdefault("reference_tuning", {"kept": 0, "cut": 0})
            for name, count in counts.items():
                tuning[name] = tuning.get(name, 0) + count

    def add_split(self, name: str, seconds: float) -> None:
        split = self.evidence.setdefault("references_split_s", {})
        split[name] = split.get(name, 0.0) + seconds  # rounded where reported (Checker.run's phases)

    @contextlib.contextmanager
    def stage(self, name: str):
        began = time.perf_counter()
        try:
            yield
        finally:
            self.spent(name, began)

    def prepare(self) -> None:
        """Inputs and reference outputs of every check: borrowed from the device's reference keeper (made once per
        task there), or made here when there is none."""
        job = self.job
        if not self.on_gpu:
            autotune_on_interpreter()
            if getattr(self.task, "CPU_SIZES_NOTE", None):
                self.evidence["cpu_sizes"] = self.task.CPU_SIZES_NOTE
        if not job.get("keeper"):
            self.evidence["references"] = f"made by this job ({job.get('references_here') or 'no reference keeper'})"
        if not (job.get("keeper") and self.borrow_references(job["keeper"])):
            # as a keeper makes them (keeper.py): a keeper's second try at a task short of memory waits for this
            with holding(making_lock_path(job.get("gpu_lock")) if self.on_gpu else None, slot="making"):
                self.compute_references()

    def borrow_references(self, path: str) -> bool:
        """The keeper's references, copied into this process's own memory; False (made here instead) if the
        keeper cannot be reached. A task failure the keeper found is this job's too."""
        import torch.multiprocessing  # noqa: F401 - the reductions that rebuild shared tensors
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.connect(path)
                send_blob(connection, json.dumps({k: self.job.get(k) for k in KEEPER_FIELDS}).encode())
                reply = pickle.loads(receive_blob(connection))
                if "error" in reply:
                    raise TaskFailure(reply["error"])
                if "unavailable" in reply:
                    raise RuntimeError(reply["unavailable"])
                # our own memory: the keeper's lent memory is let go
                state = self.copied(functools.partial(copy.deepcopy, reply["state"]))
                made = reply["made"]
                del reply
        except TaskFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - a keeper that cannot be reached or read: make them here
            self.evidence["references"] = (f"made by this job (the reference keeper could not be used: "
                                           f"{type(exc).__name__}: {exc})")
            return False
        if self.on_gpu:
            torch.cuda.ipc_collect()
        self.use_reference_state(state)
        if made == "kept":  # where making them went, for the job they were made for
            self.evidence.pop("references_split_s", None)
        self.evidence["references"] = {"kept": "lent by the reference keeper: made for an earlier job of this task",
                                       "now": "made by the reference keeper for this job, and kept for later ones"
                                       }.get(made, f"made by the reference keeper {made}")
        return True

    def copied(self, copy_of: Callable[[], Any]) -> Any:
        """`copy_of()`, a copy made on the GPU (GBs, at times), within the GPU lock (shared) and waited for:
        never while another evaluation is timed, whose memory bandwidth it would take (an honest candidate's
        first call on new inputs, timed once, looked 8x slower than its repeated calls beside six evaluations'
        copies on an H200)."""
        with self.gpu_lock.shared():
            made = copy_of()
            synchronize(self.device)
        return made

    def reference_state(self) -> dict[str, Any]:
        return {"checks": self.checks, "fresh_check": self.fresh_check, "perf_checks": self.perf_checks,
                "after_timing_checks": self.after_timing_checks, "trusted_baseline": self.trusted_baseline,
                "evidence": {k: self.evidence[k] for k in _REFERENCE_EVIDENCE if k in self.evidence}}

    def use_reference_state(self, state: dict[str, Any]) -> None:
        for name in ("checks", "fresh_check", "perf_checks", "after_timing_checks", "trusted_baseline"):
            setattr(self, name, state[name])
        self.evidence.update(state["evidence"])

    def time_baseline(self) -> None:
        """The task's own baseline, run and timed alone on each perf case here, where no candidate code runs
        (the keeper, once per task; else the checker), both ways a case may be timed, and once on the
        after-timing check's inputs ("fresh"): its kernels are compiled into the shared Triton cache, which the
        candidate's process only reads, and the checker compares the candidate with these times (measuring.py:
        the baseline slowed beside it; results reused between its timed calls)."""
        self.trusted_baseline: dict[str, Any] | None = {}
        if self.job.get("gold"):  # the task's own baseline is the candidate: nothing to hold against it
            self.trusted_baseline = None  # (not measured: a keeper measures it for the task's first other job)
            return
        path = self.job.get("trusted_baseline_path")
        if not (self.perf_checks and path and (self.on_gpu or clock_timing())):
            return
        try:
            key = (self.job.get("task_key") or "job")[:16]
            baseline = getattr(import_file(path, f"tritonsmith_trusted_baseline_{key}"), self.job["entry_point"])
            timer = GpuTimer() if self.on_gpu else ClockTimer()
            settings = TimingSettings.from_job(self.job.get("timing") or {})  # sampled as the job's cases are
            for offset, check in enumerate(self.perf_checks):
                fresh_args = self.fresh_inputs(offset)
                with self.gpu_lock.exclusive():  # alone on the GPU, as timing is (its copies of the inputs too)
                    args = clone(check["args"])
                    alone = timer.alone(holding_last(lambda args=args: baseline(*args)), settings,
                                        first_call=self.gpu_lock.yielding)  # its compile lets the GPU go
                    # and once on other inputs, as the candidate's first call on inputs it has not seen is timed
                    alone["fresh"] = time_first_call(timer, lambda fresh_args=fresh_args: baseline(*fresh_args),
                                                     fresh_args, alone["host_ms"])[0]["ms"]
                self.trusted_baseline[str(offset)] = alone
                del args, fresh_args
        except Exception as exc:  # noqa: BLE001 - the task's own code: the comparison is off, and says why
            self.trusted_baseline = {"error": f"{type(exc).__name__}: {exc}"[:300]}

    def compute_references(self) -> None:
        job = self.job
        cases = list(enumerate(job["correctness_cases"]))
        if not self.on_gpu:  # the interpreter computes bfloat16 arithmetic wrongly (triton 3.x, numpy has no bf16)
            skipped = [i for i, case in cases if case["dtype"] == "bfloat16"]
            cases = [(i, case) for i, case in cases if case["dtype"] != "bfloat16"]
            if skipped:
                self.evidence["skipped_cases"] = {"cases": skipped, "reason": "bfloat16 is not checked on the "
                                                  "Triton CPU interpreter, whose bfloat16 arithmetic is wrong"}
            if not cases:
                raise TaskFailure("every correctness case of this task is bfloat16, which the Triton CPU "
                                  "interpreter cannot check: evaluate it on a GPU (--device cuda)")
        self.checks, self.perf_checks, self.after_timing_checks = [], [], []
        if self.on_gpu and parallel_compiles() > 1:
            with self.stage("compiles_ahead"):
                self.compile_ahead(cases)
        if self.on_gpu:  # first: what they hold decides how many correctness checks fit beside them
            with self.stage("perf_checks"):
                self.make_perf_checks()
        planned = [(i, case, seed) for i, case in cases for seed in self.seeds]
        with self.stage("correctness_checks"):
            self.make_correctness_checks(planned)
        self.checks.sort(key=lambda check: (check["index"], self.seeds.index(check["seed"])))
        if not self.on_gpu and job["perf_cases"]:
            self.evidence["perf_shapes_checked"] = False
            if clock_timing():  # the evaluator's tests of its timing path, on small shapes
                self.perf_checks = [self.make_filled(0, case, i, PERF_SEED, "perf_shape") for i, case in cases]
                self.evidence["perf_shapes_reason"] = "no GPU: timed by the host clock on the correctness shapes (a test)"
            else:
                self.evidence["perf_shapes_reason"] = "no GPU: the Triton CPU interpreter is too slow for perf shapes"
        self.drop_vacuous()
        if self.stop_when_too_large is not None:  # a keeper's: what they take at least (fewer only where a second
            # run drops unreproducible checks), with the kernels-off check, a copy of the largest output's, to come
            largest = max(self.checks, key=lambda c: _numel(c["expected"]))
            self.stop_when_too_large(held_bytes([(c["args"], c["expected"]) for c in self.perf_checks + self.checks])
                                     + held_bytes((largest["args"], largest["expected"])))
        check = job.get("reproducibility_check", "gpu")
        if self.checker is not None:  # its own check may accept many answers, and keep state between calls
            self.evidence["reference_reproducible"] = "not checked: the task judges outputs with its own check"
        elif check == "always" or (check == "gpu" and self.on_gpu):
            with self.stage("reproducibility"):
                self.drop_unreproducible()  # before the after-timing inputs: a perf script keeps one seed's inputs
        # a seed drawn now for each perf case (kept with the references): the candidate cannot make these inputs
        # ahead of them, nor, having met one case's, the next case's
        later = self.after_timing_later()
        with self.stage("after_timing"):
            self.after_timing_checks = [self.after_timing_check(c, later) for c in self.perf_checks]
        if not self.checks:
            raise TaskFailure("the task's reference is not reproducible on any correctness case: "
                              + "; ".join(self.evidence.get("unreproducible_cases", [])))
        with self.stage("baseline_alone"):
            self.time_baseline()
        largest = max(self.checks, key=lambda check: _numel(check["expected"]))
        with self.stage("kernels_off_check"):
            self.fresh_check = self.make_check(largest["case"], largest["index"], CHECK_SEED, "kernels_off")
        if "undefined" in largest:
            self.fresh_check["undefined"] = largest["undefined"]
        if self.on_gpu:  # the fillers' and the reference runs' memory, cached: the candidate's process needs it
            torch.cuda.empty_cache()

    def after_timing_later(self) -> bool:
        """Whether each after-timing check is made only when its perf case is timed (Measuring.made_when_needed),
        not now with the rest: where no keeper keeps these references for later jobs (made by the job itself,
        nothing is gained by making them ahead, and a failing candidate never needs them), and where the perf
        checks take more than half of what the keeper keeps (`keeper_keeps`; the after-timing checks, as large,
        would double them: a TritonBench-G perf script's inputs reach 13 GB, and two such tasks' references
        beside their evaluations filled an H200)."""
        keeps = self.job.get("keeper_keeps")
        perf_bytes = held_bytes([(c["args"], c["expected"]) for c in self.perf_checks])
        later = keeps is None or 2 * perf_bytes > keeps
        if later and self.perf_checks:
            self.evidence["after_timing_checks"] = (
                "made when each perf case is timed, not with the other references: " +
                ("this job's references are its own" if keeps is None else
                 f"the perf checks take {perf_bytes / 2**30:.1f} GiB, more than half of what the reference "
                 f"keeper keeps ({keeps / 2**30:.1f} GiB)"))
        return later

    def after_timing_check(self, perf_check: dict[str, Any], later: bool) -> dict[str, Any]:
        """The check after timing of a perf case: its inputs from a seed drawn now, and its reference; or, `later`,
        the case and seed alone (`made_later`), made when needed."""
        entry = {"case": dict(perf_check["case"]), "index": perf_check["index"], "seed": secrets.randbelow(1 << 31),
                 "phase": "after_timing", "later": True,
                 **({"undefined": perf_check["undefined"]} if "undefined" in perf_check else {})}
        return entry if later else self.made_later(entry)

    def made_later(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A check left for when it is needed (`after_timing_check`), made now: its inputs and reference."""
        made = self.make_check(dict(entry["case"]), entry["index"], entry["seed"], entry["phase"])
        return dict(made, **({"undefined": entry["undefined"]} if "undefined" in entry else {}))

    def fresh_inputs(self, offset: int) -> tuple:
        """A copy of the inputs of perf case `offset`'s after-timing check, made now if that check was left for
        later (the baseline's first call on inputs it has not seen, `time_baseline`)."""
        after = self.after_timing_checks[offset]
        if not after.get("later"):
            return self.copied(lambda: clone(after["args"]))
        return self.copied(lambda: make_inputs(self.task, dict(after["case"]), after["seed"], self.device))

    def compile_ahead(self, cases: list[tuple[int, dict[str, Any]]]) -> None:
        """What the reference compiles on the perf cases and the correctness cases (the first seed's), compiled
        several at a time first (TRITONSMITH_PARALLEL_COMPILES; autotuning.compile_calls_ahead): each case's inputs
        made, and the reference scouted on them up to its first kernel to compile. The checks are made after, as
        always, from the kernels compiled; evidence `compiled_ahead`. A scouted call that runs its kernels and
        faults the device (an illegal address: the context is lost, and every call after it fails) is named as the
        case that failed, not the first case made after (TritonBench-G's softmax_reducev faulted on a correctness
        case of its test and was said to fail on perf case 0)."""
        faulted: list[str] = []

        def scouted(which: str, case: dict[str, Any], seed: int) -> Callable[[], None]:
            def call() -> None:  # (tuning alone where it is not scouted: a backward's kernels on autograd's thread)
                try:
                    with self.gpu_lock.shared(), tuning_alone(self.gpu_lock):
                        try:
                            self.task.reference(*make_inputs(self.task, dict(case), seed, self.device))
                        except ScoutStopped:  # stopped at a kernel to compile: those it launched before may fault
                            synchronize(self.device)  # (and are waited for within the hold, as every run's are)
                            raise
                        synchronize(self.device)  # a fault of its kernels surfaces here, not in the next case
                except Exception as exc:
                    if device_fault(exc) and not faulted:
                        faulted.append(reference_failed(f"{which} ({case_label(case)}), its kernels compiled ahead",
                                                        exc))
                    raise
            return call
        tuned = collections.Counter(self.gpu_lock.tuning_counts)
        found = compile_calls_ahead([scouted(f"perf case {i}", case, PERF_SEED)
                                     for i, case in enumerate(self.job["perf_cases"])]
                                    + [scouted(f"case {i}", case, self.seeds[0]) for i, case in cases])
        self.count_tuning(self.gpu_lock.tuning_counts - tuned)  # (an autotuning run in a later scouting round)
        if faulted:
            raise TaskFailure(faulted[0])
        if found:
            self.evidence["compiled_ahead"] = found

    def make_perf_checks(self) -> None:
        """The perf checks. A perf case whose reference raises fails the task, unless the task says, as a
        described suite's does (`PERF_INPUT_ERRORS = "skip"`: GEAK-eval's harness goes on past a perf input whose
        run raises), that such a case is skipped: an ordinary exception (a wrapper that asks `stride(3)` of the 3-D
        tensors its perf script makes), never a device fault, which loses the process's context, nor running out
        of memory, which the pool makes again alone."""
        skip_errors = getattr(self.task, "PERF_INPUT_ERRORS", None) == "skip"
        for i, case in enumerate(self.job["perf_cases"]):
            try:
                self.perf_checks.append(self.make_filled(0, case, i, PERF_SEED, "perf_shape"))
            except CaseSkipped as exc:  # a benchmark's test that pytest would skip here
                self.evidence.setdefault("skipped_perf_cases", []).append(f"case {i} ({case_label(case)}): {exc}")
            except TaskFailure as exc:
                cause = exc.__cause__
                if (not skip_errors or not getattr(exc, "reference_raised", False) or cause is None
                        or device_fault(cause) or out_of_memory(str(cause)) or not self.device_usable()):
                    raise
                self.evidence.setdefault("skipped_perf_cases", []).append(
                    f"case {i} ({case_label(case)}): the reference raised there, and the suite skips such an input "
                    f"(PERF_INPUT_ERRORS): {said(cause)[:400]}")

    def device_usable(self) -> bool:
        """Whether the device still runs work after an error (a fault whose words `device_fault` does not know
        loses the context too: then the next call fails, and would be blamed for it)."""
        if not self.on_gpu:
            return True
        try:
            synchronize(self.device)
            torch.ones(1, device=self.device).add_(1).item()
        except Exception:  # noqa: BLE001 - whatever the driver says: the context is gone
            return False
        return True

    def make_correctness_checks(self, planned: list[tuple[int, dict[str, Any], int]]) -> None:
        """The correctness checks, in `spread` order, until they would hold more than their room beside the perf
        checks (`correctness_room`), one at least."""
        budget = self.memory_budget()
        perf_bytes = 2 * held_bytes([(c["args"], c["expected"]) for c in self.perf_checks])  # and the after-timing
        room = correctness_room(budget, perf_bytes)
        held = largest = 0
        for i, case, seed in self.spread(planned):
            # the next check, and the kernels-off one (a copy of the largest), as large as the largest so far
            if self.checks and room is not None and held + 2 * largest > room:
                self.evidence["correctness_checks_limited"] = (
                    f"{len(self.checks)} of {len(planned)} correctness checks made: they hold {held / 2**30:.1f} "
                    f"GiB of inputs and reference outputs (the largest {largest / 2**30:.1f} GiB), the perf and "
                    f"after-timing checks {perf_bytes / 2**30:.1f} GiB, and the checker may hold {budget / 2**30:.1f}"
                    " GiB of this GPU (EvalConfig.check_memory, shared by the evaluations on it)")
                break
            # zero bytes, as fresh memory usually is; the second run has all bits set instead
            self.checks.append(self.make_filled(0, case, i, seed, "correctness"))
            size = held_bytes((self.checks[-1]["args"], self.checks[-1]["expected"]))
            held, largest = held + size, max(largest, size)

    def spread(self, planned: list[tuple[int, dict[str, Any], int]]) -> list[tuple[int, dict[str, Any], int]]:
        """The correctness checks in the order they are made: every case at its first seed, then at its second,
        ..., so that where not all of them fit in memory (`memory_budget`), the cases checked are as many as
        can be."""
        return sorted(planned, key=lambda item: (self.seeds.index(item[2]), item[0]))

    def memory_budget(self) -> int | None:
        """The bytes of GPU memory this evaluation's checks may hold in the checker (the job's `check_memory`
        fraction of the GPU, already divided among the evaluations sharing it), or None (the CPU): the
        correctness checks stop short of it (one at least), beside the perf checks, the after-timing checks (as
        large) and the kernels-off check (as the largest correctness check), and short of a quarter of it
        however large the perf checks are. The candidate's process holds each check's inputs too, and its
        outputs while they are handed over; a KernelBench level-1 problem's inputs and output take up to 17 GB
        a check. TRITONSMITH_CHECK_BUDGET_BYTES sets it, on any device: the paths of checks too large for the
        GPU (fewer correctness checks, `hold_on_host`) are then taken on the CPU too, where the tests run."""
        forced = os.environ.get("TRITONSMITH_CHECK_BUDGET_BYTES")
        if forced:
            return int(forced)
        fraction = self.job.get("check_memory")
        if not self.on_gpu or not fraction:
            return None
        return int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory * fraction)

    def drop_vacuous(self) -> None:
        """Drop the checks whose reference is a perf op that returned nothing and changed none of its inputs:
        any candidate, one that does nothing too, would match it."""
        for group in ("checks", "perf_checks"):
            kept = []
            for check in getattr(self, group):
                if nothing_recorded(check["expected"]):
                    self.evidence.setdefault("vacuous_cases", []).append(
                        f"{where(check)}: the reference's op returned nothing and changed none of its inputs")
                else:
                    kept.append(check)
            setattr(self, group, kept)
        if not self.checks:
            raise TaskFailure("the task's reference checks nothing on any correctness case: "
                              + "; ".join(self.evidence.get("vacuous_cases", [])))

    def drop_unreproducible(self) -> None:
        """Run the reference again on fresh inputs, from memory pre-filled with 0xFF bytes where the first
        run had zero bytes (and host memory of 0xFE bytes where it had zero: `make_check`), so that memory it
        never wrote shows. Elements that read as each filler (zero in the first run, NaN or -1 in the second) are
        left out of every comparison (a gold that never writes part of
        its output); a case whose outputs differ otherwise (in other elements, shape or structure), or that
        writes none of its output, is dropped: no candidate can match it."""
        dropped, undefined, total = [], [], len(self.checks) + len(self.perf_checks)
        for group in ("checks", "perf_checks"):
            kept = []
            for check in getattr(self, group):
                again = None  # the previous check's second run is free before this one's is made
                again = self.make_filled(0xFF, check["case"], check["index"], check["seed"], check["phase"])
                problem = self.problem(again["expected"], check, again["args"], made=again["args"])
                differing = None if problem is None else undefined_elements(
                    *written_aligned(check["expected"], check["args"], again["expected"], again["args"]),
                    self.tolerances)
                if problem is None:
                    kept.append(check)
                elif differing is not None and (sum(int(mask.sum()) for mask in differing[0].values())
                                                < _numel(check["expected"])):
                    check["undefined"] = differing[0]
                    undefined.append(f"{where(check)}: {'; '.join(differing[1])}")
                    kept.append(check)
                else:
                    sign = ("; the run from memory of 0xFF bytes has NaN where the run from zeroed memory has "
                            "numbers: the reference computes from memory it never wrote"
                            if nan_from_filler(check["expected"], again["expected"]) else "")
                    dropped.append(f"{where(check)}: two runs of the reference differ ({problem['message']}){sign}")
            setattr(self, group, kept)
        self.evidence["reference_reproducible"] = f"{total - len(dropped)} of {total} checks (the reference run twice)"
        if dropped:
            self.evidence["unreproducible_cases"] = dropped
        if undefined:
            self.evidence["reference_unwritten_elements"] = {
                "checks": undefined, "note": "elements that differ between two runs of the reference from memory "
                "filled differently (it never writes them): not compared"}

    def make_filled(self, byte: int, case: dict[str, Any], index: int, seed: int, phase: str) -> dict[str, Any]:
        """A check made from memory filled with `byte`. A reference run that needed more memory than was filled
        got new memory from the driver, which holds whatever was last there (the keeper gives its cache back
        between tasks, filled with an earlier task's bytes): it is made again (twice at most), now with that much
        filled, so that what the reference leaves unwritten is `byte` throughout, not garbage both runs happen to
        share; a check still made partly from unfilled memory is named in the evidence (reference_memory_unfilled)."""
        for attempt in range(3):
            check = None  # an earlier try's memory is free again, to be filled with the rest
            check = self.make_check(case, index, seed, phase, fill=byte)
            if not check.pop("unfilled", False):
                return check
            if attempt and torch.cuda.max_memory_allocated() - self.base > FILL_MOST:
                break  # made again from a filled cache and still short, needing more new memory than a fill
                # gives: a third try would be too (chunk_retention's 6 GiB perf inputs)
        self.evidence.setdefault("reference_memory_unfilled", []).append(where(check))
        return check

    def fill_free_memory(self, byte: int) -> None:
        """Fill the memory the caching allocator will hand out next with `byte`, so that what a reference reads
        without having written is known. 0xFF is NaN as float32, float16 and bfloat16 alike, and -1 as an
        integer (a float32 NaN filler read as float16 was half zeros). Every free block the allocator holds for
        this stream gets fillers (largest first, best fit: each lands in its own block; a small-pool block, up
        to 2 MiB, in pieces of at most 1 MiB, the most that pool serves), in rounds until none is left, so none
        keeps what an earlier run or task left there; then new memory, as much as the last reference run needed
        beyond what it started with (at most 4 GiB) and 64 MiB of small blocks, less what the cache holds.
        Nothing is given back to the driver: the same memory is refilled each time instead of allocated anew."""
        if not self.on_gpu:
            return
        torch.cuda.synchronize()
        self.run_need = max(self.run_need, torch.cuda.max_memory_allocated() - self.base)
        stream = torch.cuda.current_stream().cuda_stream
        fillers, filled = [], {"small": 0, "large": 0}
        for _ in range(4):  # a filler that did not land in its block leaves it for the next round
            blocks = sorted(((block["size"], segment["segment_type"]) for segment in torch.cuda.memory_snapshot()
                             if segment.get("stream", stream) == stream for block in segment["blocks"]
                             if block["state"] == "inactive"), reverse=True)
            if not blocks:
                break
            for size, pool in blocks:
                while size > 0:
                    piece = min(size, SMALL_BLOCK) if pool == "small" else size
                    fillers.append(torch.full((piece,), byte, dtype=torch.uint8, device="cuda"))
                    filled[pool] = filled.get(pool, 0) + piece
                    size -= piece
        free, _ = torch.cuda.mem_get_info()
        need = min(max(self.run_need, SMALL_BLOCK), FILL_MOST, free // 2) - filled["large"]
        sizes = ([need] if need > SMALL_BLOCK else []) + [SMALL_BLOCK] * max(0, (SMALL_POOL - filled["small"]) // SMALL_BLOCK)
        fillers += [torch.full((size,), byte, dtype=torch.uint8, device="cuda") for size in sizes]
        del fillers  # their memory stays in the caching allocator, filled, for what the reference allocates next
        torch.cuda.reset_peak_memory_stats()  # the next run's peak is its own, not the fillers'
        self.base = torch.cuda.memory_allocated()

    def start_command(self) -> dict[str, Any]:
        """The candidate's process's first command. Every check's inputs are named (case, seed) with their
        digest: that process makes them itself with the task's own code before any candidate code runs, which
        is faster than handing GBs over, and the expected outputs stay here. The after-timing checks are named
        only in their `time` command (`after_inputs`): a candidate that knew them could compute their outputs
        ahead, and its first call on them would not show that it reuses results."""
        self.all_checks = self.checks + [self.fresh_check] + self.perf_checks + self.after_timing_checks
        deferred = len(self.all_checks) - len(self.after_timing_checks)
        meta = {str(i): self.meta_of(c) for i, c in enumerate(self.all_checks[:deferred])}
        # what the candidate's process writes: outputs, and a call's arguments after it (to see what it changed)
        largest = max((max(_nbytes(c["expected"]), _nbytes(c["args"])) for c in self.all_checks if not c.get("later")),
                      default=0)  # (an after-timing check left for later is as large as its perf check)
        file_bytes = self.job.get("limits", {}).get("file_bytes")
        if file_bytes:
            file_bytes = max(file_bytes, 2 * largest + (16 << 20))
        digests = [input_digest(c["args"]) for c in self.all_checks[:deferred]]
        self.start = {"do": "start", "meta": meta, "pytorch_gold": self.pytorch_gold, "file_bytes": file_bytes,
                      "inputs_on_host": self.hold_on_host(self.all_checks[:deferred],
                                                          [c for c in self.all_checks[deferred:] if not c.get("later")])}
        return dict(self.start, digests=digests)

    def hold_on_host(self, checks: list[dict[str, Any]], made_ahead: list[dict[str, Any]]) -> bool:
        """Whether the candidate's process holds the checks' inputs in host memory, each copied onto the GPU for
        its calls: where the checks would take more than this evaluation's share of the GPU (`memory_budget`),
        their inputs counted twice (that process makes its own; not the after-timing checks `made_ahead`'s,
        named only when timed), and the host has room for them (half its available memory, of this evaluation's
        `host_share`: the pool's evaluations on one machine start together, and each saw the same memory free). The expected
        outputs are then held in host memory here too (`on_host`), where the task has no check of its own
        (`compared` reads them a chunk at a time), and, with room left, this process's own copy of the inputs
        (`args_on_host`). KernelBench's 19_ReLU takes 6 GiB of input and 6 of output a check: an H100 ran out of
        memory with the checker's checks and the candidate's process's inputs."""
        budget = self.memory_budget()
        if budget is None or not checks:
            return False
        inputs_bytes = held_bytes([c["args"] for c in checks])
        size = held_bytes([(c["args"], c["expected"]) for c in checks + made_ahead]) + inputs_bytes
        if size <= budget:
            return False
        room = int(host_available() * self.job.get("host_share", 1.0)) // 2
        inputs = all(hostable(c["args"], self.device) for c in checks) and inputs_bytes <= room
        room -= inputs_bytes if inputs else 0
        outputs = 0
        if self.checker is None:
            with self.gpu_lock.shared():  # GBs copied, as every copy here is (`copied`)
                for check in checks + made_ahead:
                    moved = _outputs_on_host(check["expected"], self.device)
                    size_of = held_bytes(check["expected"])
                    if moved is not None and outputs + size_of <= room:
                        outputs += size_of
                        check["expected"], check["on_host"] = moved, True
        own_inputs = 0
        if inputs:  # this process's own copy of the inputs too, the perf checks' first (held through timing, beside
            # the after-timing checks made then): nothing runs on it here but the kernels-off reference and a
            # task's own check, each given a copy on the device (`args_here`)
            with self.gpu_lock.shared():
                for check in sorted(checks, key=lambda c: c["phase"] != "perf_shape"):
                    size_of = held_bytes(check["args"])
                    if outputs + own_inputs + size_of <= room:
                        own_inputs += size_of
                        check["args"], check["args_on_host"] = to_host(check["args"]), True
        if (outputs or own_inputs) and self.on_gpu:
            torch.cuda.empty_cache()
        self.evidence["held_on_host"] = (
            f"the checks take {size / 2**30:.1f} GiB (their inputs counted twice: the candidate's process makes its "
            f"own), more than this evaluation's share of the GPU ({budget / 2**30:.1f} GiB): "
            + ("the inputs in the candidate's process, copied onto the GPU for each call" if inputs else
               "the inputs stay on the GPU (not all plain tensors on it, or no room in host memory)")
            + f"; {outputs / 2**30:.1f} GiB of expected outputs and {own_inputs / 2**30:.1f} GiB of inputs here")
        self.evidence["held_on_host_bytes"] = {"expected_outputs": outputs, "checker_inputs": own_inputs}
        return inputs

    def args_here(self, check: dict[str, Any]) -> tuple:
        """A copy of a check's inputs on the evaluation's device (from host memory where `hold_on_host` put them)."""
        return self.copied(lambda: clone(check["args"], self.device if check.get("args_on_host") else None))

    def compared(self, output: Any, check: dict[str, Any], expected: Any = None) -> dict[str, Any] | None:
        """compare_outputs of `output` with the check's expected output (or `expected`, aligned with it), held in
        host memory where `hold_on_host` put it."""
        return compare_outputs(output, check["expected"] if expected is None else expected, self.tolerances,
                               check.get("undefined"), torch.device(self.device).type if check.get("on_host") else None)

    @staticmethod
    def meta_of(check: dict[str, Any]) -> dict[str, Any]:
        return {k: check[k] for k in ("case", "index", "seed", "phase")}

    def after_inputs(self, key: int) -> dict[str, Any]:
        """An after-timing check named for the candidate's process to make after its timed calls."""
        return {"key": key, "meta": self.meta_of(self.all_checks[key]), "digest": input_digest(self.all_checks[key]["args"])}

    def inputs_file(self, keys: list[int], name: str) -> str:
        """Checks' inputs in JOB/`name`, for the candidate's process that made them otherwise. The job folder is
        the candidate's to write: whatever it left under that name (a link to a file of the user's) is
        removed, and the file made anew, never through a link."""
        path = os.path.join(self.job["job_dir"], name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as file:  # as made, on the device (host-held ones copied back for the while, as
            # they were held before b3a02a1: a rare path, where the candidate's process made the inputs otherwise)
            torch.save({key: self.args_here(self.all_checks[key]) if self.all_checks[key].get("args_on_host")
                        else self.all_checks[key]["args"] for key in keys}, file)
        return path

    def start_with_file(self, keys: list[int], why: str | None) -> dict[str, Any]:
        """The first command again, for a task whose inputs came out otherwise in the candidate's process (not
        reproducible there): those checks' inputs, written to a file."""
        path = self.inputs_file(keys, "inputs.pt")
        self.evidence["inputs"] = (f"{len(keys)} of {len(self.all_checks)} checks' inputs handed over in a file: "
                                   "the candidate's process made them differently"
                                   + (f" (making them there failed: {why})" if why else ""))
        return dict(self.start, inputs=path)

    def problem(self, output: Any, check: dict[str, Any], args: tuple,
                made: tuple | None = None) -> dict[str, Any] | None:
        """What is wrong with `output` as the answer to `check` (None: nothing), by the task's own check or
        the scale-aware comparison. A perf op's record and the reference's name the same inputs as written
        (written_aligned): an input `output`'s call left alone is taken from `made`, the inputs as that call's
        process made them (a second run of the reference), else (a candidate's output) from the check's own
        inputs, never from what a candidate's process handed back, and only where it held exactly what the
        reference wrote."""
        output, expected = written_aligned(output, check["args"] if made is None else made,
                                           check["expected"], check["args"], trusted=made is not None)
        if self.checker is not None:
            try:
                found = self.checker(output, expected, args, dict(check["case"]))
            except Exception as exc:  # noqa: BLE001 - a malformed output may break the task's check
                return {"message": f"the task's check raised {type(exc).__name__}: {exc}"}
            return None if found is None else {"message": str(found)}
        return self.compared(output, check, expected)


def _segments_allocated() -> int:
    """How many times the caching allocator has taken memory from the driver so far."""
    return torch.cuda.memory_stats().get("segment.all.allocated", 0)


def correctness_room(budget: int | None, perf_bytes: int) -> int | None:
    """What the correctness checks may hold: the rest of the budget, and a quarter of it whatever the perf
    checks hold (small correctness cases beside large perf shapes, as TritonBench-G's, are all made)."""
    return None if budget is None else max(budget - perf_bytes, budget // 4)


def _outputs_on_host(value: Any, device: str) -> Any:
    """An expected output (a tensor, or lists, tuples and dicts of them) with each tensor, all plain ones on
    `device`, copied into host memory; None where it holds anything else that compare_tensor reads as a tensor:
    one in an object, of a subclass, elsewhere (a GPU task's CPU result), or a numpy array (compared as on the
    CPU, and so not `held_for` the GPU)."""
    found = tensors_of(value)
    if not found or any(type(t) is not torch.Tensor or t.device.type != torch.device(device).type for t in found) or any(
            type(item).__module__ == "numpy" for item in as_outputs(value)):
        return None
    moved = map_tensors(value, lambda _, t: t.detach().to("cpu", copy=True))
    return moved if all(t.device.type == "cpu" for t in tensors_of(moved)) else None


def _numel(value: Any) -> int:
    return sum(t.numel() for t in as_outputs(value) if isinstance(t, torch.Tensor))


def _nbytes(value: Any) -> int:
    return sum(t.numel() * t.element_size() for t in as_outputs(value) if isinstance(t, torch.Tensor))
