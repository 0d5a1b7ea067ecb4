"""GEAK-eval's performance scripts for TritonBench-G tasks, run without GEAK-eval installed.

GEAK-eval times each TritonBench-G task with a script `<file stem>_perf.py`, kept in
`performance_metrics/perf_G/golden_metrics/`. The script defines a subclass of
`Performance_Metrics` (from `geak_eval.perf.performance_utils`):

- `get_input_tensors()` fills `self.input_tensors`, a list of inputs (usually tuples of CPU tensors
  and numbers, one per size);
- `to_cuda(input)` moves one input to the GPU;
- `call_op(input)` runs the code under test on one input, imported by the task's file stem
  (`from scale_add import scale_add`);
- `call_op_ref(input)` runs the reference, imported from GEAK's package of gold files
  (`from geak_eval.data.TritonBench.data.TritonBench_G_v1.scale_add import scale_add as scale_add_ref`);
- `get_gbps(input, ms)` and `get_tflops(input, ms)` turn a time in milliseconds into GB/s and TFLOP/s.

This module supplies what such a script imports, so no GEAK-eval checkout need be installed:
`Performance_Metrics` and `do_bench_config` are our own, with that interface, and scripts run under an
import resolver in which

- the bare stem (`scale_add`) is the code under test: the candidate's module, or the gold code when
  the task itself makes inputs or computes the reference;
- a dotted name whose last part is the stem of a task file of the folder (`TritonBench_G_v1.scale_add`,
  `geak_eval.data....scale_add`) is that task's gold code (the part above the separator line);
- `geak_eval.perf.performance_utils`, or any name ending in `performance_utils`, is our base class.

The adapter (suites/tritonbench.py) reads a script without running it (suites/perf_scripts.py). The
generated task and its harness run it in the evaluator's worker, with this module (`PerfScript`,
`run_perf_case`); torch is imported inside its functions.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import types
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritonsmith.suites.perf_scripts import appends_one_by_one
from tritonsmith.suites.runtime import load_gold, seed_all
from tritonsmith.suites.runtime.perf_call import facts_of, note_facts
from tritonsmith.suites.runtime.tensors import copy_value, tensors_in
from tritonsmith.task import PERF_SEED
from tritonsmith.util.copied_calls import CopiedInput, call_on_copy
from tritonsmith.util.tensors import out_of_memory

# --- the base class that scripts import as geak_eval.perf.performance_utils ---------------------------

class do_bench_config:  # noqa: N801 - GEAK-eval's name, imported by the scripts
    """Settings of triton.testing.do_bench, as GEAK-eval's scripts pass them. Recorded, not used:
    tritonsmith times perf cases with its own interleaved timer."""

    def __init__(self, warm_up: int = 25, repetition: int = 100, grad_to_none: Any = None,
                 quantiles: tuple[float, ...] = (0.5, 0.8, 0.2), return_mode: str = "median"):
        self.warm_up = warm_up
        self.repetition = repetition
        self.grad_to_none = grad_to_none
        self.quantiles = list(quantiles)
        self.return_mode = return_mode


class Performance_Metrics:  # noqa: N801 - GEAK-eval's name, imported by the scripts
    """What a perf script subclasses. tritonsmith calls get_input_tensors, to_cuda, call_op,
    call_op_ref, get_gbps and get_tflops; the rest is there so the scripts' own code runs."""

    def __init__(self, op_name: str, dtype: Any = None, is_backward: bool = False, **kwargs: Any):
        self.op_name = op_name + ("backward" if is_backward else "")
        self.ref_op_name = op_name + "_ref"
        self.dtype = dtype
        self.is_backward = is_backward
        self.kwargs = kwargs
        self.input_tensors: list[Any] = []
        self.do_bench_config = do_bench_config()

    def __setattr__(self, name: str, value: Any) -> None:
        up_to = self.__dict__.get("_tritonsmith_up_to")
        if name == "input_tensors" and up_to is not None and type(value) is list and not value:
            value = _UpTo(*up_to)  # get_input_tensors starting its list while only some entries are wanted
        super().__setattr__(name, value)

    def get_input_tensors(self) -> None:
        raise NotImplementedError("a perf script must define get_input_tensors(), which fills self.input_tensors")

    def to_cuda(self, input_tensor: Any) -> Any:
        raise NotImplementedError("a perf script must define to_cuda(input), which moves one input to the GPU")

    def call_op(self, input_tensor: Any) -> Any:
        raise NotImplementedError("a perf script must define call_op(input), which runs the code under test")

    def call_op_ref(self, input_tensor: Any) -> Any:
        raise NotImplementedError("this perf script defines no call_op_ref(input)")

    def get_gbps(self, input_tensor: Any, runtime: float) -> float:
        raise NotImplementedError("this perf script defines no get_gbps(input, ms)")

    def get_tflops(self, input_tensor: Any, runtime: float) -> float:
        raise NotImplementedError("this perf script defines no get_tflops(input, ms)")

    def get_do_bench_config(self, warmup: int | None = None, rep: int | None = None) -> None:
        if warmup is not None and rep is not None:
            self.do_bench_config = do_bench_config(warm_up=warmup, repetition=rep)

    def get_runtime(self, op: Any) -> float:
        import triton.testing
        return float(triton.testing.do_bench(op, warmup=self.do_bench_config.warm_up,
                                             rep=self.do_bench_config.repetition, return_mode="median"))


