"""The checker: the process that decides a verdict (forked from the host; never imports candidate code).

It makes (or borrows from the keeper) the task's inputs and reference outputs, gives the inputs, never the
expected outputs, to the candidate's process, drives it one command at a time (evaluate/worker.py), and
compares what it hands back with the references: correctness, inputs unchanged, outputs changed by later
calls, the kernels-off decision, the perf shapes and the checks after timing. Timings come back as raw
samples: medians, ratios and speedups are computed here, and the time claimed must fit in the wall-clock time
this process measured around the timed region. The status follows evaluate/verdict.py.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import pickle
import select
import socket
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from tritonsmith.evaluate.compare import as_outputs, compare_outputs, undefined_elements
from tritonsmith.evaluate.gpu_lock import GpuLock
from tritonsmith.evaluate.keeper import receive_blob, send_blob
from tritonsmith.evaluate.runtime import (
    CHECK_SEED,
    PERF_SEED,
    LineReader,
    TaskFailure,
    autotune_on_interpreter,
    clone,
    import_task,
    synchronize,
    take_over,
    where,
    write_message,
)
from tritonsmith.evaluate.timing import TIMER, ratio_interval
from tritonsmith.evaluate.verdict import finish
from tritonsmith.task import CaseSkipped, case_label
from tritonsmith.util.stats import geometric_mean
from tritonsmith.util.tensors import same

REFERENCE_TIMINGS = ("separate", "baseline", "none")
KEEPER_FIELDS = ("task_path", "task_key", "correctness_cases", "perf_cases", "seeds", "tolerances",
                 "reproducibility_check", "gpu_lock")  # what the keeper needs of a job to make its references
_REFERENCE_EVIDENCE = ("skipped_cases", "perf_shapes_checked", "perf_shapes_reason", "unreproducible_cases",
                       "reference_reproducible", "skipped_perf_cases", "reference_unwritten_elements")
WALL_MARGIN = 1.05  # claimed GPU time may exceed the wall-clock time around it by 5% (clock granularity) at most
WALL_SLACK_MS = 5.0
GUARDS = ["isolated_process", "verdict_outside_candidate", "launch_count", "kernels_off", "forbidden_aten_ops",
          "inputs_unchanged", "output_aliasing", "output_reuse", "threads", "streams", "forks", "patched_functions",
          "recheck_after_timing", "wall_clock_bound"]


class _Stop(Exception):
    """The verdict is known: ask the candidate's process nothing more."""


