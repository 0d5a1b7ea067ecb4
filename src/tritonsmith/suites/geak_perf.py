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

The adapter (suites/tritonbench.py) reads a script without running it (`read_script`). The generated
task and its harness run it in the evaluator's worker (`PerfScript`, `run_perf_case`). Torch is
imported only there: listing tasks needs no torch.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritonsmith.task import TaskError

REQUIRED_METHODS = ("get_input_tensors", "to_cuda", "call_op")
# dtype attributes of torch, narrowest first: the narrowest floating dtype an input uses names the
# perf cases' dtype, which picks the peak of the compute roofline (a higher peak never overstates it)
_FLOAT_DTYPES = {"float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2", "bfloat16": "bfloat16",
                 "float16": "float16", "half": "float16", "float32": "float32", "float": "float32",
                 "float64": "float64", "double": "float64"}
_NARROWEST_FIRST = ("float8_e4m3fn", "float8_e5m2", "float16", "bfloat16", "float32", "float64")


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


def _base_module() -> types.ModuleType:
    module = types.ModuleType("geak_eval.perf.performance_utils",
                              "tritonsmith's stand-in for GEAK-eval's perf base class")
    module.Performance_Metrics = Performance_Metrics
    module.do_bench_config = do_bench_config
    return module


# --- reading a script without running it (the adapter, at load time) ----------------------------------

@dataclass(frozen=True)
class ScriptInfo:
    class_name: str
    count: int | None  # how many inputs get_input_tensors makes, where that can be read without running it
    count_problem: str | None  # why not, otherwise
    dtype: str
    stem_names: tuple[str, ...]  # names imported from the bare stem: the code under test must define them
    gold_imports: dict[str, str] = field(default_factory=dict)  # import name -> the task stem whose gold code it is
    text: str = ""  # the script itself


def read_script(path: Path, stem: str, stems: set[str], gold_names: set[str]) -> ScriptInfo:
    """What the adapter needs from a perf script; a TaskError naming the script if it is unusable."""
    try:
        text = path.read_text()
        tree = ast.parse(text, filename=str(path))
    except OSError as err:
        raise TaskError(f"{path}: cannot read the perf script ({err.strerror or err}).") from None
    except SyntaxError as err:
        raise TaskError(f"{path}: line {err.lineno}: the perf script is not valid Python ({err.msg}).") from None
    cls = _metrics_class(tree)
    if cls is None:
        raise TaskError(f"{path}: the perf script defines no subclass of Performance_Metrics.")
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    missing = [name for name in REQUIRED_METHODS if name not in methods]
    if missing:
        raise TaskError(f"{path}: the perf script's class {cls.name} does not define {', '.join(missing)}().")
    stem_names: list[str] = []
    gold_imports: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [alias.name for alias in node.names if alias.name != "*"]
            last = node.module.rsplit(".", 1)[-1]
            if node.module == stem:
                stem_names += [n for n in names if n not in stem_names]
            elif last in stems:
                gold_imports[node.module] = last
            if last == stem:  # from the code under test or from its gold code: the task file must define it
                absent = [n for n in names if n not in gold_names]
                if absent:
                    raise TaskError(f"{path}: line {node.lineno}: the perf script imports {', '.join(absent)} from "
                                    f"{node.module}, which the task file {stem}.py does not define.")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                last = alias.name.rsplit(".", 1)[-1]
                if alias.name != stem and last in stems:
                    gold_imports[alias.name] = last
    count, problem = _count_inputs(methods["get_input_tensors"])
    return ScriptInfo(cls.name, count, problem, _input_dtype(methods["get_input_tensors"]), tuple(stem_names),
                      gold_imports, text)


def _metrics_class(tree: ast.Module) -> ast.ClassDef | None:
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)
               and any(ast.unparse(base).rsplit(".", 1)[-1] == "Performance_Metrics" for base in n.bases)]
    named = [n for n in classes if n.name == "performance_metrics"]
    return (named or classes or [None])[-1]


def _input_dtype(function: ast.FunctionDef) -> str:
    seen = {_FLOAT_DTYPES[n.attr] for n in ast.walk(function) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "torch" and n.attr in _FLOAT_DTYPES}
    return next((d for d in _NARROWEST_FIRST if d in seen), "float32")  # float32: torch's default dtype