class _Enough(BaseException):  # noqa: N818 - not an error: get_input_tensors has made the entries wanted (a
    # BaseException, as GeneratorExit is, so that a script's own `except Exception` lets it through)
    def __init__(self, entries: list[Any]):
        super().__init__("the wanted inputs are made")
        self.entries = entries


class _UpTo(list):
    """`self.input_tensors` while only some entries are wanted (`PerfScript._make`): those before entry `wanted`
    are let go as they are appended (None in their place); from it on they are kept while they fit in
    `keep_bytes` (the wanted one whatever its size), and at the first that does not, get_input_tensors is ended
    (`_Enough`), so no later entry is made. A window that is full ends at the entry after it, not at once: one
    that ends at the script's last entry is then seen to run to the end, and its count is checked. An entry
    asked for alone (no `keep_bytes`) ends it at once."""

    def __init__(self, wanted: int, keep_bytes: int = 0):
        super().__init__()
        self.wanted, self.keep_bytes, self.kept = wanted, keep_bytes, 0

    def append(self, item: Any) -> None:
        if len(self) < self.wanted:
            super().append(None)
            return
        if len(self) > self.wanted and self.kept >= self.keep_bytes:
            raise _Enough(list(self))  # full, and the list goes on (this entry, not kept, begins the next window)
        size = sum(t.numel() * t.element_size() for _, t in tensors_in(item, "input"))
        if len(self) > self.wanted and self.kept + size > self.keep_bytes:
            raise _Enough(list(self))  # (not kept: the next window begins with it)
        super().append(item)
        self.kept += size
        if not self.keep_bytes:  # the entry asked for alone (an after-timing check's): none after it is made
            raise _Enough(list(self))

    def holds_wanted(self) -> bool:
        return len(self) > self.wanted

    def extend(self, items: Any) -> None:
        for item in items:
            self.append(item)

    def __iadd__(self, items: Any) -> _UpTo:
        self.extend(items)
        return self


def _only(inputs: list[Any], up_to: int | None) -> tuple[list[Any], bool]:
    """A whole list of inputs with entry `up_to` alone kept (None before it, nothing after), and whether that
    list still runs to the script's end; the list as it is without `up_to`."""
    if up_to is None:
        return inputs, True
    return [None] * min(up_to, len(inputs)) + inputs[up_to:up_to + 1], up_to + 1 >= len(inputs)


