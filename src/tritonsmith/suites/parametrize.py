"""A test function's @pytest.mark.parametrize decorators read when a suite is loaded: its parametrisations, each
with pytest's id and parameters, without torch, pytest or any import of the file (load time only).

GEAK's perf tests take their parameters from module-level code: literal lists, comprehensions, helper
functions, and loops that fill lists of configs and drop duplicates. So the file's top-level statements run
here, one by one, in a namespace of their own: the standard library's `itertools` and `math`, a few safe
builtins (no `__import__`: nothing is imported), a stand-in for pytest's marks and params, and for every other
imported name an opaque value (the dtypes `torch.float16` stay names). A statement that needs an import's
value (its truth, items or arithmetic), a name starting with `__`, or a builtin not offered, fails. Its names
are then unknown, and so is every name it may have changed half-way (`if torch.cuda.is_available():
configs.append(...)`) or that a later statement computed from those; the other statements go on. A statement
that runs for more than a million lines is stopped. The test's own decorators are then applied to an empty
function, and its calls are planned as the runner plans them (suites/runtime/pytest_runner.py). Parameters that
depend on anything unknown cannot be read, and say why (`Unreadable`).
"""

from __future__ import annotations

import ast
import builtins
import enum
import functools
import itertools
import math
import operator
import re
import sys
import types
from typing import Any

from tritonsmith.suites.parts import bound_names
from tritonsmith.suites.runtime.pytest_runner import planned_calls
from tritonsmith.util import pyast

LINE_BUDGET = 1_000_000
_SAFE_BUILTINS = ("abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "int",
                  "isinstance", "len", "list", "map", "max", "min", "pow", "range", "repr", "reversed", "round",
                  "set", "slice", "sorted", "str", "sum", "tuple", "zip", "ArithmeticError", "AssertionError",
                  "AttributeError", "Exception", "ImportError", "IndexError", "KeyError", "NameError",
                  "RuntimeError", "TypeError", "ValueError", "ZeroDivisionError")
_SAFE_MODULES = {"enum": enum, "functools": functools, "itertools": itertools, "math": math, "operator": operator,
                 "re": re}
# torch's and triton's dtypes (torch.float16, tl.float8e4nv) have no __name__: pytest names them by argname and
# index, as it names an opaque value here; any other value of an import may be named by its __name__
_NAMELESS = re.compile(r"(u?int\d+|float\w*|bfloat16|half|double|bool|complex\d+|fp\w+|bf16)")


class Unreadable(Exception):
    """The parametrisations are known only by running the file (its imports, or too long a loop)."""


