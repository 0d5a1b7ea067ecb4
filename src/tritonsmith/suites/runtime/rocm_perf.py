"""GEAK's ROCm perf tests as perf cases: the op that one call of `test_performance` times, captured from the gold
code and run on any module's code (in the evaluator's worker and its reference keeper; torch imported inside).

A perf test builds its inputs, wraps the code under test in a function of no arguments (`op_lambda = lambda:
add_kernel[grid](x, y, out, n, BLOCK_SIZE=1024)`), and hands it to GEAK-eval's `PytestBenchmarker(op_callable=
op_lambda, op_name=..., config=do_bench_config(...))`, whose `run_benchmark(params, gbps_calculator,
tflops_calculator)` times it with triton.testing.do_bench. The generated harness imports this module's
stand-ins under GEAK-eval's names (from `geak_eval.perf.ROCm.performance_utils_pytest`). `capture` runs one
call of the test on the gold code, before any candidate code, seeded; the stand-in's run_benchmark stops the
test there and hands back the op, its parameters and the calculators.

The op becomes data (`PerfOp`): which function of the test file made it (a path through the nested code of
that function), and the values it closes over, with what the module itself binds (kernels, wrappers,
classes) named rather than held. `run_perf_op` rebuilds it on a module's code (the candidate's, the
baseline's, the gold's) over a copy of those values and calls it: the timed function is exactly the op GEAK
times, with the inputs the gold run made. Being data, a PerfOp pickles for the reference keeper (tensors as
they are, everything else by value or by name).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tritonsmith.suites.runtime import seed_all
from tritonsmith.suites.runtime.perf_call import facts_of, note_facts
from tritonsmith.suites.runtime.pytest_runner import run_call
from tritonsmith.suites.runtime.tensors import copy_value
from tritonsmith.util.copied_calls import CopiedInput, call_on_copy

# --- GEAK-eval's benchmark helpers, as the tests import them --------------------------------------------------

class do_bench_config:  # noqa: N801 - GEAK-eval's name, imported by the tests
    """Settings of triton.testing.do_bench, as GEAK's tests pass them. Recorded, not used: tritonsmith times the
    op with its own interleaved timer."""

    def __init__(self, warm_up: int = 25, repetition: int = 100, quantiles: list[float] | None = None,
                 return_mode: str = "median"):
        self.warm_up, self.repetition, self.return_mode = warm_up, repetition, return_mode
        self.quantiles = quantiles if quantiles is not None else [0.5, 0.8, 0.2]


class OpCaptured(BaseException):  # noqa: N818 - not an error: how the op leaves the test (past `except Exception`)
    """Raised by the stand-in's run_benchmark: the op the test would time, and what it would compute with."""

    def __init__(self, op: Any, params: Any, gbps: Any, tflops: Any, config: Any):
        super().__init__("the perf op was captured")
        self.op, self.params, self.gbps, self.tflops, self.config = op, params, gbps, tflops, config


class PytestBenchmarker:
    """GEAK-eval's benchmarker, standing in: run_benchmark captures the op instead of timing it."""

    def __init__(self, op_callable: Any, op_name: str = "", config: do_bench_config | None = None):
        self.op_callable, self.op_name, self.config = op_callable, op_name, config or do_bench_config()

    def run_benchmark(self, current_params_dict: Any = None, gbps_calculator: Any = None,
                      tflops_calculator: Any = None) -> dict:
        raise OpCaptured(self.op_callable, current_params_dict, gbps_calculator, tflops_calculator, self.config)


PYTEST_BENCHMARK_RESULTS: dict[str, list] = {}


def add_benchmark_result(op_name: str, result_dict: dict) -> None:
    PYTEST_BENCHMARK_RESULTS.setdefault(op_name, []).append(result_dict)


def save_all_benchmark_results(output_dir: str) -> None:
    """GEAK-eval writes its timings here; tritonsmith keeps its own, so nothing is written."""
    PYTEST_BENCHMARK_RESULTS.clear()


STAND_INS = ("do_bench_config", "PytestBenchmarker", "PYTEST_BENCHMARK_RESULTS", "add_benchmark_result",
             "save_all_benchmark_results")


# --- an op as data ----------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Named:
    """What the module binds under `name` (a kernel, a wrapper, a class, an imported module)."""

    name: str


@dataclass(eq=False)
class Function:
    """A function made by a function of the module (`owner`): its code is found through `path`, indices into
    the nested code objects' constants, and it closes over `closure` (free variable name -> value)."""

    owner: str
    path: tuple[int, ...]
    closure: dict[str, Any]
    defaults: tuple | None
    kwdefaults: dict[str, Any] | None