def _base_module() -> types.ModuleType:
    module = types.ModuleType("geak_eval.perf.performance_utils",
                              "tritonsmith's stand-in for GEAK-eval's perf base class")
    module.Performance_Metrics = Performance_Metrics
    module.do_bench_config = do_bench_config
    return module


# --- running a script (the generated task and its harness, in the evaluator's worker) ------------------

@dataclass(frozen=True, eq=False)
class PerfSpec:
    """A perf script, as the generated task embeds it."""

    source: str
    path: str  # where it was read (its __file__; tracebacks name it)
    class_name: str
    stem: str  # the code under test's module name
    gold: dict[str, tuple[str, str]]  # import name -> (module name, gold file) of a task's gold code


class PerfInput(CopiedInput):
    """One input of a perf script, as get_input_tensors (and to_cuda, on a GPU) made it, with what its maker
    noted: its flops and bytes (from get_tflops and get_gbps) and where it was made. Never modified: every
    call runs on its own copy (see PerfScript.call)."""

    def __init__(self, index: int, value: Any, spec: PerfSpec, facts: dict[str, Any] | None = None):
        self.index, self.value, self.spec = index, value, spec
        self.facts = dict(facts or {})
        if self.facts:
            note_facts(spec.path, index, self.facts)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Lent by the reference keeper: what its maker noted serves this process's flops and bytes too."""
        self.__dict__.update(state)
        if self.facts:
            note_facts(self.spec.path, self.index, self.facts)

    def __repr__(self) -> str:
        return f"<perf input {self.index} of {Path(self.spec.path).name}>"

    def tensors(self) -> Iterator[tuple[str, Any]]:
        return tensors_in(self.value, "input")


class _CodeUnderTest(types.ModuleType):
    """The bare stem, as the script imports it: the names of one module's namespace."""

    def __init__(self, name: str, namespace: dict[str, Any]):
        super().__init__(name)
        self._tritonsmith_namespace = namespace

    def __getattr__(self, name: str) -> Any:
        try:
            return self._tritonsmith_namespace[name]
        except KeyError:
            raise AttributeError(f"the code under test does not define {name!r}, which the perf script imports "
                                 f"from {self.__name__}") from None