class Opaque:
    """What the file imports (torch, triton, numpy, ...): a name that can be passed around, compared with
    itself and looked into (`torch.float16`), but whose truth, items and arithmetic are unknown here."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Opaque:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Opaque(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Opaque:
        return Opaque(f"{self._name}(...)")

    def __getitem__(self, key: Any) -> Opaque:
        return Opaque(f"{self._name}[...]")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Opaque):  # `backend == "cuda"`: known only when the file runs
            raise Unreadable(f"{self._name} == {other!r} is known only when the file runs")
        return other._name == self._name

    def __hash__(self) -> int:
        return hash(self._name)

    def __bool__(self) -> bool:
        raise Unreadable(f"{self._name} is known only when the file runs")

    def __iter__(self):
        raise Unreadable(f"{self._name} is known only when the file runs")

    def __repr__(self) -> str:
        return self._name


class _Mark:
    def __init__(self, name: str, args: tuple, kwargs: dict):
        self.name, self.args, self.kwargs = name, args, kwargs


class _MarkDecorator:
    """pytest.mark.NAME: called with arguments it is a mark; applied to a function it is stored on it, nearest
    decorator first, as pytest stores it."""

    def __init__(self, name: str, args: tuple = (), kwargs: dict | None = None):
        self.mark = _Mark(name, args, kwargs or {})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and callable(args[0]) and not isinstance(args[0], Opaque):
            function = args[0]
            function.pytestmark = [*getattr(function, "pytestmark", []), self.mark]
            return function
        return _MarkDecorator(self.mark.name, self.mark.args + args, {**self.mark.kwargs, **kwargs})


class _MarkGenerator:
    def __getattr__(self, name: str) -> _MarkDecorator:
        if name.startswith("__"):
            raise AttributeError(name)
        return _MarkDecorator(name)


class ParameterSet:  # the name the runner recognises pytest.param's values by
    def __init__(self, values: tuple, marks: Any, id: Any):
        self.values, self.id = values, id
        self.marks = [getattr(m, "mark", m) for m in (marks if isinstance(marks, (list, tuple)) else [marks])]


class _Pytest:
    """The parts of pytest that decorators use: mark, param, and fixture (which leaves its function alone)."""

    mark = _MarkGenerator()

    @staticmethod
    def param(*values: Any, marks: Any = (), id: Any = None) -> ParameterSet:  # noqa: A002 - pytest's name
        return ParameterSet(values, marks, id)

    @staticmethod
    def fixture(*args: Any, **kwargs: Any) -> Any:
        return args[0] if len(args) == 1 and callable(args[0]) and not kwargs else (lambda function: function)

    def __getattr__(self, name: str) -> Opaque:
        return Opaque(f"pytest.{name}")


def parametrisations(path: str, sources: list[tuple[str, int]], test: str) -> list[tuple[str, dict[str, Any]]]:
    """(pytest's id, parameters) of each call of `test` that is not skipped by its marks alone, in pytest's
    order. `sources` are the file's parts in order (kernels, then tests), each with the number of the file's
    lines above it; `path` names the file in messages."""
    namespace: dict[str, Any] = {"__builtins__": {name: getattr(builtins, name) for name in _SAFE_BUILTINS},
                                 "__name__": "tritonsmith_parametrize"}
    namespace["__builtins__"].update(print=lambda *args, **kwargs: None, __build_class__=builtins.__build_class__)
    definition = None
    functions: dict[str, ast.FunctionDef] = {}
    binders: dict[str, ast.stmt] = {}  # name -> the statement that bound it last
    # name -> why its value is unknown: a statement that failed may have bound it or changed it half-way
    # (`if torch.cuda.is_available(): configs.append(...)`), and so may any statement that read such a name
    tainted: dict[str, str] = {}
    for source, offset in sources:
        tree = ast.increment_lineno(pyast.parse(source), offset)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == test:
                definition = node
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                _bind_imports(node, namespace)
                continue
            if _main_guard(node):  # never runs when the file is imported, as pytest imports it
                continue
            reads, changes = _effects(node, functions, namespace)
            binders.update(dict.fromkeys(bound_names(node), node))
            cause = next((tainted[n] for n in sorted(reads) if n in tainted), None)
            problem = _run(node, namespace, path)
            if isinstance(node, ast.FunctionDef):
                functions[node.name] = node
            if problem is None and cause is None:
                for name in bound_names(node):
                    tainted.pop(name, None)
                continue
            tainted.update(dict.fromkeys([*bound_names(node), *changes], cause or problem))
    if definition is None:
        raise Unreadable(f"{path}: no function {test}()")
    function = _decorated(definition, namespace, functions, tainted, binders, path)
    try:
        with _line_budget():
            calls = planned_calls({test: function}, [test], skips=_skipped_by_marks)
    except Exception as exc:  # noqa: BLE001 - ids made by the file's own callables, on values of its imports
        raise Unreadable(f"line {definition.lineno}: the parameters of {test}() are known only when the file runs "
                         f"({exc})") from None
    for call in calls:
        named = [f"{k}={v!r}" for k, v in call.params.items() if isinstance(v, Opaque)
                 and not _NAMELESS.fullmatch(repr(v).rsplit(".", 1)[-1])]
        if named and not call.skip:
            raise Unreadable(f"line {definition.lineno}: pytest's ids of {test}() are known only when the file runs "
                             f"(they name {named[0]} by what it is)")
    return [(call.name, call.params) for call in calls if not call.skip]


def _effects(node: ast.stmt, functions: dict[str, ast.FunctionDef], namespace: dict[str, Any]
             ) -> tuple[set[str], set[str]]:
    """(the global names a statement reads, those it may change), through the file's functions it calls; of a
    def or a class, only what runs when it is defined (decorators, defaults, bases). A name may change when
    it is a target (`configs[k] = v`, `global n` in a function called), or a mutable value whose method is
    called (`configs.append(c)`) or that is passed to anything but the stand-ins and safe builtins here."""
    if isinstance(node, ast.FunctionDef):
        pending: list[ast.AST] = [*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)]
    elif isinstance(node, ast.ClassDef):
        pending = [*node.decorator_list, *node.bases, *node.keywords]
    else:
        pending = [node]
    reads: set[str] = set()
    changes: set[str] = set()
    called: set[str] = set()
    while pending:
        for n in ast.walk(pending.pop()):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                reads.add(n.id)
                if n.id in functions and n.id not in called:
                    called.add(n.id)
                    pending.append(functions[n.id])
            elif isinstance(n, ast.Global):
                changes.update(n.names)
            elif isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = n.targets if isinstance(n, (ast.Assign, ast.Delete)) else [n.target]
                changes.update(_root(t) for t in targets if isinstance(t, (ast.Subscript, ast.Attribute)))
            elif isinstance(n, ast.Call) and not _stand_in(n.func, namespace):
                arguments = [*n.args, *(k.value for k in n.keywords)]
                if isinstance(n.func, ast.Attribute):
                    arguments.append(n.func.value)
                changes.update(a.id for a in arguments if isinstance(a, ast.Name) and _mutable(namespace.get(a.id)))
    changes.discard(None)
    return reads, changes


def _root(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _stand_in(function: ast.expr, namespace: dict[str, Any]) -> bool:
    """A call of a safe builtin, or of pytest's marks and params: it changes none of its arguments."""
    if isinstance(function, ast.Name) and function.id in _SAFE_BUILTINS and function.id not in namespace:
        return True
    root = _root(function)
    value = namespace.get(root)
    return isinstance(value, (_Pytest, _MarkGenerator, _MarkDecorator)) or any(value is m for m in _SAFE_MODULES.values())


def _main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test).replace("'", '"') == '__name__ == "__main__"'