@dataclass(eq=False)
class Launcher:
    """`kernel[grid]` held as a value: Triton's launcher of a kernel the module binds."""

    kernel: Any
    grid: Any


@dataclass(eq=False)
class Partial:
    function: Any
    args: tuple
    keywords: dict[str, Any]


@dataclass(eq=False)
class Method:
    owner: Any
    name: str


@dataclass(eq=False)
class Module:
    name: str


@dataclass(eq=False)
class Instance:
    """An object of a class the module binds under `cls` (a config holder such as GEAK's MetaData)."""

    cls: str
    state: dict[str, Any]


class PerfOp(CopiedInput):
    """The op of one perf case, as data, with what its capture noted (flops, bytes, how it was made). Never
    modified: every call runs on its own copy of its values (run_perf_op)."""

    def __init__(self, source: str, test: str, op: Any, seed: int, facts: dict[str, Any]):
        self.source, self.test, self.op, self.seed, self.facts = source, test, op, seed, dict(facts)
        note_facts(source, test, self.facts)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Lent by the reference keeper: what its capture noted serves this process's flops and bytes too."""
        self.__dict__.update(state)
        note_facts(self.source, self.test, self.facts)

    def __repr__(self) -> str:
        return f"<perf op of {self.test}>"

    def tensors(self) -> Iterator[tuple[str, Any]]:
        return tensors_of(self.op, "")


PLAIN = (bool, int, float, complex, str, bytes)


def freeze(value: Any, namespace: dict[str, Any], memo: dict[int, Any] | None = None) -> Any:
    """`value` as data: tensors and plain values as they are, containers rebuilt, and functions, methods,
    partials and objects of the module's classes described so that `thaw` rebuilds them on any module."""
    import torch
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if value is None or isinstance(value, (*PLAIN, torch.Tensor, torch.dtype, torch.device)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)) and not hasattr(value, "_fields"):
        return type(value)(freeze(v, namespace, memo) for v in value)
    if isinstance(value, dict):
        return type(value)((k, freeze(v, namespace, memo)) for k, v in value.items())
    name = next((k for k, v in namespace.items() if v is value and not k.startswith("__")), None)
    if name is not None:
        return Named(name)
    if isinstance(value, types.FunctionType) and value.__globals__ is namespace:
        owner, path = _find_code(value.__code__, namespace)
        frozen = Function(owner, path, {}, None, None)
        memo[id(value)] = frozen  # before its closure, which may hold it (a function that calls itself)
        frozen.closure.update({var: freeze(cell.cell_contents, namespace, memo) for var, cell
                               in zip(value.__code__.co_freevars, value.__closure__ or ()) if _filled(cell)})
        frozen.defaults = freeze(value.__defaults__, namespace, memo)
        frozen.kwdefaults = freeze(value.__kwdefaults__, namespace, memo)
        return frozen
    if _launches(value, namespace):
        cells = dict(zip(value.__code__.co_freevars, value.__closure__))
        return Launcher(freeze(cells["self"].cell_contents, namespace, memo),
                        freeze(cells["grid"].cell_contents, namespace, memo))
    if isinstance(value, functools.partial):
        return Partial(freeze(value.func, namespace, memo), freeze(value.args, namespace, memo),
                       freeze(value.keywords, namespace, memo))
    if isinstance(value, types.MethodType):
        return Method(freeze(value.__self__, namespace, memo), value.__func__.__name__)
    if isinstance(value, types.ModuleType):
        return Module(value.__name__)
    cls = next((k for k, v in namespace.items() if v is type(value)), None)
    if cls is not None and hasattr(value, "__dict__"):
        frozen = Instance(cls, {})
        memo[id(value)] = frozen
        frozen.state.update({k: freeze(v, namespace, memo) for k, v in vars(value).items()})
        return frozen
    held = _gold_object_in(value, namespace)
    if held is not None:
        raise RuntimeError(f"the perf op holds an object ({type(value).__name__}) made from {held} of the gold code, which "
                           "tritonsmith cannot rebuild on other code")
    return value  # a value of a library (a torch module, a Triton dtype): pickled and copied as it is