class PerfScript:
    """A perf script executed with `namespace` as its code under test (the bare stem)."""

    def __init__(self, spec: PerfSpec, namespace: dict[str, Any]):
        self.spec = spec
        self._this = _CodeUnderTest(spec.stem, namespace)
        self._base = _base_module()
        self._real_import = builtins.__import__
        script_builtins = dict(vars(builtins))
        script_builtins["__import__"] = self._import
        self.namespace: dict[str, Any] = {"__name__": f"tritonsmith_perf_{spec.stem}", "__file__": spec.path,
                                          "__builtins__": script_builtins}
        saved_path = list(sys.path)  # the scripts append their own folder to sys.path: keep the worker's as it was
        try:
            exec(compile(spec.source, spec.path, "exec"), self.namespace)
        finally:
            sys.path[:] = saved_path
        self.cls = self.namespace.get(spec.class_name)
        if not isinstance(self.cls, type):
            raise RuntimeError(f"the perf script {spec.path} defines no class {spec.class_name}")
        self.metrics = self.cls()
        overridden = getattr(self.cls, "call_op_ref", None) is not Performance_Metrics.call_op_ref
        self.reference_method = self.metrics.call_op_ref if overridden else self.metrics.call_op
        self._key = f"_tritonsmith_perf_state_{id(self)}"
        # (seed, device, the inputs not yet handed out (None for those that were, and those before a window),
        # how they were made, whether the list runs to the script's end)
        self._inputs: tuple[int, str, list[Any], str, bool] | None = None
        self._handed: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # (seed, device, index) -> PerfInput
        self.stops_early = appends_one_by_one(spec.source, spec.class_name)  # (`_make`'s up_to)
        self._device_problem: str | None = None  # what get_input_tensors raised on the device, once it did

    def _import(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        module = None
        if level == 0:
            if name == self.spec.stem:
                module = self._this
            elif name in self.spec.gold:
                module = load_gold(*self.spec.gold[name])
            elif name.rsplit(".", 1)[-1] == "performance_utils":
                module = self._base
        if module is None:
            return self._real_import(name, globals, locals, fromlist, level)
        if fromlist or "." not in name:
            return module
        parts = name.split(".")  # `import a.b.c`: bind `a`, through which a.b.c is the module
        top = current = types.ModuleType(parts[0])
        for part in parts[1:-1]:
            setattr(current, part, types.ModuleType(f"{current.__name__}.{part}"))
            current = getattr(current, part)
        setattr(current, parts[-1], module)
        return top

    # inputs: made by the task module only, before any candidate code runs

    window_bytes = 1 << 30  # on a GPU, how much of a script's list is made and kept at once (`make_inputs`)

    def inputs(self, seed: int, device: str = "cpu") -> list[Any]:
        """get_input_tensors() on a fresh instance (`made`), kept for that seed; the entries that make_inputs
        hands out are None."""
        if self._inputs is None or self._inputs[:2] != (seed, device) or not self._inputs[4]:
            self._inputs = None  # let the previous seed's inputs go first
            self._inputs = (seed, device, *self.made(seed, device))
        return self._inputs[2]

    def made(self, seed: int, device: str, up_to: int | None = None,
             keep_bytes: int = 0) -> tuple[list[Any], str, bool]:
        """get_input_tensors() on a fresh instance, with random, numpy and torch seeded from `seed`; how the
        inputs were made; and whether the list runs to the script's end. For a GPU `device` it runs with torch's
        default device set to it, so `torch.rand(n)` is made there at once (GEAK-eval makes every input on the
        CPU, then moves it with to_cuda: slow for large inputs); if that raises (NumPy on tensors, a CPU-only
        op, the GPU's memory), it runs again on the CPU, and so does every later make of this script (an
        after-timing check's input is made as the perf check's was). With `up_to`, only that entry and those
        after it that fit in `keep_bytes` are kept, and, where the script appends its inputs one by one, none
        after them is made (`_make`); such a make short of the GPU's memory raises as it is, for the evaluator
        to try again when memory is free (made on the CPU, those inputs need as much GPU memory once moved)."""
        if device != "cpu" and self._device_problem is None:
            try:
                inputs, complete = self._make(seed, device, up_to, keep_bytes)
                how = f"on {device}, by get_input_tensors() with torch's default device set to {device}"
                return inputs, how, complete
            except Exception as exc:  # noqa: BLE001 - the script's own code: the CPU way, as GEAK-eval's
                if up_to is not None and self.stops_early and out_of_memory(exc):
                    raise  # one input short of the device's memory is as short of it made on the CPU and moved:
                    # the evaluator's memory retry, not the CPU way for good (its whole list, GBs drawn slowly)
                self._device_problem = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        inputs, complete = self._make(seed, "cpu", up_to, keep_bytes)
        how = "on the CPU by get_input_tensors(), as GEAK-eval makes them"
        return inputs, how + (f" (with the default device {device} it raised {self._device_problem})"
                              if device != "cpu" else ""), complete

    def _make(self, seed: int, device: str, up_to: int | None = None,
              keep_bytes: int = 0) -> tuple[list[Any], bool]:
        """The script's inputs at `seed`, and whether the list runs to its end. With `up_to`, a list holding that
        entry (None before it), and the entries after it until they hold `keep_bytes`: a script that appends
        its inputs one by one (`perf_scripts.appends_one_by_one`, all 184 of GEAK-eval's) stops there, the
        earlier ones let go as they come (what they drew from the generators is drawn all the same, so each
        entry is the one the whole list holds); one that builds its list otherwise, or reads back an earlier
        entry, makes them all, and that entry alone is kept."""
        import torch
        seed_all(seed)
        metrics = self.cls()
        stopping = up_to is not None and self.stops_early
        if stopping:
            object.__setattr__(metrics, "_tritonsmith_up_to", (up_to, keep_bytes))
            if type(metrics.__dict__.get("input_tensors")) is list and not metrics.input_tensors:
                metrics.input_tensors = []  # (the base's empty list, for a script that appends to it)
        try:
            with torch.device(device) if device != "cpu" else contextlib.nullcontext():  # this thread only
                metrics.get_input_tensors()
            listed = metrics.input_tensors
            if isinstance(listed, _UpTo):  # the script's end, before `keep_bytes` were kept
                return (list(listed), True) if len(listed) > listed.wanted else self._whole(seed, device, up_to)
            inputs = list(listed)
        except _Enough as enough:
            return enough.entries, False
        except Exception as exc:
            listed = metrics.__dict__.get("input_tensors")
            if stopping and out_of_memory(exc) and isinstance(listed, _UpTo) and listed.holds_wanted():
                return list(listed), False  # short of memory past the entry wanted: the window ends there
            if not stopping or out_of_memory(exc):  # (short of memory: the whole list would be more so)
                raise
            return self._whole(seed, device, up_to)  # an earlier entry read back (None in its place)
        return _only(inputs, up_to)

    def _whole(self, seed: int, device: str, up_to: int | None) -> tuple[list[Any], bool]:
        """`_make`'s whole way, with entry `up_to` alone kept."""
        return _only(self._make(seed, device)[0], up_to)

    def make_inputs(self, index: int, seed: int, device: str, expected_count: int | None = None) -> tuple:
        """The entry point's arguments for perf case `index`: a marker tensor and the PerfInput, handed out again
        while that lives (the evaluator asks twice for the same case: check, reproducibility).
        - On a GPU, where the script appends its inputs one by one (`stops_early`), the list is made in windows:
          from the entry asked for, as many as fit in `window_bytes` (that one whatever its size, and no more
          once the GPU's memory runs short), kept until handed out; the
          next entry after a window starts the next. The whole list on the GPU at once (13 GB for
          chunk_retention) left four keepers short of memory, and the CPU way they fell back to drew those GBs
          again for every check (minutes); each entry made alone made the entries before it again for each
          (matmul_dequant_int4 packs its inputs' bits in Python loops: minutes, holding the GPU's shared lock).
        - Otherwise the script makes all its inputs at once for PERF_SEED; each is handed out once and then held
          only by its PerfInput.
        - An entry asked for again after it was let go is made alone (or, on a GPU, with its window).
        - At a seed other than PERF_SEED (an after-timing check's) only that input is made and nothing is kept:
          the whole list at each of a task's 16 after-timing seeds cost TritonBench-G's add_value 6 s of its
          candidate's timing, and as much again in the checker and the keeper."""
        import torch
        perf_input = self._handed.get((seed, device, index))
        if perf_input is None:
            if seed != PERF_SEED:
                self._inputs = None  # what the perf checks left (a case dropped as unreproducible) goes first
                inputs, made, _ = self.made(seed, device, up_to=index)
            else:
                windows = device != "cpu" and self.stops_early and self._device_problem is None
                if windows and not self._holds(seed, device, index):
                    self._inputs = None  # the window before goes first
                    self._inputs = (seed, device, *self.made(seed, device, index, self.window_bytes))
                elif not windows:
                    self.inputs(seed, device)
                inputs, made, complete = self._inputs[2:]
                if complete and expected_count is not None and len(inputs) != expected_count:
                    raise RuntimeError(f"get_input_tensors() made {len(inputs)} inputs, but the adapter read "
                                       f"{expected_count} from the script: regenerate the suite")
                if index < len(inputs) and inputs[index] is None:  # handed out and let go since: made alone
                    inputs, made, _ = self.made(seed, device, up_to=index)
            if index >= len(inputs):
                raise RuntimeError(f"get_input_tensors() made {len(inputs)} inputs, fewer than perf case {index} "
                                   "needs: regenerate the suite")
            value = inputs[index] if device == "cpu" else self.metrics.to_cuda(inputs[index])
            inputs[index] = None  # no second copy kept alive (on the CPU way, the CPU tensor); a list of Nones
            # is left, to say this seed's list was made (an input asked for again is made alone)
            perf_input = PerfInput(index, value, self.spec, {"flops": self._rate(value, "get_tflops", 1e9),
                                                            "bytes": self._rate(value, "get_gbps", 1e6),
                                                            "inputs": made})
            self._handed[(seed, device, index)] = perf_input
        return torch.tensor([index]), perf_input

    def _holds(self, seed: int, device: str, index: int) -> bool:
        """Whether the window kept (`make_inputs`) holds entry `index` of `seed`'s list, not yet handed out."""
        kept = self._inputs
        return (kept is not None and kept[:2] == (seed, device) and index < len(kept[2])
                and kept[2][index] is not None)

    def flops(self, index: int) -> int:
        """get_tflops(input, 1 ms) * 1e9: the script's TFLOP/s are FLOP / (ms / 1000) / 1e12."""
        return self._count(index, "flops", "get_tflops", 1e9)

    def bytes_moved(self, index: int) -> int:
        """get_gbps(input, 1 ms) * 1e6: the script's GB/s are bytes / (ms / 1000) / 1e9."""
        return self._count(index, "bytes", "get_gbps", 1e6)

    def evidence(self, index: int) -> dict[str, Any]:
        """Where perf input `index` was made, for the perf case's evidence; {} if it was not made here."""
        facts = facts_of(self.spec.path, index)
        return {"inputs": facts["inputs"]} if facts else {}

    def _count(self, index: int, fact: str, method: str, scale: float) -> int:
        facts = facts_of(self.spec.path, index)  # noted where the input was made (here, or by the keeper)
        if facts is not None:
            return facts[fact]
        return self._rate(self._make(0, "cpu", up_to=index)[0][index], method, scale)  # made nowhere in this process

    def _rate(self, value: Any, method: str, scale: float) -> int:
        try:
            rate = float(getattr(self.metrics, method)(value, 1.0))
        except Exception:  # noqa: BLE001 - a script without the method, or one that fails: no roofline figure
            return 0
        return int(round(rate * scale)) if rate > 0 and rate != float("inf") else 0

    # calls: the candidate's or the baseline's harness (call_op), the task's reference (call_op_ref)

    def call(self, marker: Any, perf_input: PerfInput, reference: bool = False) -> dict[str, Any]:
        """{'returned': what the call returned, 'written': the inputs it changed, by path}, each checked call
        on its own copy of the input and the timed calls on one (util/copied_calls.py). The evaluator clones
        its arguments for each checked call (a new marker, so a fresh copy) and passes the same arguments to
        every timed call (the same marker), as GEAK-eval times call_op on one input. Every call is seeded
        alike: some ops draw their own random inputs (batched_vecmat_mult's call_op makes A and B with
        torch.randn), so a timed call's output can match the reference only if its draws are the same."""
        method = self.reference_method if reference else self.metrics.call_op

        def prepare() -> tuple[Any, list[tuple[str, Any, Any]]]:
            memo: dict[int, Any] = {}
            work = copy_value(perf_input.value, memo)
            return work, [(path, t, memo[id(t)]) for path, t in tensors_in(perf_input.value, "input")]

        def seeded(work: Any) -> Any:
            seed_all(perf_input.index)
            return method(work)
        return call_on_copy(marker, self._key, prepare, seeded)


def run_perf_case(namespace: dict[str, Any], marker: Any, perf_input: PerfInput) -> dict[str, Any]:
    """The harness's perf branch: the perf script's call_op, with this module's namespace as the code
    under test (the script is executed once per module and kept in the namespace)."""
    script = namespace.get("_tritonsmith_perf_script")
    if script is None or script.spec is not perf_input.spec:
        script = namespace["_tritonsmith_perf_script"] = PerfScript(perf_input.spec, namespace)
    return script.call(marker, perf_input)
