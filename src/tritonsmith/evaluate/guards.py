"""Guards against the known ways a generated kernel games its evaluation (runs in the candidate's process).

Each guard records what it sees in `Guards.violations`; none relies on an exception reaching us,
since candidate code can catch exceptions. The verdict reads the record after the candidate ran.
"""

from __future__ import annotations

import _signal
import _thread
import builtins
import contextlib
import json
import os
import posix
import random
import signal
import sys
import threading
import time
from typing import Any

import numpy
import torch
import triton
import triton.testing
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from tritonsmith.util import copied_calls

# aten ops that implement whole tasks; calling them inside the entry point means torch did the work.
HEAVY_OPS = frozenset({
    "mm", "bmm", "addmm", "addmv", "mv", "matmul", "baddbmm", "addbmm", "dot", "vdot", "linear", "_scaled_mm",
    "_int_mm", "einsum", "tensordot", "convolution", "_convolution", "cudnn_convolution", "conv1d", "conv2d",
    "_softmax", "_log_softmax", "softmax", "log_softmax", "_softmax_backward_data", "_log_softmax_backward_data",
    "native_layer_norm", "layer_norm", "native_layer_norm_backward", "native_group_norm", "group_norm",
    "native_group_norm_backward", "rms_norm", "_fused_rms_norm", "native_batch_norm", "batch_norm",
    "scaled_dot_product_attention", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
    "_flash_attention_forward", "_efficient_attention_forward", "cross_entropy_loss", "nll_loss",
    "nll_loss_forward", "nll_loss2d_forward", "cumsum", "cumprod", "logcumsumexp", "sort", "topk", "argsort",
    "embedding", "native_dropout", "flip", "gelu", "silu", "_weight_int8pack_mm", "_weight_int4pack_mm",
})


class GuardViolation(RuntimeError):
    """Raised where stopping the candidate is safe; recorded whether or not it is caught."""


def _op_name(func: Any) -> str:
    packet = getattr(func, "_overloadpacket", None)
    return getattr(packet, "__name__", None) or str(func).split(".")[-2]


def _storages(values: Any) -> set[int]:
    """The storages of the tensors among `values` (nested in lists, tuples and dicts)."""
    from torch.utils._pytree import tree_leaves
    return {t.untyped_storage().data_ptr() for t in tree_leaves(values) if isinstance(t, torch.Tensor) and t.numel()}


class _OpRecorder(TorchDispatchMode):
    """Records the aten ops called, and which tensors derive from memory a Triton kernel was given."""

    def __init__(self, seen: set[str], kernel_memory: set[int] | None = None):
        super().__init__()
        self.seen = seen
        self.kernel_memory = kernel_memory

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(_op_name(func))
        result = func(*args, **(kwargs or {}))
        if self.kernel_memory and _storages((args, kwargs)) & self.kernel_memory:
            self.kernel_memory |= _storages(result)
        return result


TRACING = ("the candidate set a trace or profile function (or a sys.monitoring tool): code that would run "
           "inside the evaluator's own")
HOOKED = ("the candidate installed an audit hook, a signal handler or a timer: code that would run inside the "
          "evaluator's own (where a first call's figures are made and sent)")
TIMERS = (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)
_SETITIMER = _signal.setitimer  # (install refuses the modules' own to candidate code; a timer left is cleared)


