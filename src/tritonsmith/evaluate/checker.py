"""The checker: the process that decides a verdict (forked from the host; never imports candidate code).

It makes (or borrows from the keeper) the task's inputs and reference outputs (evaluate/references.py), gives
the inputs, never the expected outputs, to the candidate's process, drives it one command at a time
(evaluate/conversation.py, evaluate/worker.py), and compares what it hands back with the references:
correctness, inputs unchanged, outputs changed by later calls, the kernels-off decision, the perf shapes and
the checks after timing. Arguments a call left unchanged come back as a claim (their digest equals the
inputs'), taken as this process's own inputs; the last timed call's output as a claim that it equals the first
call's, accepted only where that call was verified right. Any other digest sends the file, checked as ever;
forging a claim gives nothing a forged file would not. The timing and what is decided from it are in
evaluate/measuring.py. The status follows evaluate/verdict.py.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Collection
from typing import Any

import torch

from tritonsmith.evaluate.compare import as_outputs
from tritonsmith.evaluate.conversation import Conversation, _Stop, int_of, keys_of
from tritonsmith.evaluate.measuring import Measuring
from tritonsmith.evaluate.references import References
from tritonsmith.evaluate.runtime import (
    CHECK_SEED,
    TaskFailure,
    clock_timing,
    empty_memory_filled,
    synchronize,
    take_over,
    where,
)
from tritonsmith.evaluate.stage import note_stage
from tritonsmith.evaluate.verdict import NO_LAUNCH, finish
from tritonsmith.task import case_label
from tritonsmith.util.tensors import same

GUARDS = ["isolated_process", "verdict_outside_candidate", "launch_count", "kernels_off", "forbidden_aten_ops",
          "inputs_unchanged", "output_aliasing", "output_reuse", "threads", "streams", "forks", "patched_functions",
          "recheck_after_timing", "wall_clock_bound", "timed_calls_launch_and_return_new_memory",
          "repeat_vs_fresh_call"]


class Checker(References, Conversation, Measuring):
    """One job's verdict: the task's references (References), the conversation with the candidate's process
    (Conversation), and what is decided from the two."""

    def __init__(self, job: dict[str, Any], progress: Callable[[str], None] | None = None):
        References.__init__(self, job)
        Conversation.__init__(self)
        self.progress = progress
        self.call_ok = False
        self.cases: list[dict[str, Any]] = []
        self.perf: list[dict[str, Any]] = []
        self.speedup = self.speedup_vs_torch = None
        self.speedup_reason: str | None = None
        self.confined = False  # the candidate's process said its confinement: from then on, its failures are its own
        self.first_calls_ok: set[int] = set()  # perf keys whose first call's output and arguments were verified
        self.handed_over_bytes = 0
        self.evidence.update(handed_over_mb=0.0, handed_over_by_digest=0)

    def record(self, check: dict[str, Any], ok: bool, message: str | None = None, **details: Any) -> None:
        self.cases.append({"index": check["index"], "label": case_label(check["case"]), "seed": check["seed"],
                           "phase": check["phase"], "ok": ok, "message": message, **details})

    def take(self, name: str) -> tuple[bool, Any]:
        """take_over of one file under JOB/out, its size counted in evidence['handed_over_mb'], its tensors
        copied onto the GPU as any copy there is (`copied`)."""
        path = os.path.join(self.job["job_dir"], "out", name)
        with contextlib.suppress(OSError):
            self.handed_over_bytes += os.path.getsize(path)
        self.evidence["handed_over_mb"] = round(self.handed_over_bytes / 1e6, 3)
        return self.copied(lambda: take_over(path))

    def taken(self, tag: str, key: int, check: dict[str, Any],
              claims: Collection[str] = ()) -> tuple[Any, tuple] | None:
        """The output and arguments the candidate's process handed over for one call, but what `claims` names
        as sent by digest (accepted by the caller): "args", the check's inputs unchanged (this process's own
        are used), "output", the first call's output (verified already: not read). None (recorded as a failed
        check) when it did not hand them over."""
        ok, output = (True, None) if "output" in claims else self.take(f"{tag}-{key}.pt")
        if "args" not in claims:
            args_ok, args = self.take(f"{tag}-{key}-args.pt")
        else:  # a task's own check may write its arguments: it gets a copy of this process's inputs
            args_ok, args = True, (self.args_here(check) if self.checker is not None else check["args"])
        self.evidence["handed_over_by_digest"] += len(set(claims) & {"args", "output"})
        if not (ok and args_ok and isinstance(args, (tuple, list)) and len(args) == len(check["args"])):
            self.record(check, False, "the candidate's process did not hand over this call's output")
            if self.status is None:
                self.status, self.message = "wrong_output", f"{where(check)}: no output was handed over"
            return None
        return output, tuple(args)

    def verify(self, tag: str, key: int, check: dict[str, Any], claims: Collection[str] = ()) -> bool:
        """Check one call's output and that its inputs are unchanged (see `taken` for `claims`); True when both
        are right."""
        taken = self.taken(tag, key, check, claims)
        if taken is None:
            return False
        output, args = taken
        unchanged = True
        with self.gpu_lock.shared():
            for position, (before, after) in enumerate(zip(check["args"], args, strict=True)):
                if "args" not in claims and isinstance(before, torch.Tensor) and not same(after, before):
                    self.violate(f"the candidate modified input {position} in place")
                    unchanged = False
            # an output the same by value as the first call's, which was verified right on the same inputs
            problem = None if "output" in claims else self.problem(output, check, args)
        if problem is None:
            self.record(check, True)
            return unchanged
        message = problem.pop("message")
        self.record(check, False, message, **problem)
        if self.status is None:
            self.status, self.message = "wrong_output", f"{where(check)}: {message}"
        return False

    def check_correctness(self) -> None:
        ids = list(range(len(self.checks)))
        reply = self.ask({"do": "call", "ids": ids, "tag": "call", "keep": True, "record_ops": True})
        handed = [k for k in reply.get("handed") or [] if k in ids]
        args_same = keys_of(reply.get("args_same"))
        failure = reply.get("failure")
        for key in ids:
            if key in handed:
                self.verify("call", key, self.checks[key], ("args",) if key in args_same else ())
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
            ok, output = self.take(f"late-{key}.pt")
            if not ok or self.compared(output, check) is not None:
                self.violate(f"the output of {where(check)} changed after later calls (reused or cached buffers)")

    def check_kernels_matter(self) -> None:
        """With every Triton launch turned into a no-op, correct outputs mean something else did the work."""
        check = self.fresh_check
        if all(not bool(t.any()) for t in as_outputs(check["expected"])  # (no copy of a GiB-sized output)
               if isinstance(t, torch.Tensor) and t.numel() and t.dtype.is_floating_point):
            self.evidence["kernels_off_check"] = "skipped: the reference output is all zeros"
            return
        with self.gpu_lock.shared(), launches_skipped() as skipped, empty_memory_filled():  # a reference built on
            reference_off = self.task.reference(*self.args_here(check))  # Triton kernels (a suite's gold code) may
            # not depend on them (memory filled, as the candidate's is with kernels off)
            synchronize(self.device)
        if skipped["launches"] and self.compared(reference_off, check) is None:
            self.evidence["kernels_off_check"] = "skipped: the task's own outputs do not change without kernels"
            return
        key = len(self.checks)
        reply = self.ask({"do": "call", "ids": [key], "tag": "off", "skip_launches": True})
        matched = False
        if key in (reply.get("handed") or []):
            ok, output = self.take(f"off-{key}.pt")
            with self.gpu_lock.shared():
                matched = ok and self.compared(output, check) is None
        self.evidence["kernels_off_check"] = "ran"
        if matched:
            self.violate("the outputs are correct even with every Triton kernel launch disabled: "
                         "the work is not done by Triton kernels")

    def run(self, connect: Callable[[], None]) -> None:
        with self.phase("setup"):
            self.load_task()
            self.collect_evidence()
        with self.phase("references"):
            self.prepare()
            start = self.start_command()
        for stage, seconds in (self.evidence.pop("references_split_s", None) or {}).items():  # made for this job
            self.evidence["phases_s"][f"references.{stage}"] = round(seconds, 4)
        connect()
        self.evidence["guards"] = list(GUARDS)
        try:
            confined = self.ask({"do": "confined"})  # the first line, written before any candidate code ran
            self.evidence["confinement"] = confined.get("confined")
            self.confined = True
            with self.phase("import"):  # includes making the inputs there
                reply = self.ask(start)
                if reply.get("inputs_differ"):
                    reply = self.ask(self.start_with_file(reply["inputs_differ"], reply.get("inputs_error")))
                self.take_failure(reply)
                self.baseline_present = bool(reply.get("baseline"))
                if reply.get("baseline_error"):
                    self.speedup_reason = str(reply["baseline_error"])
            with self.phase("correctness"):  # includes compiling the candidate's kernels
                self.check_correctness()
            if self.status is None and not self.violations and not self.pytorch_gold:
                with self.phase("kernels_off"):
                    self.check_kernels_matter()
            if self.status is None and not self.violations and (self.on_gpu or clock_timing()):
                with self.phase("timing"):
                    self.measure()
            reply = self.ask({"do": "finish"})
            leftovers = int_of(reply.get("leftover_processes"))
            if leftovers:
                self.violate(f"the candidate left {leftovers} process(es) running after it finished "
                             "(the evaluator killed them)")
        except _Stop:
            pass
        if not self.on_gpu:
            self.speedup = self.speedup_vs_torch = None  # timed by the host clock (the evaluator's tests) at most
            self.evidence.pop("speedup_ci", None)
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
                       "evidence": dict(self.evidence, kernels_launched=list(self.kernels))}, self.cause())

    def cause(self) -> str | None:
        """Why no kernel ran, where the task's own code needs a GPU and this is the CPU (its test may catch the
        error itself, and store it as a result): said first, the guard's rejection kept."""
        gpu_only = getattr(getattr(self, "task", None), "GPU_ONLY", None)
        if self.on_gpu or not gpu_only or not any(v.startswith(NO_LAUNCH) for v in self.violations):
            return None
        return (f"this task needs a GPU: {gpu_only}, so on the CPU no Triton kernel ran; run it on a GPU with "
                "--device cuda")

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
    def progress(phase: str) -> None:
        send({"phase": phase})
        note_stage(job["job_dir"], phase)
    checker = Checker(job, progress)
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
    if not checker.confined and hasattr(checker, "commands"):  # it ended before any candidate code ran
        send({"sandbox_error": f"{checker.message} (before any candidate code ran)"})
        return
    checker.evidence["worker_s"] = round(time.perf_counter() - started, 3)
    send({"result": checker.verdict()})
