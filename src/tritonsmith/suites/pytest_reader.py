"""The test part of a GEAK ROCm task file, read without running it: its test functions, which are correctness
tests and which are performance tests, its own fixtures, and whether the runner (suites/runtime/pytest_runner.py)
can provide every fixture a test asks for. Load time only: nothing here imports torch or pytest."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from tritonsmith.suites.runtime.pytest_runner import FIXTURES
from tritonsmith.task import TaskError
from tritonsmith.util import pyast

PERF_WORDS = ("perf", "performance", "bench", "benchmark", "benchmarks", "benchmarking")


class PytestPart:
    """What the generator learns from the test part of one file."""

    def __init__(self, path: Path, source: str):
        self.path = path
        self.tree = pyast.parse(source)
        self.functions = {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}
        self.fixtures: dict[str, ast.FunctionDef] = {}  # fixture name -> its function
        self.autouse: list[str] = []
        for node in self.functions.values():
            decorator = next((d for d in node.decorator_list if _callee(d) in ("pytest.fixture", "fixture")), None)
            if decorator is None:
                continue
            options = {k.arg: k.value for k in decorator.keywords} if isinstance(decorator, ast.Call) else {}
            name = _constant(options.get("name"), node.name)
            self.fixtures[name] = node
            if _constant(options.get("autouse"), False) is True:
                self.autouse.append(name)
        fixture_functions = {f.name for f in self.fixtures.values()}
        self.tests = [n.name for n in self.functions.values() if n.name.startswith("test_")
                      and n.name not in fixture_functions and not is_skipped_test(n)]
        self.perf_tests = [n.name for n in self.functions.values() if n.name.startswith("test_")
                           and n.name not in fixture_functions and is_skipped_test(n) and benchmarks(n)]

    def fixture_functions(self) -> dict[str, str]:
        return {name: node.name for name, node in self.fixtures.items()}

    def check_fixtures(self, tests: list[str] | None = None) -> None:
        """Every fixture a test asks for (of the correctness tests, or `tests`) must be one the runner provides."""
        for test in self.tests if tests is None else tests:
            node = self.functions[test]
            argnames = _parametrized_names(self.path, node)
            if argnames is None:  # computed argnames: the run itself will say what is missing
                continue
            needed = [a for a in _required_args(node) if a not in argnames]
            needed += self.autouse + _usefixtures(node)
            self._resolve(test, needed, set())

    def _resolve(self, test: str, names: list[str], seen: set[str]) -> None:
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            fixture = self.fixtures.get(name)
            if fixture is not None and name != "request":
                decorator = next(d for d in fixture.decorator_list if _callee(d) in ("pytest.fixture", "fixture"))
                if isinstance(decorator, ast.Call) and any(k.arg == "params" for k in decorator.keywords):
                    raise TaskError(f"{self.path}: test {test}() needs the fixture {name!r}, which has params=; "
                                    "tritonsmith runs only fixtures without params.")
                self._resolve(test, _required_args(fixture), seen)
            elif name not in FIXTURES:
                raise TaskError(f"{self.path}: test {test}() needs the pytest fixture {name!r}, which tritonsmith "
                                f"cannot provide (only {', '.join(FIXTURES)} and simple fixtures defined in "
                                "the file itself).")


def is_skipped_test(node: ast.FunctionDef) -> bool:
    """Performance tests and GEAK's result-saving hooks: never run by the correctness check."""
    if node.name.startswith("test_save"):
        return True
    words = set(node.name.lower().split("_")[1:]) | {_callee(d).rsplit(".", 1)[-1] for d in node.decorator_list}
    return bool(words & set(PERF_WORDS)) or "benchmark" in _required_args(node)


def benchmarks(node: ast.FunctionDef) -> bool:
    """A GEAK perf test: it hands an op to PytestBenchmarker and calls run_benchmark."""
    callees = [ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)]
    return any(c.endswith("PytestBenchmarker") for c in callees) and any(c.endswith(".run_benchmark") for c in callees)


def _parametrized_names(path: Path, node: ast.FunctionDef) -> set[str] | None:
    """The argnames of the test's parametrize decorators, or None where one is computed."""
    names: set[str] = set()
    for decorator in node.decorator_list:
        if not isinstance(decorator, ast.Call) or not _callee(decorator).endswith("mark.parametrize"):
            continue
        options = {k.arg: k.value for k in decorator.keywords}
        if _constant(options.get("indirect"), False) is not False:
            raise TaskError(f"{path}: test {node.name}() uses parametrize(indirect=...), which tritonsmith does not "
                            "support.")
        argnames = decorator.args[0] if decorator.args else options.get("argnames")
        try:
            value = ast.literal_eval(argnames)
        except (ValueError, TypeError, SyntaxError):
            return None
        names |= {n.strip() for n in value.split(",")} if isinstance(value, str) else set(value)
    return names


def _required_args(node: ast.FunctionDef) -> list[str]:
    """Parameters without defaults: pytest fills them from parametrize or fixtures."""
    args = node.args
    positional = args.posonlyargs + args.args
    without = positional[:len(positional) - len(args.defaults)]
    return [a.arg for a in without] + [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]


def _usefixtures(node: ast.FunctionDef) -> list[str]:
    names = []
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and _callee(decorator).endswith("mark.usefixtures"):
            names += [a.value for a in decorator.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return names


def _callee(decorator: ast.expr) -> str:
    return ast.unparse(decorator.func if isinstance(decorator, ast.Call) else decorator)


def _constant(node: ast.expr | None, default: Any) -> Any:
    return node.value if isinstance(node, ast.Constant) else default