class Guards:
    def __init__(self, forbidden_ops: set[str], device: str):
        self.forbidden_ops = forbidden_ops
        self.device = device
        self.violations: list[str] = []
        self.launches = 0
        self.completed_launches = 0  # launches whose call returned (the driver was asked to launch)
        self.kernel_names: list[str] = []
        self.skip_launches = False
        self.ops_seen: set[str] = set()
        self.kernel_memory: set[int] = set()  # storages given to a Triton kernel, and what torch derived from them
        self.active = False
        self.autotuning = 0  # Triton's autotuner benchmarking configs: its own side stream (use_cuda_graph) is allowed
        self.compile_s = 0.0  # host seconds in Triton's compiles (work a new specialization needs)
        self._pid = os.getpid()
        self._default_stream = None
        self.record_replaced: Any = None

    def violate(self, message: str) -> None:
        if message not in self.violations:
            self.violations.append(message)

    def install(self) -> None:
        """Patch the launch paths and the ways to escape the evaluator's view; then snapshot."""
        if self.device == "cuda":
            self._default_stream = torch.cuda.current_stream().cuda_stream
        self._watch_launches()
        self._watch_threads_and_forks()
        self._watch_streams()
        self._exempt_autotuner()
        with _OpRecorder(set()):  # first use imports torch._dynamo, which rebinds torch.manual_seed
            torch.ones(2).add(1)
        self.record_replaced = _replacement_recorder(self.violations)

    def _watch_launches(self) -> None:
        """Every Triton launch while the candidate runs is counted, named, its memory noted and its stream checked."""
        guards = self

        def wrap_run(original):
            def run(kernel_self, *args, grid, warmup, **kwargs):
                if warmup or not guards.active:
                    return original(kernel_self, *args, grid=grid, warmup=warmup, **kwargs)
                guards.launches += 1
                guards.kernel_memory |= _storages((args, kwargs))
                name = getattr(kernel_self, "__name__", None) or getattr(getattr(kernel_self, "fn", None), "__name__", "?")
                if name not in guards.kernel_names:
                    guards.kernel_names.append(name)
                if (guards._default_stream is not None and not guards.autotuning
                        and torch.cuda.current_stream().cuda_stream != guards._default_stream):
                    guards.violate("a Triton kernel was launched on a side stream, outside the timed stream")
                if guards.skip_launches:
                    return None
                with _disable_current_modes():
                    kernel = original(kernel_self, *args, grid=grid, warmup=warmup, **kwargs)
                guards.completed_launches += 1  # (not one that raised first: compiling, out of resources)
                return kernel
            return run

        from triton.runtime.jit import JITFunction
        JITFunction.run = wrap_run(JITFunction.run)
        try:
            from triton.runtime.interpreter import InterpretedFunction
            InterpretedFunction.run = wrap_run(InterpretedFunction.run)
        except ImportError:
            pass

    def _watch_threads_and_forks(self) -> None:
        """Starting a thread or forking a process while the candidate runs is recorded."""
        guards = self

        def recorder(message, original):
            def guarded(*args, **kwargs):
                if guards.active:
                    guards.violate(message)
                return original(*args, **kwargs)
            return guarded

        threading.Thread.start = recorder("the candidate started a thread", threading.Thread.start)
        _thread.start_new_thread = recorder("the candidate started a thread", _thread.start_new_thread)
        for space in (os, posix):  # os.fork is posix.fork: patching only one leaves the other open
            for name in ("fork", "forkpty"):
                if hasattr(space, name):
                    setattr(space, name, recorder("the candidate forked a process", getattr(space, name)))

        def refused(original, message):
            def guarded(*args, **kwargs):
                if guards.active:  # a trace function, a hook or a handler would run the candidate's code
                    guards.violate(message)  # inside the evaluator's
                    return None
                return original(*args, **kwargs)
            return guarded
        for space, names, message in (
                (sys, ("settrace", "setprofile"), TRACING),
                (threading, ("settrace", "setprofile", "settrace_all_threads", "setprofile_all_threads"), TRACING),
                (sys, ("addaudithook",), HOOKED),  # (an audit hook cannot be taken away: never added)
                (signal, ("signal", "setitimer", "alarm"), HOOKED), (_signal, ("signal", "setitimer", "alarm"), HOOKED)):
            for name in names:
                if hasattr(space, name):
                    setattr(space, name, refused(getattr(space, name), message))

    def check_tracing(self) -> None:
        """After candidate code: no trace or profile function, nor a sys.monitoring tool, nor an interval timer is
        left (one set some other way than the refused functions); any found is taken away."""
        if sys.gettrace() is not None or sys.getprofile() is not None:
            self.violate(TRACING)
            sys.settrace(None)
            sys.setprofile(None)
        monitoring = getattr(sys, "monitoring", None)
        if monitoring is not None and any(monitoring.get_tool(tool) is not None for tool in range(6)):
            self.violate(TRACING)
        for which in TIMERS:
            if signal.getitimer(which)[0]:
                self.violate(HOOKED)
                _SETITIMER(which, 0)

    def _watch_streams(self) -> None:
        """Switching to or creating a side CUDA stream, outside Triton's autotuner, is recorded."""
        guards = self

        def stream_recorder(original):
            def guarded(*args, **kwargs):
                if guards.active and not guards.autotuning:
                    guards.violate("the candidate switched CUDA streams")
                return original(*args, **kwargs)
            return guarded
        for name in ("set_stream", "stream"):
            setattr(torch.cuda, name, stream_recorder(getattr(torch.cuda, name)))
        stream_new = torch.cuda.Stream.__new__

        def stream_guard(cls, *args, **kwargs):
            if guards.active and not guards.autotuning and "stream_id" not in kwargs:
                guards.violate("the candidate created a side CUDA stream")
            return stream_new(cls, *args, **kwargs)
        torch.cuda.Stream.__new__ = stream_guard

    def _exempt_autotuner(self) -> None:
        """@triton.autotune(use_cuda_graph=True) times its configs with do_bench_cudagraph, which captures on a
        side stream of its own: that is Triton's benchmarking, not the candidate hiding work. The host time
        of Triton's compiles is counted (`compile_s`): a call on new inputs may need a new specialization,
        which is not work done once per input (measuring.py, the fresh call's host rule). Autotuning is not
        counted: its benchmarking runs the candidate's hooks and configs, where work could hide."""
        try:
            from triton.runtime.autotuner import Autotuner
        except ImportError:
            return
        bench = getattr(Autotuner, "_bench", None)
        if bench is None:
            return
        guards = self

        def _bench(tuner_self, *args, **kwargs):
            guards.autotuning += 1
            try:
                return bench(tuner_self, *args, **kwargs)
            finally:
                guards.autotuning -= 1
        Autotuner._bench = _bench
        from triton.runtime.jit import JITFunction
        compile_ = getattr(JITFunction, "_do_compile", None)  # (Triton 3.3+)
        if compile_ is None:
            return

        def _do_compile(kernel_self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return compile_(kernel_self, *args, **kwargs)
            finally:
                guards.compile_s += time.perf_counter() - started
        JITFunction._do_compile = _do_compile

    @contextlib.contextmanager
    def watching(self, record_ops: bool = True):
        """Candidate code runs inside this: launches counted, aten ops recorded."""
        threads_before = threading.active_count()
        self.active = True
        try:
            if record_ops:
                with _OpRecorder(self.ops_seen, self.kernel_memory):
                    yield
            else:
                yield
        finally:
            self.active = False
            self.check_tracing()
            if threading.active_count() > threads_before:
                self.violate("the candidate left a thread running")
            if os.getpid() != self._pid:
                os._exit(0)  # a forked copy of the candidate's process must never answer the checker

    def check_derived_from_kernels(self, output: Any) -> None:
        """An output none of whose tensors derives from memory a Triton kernel was given was computed by torch
        alone (a candidate that tells when launches are skipped would pass the kernels-off check)."""
        outputs = [t for t in as_tensors(output) if t.numel() and t.dtype.is_floating_point]
        if outputs and not _storages(outputs) & self.kernel_memory:
            self.violate("the output does not derive from any memory a Triton kernel was given: PyTorch ops "
                         "computed it (the work must be done by Triton kernels)")

    def check_after_candidate(self) -> None:
        forbidden = sorted(self.ops_seen & self.forbidden_ops)
        if forbidden:
            self.violate("the entry point calls PyTorch's own implementation of the operation "
                         f"(aten ops: {', '.join(forbidden)}); the work must be done by Triton kernels")
        if children_of_this_process():
            self.violate("the candidate left child processes running")
        self.record_replaced()


def as_tensors(value: Any) -> list[torch.Tensor]:
    from torch.utils._pytree import tree_leaves
    return [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]


def _replacement_recorder(violations: list[str]) -> Any:
    """A closure over the snapshot taken now and the functions it needs, so patching modules later cannot blind it.
    Its `watch(label, module)` adds a module whose kernels and functions the candidate is timed against (the
    baseline's): replacing one of them, or a kernel's `run`, would slow the baseline and inflate the speedup.
    Its `watch_instance(label, obj, kept)` adds one of the evaluator's own objects (the worker, its timer, the
    guards): the snapshot holds their classes' methods, which an attribute of the same name set on the object
    itself would stand in for (the timer's `once`, rewriting a first call's figures), and the attributes named
    in `kept` as they are now (the worker's channel to the checker), each reported if set to anything else."""
    taken, take, append, missing = _snapshot(), _snapshot, list.append, (None, None)
    watched: list[tuple[str, Any, dict[str, tuple[Any, Any]]]] = []
    instances: list[tuple[str, Any, dict[str, Any]]] = []
    of_module, add, attributes, of_class = _module_snapshot, list.append, vars, type

    def report(before: dict[str, tuple[Any, Any]], after: dict[str, tuple[Any, Any]], what: str) -> None:
        for name in sorted(before):
            obj, code = before[name]
            found = after.get(name, missing)
            message = what.format(name)
            same_code = found[1] is code or (type(code) is _Items and code == found[1])
            if (found[0] is not obj or not same_code) and message not in violations:
                append(violations, message)

    def record_replaced() -> None:
        report(taken, take(), "the candidate replaced {}, which the evaluator relies on")
        for label, module, before in watched:
            report(before, of_module(module), "the candidate replaced {} of " + label + ", which it is timed against")
        for label, obj, kept in instances:
            methods, own = attributes(of_class(obj)), attributes(obj)
            for name in sorted({name for name in own if callable(methods.get(name))}
                               | {name for name, value in kept.items() if own.get(name, missing) is not value}):
                message = f"the candidate replaced {label}.{name}, which the evaluator relies on"
                if message not in violations:
                    append(violations, message)

    def watch(label: str, module: Any) -> None:
        add(watched, (label, module, of_module(module)))

    def watch_instance(label: str, obj: Any, kept: tuple[str, ...] = ()) -> None:
        if not any(seen is obj for _, seen, _ in instances):
            add(instances, (label, obj, {name: attributes(obj)[name] for name in kept}))
    record_replaced.watch, record_replaced.watch_instance = watch, watch_instance
    return record_replaced


def _module_snapshot(module: Any) -> dict[str, tuple[Any, Any]]:
    """What a module's calls go through: every global it binds but plain numbers and strings (its functions with
    their code and defaults, its kernels, the modules and functions it imported), and of each kernel
    (@triton.jit, autotuned or with heuristics, down to the Python function) the instance attributes a launch
    reads: `run`, `fn`, the pre-run hooks, an autotuner's configs and hooks, heuristics' values. Compared by
    identity, lists and dicts by their items: a spinning pre-run hook, a worse config list or its `triton`
    swapped for one whose `cdiv` launches more programs would slow the baseline. Numbers and strings are not
    watched: real golds rebind theirs (TritonBench-G's attention_score halves its global block sizes when a
    launch runs out of resources)."""
    found: dict[str, tuple[Any, Any]] = {}
    for name, value in list(vars(module).items()):
        if name.startswith("__") or value is None or isinstance(value, (int, float, complex, str, bytes)):
            continue
        found[name] = (value, getattr(value, "__code__", None))
        if callable(value) and hasattr(value, "__defaults__"):
            found[f"{name}.__defaults__"] = (value.__defaults__, value.__kwdefaults__)
        inner, path = value, name
        for _ in range(4):  # an autotuner wraps heuristics wrap a JIT function wraps the Python function
            own = getattr(inner, "__dict__", None)
            if not (own is not None and hasattr(inner, "run") and hasattr(inner, "fn")):
                break
            for attr in ("run", "pre_hook", "post_hook"):
                found[f"{path}.{attr}"] = (own.get(attr), getattr(own.get(attr), "__code__", None))
            for attr in ("pre_run_hooks", "configs", "values"):
                items = own.get(attr)
                found[f"{path}.{attr}"] = (items, _items(items))
            inner, path = own.get("fn"), f"{path}.fn"
            found[path] = (inner, getattr(inner, "__code__", None))
    return found


class _Items(tuple):
    """A list's or dict's items when snapshotted: equal to another snapshot of the same items (by identity)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Items) and len(self) == len(other) and all(a is b for a, b in zip(self, other))

    __hash__ = tuple.__hash__


def _items(value: Any) -> Any:
    if isinstance(value, dict):
        return _Items(x for pair in value.items() for x in pair)
    if isinstance(value, (list, tuple)):
        return _Items(value)
    return None


def _namespaces() -> dict[str, Any]:
    import math
    import statistics

    from triton.runtime.autotuner import Autotuner, Heuristics
    from triton.runtime.jit import JITFunction, KernelInterface

    from tritonsmith.evaluate import gpu_lock, guards, runtime, timing, worker
    spaces = {
        "triton": triton, "Autotuner": Autotuner, "Heuristics": Heuristics, "KernelInterface": KernelInterface,
        "torch": torch, "torch.Tensor": torch.Tensor, "torch.cuda": torch.cuda, "torch.testing": torch.testing,
        "triton.testing": triton.testing, "JITFunction": JITFunction, "numpy": numpy, "numpy.testing": numpy.testing,
        "time": time, "os": os, "sys": sys, "builtins": builtins, "json": json, "threading": threading,
        "torch.cuda.Event": torch.cuda.Event, "runtime": runtime, "timing": timing, "worker": worker,
        "guards": guards, "Guards": Guards, "_OpRecorder": _OpRecorder, "CandidateRun": worker.CandidateRun,
        "posix": posix, "timing.GpuTimer": timing.GpuTimer, "timing.LaunchTimes": timing.LaunchTimes,
        "GpuLock": gpu_lock.GpuLock, "statistics": statistics,
        "math": math,
    }
    try:
        from triton.runtime.interpreter import InterpretedFunction
        spaces["InterpretedFunction"] = InterpretedFunction
    except ImportError:
        pass
    # what a benchmark's harness calls while it copies the inputs and seeds a call, untimed (copied_calls.py)
    spaces.update({"random": random, "numpy.random": numpy.random, "copied_calls": copied_calls})
    if "tritonsmith.suites.runtime" in sys.modules:  # a benchmark's task (the evaluator's side never imports
        import importlib  # suites/ itself): all of its harness, loaded now if its entry point imports it later

        for name in _HARNESS_MODULES:
            spaces[name] = importlib.import_module(name)
    return spaces


_HARNESS_MODULES = ("tritonsmith.suites.runtime", "tritonsmith.suites.runtime.tensors",
                    "tritonsmith.suites.runtime.geak_perf", "tritonsmith.suites.runtime.rocm_perf",
                    "tritonsmith.suites.runtime.pytest_runner")


def _snapshot() -> dict[str, tuple[Any, Any]]:
    """Every callable the evaluator could be fooled through, with its code object, compared by identity; and
    Triton's launch and compile hooks (a hook that spins before each launch would slow the baseline)."""
    result = {}
    for space_name, space in _namespaces().items():
        for attr, value in list(vars(space).items()):
            if callable(value) and not isinstance(value, type(os)):
                result[f"{space_name}.{attr}"] = (value, getattr(value, "__code__", None))
    runtime = getattr(getattr(triton, "knobs", None), "runtime", None)
    for name in ("launch_enter_hook", "launch_exit_hook", "kernel_load_start_hook", "kernel_load_end_hook",
                 "jit_cache_hook", "jit_post_compile_hook"):
        hook = getattr(runtime, name, None)
        result[f"triton.knobs.runtime.{name}"] = (hook, _items(getattr(hook, "calls", None)))
    return result


def children_of_this_process() -> list[int]:
    """This process's children (/proc/self is right even in a PID namespace that kept its parent's /proc)."""
    found = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
        except OSError:
            pass
    return found