class Checker:
    def __init__(self, job: dict[str, Any], progress: Callable[[str], None] | None = None):
        self.job = job
        self.progress = progress
        self.device = job["device"]
        self.on_gpu = self.device != "cpu"
        self.seeds: list[int] = job.get("seeds", [0, 1, 2])
        self.status: str | None = None
        self.message = ""
        self.call_ok = False
        self.cases: list[dict[str, Any]] = []
        self.perf: list[dict[str, Any]] = []
        self.evidence: dict[str, Any] = {}
        self.violations: list[str] = []
        self.kernels: list[str] = []
        self.speedup = self.speedup_vs_torch = None
        self.speedup_reason: str | None = None
        self.gpu_lock = GpuLock(job.get("gpu_lock") if self.on_gpu else None)

    def fail(self, status: str, message: str) -> _Stop:
        if self.status is None:
            self.status, self.message = status, message
        return _Stop()

    def violate(self, message: str) -> None:
        if message not in self.violations:
            self.violations.append(message)

    # --- the task, before the candidate's process is given anything ------------------------------------

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

    def make_check(self, case: dict[str, Any], index: int, seed: int, phase: str) -> dict[str, Any]:
        with self.gpu_lock.shared():
            try:
                generator = torch.Generator(device=self.device).manual_seed(seed)
                args = tuple(self.task.make_inputs(dict(case), generator, self.device))
                expected = self.task.reference(*clone(args))
                synchronize(self.device)
            except CaseSkipped:
                raise
            except Exception as exc:
                raise TaskFailure(f"the task's make_inputs/reference failed on case {index} ({case_label(case)}): "
                                  f"{type(exc).__name__}: {exc}") from exc
        return {"case": case, "index": index, "seed": seed, "phase": phase, "args": args, "expected": expected}

    def prepare(self) -> None:
        """Inputs and reference outputs of every check: borrowed from the device's reference keeper (made once per
        task there), or made here when there is none."""
        job = self.job
        if not self.on_gpu:
            autotune_on_interpreter()
            if getattr(self.task, "CPU_SIZES_NOTE", None):
                self.evidence["cpu_sizes"] = self.task.CPU_SIZES_NOTE
        if not (job.get("keeper") and self.borrow_references(job["keeper"])):
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
                state = copy.deepcopy(reply["state"])  # our own memory: the keeper's lent memory is let go
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
                self.fill_free_memory(0)  # as fresh memory usually is; the second run has all bits set instead
                self.checks.append(self.make_check(case, i, seed, "correctness"))
        self.perf_checks, self.after_timing_checks = [], []
        if self.on_gpu:
            for i, case in enumerate(job["perf_cases"]):
                try:
                    self.fill_free_memory(0)
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
        """Run the reference again on fresh inputs, from memory pre-filled with 0xFF bytes where the first
        run had zero bytes (so that memory it never wrote shows). Elements that differ are left out of every comparison
        when they are at most half of each output (a gold that never writes part of its output); a case
        whose outputs differ more, or in shape or structure, is dropped: no candidate can match it."""
        dropped, undefined, total = [], [], len(self.checks) + len(self.perf_checks)
        for group in ("checks", "perf_checks"):
            kept = []
            for check in getattr(self, group):
                self.fill_free_memory(0xFF)
                again = self.make_check(check["case"], check["index"], check["seed"], check["phase"])
                problem = self.problem(again["expected"], check, again["args"])
                differing = None if problem is None else undefined_elements(check["expected"], again["expected"],
                                                                            self.tolerances)
                if problem is None:
                    kept.append(check)
                elif differing is not None and all(mask.float().mean() <= 0.5 for mask in differing[0].values()):
                    check["undefined"] = differing[0]
                    undefined.append(f"{where(check)}: {'; '.join(differing[1])}")
                    kept.append(check)
                else:
                    dropped.append(f"{where(check)}: two runs of the reference differ ({problem['message']})")
            setattr(self, group, kept)
        self.evidence["reference_reproducible"] = f"{total - len(dropped)} of {total} checks (the reference run twice)"
        if dropped:
            self.evidence["unreproducible_cases"] = dropped
        if undefined:
            self.evidence["reference_unwritten_elements"] = {
                "checks": undefined, "note": "elements that differ between two runs of the reference from memory "
                "filled differently (it never writes them): not compared"}

    def fill_free_memory(self, byte: int) -> None:
        """Fill the memory the caching allocator will hand out next with `byte`, so that what a reference reads
        without having written is known. 0xFF is NaN as float32, float16 and bfloat16 alike, and -1 as an
        integer (a float32 NaN filler read as float16 was half zeros). The cached blocks are given back first;
        then each free fragment of a segment still in use gets a filler of its size (largest first, best fit:
        each lands in its own fragment), then new memory: up to 4 GiB of the large-block pool and 64 MiB of the
        pool of blocks up to 1 MiB (PyTorch keeps the two apart: a small output never gets large-pool memory).
        Otherwise a fragment left unfilled, or filled with the other byte by an earlier run (or an earlier task,
        in the keeper), would be handed out, and what the reference never writes would agree by chance."""
        if not self.on_gpu:
            return
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        fragments = sorted((block["size"] for segment in torch.cuda.memory_snapshot() for block in segment["blocks"]
                            if block["state"] == "inactive"), reverse=True)
        free, _ = torch.cuda.mem_get_info()
        fresh = min(max(torch.cuda.max_memory_allocated(), 1 << 20), 4 << 30, free // 2)
        sizes = fragments + [fresh] + [1 << 20] * 64 + [1 << 12] * 256
        fillers = [torch.full((size,), byte, dtype=torch.uint8, device="cuda") for size in sizes]
        del fillers  # their memory stays in the caching allocator, filled, for what the reference allocates next

    def write_inputs(self) -> dict[str, Any]:
        """Every check's inputs, numbered, in a file the candidate's process loads before candidate code; the
        expected outputs stay here. Returns the start command."""
        self.all_checks = self.checks + [self.fresh_check] + self.perf_checks + self.after_timing_checks
        path = os.path.join(self.job["job_dir"], "inputs.pt")
        torch.save([check["args"] for check in self.all_checks], path)
        meta = {str(i): {k: c[k] for k in ("case", "index", "seed", "phase")} for i, c in enumerate(self.all_checks)}
        # what the candidate's process writes: outputs, and a call's arguments after it (to see what it changed)
        largest = max((max(_nbytes(c["expected"]), _nbytes(c["args"])) for c in self.all_checks), default=0)
        file_bytes = self.job.get("limits", {}).get("file_bytes")
        if file_bytes:
            file_bytes = max(file_bytes, 2 * largest + (16 << 20))
        return {"do": "start", "inputs": path, "meta": meta, "pytorch_gold": self.pytorch_gold,
                "file_bytes": file_bytes}

    # --- talking to the candidate's process ------------------------------------------------------------

    def connect(self, commands: int, events: LineReader, candidate_exit: int) -> None:
        self.commands, self.events, self.candidate_exit = commands, events, candidate_exit
        self.exit_code: int | None = None

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command and wait for its reply; a candidate's process that ends first stops the evaluation."""
        try:
            write_message(self.commands, command)
        except OSError:
            pass
        events = self.events
        while True:
            message = events.pop()
            if message is not None:
                self.note(message)
                if message.get("done") == command["do"]:
                    return message
                continue
            waiting = [self.candidate_exit] + ([] if events.closed else [events.fd])
            ready, _, _ = select.select(waiting, [], [])
            if events.fd in ready:
                events.fill()
            elif self.candidate_exit in ready:
                while events.fill(block=False):  # what it wrote before it ended comes first
                    pass
                while (message := events.pop()) is not None:
                    self.note(message)
                    if message.get("done") == command["do"]:
                        return message
                raise self.candidate_ended()

    def note(self, message: dict[str, Any]) -> None:
        """What any message claims that can only count against the candidate: violations, kernels launched."""
        for violation in message.get("violations") or []:
            self.violate(str(violation))
        for name in message.get("kernels") or []:
            if str(name) not in self.kernels:
                self.kernels.append(str(name))

    def candidate_ended(self) -> _Stop:
        data = os.read(self.candidate_exit, 64)
        try:
            code = int(data.decode().strip())
        except ValueError:
            code = None
        self.exit_code = code
        if code == 0:
            self.violate("the candidate's process exited with status 0 before the evaluation finished: the "
                         "candidate faked a successful exit (os._exit or similar)")
            return self.fail("rejected", "the candidate faked a successful exit")
        if code is not None and code >= 128:
            import signal
            number = code - 128
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            return self.fail("crashed", f"the candidate's process was killed by signal {name} (a segfault or "
                             "illegal memory access in the candidate, or the out-of-memory killer)")
        return self.fail("crashed", f"the candidate's process exited with status {code} without writing its result "
                         "(the candidate may have closed or broken the evaluator's files)")

    def take_failure(self, reply: dict[str, Any]) -> None:
        failure = reply.get("failure")
        if isinstance(failure, dict) and failure.get("status") in ("compile_error", "runtime_error", "rejected"):
            raise self.fail(failure["status"], str(failure.get("message", "")))

    # --- the verdict -----------------------------------------------------------------------------------

    def record(self, check: dict[str, Any], ok: bool, message: str | None = None, **details: Any) -> None:
        self.cases.append({"index": check["index"], "label": case_label(check["case"]), "seed": check["seed"],
                           "phase": check["phase"], "ok": ok, "message": message, **details})

    def problem(self, output: Any, check: dict[str, Any], args: tuple) -> dict[str, Any] | None:
        """What is wrong with `output` as the answer to `check` (None: nothing), by the task's own check or
        the scale-aware comparison."""
        if self.checker is not None:
            try:
                found = self.checker(output, check["expected"], args, dict(check["case"]))
            except Exception as exc:  # noqa: BLE001 - a malformed output may break the task's check
                return {"message": f"the task's check raised {type(exc).__name__}: {exc}"}
            return None if found is None else {"message": str(found)}
        return compare_outputs(output, check["expected"], self.tolerances, check.get("undefined"))

    def taken(self, tag: str, key: int, check: dict[str, Any]) -> tuple[Any, tuple] | None:
        """The output and arguments the candidate's process handed over for one call; None (recorded as a
        failed check) when it did not hand them over."""
        ok, output = take_over(os.path.join(self.job["job_dir"], "out", f"{tag}-{key}.pt"))
        args_ok, args = take_over(os.path.join(self.job["job_dir"], "out", f"{tag}-{key}-args.pt"))
        if not (ok and args_ok and isinstance(args, (tuple, list)) and len(args) == len(check["args"])):
            self.record(check, False, "the candidate's process did not hand over this call's output")
            if self.status is None:
                self.status, self.message = "wrong_output", f"{where(check)}: no output was handed over"
            return None
        return output, tuple(args)

    def verify(self, tag: str, key: int, check: dict[str, Any]) -> bool:
        taken = self.taken(tag, key, check)
        if taken is None:
            return False
        output, args = taken
        with self.gpu_lock.shared():
            for position, (before, after) in enumerate(zip(check["args"], args, strict=True)):
                if isinstance(before, torch.Tensor) and not _same(before, after):
                    self.violate(f"the candidate modified input {position} in place")
            problem = self.problem(output, check, args)
        if problem is None:
            self.record(check, True)
            return True
        message = problem.pop("message")
        self.record(check, False, message, **problem)
        if self.status is None:
            self.status, self.message = "wrong_output", f"{where(check)}: {message}"
        return False

    def check_correctness(self) -> None:
        ids = list(range(len(self.checks)))
        reply = self.ask({"do": "call", "ids": ids, "tag": "call", "keep": True, "record_ops": True})
        handed = [k for k in reply.get("handed") or [] if k in ids]
        failure = reply.get("failure")
        for key in ids:
            if key in handed:
                self.verify("call", key, self.checks[key])
            elif isinstance(failure, dict):
                self.record(self.checks[key], False, "raised " + str(failure.get("message", "")).split(
                    "the candidate raised an error:\n", 1)[-1])
                break
        self.take_failure(reply)
        self.call_ok = True  # every call returned, right or wrong
        if self.status is not None:
            return
        late = self.ask({"do": "late"})
        if self.checker is not None:
            return
        for key in late.get("handed") or []:  # an output overwritten by a later call: shared or cached buffers
            if key not in ids:
                continue
            check = self.checks[key]
            ok, output = take_over(os.path.join(self.job["job_dir"], "out", f"late-{key}.pt"))
            if not ok or compare_outputs(output, check["expected"], self.tolerances, check.get("undefined")) is not None:
                self.violate(f"the output of {where(check)} changed after later calls (reused or cached buffers)")

    def check_kernels_matter(self) -> None:
        """With every Triton launch turned into a no-op, correct outputs mean something else did the work."""
        check = self.fresh_check
        if all(float(t.float().abs().max()) == 0 for t in as_outputs(check["expected"])
               if isinstance(t, torch.Tensor) and t.numel() and t.dtype.is_floating_point):
            self.evidence["kernels_off_check"] = "skipped: the reference output is all zeros"
            return
        with self.gpu_lock.shared(), launches_skipped() as skipped:  # a reference built on Triton kernels (a
            reference_off = self.task.reference(*clone(check["args"]))  # suite's gold code) may not depend on them
            synchronize(self.device)
        if skipped["launches"] and compare_outputs(reference_off, check["expected"], self.tolerances,
                                                   check.get("undefined")) is None:
            self.evidence["kernels_off_check"] = "skipped: the task's own outputs do not change without kernels"
            return
        key = len(self.checks)
        reply = self.ask({"do": "call", "ids": [key], "tag": "off", "skip_launches": True})
        matched = False
        if key in (reply.get("handed") or []):
            ok, output = take_over(os.path.join(self.job["job_dir"], "out", f"off-{key}.pt"))
            with self.gpu_lock.shared():
                matched = ok and compare_outputs(output, check["expected"], self.tolerances,
                                                 check.get("undefined")) is None
        self.evidence["kernels_off_check"] = "ran"
        if matched:
            self.violate("the outputs are correct even with every Triton kernel launch disabled: "
                         "the work is not done by Triton kernels")

    def measure(self) -> None:
        first_perf = len(self.checks) + 1
        perf_ids = list(range(first_perf, first_perf + len(self.perf_checks)))
        if perf_ids:
            reply = self.ask({"do": "call", "ids": perf_ids, "tag": "call", "record_ops": False})
            for key in perf_ids:
                if key in (reply.get("handed") or []):
                    self.verify("call", key, self.all_checks[key])
            self.take_failure(reply)
        if self.status is not None or self.violations:
            return
        if not self.perf_checks:
            self.speedup_reason = ("the task has no perf cases" if not self.job["perf_cases"] else
                                   "every perf case was skipped or dropped (evidence: skipped_perf_cases, "
                                   "unreproducible_cases)")
            return
        timings = self.job.get("timing", {})
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
        first_after = first_perf + len(self.perf_checks)
        for offset, check in enumerate(self.perf_checks):
            self.time_case(first_perf + offset, first_after + offset, check, time_reference, mode, speedups,
                           torch_speedups)
            if self.status is not None:
                return
        self.speedup = geometric_mean(speedups)
        if self.speedup is None and self.speedup_reason is None:
            self.speedup_reason = "the task has no baseline kernel"
        self.speedup_vs_torch = geometric_mean(torch_speedups)
        self.evidence["timer"] = TIMER

    def time_case(self, key: int, after_key: int, check: dict[str, Any], time_reference: bool, mode: str,
                  speedups: list[float], torch_speedups: list[float]) -> None:
        timings = self.job.get("timing", {})
        started = time.perf_counter()
        reply = self.ask({"do": "time", "id": key, "after_id": after_key, "settings": timings,
                          "time_reference": time_reference, "torch_compile": bool(timings.get("torch_compile"))})
        wall_ms = (time.perf_counter() - started) * 1000
        self.take_failure(reply)
        self.verify("last", key, dict(check, phase="last_timed_call"))
        self.verify("after", after_key, self.all_checks[after_key])
        times = _times(reply.get("times"))
        if "candidate" not in times or (self.baseline_present and "baseline" not in times):
            raise self.fail("crashed", f"{where(check)}: the candidate's process sent no usable timings")
        claimed_ms = sum(sum(t["samples"]) * t["calls_per_sample"] for t in times.values())
        if claimed_ms > wall_ms * WALL_MARGIN + WALL_SLACK_MS:
            self.violate(f"{where(check)}: the timings sent by the candidate's process add up to {claimed_ms:.1f} ms "
                         f"of GPU time, more than the {wall_ms:.1f} ms of wall-clock time the checker measured "
                         "around them: they were not measured")
            return
        self.evidence.setdefault("timing_wall_ms", []).append(round(wall_ms, 1))
        medians = {name: statistics.median(t["samples"]) for name, t in times.items()}
        cand_ms = medians["candidate"]
        if not cand_ms > 0:
            raise self.fail("crashed", f"{where(check)}: the candidate's time was not measured (median {cand_ms})")
        candidate = times["candidate"]
        spread = (max(candidate["samples"]) - min(candidate["samples"])) / cand_ms
        rounds = _int(reply.get("rounds"))
        ratio_ci = (ratio_interval(candidate["samples"], times["baseline"]["samples"])
                    if "baseline" in times and len(times["baseline"]["samples"]) == len(candidate["samples"]) else None)
        entry_perf = {"index": check["index"], "label": case_label(check["case"]), "candidate_ms": cand_ms,
                      "candidate_spread": spread, "rounds": rounds, "ratio_ci": ratio_ci,
                      "timing_stopped": str(reply.get("stopped"))[:20],
                      "calls_per_sample": candidate["calls_per_sample"], "timer": candidate["timer"]}
        if "baseline" in times:
            entry_perf["baseline_ms"] = medians["baseline"]
            entry_perf["speedup"] = entry_perf["baseline_ms"] / cand_ms
            speedups.append(entry_perf["speedup"])
        reference = medians.get("reference") or (medians.get("baseline") if mode == "baseline" else None)
        if reference is not None:
            entry_perf["reference_ms"] = reference
            entry_perf["speedup_vs_torch"] = reference / cand_ms
            torch_speedups.append(entry_perf["speedup_vs_torch"])
        if "compiled" in medians:
            entry_perf["compiled_ms"] = medians["compiled"]
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

    def run(self, connect: Callable[[], None]) -> None:
        with self.phase("setup"):
            self.load_task()
            self.collect_evidence()
        with self.phase("references"):
            self.prepare()
            start = self.write_inputs()
        connect()
        self.evidence["guards"] = list(GUARDS)
        try:
            confined = self.ask({"do": "confined"})  # the first line, written before any candidate code ran
            self.evidence["confinement"] = confined.get("confined")
            with self.phase("import"):
                reply = self.ask(start)
                self.take_failure(reply)
                self.baseline_present = bool(reply.get("baseline"))
                if reply.get("baseline_error"):
                    self.speedup_reason = str(reply["baseline_error"])
            with self.phase("correctness"):  # includes compiling the candidate's kernels
                self.check_correctness()
            if self.status is None and not self.violations and not self.pytorch_gold:
                with self.phase("kernels_off"):
                    self.check_kernels_matter()
            if self.status is None and not self.violations and self.on_gpu:
                with self.phase("timing"):
                    self.measure()
            reply = self.ask({"do": "finish"})
            leftovers = _int(reply.get("leftover_processes"))
            if leftovers:
                self.violate(f"the candidate left {leftovers} process(es) running after it finished "
                             "(the evaluator killed them)")
        except _Stop:
            pass
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
        if self.on_gpu:
            torch.cuda.set_device(0)
            props = torch.cuda.get_device_properties(0)
            evidence.update({"device": props.name, "compute_capability": f"{props.major}.{props.minor}",
                             "cuda": torch.version.cuda, "hip": getattr(torch.version, "hip", None),
                             "visible_device": os.environ.get("CUDA_VISIBLE_DEVICES")})
        else:
            evidence["device"] = "cpu (Triton interpreter)"

    def verdict(self) -> dict[str, Any]:
        return finish({"status": self.status, "call_ok": self.call_ok, "message": self.message, "cases": self.cases,
                       "perf": self.perf, "speedup": self.speedup, "speedup_vs_torch": self.speedup_vs_torch,
                       "speedup_reason": self.speedup_reason, "guard_violations": list(self.violations),
                       "evidence": dict(self.evidence, kernels_launched=list(self.kernels))})

    baseline_present = False


@contextlib.contextmanager
def launches_skipped():
    """Every Triton launch in this (trusted) process a no-op, counted."""
    from triton.runtime.jit import JITFunction
    classes = [JITFunction]
    try:
        from triton.runtime.interpreter import InterpretedFunction
        classes.append(InterpretedFunction)
    except ImportError:
        pass
    counted = {"launches": 0}
    originals = [(cls, cls.__dict__.get("run")) for cls in classes]

    def run(self, *args, warmup=False, **kwargs):
        counted["launches"] += 1
        return None
    for cls, _ in originals:
        cls.run = run
    try:
        yield counted
    finally:
        for cls, original in originals:
            if original is None:
                del cls.run
            else:
                cls.run = original


def run_checker(job: dict[str, Any], send: Callable[[dict[str, Any]], None], connect: Callable[[Checker], None]) -> None:
    """Decide one job and `send` its verdict; `connect(checker)` starts the candidate's side once the inputs are
    written. `send({"phase": ...})` names each stage as it starts, so that a job killed by its timeout tells whose
    time ran out (the task's references, or the candidate)."""
    checker = Checker(job, lambda phase: send({"phase": phase}))
    started = time.perf_counter()
    try:
        checker.run(lambda: connect(checker))
    except TaskFailure as exc:
        send({"task_error": str(exc)})
        return
    except BaseException as exc:  # noqa: B036 - report, never die silently
        if not hasattr(checker, "commands"):
            send({"task_error": f"the evaluator could not prepare the task: {type(exc).__name__}: {exc}"})
            return
        checker.fail("crashed", f"the evaluation failed unexpectedly: {type(exc).__name__}: {exc}")
    checker.evidence["worker_s"] = round(time.perf_counter() - started, 3)
    send({"result": checker.verdict()})


def _times(value: Any) -> dict[str, dict[str, Any]]:
    """The raw samples of each timed function, validated: positive finite numbers only."""
    times = {}
    if not isinstance(value, dict):
        return times
    for name in ("candidate", "baseline", "reference", "compiled"):
        entry = value.get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("samples"), list):
            continue
        samples = [float(s) for s in entry["samples"] if isinstance(s, (int, float)) and 0 < s < float("inf")]
        if len(samples) != len(entry["samples"]) or not samples:
            continue
        times[name] = {"samples": samples, "calls_per_sample": max(1, _int(entry.get("calls_per_sample")) or 1),
                       "timer": entry.get("timer") if entry.get("timer") in ("per call", "batched") else None}
    return times


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 40 else 0


def _same(before: torch.Tensor, after: Any) -> bool:
    return isinstance(after, torch.Tensor) and same(after.to(before.device), before)


def _numel(value: Any) -> int:
    return sum(t.numel() for t in as_outputs(value) if isinstance(t, torch.Tensor))


def _nbytes(value: Any) -> int:
    return sum(t.numel() * t.element_size() for t in as_outputs(value) if isinstance(t, torch.Tensor))