class _Uncountable(Exception):
    pass


def _count_inputs(function: ast.FunctionDef) -> tuple[int | None, str | None]:
    """Inputs that get_input_tensors appends, read from loops over range() with literal bounds or over
    literal lists; (None, why) for anything else, since the adapter never runs the script."""
    try:
        return _count_block(function.body, {}), None
    except _Uncountable as exc:
        return None, str(exc)


def _is_inputs(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "input_tensors" and isinstance(node.value, ast.Name)
            and node.value.id == "self")


def _mentions_inputs(node: ast.AST) -> bool:
    return any(_is_inputs(n) for n in ast.walk(node))


def _count_block(statements: list[ast.stmt], env: dict[str, Any]) -> int:
    total = 0
    for stmt in statements:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(
                stmt.value.func, ast.Attribute) and stmt.value.func.attr == "append" and _is_inputs(stmt.value.func.value):
            total += 1
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and _is_inputs(stmt.targets[0]):
            value = stmt.value
            if isinstance(value, (ast.List, ast.Tuple)):
                total = len(value.elts)
            elif isinstance(value, ast.ListComp) and all(not g.ifs for g in value.generators):
                total = 1
                for generator in value.generators:
                    total *= _iterations(generator.iter, env)
            else:
                raise _Uncountable(f"line {stmt.lineno}: self.input_tensors is assigned something other than a list")
        elif isinstance(stmt, ast.For) and not stmt.orelse:
            inner = _count_block(stmt.body, env)
            if inner:
                if any(isinstance(n, (ast.Break, ast.Continue)) for n in ast.walk(stmt)):
                    raise _Uncountable(f"line {stmt.lineno}: a loop that appends inputs has break or continue")
                total += inner * _iterations(stmt.iter, env)
        elif isinstance(stmt, ast.With):
            total += _count_block(stmt.body, env)
        elif _mentions_inputs(stmt):
            raise _Uncountable(f"line {stmt.lineno}: inputs are added under a {type(stmt).__name__.lower()} "
                               "statement, whose count is known only by running it")
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            try:
                env[stmt.targets[0].id] = _evaluate(stmt.value, env)
            except _Uncountable:
                env.pop(stmt.targets[0].id, None)
    return total


def _iterations(node: ast.expr, env: dict[str, Any]) -> int:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        args = [_evaluate(a, env) for a in node.args]
        if node.func.id == "range" and all(isinstance(a, int) for a in args) and 1 <= len(args) <= 3:
            return len(range(*args))
        if node.func.id == "enumerate" and len(node.args) == 1:
            return _iterations(node.args[0], env)
        if node.func.id == "zip" and node.args:
            return min(_iterations(a, env) for a in node.args)
    value = _evaluate(node, env)
    if isinstance(value, (list, tuple, dict, str)):
        return len(value)
    raise _Uncountable(f"line {node.lineno}: a loop over {ast.unparse(node)}, whose length is known only by running it")


_INT_OPERATIONS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
                   ast.FloorDiv: lambda a, b: a // b, ast.Pow: lambda a, b: a ** b, ast.LShift: lambda a, b: a << b}