def _mutable(value: Any) -> bool:
    immutable = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset, range, Opaque,
                 types.FunctionType, types.ModuleType)
    return value is not None and not isinstance(value, immutable)


def _bind_imports(node: ast.Import | ast.ImportFrom, namespace: dict[str, Any]) -> None:
    for alias in node.names:
        if alias.name == "*":
            continue
        if isinstance(node, ast.Import):
            top = alias.name.split(".")[0]
            name, full = (alias.asname, alias.name) if alias.asname else (top, top)
        else:
            name, full = alias.asname or alias.name, f"{node.module}.{alias.name}"
        module = full.split(".")[0]
        if module == "pytest":
            value: Any = _Pytest() if full == "pytest" else getattr(_Pytest(), full.split(".", 1)[1])
        elif full in _SAFE_MODULES:
            value = _SAFE_MODULES[full]
        elif isinstance(node, ast.ImportFrom) and node.module in _SAFE_MODULES:
            value = getattr(_SAFE_MODULES[node.module], alias.name, Opaque(full))
        else:
            value = Opaque(full)
        namespace[name] = value


def _run(node: ast.stmt, namespace: dict[str, Any], path: str) -> str | None:
    """Run one top-level statement; what went wrong, or None. A statement that fails binds nothing."""
    if isinstance(node, ast.FunctionDef) and node.decorator_list and all(
            isinstance(namespace.get(_root(d.func if isinstance(d, ast.Call) else d)), Opaque)
            for d in node.decorator_list):
        namespace[node.name] = Opaque(node.name)  # a kernel (@triton.jit): what the decorators make is opaque
        return None
    unsafe = next((n for n in ast.walk(node) if (isinstance(n, ast.Attribute) and n.attr.startswith("__"))
                   or (isinstance(n, ast.Name) and n.id.startswith("__"))), None)  # no way out of the namespace
    if unsafe is not None:
        return f"line {unsafe.lineno}: {ast.unparse(unsafe)} is not evaluated here"
    try:
        with _line_budget():
            exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), namespace)
    except Exception as exc:  # noqa: BLE001 - the file's own code: it binds nothing
        for name in bound_names(node):
            namespace.pop(name, None)
        return f"line {node.lineno}: {_said(exc)}"
    return None


def _decorated(definition: ast.FunctionDef, namespace: dict[str, Any], functions: dict[str, ast.FunctionDef],
               tainted: dict[str, str], binders: dict[str, ast.stmt], path: str) -> Any:
    """An empty function with the test's decorators applied, bottom up. A parametrize that reads a name whose
    value is unknown, or cannot be evaluated, makes the calls unknown; any other decorator that cannot be
    evaluated is left out (a skipif on the device is decided when the test runs)."""

    def function() -> None:
        pass
    for decorator in reversed(definition.decorator_list):
        reads, _ = _effects(ast.Expr(decorator), functions, namespace)
        named = " ".join([ast.unparse(decorator)] + [ast.unparse(binders[n]) for n in reads if n in binders])
        cause = next((tainted[n] for n in sorted(reads) if n in tainted), None)
        value = None
        if cause is None:
            try:
                with _line_budget():
                    value = eval(compile(ast.Expression(decorator), path, "eval"), namespace)
            except Exception as exc:  # noqa: BLE001 - said below where it matters
                cause = f"line {decorator.lineno}: {_said(exc)}"
        parametrize = isinstance(value, _MarkDecorator) and value.mark.name == "parametrize"
        if cause is not None and (parametrize or "parametrize" in named):
            raise Unreadable(f"line {decorator.lineno}: the parameters of {definition.name}() are known only when "
                             f"the file runs ({cause})")
        if cause is None and isinstance(value, _MarkDecorator):
            function = value(function)
    return function


def _said(exc: Exception) -> str:
    return str(exc) if isinstance(exc, Unreadable) else f"{type(exc).__name__}: {exc}"


def _skipped_by_marks(marks: list[Any], namespace: dict[str, Any]) -> bool:
    """skip, xfail(run=False), and skipif with a condition already True: what is known without running the
    file; a skipif on anything else is decided when the test runs."""
    for mark in marks:
        if mark.name == "skip" or (mark.name == "xfail" and mark.kwargs.get("run", True) is False):
            return True
        if mark.name == "skipif":
            conditions = list(mark.args) + ([mark.kwargs["condition"]] if "condition" in mark.kwargs else [])
            if not conditions or any(condition is True for condition in conditions):
                return True
    return False


class _line_budget:  # noqa: N801 - a context manager named for what it limits
    """Stops the statement that runs more than LINE_BUDGET lines (a loop that never ends)."""

    def __enter__(self) -> None:
        self.previous, self.lines = sys.gettrace(), 0

        def trace(frame: Any, event: str, arg: Any) -> Any:
            if event == "line":
                self.lines += 1
                if self.lines > LINE_BUDGET:
                    raise Unreadable(f"it ran more than {LINE_BUDGET} lines")
            return trace
        sys.settrace(trace)

    def __exit__(self, *exc: Any) -> None:
        sys.settrace(self.previous)