def thaw(value: Any, namespace: dict[str, Any], memo: dict[int, Any]) -> Any:
    """What `freeze` described, rebuilt on `namespace`, with every tensor cloned (memo: id of the frozen value
    -> its copy, so a tensor met twice is cloned once, as a function met twice is built once)."""
    import torch
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, (torch.Tensor, torch.nn.Module)):
        return copy_value(value, memo)
    if isinstance(value, (list, tuple, set, frozenset)) and not hasattr(value, "_fields"):
        result: Any = type(value)(thaw(v, namespace, memo) for v in value)
    elif isinstance(value, dict):
        result = type(value)((k, thaw(v, namespace, memo)) for k, v in value.items())
    elif isinstance(value, Named):
        if value.name not in namespace:
            raise NameError(f"the perf op uses {value.name!r}, which this code does not define")
        return namespace[value.name]
    elif isinstance(value, Function):
        code = _code_at(namespace, value.owner, value.path)
        cells = tuple(types.CellType() for _ in code.co_freevars)
        result = memo[id(value)] = types.FunctionType(code, namespace, code.co_name, None, cells or None)
        for var, cell in zip(code.co_freevars, cells):
            if var in value.closure:
                cell.cell_contents = thaw(value.closure[var], namespace, memo)
        result.__defaults__ = thaw(value.defaults, namespace, memo)
        result.__kwdefaults__ = thaw(value.kwdefaults, namespace, memo)
        return result
    elif isinstance(value, Launcher):
        result = thaw(value.kernel, namespace, memo)[thaw(value.grid, namespace, memo)]
    elif isinstance(value, Partial):
        result = functools.partial(thaw(value.function, namespace, memo), *thaw(value.args, namespace, memo),
                                   **thaw(value.keywords, namespace, memo))
    elif isinstance(value, Method):
        result = getattr(thaw(value.owner, namespace, memo), value.name)
    elif isinstance(value, Module):
        result = importlib.import_module(value.name)
    elif isinstance(value, Instance):
        cls = thaw(Named(value.cls), namespace, memo)
        result = memo[id(value)] = cls.__new__(cls)
        vars(result).update({k: thaw(v, namespace, memo) for k, v in value.state.items()})
        return result
    else:
        return value
    memo[id(value)] = result
    return result


def tensors_of(value: Any, path: str, seen: set[int] | None = None):
    """(path, tensor) of every tensor in a frozen op, e.g. ('kernel_args[2]', out), ('metadata.topk_ids', ids)."""
    import torch
    seen = set() if seen is None else seen
    if isinstance(value, torch.Tensor):
        yield path, value
        return
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        for index, item in enumerate(value):
            yield from tensors_of(item, f"{path}[{index}]", seen)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from tensors_of(item, f"{path}[{key!r}]", seen)
    elif isinstance(value, Function):
        for var, item in value.closure.items():
            yield from tensors_of(item, f"{path}.{var}" if path else var, seen)
        yield from tensors_of(value.defaults, f"{path}.<defaults>", seen)
    elif isinstance(value, Instance):
        for key, item in value.state.items():
            yield from tensors_of(item, f"{path}.{key}", seen)
    elif isinstance(value, (Partial, Method, Launcher)):
        for key, item in vars(value).items():
            yield from tensors_of(item, f"{path}.{key}", seen)


def _launches(value: Any, namespace: dict[str, Any]) -> bool:
    """Triton's `kernel[grid]`: a lambda of Triton's (KernelInterface.__getitem__) closing over the kernel as
    `self`, and `grid`."""
    if not isinstance(value, types.FunctionType) or value.__globals__ is namespace:
        return False
    if sorted(value.__code__.co_freevars) != ["grid", "self"] or not all(map(_filled, value.__closure__)):
        return False
    kernel = value.__closure__[value.__code__.co_freevars.index("self")].cell_contents
    return any(v is kernel for v in namespace.values())


def _gold_object_in(value: Any, namespace: dict[str, Any]) -> str | None:
    """The name of what the module binds (or a function of its own) that a library object holds, if any: such
    an object would run the gold code whatever code the op is rebuilt on."""
    if isinstance(value, types.FunctionType):
        parts = [cell.cell_contents for cell in value.__closure__ or () if _filled(cell)]
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        parts = list(vars(value).values())
    else:
        return None
    for part in parts:
        if part is None or type(part) in PLAIN:  # (a small int or a short string is one object wherever
            continue  # it is made: tl.float32's bit width 32 *is* a module's `BLOCK_K = 32`)
        name = next((k for k, v in namespace.items() if v is part and not k.startswith("__")), None)
        if name is not None:
            return name
        if isinstance(part, types.FunctionType) and part.__globals__ is namespace:
            return part.__name__
    return None


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell (a name assigned after the op was made) raises
    except ValueError:
        return False
    return True


