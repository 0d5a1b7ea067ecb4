"""The evaluation itself, run in a forked, isolated child: references first, then the candidate.

Order matters: the task's inputs and reference outputs are all computed, the guards installed and
the evaluator's functions snapshotted before a line of candidate code is imported.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import pickle
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from tritonsmith.evaluate.compare import as_outputs, compare_outputs, undefined_elements
from tritonsmith.evaluate.errors import describe_exception, is_compile_error
from tritonsmith.evaluate.gpu_lock import GpuLock
from tritonsmith.evaluate.guards import HEAVY_OPS, Guards
from tritonsmith.evaluate.keeper import receive_blob, send_blob
from tritonsmith.evaluate.result import geometric_mean
from tritonsmith.evaluate.timing import TIMER, GpuTimer, TimingSettings
from tritonsmith.task import CaseSkipped, case_label

CHECK_SEED = 1_000_003  # a seed no correctness case uses: the kernels-off and after-timing checks
PERF_SEED = 7
REFERENCE_TIMINGS = ("separate", "baseline", "none")
KEEPER_FIELDS = ("task_path", "task_key", "correctness_cases", "perf_cases", "seeds", "tolerances",
                 "reproducibility_check", "gpu_lock")  # what the keeper needs of a job to make its references


_REFERENCE_EVIDENCE = ("skipped_cases", "perf_shapes_checked", "perf_shapes_reason", "unreproducible_cases",
                       "reference_reproducible", "skipped_perf_cases", "reference_unwritten_elements")


class TaskFailure(Exception):
    """The task itself (not the candidate) is broken: its inputs or reference raised."""


class _Stop(Exception):
    """The evaluation has its verdict; stop running candidate code."""


class Evaluation:
    def __init__(self, job: dict[str, Any], progress: Callable[[str], None] | None = None):
        self.job = job
        self.progress = progress
        self.device = job["device"]
        self.seeds: list[int] = job.get("seeds", [0, 1, 2])
        self.status: str | None = None
        self.message = ""
        self.call_ok = False
        self.cases: list[dict[str, Any]] = []
        self.perf: list[dict[str, Any]] = []
        self.evidence: dict[str, Any] = {}
        self.speedup = self.speedup_vs_torch = None
        self.speedup_reason: str | None = None
        self.guards: Guards | None = None
        self.gpu_lock = GpuLock(job.get("gpu_lock") if self.device != "cpu" else None)

    def fail(self, status: str, message: str) -> _Stop:
        if self.status is None:
            self.status, self.message = status, message
        return _Stop()

    # --- the task, before any candidate code -------------------------------------------------------

    def load_task(self) -> None:
        self.task = import_file(self.job["task_path"], "tritonsmith_task")
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

    def make_check(self, case: dict[str, Any], index: int, seed: int, phase: str) -> dict[str, Any]:
        with self.gpu_lock.shared():
            return self._make_check(case, index, seed, phase)

    def _make_check(self, case: dict[str, Any], index: int, seed: int, phase: str) -> dict[str, Any]:
        try:
            generator = torch.Generator(device=self.device).manual_seed(seed)
            args = tuple(self.task.make_inputs(dict(case), generator, self.device))
            expected = self.task.reference(*_clone(args))
            _synchronize(self.device)
        except CaseSkipped:
            raise
        except Exception as exc:
            raise TaskFailure(f"the task's make_inputs/reference failed on case {index} ({case_label(case)}): "
                              f"{type(exc).__name__}: {exc}") from exc
        return {"case": case, "index": index, "seed": seed, "phase": phase, "args": args, "expected": expected}

    def prepare(self) -> None:
        """Inputs and reference outputs of every check, before any candidate code: borrowed from the device's
        reference keeper (made once per task there), or made here when there is none."""
        job = self.job
        self.on_gpu = self.device != "cpu"
        if not self.on_gpu:
            autotune_on_interpreter()
            if getattr(self.task, "CPU_SIZES_NOTE", None):
                self.evidence["cpu_sizes"] = self.task.CPU_SIZES_NOTE
        if not (job.get("keeper") and self.borrow_references(job["keeper"])):
            self.compute_references()
        self.baseline = None
        if self.on_gpu and job.get("baseline_path") and not job.get("baseline_untrusted"):
            self.import_baseline()

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
                state = copy.deepcopy(reply["state"])  # our own memory: the keeper's is never lent to the candidate
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
        self.evidence["references"] = {"kept": "lent by the reference keeper: made for an earlier job of this task",
                                       "now": "made by the reference keeper for this job, and kept for later ones"
                                       }.get(made, f"made by the reference keeper {made}")
        return True

    def reference_state(self) -> dict[str, Any]:
        return {"checks": self.checks, "fresh_check": self.fresh_check, "perf_checks": self.perf_checks,
                "after_timing_checks": self.after_timing_checks,
                "evidence": {k: self.evidence[k] for k in _REFERENCE_EVIDENCE if k in self.evidence}}

    def use_reference_state(self, state: dict[str, Any]) -> None:
        for name in ("checks", "fresh_check", "perf_checks", "after_timing_checks"):
            setattr(self, name, state[name])
        self.evidence.update(state["evidence"])

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
        self.checks = []
        for i, case in cases:
            for seed in self.seeds:
                self.fill_free_memory(0.0)  # as fresh memory usually is; the second run has NaN instead
                self.checks.append(self.make_check(case, i, seed, "correctness"))
        self.perf_checks, self.after_timing_checks = [], []
        if self.on_gpu:
            for i, case in enumerate(job["perf_cases"]):
                try:
                    self.fill_free_memory(0.0)
                    self.perf_checks.append(self.make_check(case, i, PERF_SEED, "perf_shape"))
                except CaseSkipped as exc:  # a benchmark's test that pytest would skip here
                    self.evidence.setdefault("skipped_perf_cases", []).append(f"case {i} ({case_label(case)}): {exc}")
        elif job["perf_cases"]:
            self.evidence["perf_shapes_checked"] = False
            self.evidence["perf_shapes_reason"] = "no GPU: the Triton CPU interpreter is too slow for perf shapes"
        check = job.get("reproducibility_check", "gpu")
        if self.checker is not None:  # its own check may accept many answers, and keep state between calls
            self.evidence["reference_reproducible"] = "not checked: the task judges outputs with its own check"
        elif check == "always" or (check == "gpu" and self.on_gpu):
            self.drop_unreproducible()  # before the after-timing inputs: a perf script keeps one seed's inputs
        self.after_timing_checks = [dict(self.make_check(dict(c["case"]), c["index"], CHECK_SEED + 1, "after_timing"),
                                         **({"undefined": c["undefined"]} if "undefined" in c else {}))
                                    for c in self.perf_checks]
        if not self.checks:
            raise TaskFailure("the task's reference is not reproducible on any correctness case: "
                              + "; ".join(self.evidence.get("unreproducible_cases", [])))
        largest = max(self.checks, key=lambda check: _numel(check["expected"]))
        self.fresh_check = self.make_check(largest["case"], largest["index"], CHECK_SEED, "kernels_off")
        if "undefined" in largest:
            self.fresh_check["undefined"] = largest["undefined"]

    def drop_unreproducible(self) -> None:
        """Run the reference again on fresh inputs, from memory pre-filled with NaN where the first run had
        zeros (so that memory it never wrote shows). Elements that differ are left out of every comparison
        when they are at most half of each output (a gold that never writes part of its output); a case
        whose outputs differ more, or in shape or structure, is dropped: no candidate can match it."""
        dropped, undefined, total = [], [], len(self.checks) + len(self.perf_checks)
        for group in ("checks", "perf_checks"):
            kept = []
            for check in getattr(self, group):
                self.fill_free_memory(float("nan"))
                again = self.make_check(check["case"], check["index"], check["seed"], check["phase"])
                problem = self.problem(again["expected"], check, again["args"])
                differing = None if problem is None else undefined_elements(check["expected"], again["expected"],
                                                                            self.tolerances)
                if problem is None:
                    kept.append(check)
                elif differing is not None and all(mask.float().mean() <= 0.5 for mask in differing[0].values()):
                    check["undefined"] = differing[0]
                    undefined.append(f"{_where(check)}: {'; '.join(differing[1])}")
                    kept.append(check)
                else:
                    dropped.append(f"{_where(check)}: two runs of the reference differ ({problem['message']})")
            setattr(self, group, kept)
        self.evidence["reference_reproducible"] = f"{total - len(dropped)} of {total} checks (the reference run twice)"
        if dropped:
            self.evidence["unreproducible_cases"] = dropped
        if undefined:
            self.evidence["reference_unwritten_elements"] = {
                "checks": undefined, "note": "elements that differ between two runs of the reference from memory "
                "filled differently (it never writes them): not compared"}

    def fill_free_memory(self, value: float) -> None:
        """Fill the memory the caching allocator will hand out next with `value`, so that what a reference
        reads without having written is known: up to 4 GiB of its large-block pool, and 64 MiB of its pool
        of blocks up to 1 MiB (PyTorch keeps the two apart: a small output never gets large-pool memory)."""
        if not self.on_gpu:
            return
        free, _ = torch.cuda.mem_get_info()
        size = min(max(torch.cuda.max_memory_allocated(), 1 << 20), 4 << 30, free // 2)
        fillers = [torch.full((size // 4,), value, dtype=torch.float32, device="cuda")]
        fillers += [torch.full((1 << 18,), value, dtype=torch.float32, device="cuda") for _ in range(64)]
        fillers += [torch.full((1 << 10,), value, dtype=torch.float32, device="cuda") for _ in range(256)]
        del fillers  # their memory stays in the caching allocator, filled, for what the reference allocates next

    def import_baseline(self) -> None:
        """The kernel the candidate is timed against: the task's (trusted, imported before the guards), or
        generated code such as the tuner's original (imported after the candidate, under the guards)."""
        try:
            module = import_file(self.job["baseline_path"], "tritonsmith_baseline")
            self.baseline = getattr(module, self.job["entry_point"])
        except BaseException as exc:  # noqa: B036 - untrusted code may raise anything, SystemExit included
            self.speedup_reason = f"the baseline failed to import: {type(exc).__name__}: {exc}"

    # --- the candidate --------------------------------------------------------------------------------

    def import_candidate(self) -> Callable[..., Any]:
        path = self.job["candidate_path"]
        try:
            with self.guards.watching(record_ops=False):
                module = import_file(path, "candidate")
        except SystemExit as exc:
            self.guards.violate(f"the candidate called sys.exit({exc.code}) while being imported")
            raise self.fail("rejected", "the candidate tried to exit the evaluator") from None
        except BaseException as exc:  # noqa: B036 - candidate code may raise anything
            raise self.fail("compile_error", "the candidate failed to import:\n" + describe_exception(exc, path)) from None
        # defined, not callable: an autotuned or heuristics-wrapped @triton.jit kernel is a required name too
        missing = [name for name in self.job.get("required_names", []) if name not in vars(module)]
        if missing:
            raise self.fail("compile_error", f"the candidate does not define {', '.join(f'`{n}`' for n in missing)}")
        entry = getattr(module, self.job["entry_point"], None)
        if not callable(entry):
            raise self.fail("compile_error", f"the candidate does not define a function `{self.job['entry_point']}`")
        return entry

    def call(self, entry: Callable[..., Any], check: dict[str, Any], record_ops: bool = True) -> Any:
        args = _clone(check["args"])
        try:
            with self.gpu_lock.shared(), self.guards.watching(record_ops=record_ops):
                output = entry(*args)
                _synchronize(self.device)
        except SystemExit as exc:
            self.guards.violate(f"the candidate called sys.exit({exc.code})")
            raise self.fail("rejected", "the candidate tried to exit the evaluator") from None
        except BaseException as exc:  # noqa: B036
            status = "compile_error" if is_compile_error(exc) else "runtime_error"
            text = describe_exception(exc, self.job["candidate_path"])
            self.record(check, False, f"raised {text}")
            raise self.fail(status, f"{_where(check)}: the candidate raised an error:\n{text}") from None
        for position, (before, after) in enumerate(zip(check["args"], args, strict=True)):
            if isinstance(before, torch.Tensor) and not _same(before, after):
                self.guards.violate(f"the candidate modified input {position} in place")
        return output, args

    def record(self, check: dict[str, Any], ok: bool, message: str | None = None, **details: Any) -> None:
        self.cases.append({"index": check["index"], "label": case_label(check["case"]), "seed": check["seed"],
                           "phase": check["phase"], "ok": ok, "message": message, **details})

    def problem(self, output: Any, check: dict[str, Any], args: tuple) -> dict[str, Any] | None:
        """What is wrong with `output` as the answer to `check` (None: nothing), by the task's own check or
        the scale-aware comparison."""
        if self.checker is not None:
            found = self.checker(output, check["expected"], args, dict(check["case"]))
            return None if found is None else {"message": str(found)}
        return compare_outputs(output, check["expected"], self.tolerances, check.get("undefined"))

    def verify(self, check: dict[str, Any], output: Any, args: tuple) -> bool:
        problem = self.problem(output, check, args)
        if problem is None:
            self.record(check, True)
            return True
        message = problem.pop("message")
        self.record(check, False, message, **problem)
        if self.status is None:
            self.status, self.message = "wrong_output", f"{_where(check)}: {message}"
        return False

    def check_correctness(self, entry: Callable[..., Any]) -> None:
        live: list[tuple[dict[str, Any], Any]] = []
        storages: dict[int, str] = {}
        for check in self.checks:
            output, args = self.call(entry, check)
            self.verify(check, output, args)
            input_ptrs = {_storage_ptr(a) for a in args if isinstance(a, torch.Tensor)}
            this_call = set()  # outputs of one call may share memory (a test returning one buffer twice)
            for tensor in as_outputs(output):
                if not isinstance(tensor, torch.Tensor) or tensor.numel() == 0:
                    continue
                pointer = _storage_ptr(tensor)
                if pointer in input_ptrs:
                    self.guards.violate("an output aliases an input instead of being a new tensor")
                elif pointer in storages:
                    self.guards.violate(f"an output reuses the memory of an earlier call's output ({storages[pointer]})")
                this_call.add(pointer)
            storages.update(dict.fromkeys(this_call, _where(check)))
            live.append((check, output))
        self.call_ok = True
        for check, output in live:  # an output overwritten by a later call means buffers are shared or cached
            if self.checker is None and compare_outputs(output, check["expected"], self.tolerances,
                                                        check.get("undefined")) is not None:
                if all(c["ok"] for c in self.cases if c["seed"] == check["seed"] and c["index"] == check["index"]):
                    self.guards.violate(f"the output of {_where(check)} changed after later calls (reused or cached buffers)")
        if self.guards.launches == 0 and not self.pytorch_gold:
            self.guards.violate("no Triton kernel was launched: the entry point must launch @triton.jit kernels")

    def check_kernels_matter(self, entry: Callable[..., Any]) -> None:
        """With every Triton launch turned into a no-op, correct outputs mean something else did the work."""
        check = self.fresh_check
        if all(float(t.float().abs().max()) == 0 for t in as_outputs(check["expected"])
               if isinstance(t, torch.Tensor) and t.numel() and t.dtype.is_floating_point):
            self.evidence["kernels_off_check"] = "skipped: the reference output is all zeros"
            return
        self.guards.skip_launches = True
        try:
            launches = self.guards.launches
            with self.guards.watching(record_ops=False):  # a reference built on Triton kernels (a suite's gold
                reference_off = self.task.reference(*_clone(check["args"]))  # code) may not depend on them
            if self.guards.launches > launches and compare_outputs(reference_off, check["expected"], self.tolerances,
                                                                    check.get("undefined")) is None:
                self.evidence["kernels_off_check"] = "skipped: the task's own outputs do not change without kernels"
                return
            args = _clone(check["args"])
            with self.guards.watching():
                output = entry(*args)
                _synchronize(self.device)
            matched = compare_outputs(output, check["expected"], self.tolerances, check.get("undefined")) is None
        except BaseException:  # noqa: B036 - any failure with kernels off is the honest outcome
            matched = False
        finally:
            self.guards.skip_launches = False
        self.evidence["kernels_off_check"] = "ran"
        if matched:
            self.guards.violate("the outputs are correct even with every Triton kernel launch disabled: "
                                "the work is not done by Triton kernels")

    def measure(self, entry: Callable[..., Any]) -> None:
        for check in self.perf_checks:
            output, args = self.call(entry, check, record_ops=False)
            self.verify(check, output, args)
        if self.status is not None or self.guards.violations:
            return
        if not self.perf_checks:
            self.speedup_reason = ("the task has no perf cases" if not self.job["perf_cases"] else
                                   "every perf case was skipped or dropped (evidence: skipped_perf_cases, "
                                   "unreproducible_cases)")
            return
        timings = self.job.get("timing", {})
        settings = TimingSettings.from_job(timings)
        mode = self.reference_timing
        time_reference = timings.get("reference", True) and mode == "separate"
        if not timings.get("reference", True):
            self.evidence["speedup_vs_torch"] = "not measured: the PyTorch reference was not timed (timing.reference off)"
        elif mode == "none":
            self.evidence["speedup_vs_torch"] = ("not measured: this task's reference is the suite's own kernel, "
                                                 "timed as the baseline, not PyTorch")
        elif mode == "baseline":
            self.evidence["speedup_vs_torch"] = "the baseline is the PyTorch reference itself: timed once, as the baseline"
        speedups, torch_speedups = [], []
        with self.gpu_lock.exclusive():  # no other evaluation uses this GPU while this one is timed
            timer = GpuTimer()
            for check, fresh in zip(self.perf_checks, self.after_timing_checks, strict=True):
                self.time_case(entry, check, fresh, timer, settings, time_reference, mode, speedups, torch_speedups)
        self.speedup = geometric_mean(speedups)
        if self.speedup is None and self.speedup_reason is None:
            self.speedup_reason = "the task has no baseline kernel"
        self.speedup_vs_torch = geometric_mean(torch_speedups)
        self.evidence["timer"] = TIMER

    def time_case(self, entry: Callable[..., Any], check: dict[str, Any], fresh: dict[str, Any], timer: GpuTimer,
                  settings: TimingSettings, time_reference: bool, mode: str, speedups: list[float],
                  torch_speedups: list[float]) -> None:
        import torch
        args = _clone(check["args"])
        last: dict[str, Any] = {}

        def run_candidate(args=args, last=last):
            last["out"] = entry(*args)
        functions: dict[str, Callable[[], Any]] = {"candidate": run_candidate}
        if self.baseline is not None:
            functions["baseline"] = lambda args=args: self.baseline(*args)
        if time_reference:
            functions["reference"] = lambda args=args: self.task.reference(*args)
        if self.job.get("timing", {}).get("torch_compile"):
            # one static-shape compile per perf case: reusing one compiled function across shapes makes
            # torch.compile fall back to dynamic-shape kernels from the second shape on, which is unfair to it
            torch._dynamo.reset()
            compiled_reference = torch.compile(self.task.reference, dynamic=False)
            compiled_reference(*args)  # compile outside the guarded, timed region
            functions["compiled"] = lambda args=args, fn=compiled_reference: fn(*args)
        self.guards.active = True
        try:
            measured = timer.measure(functions, settings)
        finally:
            self.guards.active = False
        self.verify(dict(check, phase="last_timed_call"), last.get("out"), args)
        output, args = self.call(entry, fresh, record_ops=False)
        self.verify(fresh, output, args)
        times = measured.times
        cand_ms = times["candidate"].median_ms
        entry_perf = {"index": check["index"], "label": case_label(check["case"]), "candidate_ms": cand_ms,
                      "candidate_spread": times["candidate"].spread, "rounds": measured.rounds,
                      "ratio_ci": measured.ratio_ci, "timing_stopped": measured.stopped,
                      "calls_per_sample": times["candidate"].calls_per_sample, "timer": times["candidate"].timer}
        if "baseline" in times:
            entry_perf["baseline_ms"] = times["baseline"].median_ms
            entry_perf["speedup"] = entry_perf["baseline_ms"] / cand_ms
            speedups.append(entry_perf["speedup"])
        reference = times.get("reference") or (times.get("baseline") if mode == "baseline" else None)
        if reference is not None:
            entry_perf["reference_ms"] = reference.median_ms
            entry_perf["speedup_vs_torch"] = reference.median_ms / cand_ms
            torch_speedups.append(entry_perf["speedup_vs_torch"])
        if "compiled" in times:
            entry_perf["compiled_ms"] = times["compiled"].median_ms
            entry_perf["speedup_vs_compile"] = entry_perf["compiled_ms"] / cand_ms
        flops, nbytes = self.task.flops(dict(check["case"])), self.task.bytes_moved(dict(check["case"]))
        if nbytes:  # fractions of the roofs are computed by the caller (pool.add_roofline)
            entry_perf["gbps"] = nbytes / cand_ms / 1e6
        if flops:
            entry_perf["tflops"] = flops / cand_ms / 1e9
        describe = getattr(self.task, "perf_evidence", None)  # how a suite's perf inputs were made
        if describe is not None:
            entry_perf["evidence"] = describe(dict(check["case"])) or None
        self.perf.append(entry_perf)

    def run(self) -> None:
        with self.phase("setup"):
            self.load_task()
            self.collect_evidence()
        with self.phase("references"):
            self.prepare()
        allowed = set(self.job.get("allowed_ops", []))  # "*": a suite whose gold code itself uses torch freely
        forbidden = set() if "*" in allowed else (HEAVY_OPS | set(self.job.get("forbidden_ops", []))) - allowed
        with self.phase("guards"):
            _limit_file_size(self.job.get("limits", {}).get("file_bytes"))
            self.guards = Guards(forbidden, "cuda" if self.on_gpu else "cpu")
            self.guards.install()
        record_replaced = self.guards.record_replaced  # held by this frame, out of reach of patched classes
        self.evidence["guards"] = ["isolated_process", "launch_count", "kernels_off", "forbidden_aten_ops",
                                   "inputs_unchanged", "output_aliasing", "output_reuse", "threads", "streams",
                                   "forks", "patched_functions", "recheck_after_timing"]
        try:
            with self.phase("import"):
                entry = self.import_candidate()
                if self.on_gpu and self.job.get("baseline_untrusted"):
                    with self.guards.watching(record_ops=False):
                        self.import_baseline()
            with self.phase("correctness"):  # includes compiling the candidate's kernels
                self.check_correctness(entry)
                self.guards.check_after_candidate()
            if self.status is None and not self.guards.violations and not self.pytorch_gold:
                with self.phase("kernels_off"), self.gpu_lock.shared():
                    self.check_kernels_matter(entry)
            if self.status is None and not self.guards.violations and self.on_gpu:
                with self.phase("timing"):
                    self.measure(entry)
        except _Stop:
            pass
        self.guards.check_after_candidate()
        record_replaced()
        if not self.on_gpu:
            self.speedup_reason = "no GPU: ran on the Triton CPU interpreter, which checks correctness only"

    @contextlib.contextmanager
    def phase(self, name: str):
        """Wall time of each stage, in evidence['phases_s']: where the evaluator's overhead goes."""
        if self.progress is not None:
            self.progress(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.evidence.setdefault("phases_s", {})[name] = round(time.perf_counter() - started, 4)

    def collect_evidence(self) -> None:
        import triton
        evidence = self.evidence
        evidence.update({"torch": torch.__version__, "triton": triton.__version__, "python": sys.version.split()[0],
                         "seeds": list(self.seeds), "check_seed": CHECK_SEED,
                         "interpreter": os.environ.get("TRITON_INTERPRET") == "1"})
        if self.device != "cpu":
            torch.cuda.set_device(0)
            props = torch.cuda.get_device_properties(0)
            evidence.update({"device": props.name, "compute_capability": f"{props.major}.{props.minor}",
                             "cuda": torch.version.cuda, "hip": getattr(torch.version, "hip", None),
                             "visible_device": os.environ.get("CUDA_VISIBLE_DEVICES")})
        else:
            evidence["device"] = "cpu (Triton interpreter)"

    def verdict(self) -> dict[str, Any]:
        violations = self.guards.violations if self.guards else []
        status = self.status or "passed"
        message = self.message
        if violations and status != "compile_error":
            status, message = "rejected", "rejected by the evaluator's guards: " + "; ".join(violations)
        return {"status": status, "call_ok": self.call_ok and status not in ("compile_error", "runtime_error"),
                "exec_ok": status == "passed", "message": message, "cases": self.cases, "perf": self.perf,
                "speedup": self.speedup if status == "passed" else None,
                "speedup_vs_torch": self.speedup_vs_torch if status == "passed" else None,
                "speedup_reason": self.speedup_reason if status == "passed" else f"not measured: status {status}",
                "guard_violations": list(violations), "evidence": self.evidence,
                "kernels_launched": self.guards.kernel_names if self.guards else []}


def run_job(job: dict[str, Any], send: Callable[[dict[str, Any]], None],
            progress: Callable[[str], None] | None = None) -> None:
    """Evaluate one job and `send` its result once; `progress(phase)` names each stage as it starts, so that
    a job killed by its timeout tells whose time ran out (the task's references, or the candidate)."""
    evaluation = Evaluation(job, progress)
    verdict = Evaluation.verdict  # taken before candidate code runs: a patched Evaluation.verdict is never called
    started = time.perf_counter()
    try:
        evaluation.run()
    except TaskFailure as exc:
        send({"task_error": str(exc)})
        return
    except BaseException as exc:  # noqa: B036 - report, never die silently
        if evaluation.guards is None:
            send({"task_error": f"the evaluator could not prepare the task: {type(exc).__name__}: {exc}"})
            return
        evaluation.fail("crashed", f"the evaluation failed unexpectedly: {type(exc).__name__}: {exc}")
    evaluation.evidence["worker_s"] = round(time.perf_counter() - started, 3)
    send(verdict(evaluation))


def _limit_file_size(file_bytes: int | None) -> None:
    """From here on no file written may grow past the limit: set before candidate code runs, after the
    references (which the task's own code may have written files for) are made."""
    if file_bytes:
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))


def autotune_on_interpreter() -> None:
    """@triton.autotune benchmarks through the GPU driver, which interpreter mode lacks: run each config once."""
    from triton.runtime.autotuner import Autotuner

    def run_once(kernel_call: Callable[[], Any], quantiles: tuple[float, ...]) -> list[float]:
        kernel_call()
        return [0.0] * len(quantiles)  # equal times: the first config wins, so the choice is deterministic
    Autotuner.do_bench = property(lambda self: self._do_bench or run_once)


def import_file(path: str, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _clone(args: tuple) -> tuple:
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def _same(before: torch.Tensor, after: torch.Tensor) -> bool:
    if before.shape != after.shape or before.dtype != after.dtype:
        return False
    if before.dtype.is_floating_point:
        return bool(((before == after) | (before.isnan() & after.isnan())).all())
    return bool(torch.equal(before, after))


def _storage_ptr(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def _synchronize(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize()


def _numel(value: Any) -> int:
    return sum(t.numel() for t in as_outputs(value) if isinstance(t, torch.Tensor))


def _where(check: dict[str, Any]) -> str:
    return f"case {check['index']} ({case_label(check['case'])}, seed {check['seed']})"

