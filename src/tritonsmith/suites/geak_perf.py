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
import contextlib
import importlib.util
import sys
import types
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritonsmith.suites.perf_call import call_on_copy, copy_value, facts_of, note_facts, tensors_in
from tritonsmith.task import TaskError

REQUIRED_METHODS = ("get_input_tensors", "to_cuda", "call_op")
# dtype attributes of torch, narrowest first: the narrowest floating dtype an input uses names the
# perf cases' dtype, which picks the peak of the compute roofline (a higher peak never overstates it)
_FLOAT_DTYPES = {"float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2", "bfloat16": "bfloat16",
                 "float16": "float16", "half": "float16", "float32": "float32", "float": "float32",
                 "float64": "float64", "double": "float64"}
NARROWEST_FIRST = ("float8_e4m3fn", "float8_e5m2", "float16", "bfloat16", "float32", "float64")


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
    return next((d for d in NARROWEST_FIRST if d in seen), "float32")  # float32: torch's default dtype


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
        # (seed, device, the inputs not yet handed out, None for those that were, how they were made)
        self._inputs: tuple[int, str, list[Any], str] | None = None
        self._handed: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # (seed, device, index) -> PerfInput

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

    def inputs(self, seed: int, device: str = "cpu") -> list[Any]:
        """get_input_tensors() on a fresh instance, with random, numpy and torch seeded from `seed`. For a GPU
        `device` it runs with torch's default device set to it, so `torch.rand(n)` is made there at once
        (GEAK-eval makes every input on the CPU, then moves it with to_cuda: slow for large inputs); if that
        raises (NumPy on tensors, a CPU-only op, the GPU's memory), it runs again on the CPU. The list is kept
        for that seed; the entries that make_inputs hands out are None."""
        if self._inputs is None or self._inputs[:2] != (seed, device):
            self._inputs = None  # let the previous seed's inputs go first
            made = problem = None
            if device != "cpu":
                try:
                    inputs = self._make(seed, device)
                    made = f"on {device}, by get_input_tensors() with torch's default device set to {device}"
                except Exception as exc:  # noqa: BLE001 - the script's own code: the CPU way, as GEAK-eval's
                    problem = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            if made is None:
                inputs = self._make(seed, "cpu")
                made = "on the CPU by get_input_tensors(), as GEAK-eval makes them"
                if problem:
                    made += f" (with the default device {device} it raised {problem})"
            self._inputs = (seed, device, inputs, made)
        return self._inputs[2]

    def _make(self, seed: int, device: str) -> list[Any]:
        import torch
        seed_all(seed)
        metrics = self.cls()
        with torch.device(device) if device != "cpu" else contextlib.nullcontext():  # this thread only
            metrics.get_input_tensors()
        return list(metrics.input_tensors)

    def make_inputs(self, index: int, seed: int, device: str, expected_count: int | None = None) -> tuple:
        """The entry point's arguments for perf case `index`: a marker tensor and the PerfInput. The script makes
        all its inputs at once; each is handed out once per seed and then held only by its PerfInput, which is
        handed out again while it lives (the evaluator asks twice for the same case: check, reproducibility)."""
        import torch
        perf_input = self._handed.get((seed, device, index))
        if perf_input is None:
            inputs = self.inputs(seed, device)
            if expected_count is not None and len(inputs) != expected_count:
                raise RuntimeError(f"get_input_tensors() made {len(inputs)} inputs, but the adapter read "
                                   f"{expected_count} from the script: regenerate the suite")
            if inputs[index] is None:  # handed out and let go since: make this seed's inputs again
                self._inputs = None
                inputs = self.inputs(seed, device)
            made = self._inputs[3]
            value = inputs[index] if device == "cpu" else self.metrics.to_cuda(inputs[index])
            inputs[index] = None  # no second copy kept alive (on the CPU way, the CPU tensor)
            if all(item is None for item in inputs):
                self._inputs = None
            perf_input = PerfInput(index, value, self.spec, {"flops": self._rate(value, "get_tflops", 1e9),
                                                            "bytes": self._rate(value, "get_gbps", 1e6),
                                                            "inputs": made})
            self._handed[(seed, device, index)] = perf_input
        return torch.tensor([index]), perf_input

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
        return self._rate(self._make(0, "cpu")[index], method, scale)  # made nowhere in this process

    def _rate(self, value: Any, method: str, scale: float) -> int:
        try:
            rate = float(getattr(self.metrics, method)(value, 1.0))
        except Exception:  # noqa: BLE001 - a script without the method, or one that fails: no roofline figure
            return 0
        return int(round(rate * scale)) if rate > 0 and rate != float("inf") else 0

    # calls: the candidate's or the baseline's harness (call_op), the task's reference (call_op_ref)

    def call(self, marker: Any, perf_input: PerfInput, reference: bool = False) -> dict[str, Any]:
        """{'returned': what the call returned, 'written': the inputs it changed, by path}, each checked call
        on its own copy of the input and the timed calls on one (suites/perf_call.py). The evaluator clones
        its arguments for each checked call (a new marker, so a fresh copy) and passes the same arguments to
        every timed call (the same marker), as GEAK-eval times call_op on one input."""
        method = self.reference_method if reference else self.metrics.call_op

        def prepare() -> tuple[Any, list[tuple[str, Any, Any]]]:
            memo: dict[int, Any] = {}
            work = copy_value(perf_input.value, memo)
            seed_all(perf_input.index)
            return work, [(path, t, memo[id(t)]) for path, t in tensors_in(perf_input.value, "input")]
        return call_on_copy(marker, self._key, prepare, method)


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