def _find_code(code: types.CodeType, namespace: dict[str, Any]) -> tuple[str, tuple[int, ...]]:
    """(a module-level function of the namespace, the path to `code` through its nested code constants)."""
    for name, owner in namespace.items():
        owner = inspect.unwrap(owner) if callable(owner) else owner  # a test wrapped by a decorator
        if isinstance(owner, types.FunctionType) and owner.__globals__ is namespace:
            path = _path_to(owner.__code__, code)
            if path is not None:
                return name, path
    raise RuntimeError(f"the perf op {code.co_name} is not made by a function of the test file: tritonsmith can "
                       "rebuild only ops made there")


def _path_to(within: types.CodeType, code: types.CodeType) -> tuple[int, ...] | None:
    if within is code:
        return ()
    for index, constant in enumerate(within.co_consts):
        if isinstance(constant, types.CodeType):
            path = _path_to(constant, code)
            if path is not None:
                return (index, *path)
    return None


def _code_at(namespace: dict[str, Any], owner: str, path: tuple[int, ...]) -> types.CodeType:
    function = namespace.get(owner)
    function = inspect.unwrap(function) if callable(function) else function
    if not isinstance(function, types.FunctionType):
        raise NameError(f"the perf op is made by {owner}(), which this code does not define")
    code = function.__code__
    for index in path:
        code = code.co_consts[index]
    return code


# --- perf cases -------------------------------------------------------------------------------------------------

def capture(namespace: dict[str, Any], test: str, seed: int, fixtures: dict[str, str], autouse: list[str],
            source: str) -> tuple:
    """The entry point's arguments for the perf case `test` (pytest's id): a marker tensor and the PerfOp that
    the test, run on the gold code in `namespace`, hands to PytestBenchmarker. CaseSkipped if pytest would skip
    the call here."""
    import torch

    try:
        run_call(namespace, test, seed, fixtures, autouse)
    except OpCaptured as captured:
        if not callable(captured.op):
            raise RuntimeError(f"{test} gave PytestBenchmarker an op_callable that is not callable: "
                               f"{type(captured.op).__name__}") from None
        facts = {"flops": _count(captured.tflops, captured.params, 1e9),
                 "bytes": _count(captured.gbps, captured.params, 1e6),
                 "inputs": f"made by {test} on the gold code, before any candidate code"}
        return torch.tensor([seed]), PerfOp(source, test, freeze(captured.op, namespace), seed, facts)
    raise RuntimeError(f"{test} ran to its end without timing anything: it never called "
                       "PytestBenchmarker(...).run_benchmark()")


def run_perf_op(namespace: dict[str, Any], marker: Any, perf_op: PerfOp) -> dict[str, Any]:
    """{'returned': what the op returned (tensors, numbers, strings; anything else as None), 'written': the
    tensors it changed, by path}: the op rebuilt on `namespace`, the first call with a marker on a fresh copy
    of its values, the later ones (the timed calls) on the same copy (util/copied_calls.py)."""
    def prepare() -> tuple[Any, list[tuple[str, Any, Any]]]:
        memo: dict[int, Any] = {}
        op = thaw(perf_op.op, namespace, memo)
        seed_all(perf_op.seed)
        return op, [(path, t, memo[id(t)]) for path, t in tensors_of(perf_op.op, "")]
    return call_on_copy(marker, f"_tritonsmith_perf_op_{id(namespace)}", prepare, lambda op: _data(op()))


def perf_facts(source: str, test: str) -> dict[str, Any]:
    """What the capture of perf case `test` noted ({} where none was made or lent in this process)."""
    return facts_of(source, test) or {}


def _count(calculator: Any, params: Any, scale: float) -> int:
    """GEAK's calculators give GB/s as bytes / (ms / 1000) / 1e9 and TFLOP/s as flops / (ms / 1000) / 1e12: at
    1 ms, times 1e6 and 1e9, the bytes and the flops."""
    if calculator is None:
        return 0
    try:
        rate = float(calculator(params, 1.0))
    except Exception:  # noqa: BLE001 - a calculator that fails: no roofline figure, as GEAK-eval's "N/A"
        return 0
    return int(round(rate * scale)) if rate > 0 and rate != float("inf") else 0


def _data(value: Any) -> Any:
    """What an op returned, as compared: tensors, NumPy arrays (as tensors), numbers, strings and None, in lists,
    tuples and dicts; any other object (the handle a Triton launch returns) as None."""
    import numpy
    import torch
    if value is None or isinstance(value, (bool, int, float, complex, str, torch.Tensor)):
        return value
    if isinstance(value, numpy.ndarray):
        return torch.tensor(value) if value.dtype.kind in "biufc" else None
    if isinstance(value, (list, tuple)):
        return type(value)(_data(v) for v in value) if not hasattr(value, "_fields") else tuple(map(_data, value))
    if isinstance(value, dict):
        return {k: _data(v) for k, v in value.items()}
    return None
