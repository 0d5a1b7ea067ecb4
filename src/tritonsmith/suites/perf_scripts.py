"""GEAK-eval's perf scripts for TritonBench-G tasks (`<file stem>_perf.py`), read without running them: the
class the script defines, how many inputs its get_input_tensors() makes, their narrowest floating dtype, and
what it imports from the task (the code under test, or the gold code of a task of the folder). Load time only:
nothing here imports torch. The script runs in the evaluator's worker (suites/runtime/geak_perf.py)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritonsmith.task import TaskError
from tritonsmith.util import pyast
from tritonsmith.util.constants import constant

REQUIRED_METHODS = ("get_input_tensors", "to_cuda", "call_op")
# dtype attributes of torch, narrowest first: the narrowest floating dtype an input uses names the
# perf cases' dtype, which picks the peak of the compute roofline (a higher peak never overstates it)
_FLOAT_DTYPES = {"float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2", "bfloat16": "bfloat16",
                 "float16": "float16", "half": "float16", "float32": "float32", "float": "float32",
                 "float64": "float64", "double": "float64"}
NARROWEST_FIRST = ("float8_e4m3fn", "float8_e5m2", "float16", "bfloat16", "float32", "float64")
MAX_BITS = 64  # a loop bound of a perf script is a count of inputs: far below


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
        tree = pyast.parse(text, filename=str(path))
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


def appends_one_by_one(source: str, class_name: str) -> bool:
    """Whether the class's get_input_tensors can be stopped at an entry and hand out what its whole list holds
    (suites/runtime/geak_perf.py `_UpTo`): one statement of its body adds inputs, a loop (or loops, nested)
    whose last statement appends one, or a single append, and nothing but `pass` or a bare `return` follows
    it; no other statement of those loops touches the list. A cast or a shuffle of the list after its loop
    would change the entries after the stop: such a script makes its whole list each time."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return False
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    function = next((n for n in (cls.body if cls else []) if isinstance(n, ast.FunctionDef)
                     and n.name == "get_input_tensors"), None)
    if function is None:
        return False
    adding = [i for i, stmt in enumerate(function.body) if _appends(stmt)]
    if len(adding) != 1:
        return False
    after = function.body[adding[0] + 1:]
    if not all(isinstance(s, ast.Pass) or (isinstance(s, ast.Return) and s.value is None) for s in after):
        return False
    return _ends_with_append(function.body[adding[0]])


def _is_append(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "append"
            and _is_inputs(stmt.value.func.value))


def _appends(stmt: ast.stmt) -> bool:
    return any(isinstance(n, ast.stmt) and _is_append(n) for n in ast.walk(stmt))


def _ends_with_append(stmt: ast.stmt) -> bool:
    if _is_append(stmt):
        return True
    if isinstance(stmt, (ast.For, ast.With)) and not getattr(stmt, "orelse", None) and stmt.body:
        return not any(_mentions_inputs(s) for s in stmt.body[:-1]) and _ends_with_append(stmt.body[-1])
    return False


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


def _evaluate(node: ast.expr, env: dict[str, Any]) -> Any:
    """Literals, names bound to literals earlier in the function, and arithmetic on them."""
    try:
        return constant(node, env, MAX_BITS)
    except (ValueError, TypeError, RecursionError, MemoryError):
        raise _Uncountable(f"line {getattr(node, 'lineno', '?')}: {ast.unparse(node)} is known only by running "
                           "the script") from None
