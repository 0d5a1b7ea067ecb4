"""The candidate's process: runs the candidate on the inputs the checker made and hands back its raw outputs
and timings. It decides nothing: it never holds an expected output, and what it sends is data the checker
validates itself (evaluate/checker.py).

It is forked from the host, put in its own namespaces and confined (evaluate/confine.py) before it reads a
command; then it answers the checker's commands, one JSON line each way:
  start   make the inputs (or load those the checker sends), import the candidate
  call    call the entry point on some of the inputs and hand over each output and the arguments after it
          (arguments unchanged by value: only a claim naming them, `args_same`); `let_go`: inputs not needed again
  late    hand over again the outputs kept from the correctness calls (a later call may have changed them)
  time    time one perf case (candidate, baseline, reference) and hand over the raw samples, the last timed
          call (its output by a claim when it equals the first call's) and a fresh call after timing
  finish  the guards' last look, then exit
Everything it reports besides the handed-over tensors (guard violations, errors, samples) is a claim: a
candidate can only make it worse for itself, except timings, which the checker bounds by its own clock.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from tritonsmith.evaluate.autotuning import autotune_on_interpreter
from tritonsmith.evaluate.compare import as_outputs
from tritonsmith.evaluate.errors import describe_exception, is_compile_error
from tritonsmith.evaluate.gpu_lock import GpuLock, compiles_let_go
from tritonsmith.evaluate.guards import HEAVY_OPS, Guards, children_of_this_process
from tritonsmith.evaluate.runtime import (
    HarnessTampered,
    channel,
    clone,
    empty_memory_filled,
    hand_over,
    hand_over_unless_same,
    hostable,
    import_file,
    import_task,
    input_digest,
    make_inputs,
    read_message,
    synchronize,
    time_first_call,
    to_host,
    value_digest,
    where,
    write_message,
)
from tritonsmith.evaluate.timing import (
    ClockTimer,
    GpuTimer,
    LaunchTimes,
    TimingSettings,
    collector_paused,
    holding_last,
)
from tritonsmith.evaluate.verdict import NO_LAUNCH
from tritonsmith.util.copied_calls import recorded, snapshot_storages
from tritonsmith.util.tensors import storage_ptr


class _Failed(Exception):
    """The candidate failed a call: reported, and no further call is made."""


class CandidateRun:
    def __init__(self, job: dict[str, Any], commands: Any, events: int, gpu_lock: GpuLock):
        self.job = job
        self.device = job["device"]
        self.commands = commands
        self.events = events
        self.send = channel(events)  # the fd held in its closure: setting `events` later changes nothing
        self.gpu_lock = gpu_lock
        self.out_dir = os.path.join(job["job_dir"], "out")
        self.guards: Guards | None = None
        self.entry: Callable[..., Any] | None = None
        self.kept: dict[int, Any] = {}
        self.digests: list[str | None] = []  # each check's inputs, as the checker made them
        self.first_outputs: dict[int, str | None] = {}  # value_digest of a perf case's first call's output
        self.storages: dict[int, str] = {}
        self.failure: dict[str, str] | None = None
        self.inputs_on_host = False  # the checks' inputs held in host memory, copied onto the GPU for each call:
        self.held_keys: set[int] = set()  # those so held; and those made for one call, used as its own copy
        self.once_keys: set[int] = set()

    def reply(self, message: dict[str, Any]) -> None:
        guards = self.guards
        message.update(failure=self.failure, violations=list(guards.violations) if guards else [],
                       launches=guards.launches if guards else 0, kernels=list(guards.kernel_names) if guards else [])
        self.send(message)

    def serve(self) -> None:
        handlers = {"start": self.start, "call": self.call, "late": self.late, "time": self.time,
                    "warm": self.warm, "fresh": self.fresh, "after": self.after_from_file,
                    "finish": self.finish}
        while (command := read_message(self.commands)) is not None:
            handler = handlers.get(command.get("do"))
            if handler is None:
                continue
            try:
                handler(command)
            except _Failed:
                self.reply({"done": command["do"]})
            if command["do"] == "finish":
                return

    # --- before any candidate code ---------------------------------------------------------------------

    def prepare(self) -> None:
        """The task, its trusted baseline and the guards, while the checker makes the references."""
        job = self.job
        os.makedirs(self.out_dir, exist_ok=True)
        if self.device == "cpu":
            autotune_on_interpreter()
        self.task = import_task(job)
        self.baseline = None
        if job.get("baseline_path") and not job.get("baseline_untrusted"):
            self.import_baseline()  # on the CPU too (it is not timed there), so that what changes it is seen
        allowed = set(job.get("allowed_ops", []))  # "*": a suite whose gold code itself uses torch freely
        forbidden = set() if "*" in allowed else (HEAVY_OPS | set(job.get("forbidden_ops", []))) - allowed
        self.torch_allowed = "*" in allowed
        if self.device != "cpu":
            compiles_let_go()  # before the guards' snapshot: it is the evaluator's, not the candidate's
        self.guards = Guards(forbidden, "cuda" if self.device != "cpu" else "cpu")
        self.guards.install()
        self.record_replaced = self.guards.record_replaced
        self.record_replaced.watch_instance("the worker", self, kept=("events", "send", "commands"))
        self.record_replaced.watch_instance("the guards", self.guards)
        if self.baseline_module is not None:
            self.record_replaced.watch("the baseline", self.baseline_module)

    def start(self, command: dict[str, Any]) -> None:
        job = self.job
        self.meta = command["meta"]
        self.inputs_on_host = bool(command.get("inputs_on_host"))
        if "digests" in command:
            self.inputs, differ, error = self.make_inputs(command["digests"])
            self.digests = list(command["digests"])
            if differ:  # the checker sends those in a file, and this command again
                self.reply({"done": "start", "inputs_differ": differ, "inputs_error": error})
                return
        else:
            self.load_inputs(command["inputs"])
        self.pytorch_gold = command["pytorch_gold"]
        self.dataflow_checked = not self.torch_allowed and not self.pytorch_gold
        import resource
        limit = command.get("file_bytes")
        if limit:  # no file the candidate writes grows past it; the hand-over of the largest output fits
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        path = job["candidate_path"]
        try:
            with self.guards.watching(record_ops=False):
                module = import_file(path, "candidate")
        except SystemExit as exc:
            self.guards.violate(f"the candidate called sys.exit({exc.code}) while being imported")
            self.fail("rejected", "the candidate tried to exit the evaluator")
        except BaseException as exc:  # noqa: B036 - candidate code may raise anything
            self.fail("compile_error", "the candidate failed to import:\n" + describe_exception(exc, path))
        # defined, not callable: an autotuned or heuristics-wrapped @triton.jit kernel is a required name too
        missing = [name for name in job.get("required_names", []) if name not in vars(module)]
        if missing:
            self.fail("compile_error", f"the candidate does not define {', '.join(f'`{n}`' for n in missing)}")
        entry = getattr(module, job["entry_point"], None)
        if not callable(entry):
            self.fail("compile_error", f"the candidate does not define a function `{job['entry_point']}`")
        self.entry = entry
        if self.device != "cpu" and job.get("baseline_untrusted"):
            with self.guards.watching(record_ops=False):
                self.import_baseline()
            if self.baseline_module is not None:
                self.record_replaced.watch("the baseline", self.baseline_module)
        self.reply({"done": "start", "baseline": self.baseline is not None, "baseline_error": self.baseline_error})

    def make_inputs(self, digests: list[str]) -> tuple[list[Any], list[int], str | None]:
        """Every check's inputs, made here by the task's own code as the checker made them (before any
        candidate code: they are as trusted as the checker's); the checks whose digest differs, and the first
        error met making them."""
        inputs, differ, error = [], [], None
        for key, digest in enumerate(digests):
            meta = self.meta.get(str(key))
            if meta is None:  # named later (the after-timing checks: `make_after`)
                inputs.append(None)
                continue
            try:
                args, same = self.made(meta, digest)
            except BaseException as exc:  # noqa: B036 - no candidate code has run: the checker's copy is used
                args, same = None, False
                error = error or f"{type(exc).__name__}: {exc}"[:300]
            inputs.append(self.held(key, args) if same else None)
            args = None  # (not on the GPU while the next check's are made)
            if not same:
                differ.append(key)
        return inputs, differ, error

    def made(self, meta: dict[str, Any], digest: str | None) -> tuple[Any, bool]:
        """A check's inputs made here by the task's own code, and whether they are the checker's (by digest)."""
        with self.gpu_lock.shared():
            args = make_inputs(self.task, meta["case"], meta["seed"], self.device)
            synchronize(self.device)
        return args, input_digest(args) == digest

    def held(self, key: int, args: Any) -> Any:
        """A check's inputs as this process holds them until their calls: in host memory where the checker said
        so (`inputs_on_host`, checks too large for the GPU beside the checker's), copied once made and their
        digest taken."""
        if not self.inputs_on_host or args is None or not hostable(args, self.device):
            return args
        with self.gpu_lock.shared():
            on_host = to_host(args)
        self.held_keys.add(key)
        return on_host

    def load_inputs(self, path: str, once: bool = False) -> None:
        """Checks' inputs the checker wrote to a file (they came out otherwise here); `once`: an after-timing
        check's, for one call."""
        for key, args in torch.load(path, weights_only=False).items():  # the checker's: trusted
            self.keep_inputs(int(key), args, value_digest(args), once)

    def import_baseline(self) -> None:
        """The kernel the candidate is timed against: the task's (trusted, imported before the guards), or
        generated code such as the tuner's original (imported after the candidate, under the guards)."""
        self.baseline_error = None
        try:
            module = import_file(self.job["baseline_path"], "tritonsmith_baseline")
            self.baseline = getattr(module, self.job["entry_point"])
            self.baseline_module = module
        except BaseException as exc:  # noqa: B036 - untrusted code may raise anything, SystemExit included
            self.baseline_error = f"the baseline failed to import: {type(exc).__name__}: {exc}"

    baseline_error: str | None = None
    baseline_module: Any = None

    def fail(self, status: str, message: str) -> None:
        if self.failure is None:
            self.failure = {"status": status, "message": message}
        raise _Failed

    # --- the candidate ---------------------------------------------------------------------------------

    def check_of(self, key: int) -> dict[str, Any]:
        """A check's case and inputs; inputs held in host memory come as a copy on the GPU, made now, and an
        after-timing check's as they were made (`copy`: the call's own, which it need not copy again)."""
        args = self.inputs[key]
        if key in self.held_keys and args is not None:
            with self.gpu_lock.shared():
                copied = clone(args, self.device)
                synchronize(self.device)
            return dict(self.meta[str(key)], args=copied, copy=True)
        return dict(self.meta[str(key)], args=args, copy=key in self.once_keys)

    def run_entry(self, check: dict[str, Any], record_ops: bool = True,
                  call: Callable[[Callable[[], Any], tuple], Any] | None = None,
                  args: tuple | None = None) -> tuple[Any, tuple]:
        """The candidate's output on a copy of the check's inputs (or on `args`), and that copy after the call;
        `call` makes the call, given it and its arguments (timed once)."""
        if args is None:
            args = check["args"] if check.get("copy") else clone(check["args"])
        try:
            with self.gpu_lock.shared(), self.guards.watching(record_ops=record_ops):
                output = call(lambda: self.entry(*args), args) if call else self.entry(*args)
                synchronize(self.device)
        except SystemExit as exc:
            self.guards.violate(f"the candidate called sys.exit({exc.code})")
            self.fail("rejected", "the candidate tried to exit the evaluator")
        except BaseException as exc:  # noqa: B036
            status = "compile_error" if is_compile_error(exc) else "runtime_error"
            text = describe_exception(exc, self.job["candidate_path"])
            self.fail(status, f"{where(check)}: the candidate raised an error:\n{text}")
        return output, args

    def call(self, command: dict[str, Any]) -> None:
        """Call the entry point on each listed input and hand over its output and arguments; `keep`: keep the
        outputs (correctness calls, for the `late` look and the aliasing guards)."""
        skip = command.get("skip_launches", False)
        handed, args_same = [], []
        self.guards.skip_launches = skip
        filled = contextlib.ExitStack()
        if skip:  # memory torch hands out is filled: a block the caching allocator kept can hold what an earlier
            # call on the same inputs left there (a test's `res = torch.empty(...)`, copied to the host and let
            # go), which a kernel that did not run would seem to have written (four ROCm golds on an H100)
            filled.enter_context(empty_memory_filled())
        for key in command.get("let_go") or []:  # checks done with (the correctness ones, as timing starts)
            if isinstance(key, int) and 0 <= key < len(self.inputs):
                self.inputs[key] = None
        if command.get("let_go") and self.device != "cpu":
            torch.cuda.empty_cache()  # for the checks the checker makes beside this process while timing
        try:
            for key in command["ids"]:
                check = self.check_of(key)
                try:
                    output, args = self.run_entry(check, record_ops=command.get("record_ops", True))
                except _Failed:
                    if skip:  # any failure with kernels off is the honest outcome
                        self.failure = None
                        continue
                    raise
                hand_over(os.path.join(self.out_dir, f"{command['tag']}-{key}.pt"), output)
                if hand_over_unless_same(os.path.join(self.out_dir, f"{command['tag']}-{key}-args.pt"), args,
                                         self.digests[key], self.gpu_lock.shared):
                    args_same.append(key)
                if command.get("digest_outputs"):  # a perf case's: its last timed call may be the same
                    with self.gpu_lock.shared():
                        self.first_outputs[key] = value_digest(output)
                handed.append(key)
                if command.get("keep"):
                    self.watch_memory(check, output, args)
                    self.kept[key] = output
                    if self.dataflow_checked:
                        self.guards.check_derived_from_kernels(output)
                check = output = args = None  # (not on the GPU while the next call's inputs are copied)
        finally:
            self.guards.skip_launches = False
            filled.close()
        if command.get("keep"):
            if self.guards.launches == 0 and not self.pytorch_gold:
                self.guards.violate(f"{NO_LAUNCH}: the entry point must launch @triton.jit kernels")
            self.guards.check_after_candidate()
        self.reply({"done": "call", "handed": handed, "args_same": args_same})

    def watch_memory(self, check: dict[str, Any], output: Any, args: tuple) -> None:
        input_ptrs = {a.untyped_storage().data_ptr() for a in args if isinstance(a, torch.Tensor)}
        this_call = set()  # outputs of one call may share memory (a test returning one buffer twice)
        for tensor in as_outputs(output):
            if not isinstance(tensor, torch.Tensor) or tensor.numel() == 0:
                continue
            pointer = tensor.untyped_storage().data_ptr()
            if pointer in input_ptrs:
                self.guards.violate("an output aliases an input instead of being a new tensor")
            elif pointer in self.storages:
                self.guards.violate(f"an output reuses the memory of an earlier call's output ({self.storages[pointer]})")
            this_call.add(pointer)
        self.storages.update(dict.fromkeys(this_call, where(check)))

    def late(self, command: dict[str, Any]) -> None:
        for key, output in self.kept.items():
            hand_over(os.path.join(self.out_dir, f"late-{key}.pt"), output)
        self.reply({"done": "late", "handed": list(self.kept)})
        self.kept.clear()  # looked at once: a KernelBench problem's output holds 8 GiB of the GPU

    def time(self, command: dict[str, Any]) -> None:
        """Time one perf case; the checker computes medians and ratios from the raw samples sent back."""
        check = self.check_of(command["id"])
        args = check["args"] if check.get("copy") else clone(check["args"])
        last: dict[str, Any] = {"no_launch": 0, "reused": 0}
        entry, guards = self.entry, self.guards

        collector_callbacks = list(gc.callbacks)

        def run_candidate(args=args, last=last):
            launches = guards.launches
            output = entry(*args)
            if last.get("sampling") and (gc.isenabled() or gc.callbacks != collector_callbacks):  # code of its
                last["collector"] = True  # own run between a sample and its sending
            last["no_launch"] += guards.launches == launches
            last["reused"] += _shares_memory(output, last.get("out"), args)  # the previous output is alive here
            last["out"] = output
        functions: dict[str, Callable[[], Any]] = {"candidate": run_candidate}
        if self.baseline is not None:
            functions["baseline"] = holding_last(lambda args=args: self.baseline(*args))
        if command.get("time_reference"):
            functions["reference"] = holding_last(lambda args=args: self.task.reference(*args))
        if command.get("torch_compile"):
            # one static-shape compile per perf case: reusing one compiled function across shapes makes
            # torch.compile fall back to dynamic-shape kernels from the second shape on, which is unfair to it
            torch._dynamo.reset()
            compiled_reference = torch.compile(self.task.reference, dynamic=False)
            compiled_reference(*args)  # compile outside the guarded, timed region
            functions["compiled"] = holding_last(lambda args=args, fn=compiled_reference: fn(*args))
        settings = TimingSettings.from_job(command.get("settings", {}))
        asked = time.perf_counter()
        with self.gpu_lock.exclusive():  # no other evaluation uses this GPU while this one is timed
            locked, waited = time.perf_counter(), self.gpu_lock.alone_waited
            if not hasattr(self, "timer"):
                self.timer = ClockTimer() if self.device == "cpu" else GpuTimer()
            if type(self.timer) not in (ClockTimer, GpuTimer):
                self.guards.violate("the candidate replaced the worker's timer, which the evaluator relies on")
            self.record_replaced.watch_instance("the timer", self.timer)  # whichever is used: one set before
            self.guards.active = True
            def taken(name: str, ms: float, calls: int, key: int = command["id"], send=self.send) -> None:
                last["sampling"] = True  # from sampling's start ("") the garbage collector is off (timing.py)
                send({"sample": key, "name": name, "ms": ms, "calls": calls})
            try:
                measured = self.timer.measure(functions, settings, first_call=self.gpu_lock.yielding, taken=taken)
            except BaseException as exc:  # noqa: B036
                self.guards.active = False
                self.fail("runtime_error", f"{where(check)}: timing failed: "
                          + describe_exception(exc, self.job["candidate_path"]))
            finally:
                self.guards.active = False
                functions.clear()  # the outputs the baseline's and reference's calls held go now, not after the fresh call
        self.guards.check_tracing()
        if last.get("collector"):
            self.guards.violate("the candidate turned the garbage collector on, or gave it a callback, while it was "
                                "timed (it is off there, so that no code of the candidate's runs between a sample "
                                "and its sending)")
        self.record_replaced()  # now, not only at the end: a patch undone before `finish` was there while timed
        waited = self.gpu_lock.alone_waited - waited  # to take the GPU alone again after a first call's compile
        self.repeat_host_ms = measured.times["candidate"].host_ms  # (for the first calls on new inputs after)
        measured_at = time.perf_counter()
        claims = self.hand_over_last(command["id"], last.get("out"), args)  # before any more candidate code runs
        # (its cache is kept: emptied here, the first call on new inputs took new memory from the driver, 31 ms
        # of host time for an honest softmax on an H100, and was rejected as work done once per input)
        spent = {"gpu_wait": locked - asked + waited, "prepare": measured.prepare_s - waited,
                 "sampling": measured_at - locked - measured.prepare_s, "hand_over": time.perf_counter() - measured_at}
        self.reply({"done": "time", **claims, "rounds": measured.rounds, "stopped": measured.stopped,
                    "timed_calls_without_launch": last["no_launch"], "timed_calls_reusing_output": last["reused"],
                    "spent_s": {k: round(v, 3) for k, v in spent.items()},
                    "times": {name: {"samples": t.samples, "calls_per_sample": t.calls_per_sample, "timer": t.timer}
                              for name, t in measured.times.items()}})

    def warm(self, command: dict[str, Any]) -> None:
        """The GPU kept busy, its clock up, on the perf case's inputs, as for the baseline's first call on new
        inputs; before `fresh` names those inputs (a command of its own: while this candidate code runs, nothing
        in this process knows them)."""
        began = time.perf_counter()
        check = self.check_of(command["perf_id"])
        self.run_entry(check, record_ops=False, call=lambda fn, _: self.timer.warm(fn), args=check["args"])
        self.reply({"done": "warm", "spent_s": {"warm": round(time.perf_counter() - began, 3)}})

    def fresh(self, command: dict[str, Any]) -> None:
        """The candidate's first call on inputs it has not seen, named only now (the after-timing check's, or
        other new ones where the checker doubts the first), made here by the task's code and timed once as a
        per-call sample is (`fresh_call`); not made (`after_handed` false, with the error if making them failed)
        where they came out otherwise than the checker's: it sends them (`after_from_file`)."""
        began = time.perf_counter()
        key = command["id"]
        made, error = self.make_after(command.get("after") or {})
        if not made:
            self.reply({"done": "fresh", "after_handed": False, "after_error": error})
            return
        self.answer_fresh_call("fresh", key, {"after_inputs": time.perf_counter() - began})

    def after_from_file(self, command: dict[str, Any]) -> None:
        """The first call on new inputs that came out otherwise here, on the checker's, sent in a file and loaded
        just before it is made and timed as `fresh` makes it (no candidate code runs between)."""
        began = time.perf_counter()
        self.load_inputs(command["inputs"], once=True)
        self.answer_fresh_call("after", command["id"], {"after_inputs": time.perf_counter() - began})

    def answer_fresh_call(self, done: str, key: int, spent: dict[str, float]) -> None:
        """`fresh_call` on check `key`'s inputs, its figures sent at once (a message of their own), then its
        output and arguments handed over, and the reply to the command `done`. The figures leave before any
        code here touches the output, and with the garbage collector off until then: the output's own hooks
        (a tensor subclass's, run by the hand-over) or a finaliser of the candidate's would otherwise run with
        the figures, not yet sent, within reach (`adversarial/forge_fresh_figures.py`)."""
        made = time.perf_counter()
        with collector_paused():
            with self.gpu_lock.exclusive():
                after, fresh = self.fresh_call(key)
            if gc.isenabled() and self.guards is not None:
                self.guards.violate("the candidate turned the garbage collector on in its first call on new inputs "
                                    "(it is off until that call's figures are sent)")
            self.reply({"figures": key, "fresh": fresh})
        called = time.perf_counter()
        same = self.hand_over_after(key, *after)
        self.inputs[key] = None  # (not called again)
        spent.update(fresh_call=called - made, hand_over=time.perf_counter() - called)
        self.reply({"done": done, "after_handed": True, "after_args_same": same,
                    "spent_s": {k: round(v, 3) for k, v in spent.items()}})

    def hand_over_last(self, key: int, output: Any, args: tuple) -> dict[str, bool]:
        """The last timed call's output and arguments, each replaced by a claim where it is, by value, the
        first call's output (which the checker verified) or the check's inputs."""
        path = os.path.join(self.out_dir, f"last-{key}")
        lock = self.gpu_lock.shared
        return {"last_output_same": hand_over_unless_same(f"{path}.pt", output, self.first_outputs.get(key), lock),
                "last_args_same": hand_over_unless_same(f"{path}-args.pt", args, self.digests[key], lock)}

    def make_after(self, after: dict[str, Any]) -> tuple[bool, str | None]:
        """The after-timing check's inputs, named only now, made by the task's code: whether they are the
        checker's (by their digest), and the error if making them failed."""
        key, meta = after.get("key"), after.get("meta")
        if not isinstance(key, int) or not isinstance(meta, dict):
            return False, "no inputs named"
        self.meta[str(key)] = meta
        try:
            args, same = self.made(meta, after.get("digest"))
        except Exception as exc:  # noqa: BLE001 - the checker's copy is used instead
            return False, f"{type(exc).__name__}: {exc}"[:300]
        if same:
            self.keep_inputs(key, args, after.get("digest"), once=True)
        return same, None

    def keep_inputs(self, key: int, args: Any, digest: str | None, once: bool = False) -> None:
        """A check's inputs and their digest, held as `held` says; `once` (an after-timing check's, made for its
        one call just before it): kept where they are, and that call's own copy (`check_of`)."""
        for listed in (self.inputs, self.digests):
            listed += [None] * (key + 1 - len(listed))
        self.inputs[key], self.digests[key] = (args if once else self.held(key, args)), digest
        if once:
            self.once_keys.add(key)

    def fresh_call(self, key: int) -> tuple[tuple[Any, tuple], dict[str, Any]]:
        """After timing, the candidate's first call on inputs it has not seen (the after-timing check's), timed
        once as a per-call sample is (timing.GpuTimer.once): a function much faster when called again on the same
        inputs than on new ones reuses its results (the checker compares it with the baseline's, timed so where
        no candidate code runs). Returns (its output and arguments, the time found, with the host time of its
        timed calls)."""
        fresh: dict[str, Any] = {"repeat_host_ms": self.repeat_host_ms}

        def timed_once(fn: Callable[[], Any], args: tuple) -> Any:
            compiling, launched = self.guards.compile_s, self.guards.completed_launches
            launches = LaunchTimes(self.timer.cycles_per_ms) if self.device != "cpu" else None
            try:
                with launches if launches is not None else contextlib.nullcontext():
                    found, output = time_first_call(self.timer, fn, args, self.repeat_host_ms)
            except HarnessTampered as exc:
                self.guards.violate(str(exc))
                return recorded(fn())  # untimed, and checked as any after-timing call
            fresh.update(found, compile_ms=(self.guards.compile_s - compiling) * 1000)  # a new specialization's
            if launches is not None and launches.available:  # (once synchronised: its work has finished)
                fresh.update(launches_gpu_ms=launches.gpu_ms(), hooked_launches=launches.hooked,
                             launches=self.guards.completed_launches - launched)
            return output
        return self.run_entry(self.check_of(key), record_ops=False, call=timed_once), fresh

    def hand_over_after(self, key: int, output: Any, args: tuple) -> bool:
        """The after-timing call's output, and its arguments unless unchanged (True)."""
        path = os.path.join(self.out_dir, f"after-{key}")
        hand_over(f"{path}.pt", output)
        return hand_over_unless_same(f"{path}-args.pt", args, self.digests[key], self.gpu_lock.shared)

    def finish(self, command: dict[str, Any]) -> None:
        if self.guards is not None:
            self.guards.check_after_candidate()
            self.record_replaced()
        self.reply({"done": "finish", "leftover_processes": len(_live_children())})


def _shares_memory(output: Any, previous: Any, args: tuple) -> bool:
    """Whether a call returned memory that the previous call's output (still referenced) holds, other than
    the record of a benchmark harness's first call, which it returns on every later call (copied_calls.py)."""
    if previous is None:
        return False
    shared = _storages(output) & _storages(previous)
    return bool(shared - snapshot_storages(args)) if shared else False


def _storages(output: Any) -> set[int]:
    return {storage_ptr(t) for t in as_outputs(output) if isinstance(t, torch.Tensor) and t.numel()}


def _live_children() -> list[int]:
    """Our children still running: in our own PID namespace, whatever the candidate orphaned is ours too."""
    alive = []
    for pid in children_of_this_process():
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] not in "ZX":
                    alive.append(pid)
        except (OSError, IndexError):
            pass
    return alive


def run_candidate_process(job: dict[str, Any], commands_fd: int, events_fd: int, gpu_lock: GpuLock,
                          confinement: dict[str, Any]) -> None:
    """The candidate's process after its confinement: say what is in force, then serve the checker."""
    run = CandidateRun(job, os.fdopen(commands_fd, "rb"), events_fd, gpu_lock)
    run.prepare()
    write_message(events_fd, {"done": "confined", "confined": confinement})  # no candidate code has run yet
    run.serve()
    sys.stdout.flush()