def _evaluate(node: ast.expr, env: dict[str, Any]) -> Any:
    """Literals, names bound to literals earlier in the function, and arithmetic on them."""
    if isinstance(node, ast.Name) and node.id in env:
        return env[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_evaluate(e, env) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _evaluate(node.operand, env)
        if isinstance(value, (int, float)):
            return -value
    if isinstance(node, ast.BinOp) and type(node.op) in _INT_OPERATIONS:
        left, right = _evaluate(node.left, env), _evaluate(node.right, env)
        small = not isinstance(node.op, (ast.Pow, ast.LShift)) or (isinstance(right, int) and 0 <= right <= 64)
        nonzero = not isinstance(node.op, ast.FloorDiv) or right != 0
        if isinstance(left, int) and isinstance(right, int) and small and nonzero:
            return _INT_OPERATIONS[type(node.op)](left, right)
    raise _Uncountable(f"line {getattr(node, 'lineno', '?')}: {ast.unparse(node)} is known only by running the script")


# --- running a script (the generated task and its harness, in the evaluator's worker) ------------------

@dataclass(frozen=True, eq=False)
class PerfSpec:
    """A perf script, as the generated task embeds it."""

    source: str
    path: str  # where it was read (its __file__; tracebacks name it)
    class_name: str
    stem: str  # the code under test's module name
    gold: dict[str, tuple[str, str]]  # import name -> (module name, gold file) of a task's gold code


class PerfInput:
    """One input of a perf script, as get_input_tensors (and to_cuda, on a GPU) made it. Never
    modified: every call runs on its own copy (see PerfScript.call)."""

    def __init__(self, index: int, value: Any, spec: PerfSpec):
        self.index, self.value, self.spec = index, value, spec

    def __repr__(self) -> str:
        return f"<perf input {self.index} of {Path(self.spec.path).name}>"


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


class _CallState:
    def __init__(self, work: Any, written: dict[str, Any], kept: dict[str, Any]):
        self.work, self.written, self.kept = work, written, kept


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
        self._inputs: tuple[int, list[Any]] | None = None
        self.latest: dict[int, Any] = {}

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

    def inputs(self, seed: int) -> list[Any]:
        """get_input_tensors() on a fresh instance, with random, numpy and torch seeded from `seed`."""
        if self._inputs is None or self._inputs[0] != seed:
            self._inputs = None  # let the previous seed's inputs go first
            seed_all(seed)
            metrics = self.cls()
            metrics.get_input_tensors()
            self._inputs = (seed, list(metrics.input_tensors))
        return self._inputs[1]

    def make_inputs(self, index: int, seed: int, device: str, expected_count: int | None = None) -> tuple:
        """The entry point's arguments for perf case `index`: a marker tensor and the PerfInput."""
        import torch
        inputs = self.inputs(seed)
        if expected_count is not None and len(inputs) != expected_count:
            raise RuntimeError(f"get_input_tensors() made {len(inputs)} inputs, but the adapter read "
                               f"{expected_count} from the script: regenerate the suite")
        value = inputs[index] if device == "cpu" else self.metrics.to_cuda(inputs[index])
        self.latest[index] = value
        return torch.tensor([index]), PerfInput(index, value, self.spec)

    def flops(self, index: int) -> int:
        """get_tflops(input, 1 ms) * 1e9: the script's TFLOP/s are FLOP / (ms / 1000) / 1e12."""
        return self._count(index, "get_tflops", 1e9)

    def bytes_moved(self, index: int) -> int:
        """get_gbps(input, 1 ms) * 1e6: the script's GB/s are bytes / (ms / 1000) / 1e9."""
        return self._count(index, "get_gbps", 1e6)

    def _count(self, index: int, method: str, scale: float) -> int:
        value = self.latest[index] if index in self.latest else self.inputs(0)[index]
        try:
            rate = float(getattr(self.metrics, method)(value, 1.0))
        except Exception:  # noqa: BLE001 - a script without the method, or one that fails: no roofline figure
            return 0
        return int(round(rate * scale)) if rate > 0 and rate != float("inf") else 0

    # calls: the candidate's or the baseline's harness (call_op), the task's reference (call_op_ref)

    def call(self, marker: Any, perf_input: PerfInput, reference: bool = False) -> dict[str, Any]:
        """{'returned': what the call returned, 'written': the inputs it changed, by path}.

        The first call with a given marker tensor runs on a fresh copy of the input, made before the
        call, and records which input tensors the call changed. The evaluator clones its arguments
        for each checked call (a new marker, so a fresh copy) and passes the same arguments to every
        timed call (the same marker: the copy is reused, and no copying is timed, as GEAK-eval times
        call_op on one input). Calls on a reused copy return the 'written' tensors of the first call,
        and in place of any returned tensor that shares memory with the input, its value after the
        first call: an op that updates its input in place (an optimizer step) drifts from one timed
        call to the next, and only its first call can match the reference's single call.
        """
        method = self.reference_method if reference else self.metrics.call_op
        state = getattr(marker, self._key, None)
        if state is not None:
            returned = method(state.work)
            return {"returned": _map_tensors(returned, lambda path, t: state.kept.get(path, t)),
                    "written": dict(state.written)}
        work = _copy(perf_input.value, {})
        seed_all(perf_input.index)
        returned = method(work)
        before = dict(_tensors(perf_input.value, "input"))
        written = {path: t.detach().clone() for path, t in _tensors(work, "input")
                   if path in before and not _same(t, before[path])}
        storages = {_storage(t) for _, t in _tensors(work, "input") if t.numel()}
        kept: dict[str, Any] = {}

        def keep(path: str, tensor: Any) -> Any:
            if tensor.numel() and _storage(tensor) in storages:
                kept[path] = tensor.detach().clone()
                return kept[path]
            return tensor
        returned = _map_tensors(returned, keep)
        try:
            setattr(marker, self._key, _CallState(work, written, kept))
        except (AttributeError, TypeError):  # not a tensor: every call gets a fresh copy
            pass
        return {"returned": returned, "written": dict(written)}


def run_perf_case(namespace: dict[str, Any], marker: Any, perf_input: PerfInput) -> dict[str, Any]:
    """The harness's perf branch: the perf script's call_op, with this module's namespace as the code
    under test (the script is executed once per module and kept in the namespace)."""
    script = namespace.get("_tritonsmith_perf_script")
    if script is None or script.spec is not perf_input.spec:
        script = namespace["_tritonsmith_perf_script"] = PerfScript(perf_input.spec, namespace)
    return script.call(marker, perf_input)


def load_gold(name: str, path: str) -> types.ModuleType:
    """A task's gold code (its generated gold file), imported once per process under `name`."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def seed_all(seed: int) -> None:
    """Python's, NumPy's and torch's generators seeded alike (imports inside: this module stays torch-free)."""
    import random

    import numpy
    import torch
    random.seed(seed)
    numpy.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def as_tensors(value: Any) -> Any:
    """A test's results with NumPy arrays as tensors, in the dicts, lists and tuples that hold them, so that
    they are compared under tolerances like the tensors (several TritonBench-G tests return `.numpy()`).
    Each is a copy, as `.cpu().numpy()` of a GPU tensor is: no two results share memory."""
    import numpy
    import torch
    if isinstance(value, numpy.ndarray):
        return torch.tensor(value) if value.dtype.kind in "biufc" else value.tolist()
    if isinstance(value, dict):
        return {key: as_tensors(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(as_tensors(item) for item in value)
    return value


def _copy(value: Any, memo: dict[int, Any]) -> Any:
    """Tensors cloned (detached, requires_grad kept), containers rebuilt, modules deep-copied."""
    import copy

    import torch
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, torch.Tensor):
        result = value.detach().clone()
        if value.requires_grad:
            result.requires_grad_(True)
    elif isinstance(value, list):
        result = [_copy(v, memo) for v in value]
    elif isinstance(value, tuple):
        items = [_copy(v, memo) for v in value]
        result = type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    elif isinstance(value, dict):
        result = {k: _copy(v, memo) for k, v in value.items()}
    elif isinstance(value, torch.nn.Module):
        result = copy.deepcopy(value)
    else:
        return value
    memo[id(value)] = result
    return result


def _tensors(value: Any, path: str):
    import torch
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _tensors(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{path}[{key!r}]")


def _map_tensors(value: Any, function: Any, path: str = "returned") -> Any:
    import torch
    if isinstance(value, torch.Tensor):
        return function(path, value)
    if isinstance(value, list):
        return [_map_tensors(v, function, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        items = [_map_tensors(v, function, f"{path}[{i}]") for i, v in enumerate(value)]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, dict):
        return {k: _map_tensors(v, function, f"{path}[{k!r}]") for k, v in value.items()}
    return value


def _storage(tensor: Any) -> int:
    return tensor.untyped_storage().data_ptr()


def _same(after: Any, before: Any) -> bool:
    import torch
    if after.shape != before.shape or after.dtype != before.dtype:
        return False
    if after.is_floating_point() or after.is_complex():
        return bool(((after == before) | (after.isnan() & before.isnan())).all())
    return bool(torch.equal(after, before))
