"""GEAK's ROCm benchmark as tasks: `geak-rocm:PATH`.

Each task file is a pytest module: Triton kernels (and maybe Python wrappers), then a line of 146
'#', then the tests. Its parametrised `test_*` functions run the kernels and store tensors in a
module-level dict, `result_gold[<sanitised test id>]`, plus `result_gold['_CALL_SUCCESS_']`; its
performance tests time the kernels. A candidate completes the kernels; it is correct when the
correctness tests, run once on the gold code and once on the candidate, fill the same dict (compared
key by key). Instructions come from a JSON list of {file, target_kernel_name, instruction, label}
beside the task folder (or --instructions FILE).

Each file becomes an ordinary task file of ours, generated into a cache folder, as TritonBench-G's
do (suites/tritonbench.py): the kernel part is its BASELINE and, run through the tests, its
reference; the test part plus a runner is its HARNESS, appended to each candidate. pytest's runner is
not used; `run_tests` below calls the test functions directly:

- Which tests run: every module-level `test_*` function except performance tests (one of the words
  of its name, or one of its marks, is perf, performance, bench, benchmark(s) or benchmarking, as in
  test_performance or test_add_perf; or it takes the pytest-benchmark `benchmark` fixture) and
  GEAK's result-saving hooks (`test_save*`). GEAK itself runs `pytest -k "not test_performance and not
  test_save_performance_results"` and saves the dict in test_save_results.
- Each runs once per combination of its `@pytest.mark.parametrize` decorators (stacked decorators
  give the cartesian product, the decorator nearest the function varying slowest), in pytest's
  order, with random, numpy and torch seeded before each call. `pytest.param` values, ids and marks
  are honoured; skip, skipif and xfail(run=False) marks skip a call, as does pytest.skip() inside it.
- `request.node.name` is pytest's own test id, e.g. `test_add[128-float16]` (values as pytest
  renders them: strings, numbers, None, enums and named objects by value, anything else as
  argname + index; `pytest.param(id=...)` and `ids=` win; duplicates get pytest's counters). The
  tests sanitise it themselves; GEAK's files use `::` -> `_`, `[` -> `_`, `]` -> ``, `-` -> `_`,
  so the key is `test_add_128_float16`.
- Fixtures: `request` (node.name, node.nodeid, function, getfixturevalue, addfinalizer), `device`
  ("cuda" when torch sees a GPU, else "cpu") and the file's own `@pytest.fixture` functions
  (without params; generator fixtures are finalised after each call). A test that needs any other
  fixture makes its file unsupported: loading it raises a TaskError naming the file and the fixture.
- A failed assertion (or pytest.fail) fails that one call, as under pytest: the run goes on and the
  dict, missing whatever the call did not store, decides. Any other exception stops the run and is
  the candidate's runtime error, with the test id added to its message. A run in which every call
  was skipped is an error too: it would check nothing.
- The candidate must define the target kernel and every function or class of the kernel part that
  the tests use; the harness checks this when it is imported.
- Top-level imports of GEAK's own `geak_eval` package (perf helpers used only by perf tests) become
  optional: the names are None where geak_eval is not installed.
"""

from __future__ import annotations

import ast
import copy
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tritonsmith.suites.generated import find_instructions, generated_dir, write_if_changed
from tritonsmith.suites.tritonbench import SEPARATOR
from tritonsmith.task import Task, TaskError, load_task

SUITE = "geak-rocm"
RUNNER = "tritonsmith_run_tests"
BUILTIN_FIXTURES = ("request", "device")
PERF_WORDS = ("perf", "performance", "bench", "benchmark", "benchmarks", "benchmarking")
OPTIONAL_PACKAGES = ("geak_eval",)  # GEAK's own perf helpers, imported by the test part of every file
NOTE = ("# How your code is tested: the correctness tests below (every test_* except the performance tests and "
        "GEAK's result-saving hooks, once per parametrisation) run on the reference code and on yours, and the "
        "result_gold dicts they fill must match key by key.\n")


def load_geak_rocm(path: str | Path, instructions: str | Path | None = None,
                   cache_dir: str | Path | None = None) -> list[Task]:
    folder = Path(path)
    if not folder.is_dir():
        raise TaskError(f"{folder}: no such folder of GEAK ROCm task files.")
    files = sorted(p for p in folder.glob("*.py") if p.name != "conftest.py" and not p.name.startswith("_"))
    entries = find_instructions(folder, files, instructions, "{file, target_kernel_name, instruction, label}")
    default = generated_dir(folder)
    out = Path(cache_dir) if cache_dir else default.with_name(f"{SUITE}-{default.name}")
    out.mkdir(parents=True, exist_ok=True)
    tasks = []
    for source_path in files:
        entry = entries.get(source_path.name)
        if entry is None:
            if SEPARATOR in source_path.read_text():  # looks like a task: its instruction must not be missing
                raise TaskError(f"{source_path}: no entry with file {source_path.name!r} in the instructions JSON.")
            continue  # a helper module beside the tasks
        tasks.append(load_task(_generate(source_path, entry, out), suite=SUITE))
    if not tasks:
        raise TaskError(f"{folder}: the folder holds no task file named in the instructions JSON.")
    return tasks


# --- reading a task file (no torch: runs wherever tasks are listed) --------------------------------


class _TestPart:
    """What the generator learns from the test part of one file."""

    def __init__(self, path: Path, source: str):
        self.path = path
        self.tree = ast.parse(source)
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
        self.tests = [n.name for n in self.functions.values() if n.name.startswith("test_")
                      and n.name not in {f.name for f in self.fixtures.values()} and not is_skipped_test(n)]

    def fixture_functions(self) -> dict[str, str]:
        return {name: node.name for name, node in self.fixtures.items()}

    def check_fixtures(self) -> None:
        """Every fixture a test asks for must be one `run_tests` can provide."""
        for test in self.tests:
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
                                    "tritonsmith runs only fixtures without params, so this task is not supported.")
                self._resolve(test, _required_args(fixture), seen)
            elif name not in BUILTIN_FIXTURES:
                raise TaskError(f"{self.path}: test {test}() needs the pytest fixture {name!r}, which tritonsmith "
                                f"cannot provide (only {', '.join(BUILTIN_FIXTURES)} and simple fixtures defined in "
                                "the file itself), so this task is not supported.")


def is_skipped_test(node: ast.FunctionDef) -> bool:
    """Performance tests and GEAK's result-saving hooks: never run by the correctness check."""
    if node.name.startswith("test_save"):
        return True
    words = set(node.name.lower().split("_")[1:]) | {_callee(d).rsplit(".", 1)[-1] for d in node.decorator_list}
    return bool(words & set(PERF_WORDS)) or "benchmark" in _required_args(node)


def split_geak_file(path: Path) -> tuple[str, str]:
    """(kernel part, test part) of a task file."""
    lines = path.read_text().splitlines()
    try:
        cut = next(i for i, line in enumerate(lines) if line.strip() == SEPARATOR)
    except StopIteration:
        raise TaskError(f"{path}: no separator line of 146 '#' between the kernels and the tests.") from None
    gold = "\n".join(lines[:cut]).rstrip() + "\n"
    test = "\n".join(lines[cut + 1:]).strip() + "\n"
    for part, offset in ((gold, 0), (test, cut + 1)):
        try:
            ast.parse(part)
        except SyntaxError as err:
            raise TaskError(f"{path}: line {(err.lineno or 0) + offset}: not valid Python ({err.msg}).") from None
    return gold, test


def _generate(path: Path, entry: dict, out: Path) -> Path:
    gold, test = split_geak_file(path)
    tests = _TestPart(path, test)
    if not tests.tests:
        raise TaskError(f"{path}: the test part has no correctness test_*() function (performance tests and "
                        "test_save* hooks are not run).")
    tests.check_fixtures()
    defined = _defined_names(path, gold, tests, entry.get("target_kernel_name"))
    required = _required_names(gold, defined)
    by_name = {n.name: n for n in ast.parse(gold).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    signature = "\n    ".join(_signature(by_name[name]) for name in defined)
    harness = (f"{_optional_imports(test)}\n\n"
               f"# --- tritonsmith: run the correctness tests above (see tritonsmith/suites/geak_rocm.py) ---\n"
               f"from tritonsmith.suites.geak_rocm import check_defined as _tritonsmith_check_defined\n"
               f"from tritonsmith.suites.geak_rocm import run_tests as _tritonsmith_run_tests\n\n"
               f"_tritonsmith_check_defined(globals(), {defined!r})\n\n\n"
               f"def {RUNNER}(seed):\n"
               f"    return _tritonsmith_run_tests(globals(), seed, {tests.tests!r}, {tests.fixture_functions()!r}, "
               f"{tests.autouse!r})\n")
    task_id = path.stem.replace(".", "_")
    gold_file = out / f"{task_id}__gold.py"
    write_if_changed(gold_file, gold + "\n\n" + harness)
    generated = f'''# Generated by tritonsmith from {path.name} (GEAK ROCm format). Do not edit: regenerated on load.
import importlib.util

ID = {task_id!r}
KIND = "other"
ENTRY_POINT = {RUNNER!r}
REQUIRED_NAMES = {required!r}
SIGNATURE = {signature!r}
INSTRUCTION = {entry["instruction"].strip()!r}
CORRECTNESS_CASES = [{{"dtype": "float32"}}]
PERF_CASES = []
ALLOWED_OPS = ["*"]
SOURCE_FILE = {str(path.resolve())!r}
GOLD_FILE = {str(gold_file.resolve())!r}
TESTS = {tests.tests!r}
BASELINE = {gold!r}
HARNESS = {harness!r}
REFERENCE_SOURCE = {NOTE + test!r}

_gold = []


def make_inputs(case, generator, device):
    return (int(generator.initial_seed()),)


def reference(seed):
    if not _gold:
        spec = importlib.util.spec_from_file_location("tritonsmith_gold_{task_id}", GOLD_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _gold.append(module)
    return _gold[0].{RUNNER}(seed)


def flops(case):
    return 0


def bytes_moved(case):
    return 0
'''
    target = out / f"{task_id}.py"
    write_if_changed(target, generated)
    return target


def _defined_names(path: Path, gold: str, tests: _TestPart, target: str | None) -> list[str]:
    """What a candidate must define: the target kernel, then every function or class of the kernel part
    that the tests use. The harness checks them all when it is imported (check_defined)."""
    defined = [n.name for n in ast.parse(gold).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    if target is not None and target not in defined:
        raise TaskError(f"{path}: the instructions name target_kernel_name {target!r}, which the kernel part "
                        "does not define.")
    used = {n.id for n in ast.walk(tests.tree) if isinstance(n, ast.Name)}
    own = {n.name for n in tests.tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    names = [target] if target else []
    names += [name for name in defined if name in used and name not in own and name not in names]
    if not names:
        raise TaskError(f"{path}: the tests call nothing the kernel part defines, and the instructions name no "
                        "target_kernel_name.")
    return names


def _required_names(gold: str, defined: list[str]) -> list[str]:
    """REQUIRED_NAMES: the plain functions among `defined` (the wrappers), else the target kernel.

    The worker requires these to be callable, and an @triton.autotune or @triton.heuristics kernel is
    not; a candidate may well autotune a kernel the gold code does not. The agent extracts the code
    block that defines the first of them, so it must be a def."""
    functions = {n.name for n in ast.parse(gold).body if isinstance(n, ast.FunctionDef) and not _is_kernel(n)}
    return [name for name in defined if name in functions] or defined[:1]


def _is_kernel(node: ast.FunctionDef) -> bool:
    return any(re.search(r"\b(jit|autotune|heuristics)\b", _callee(d)) for d in node.decorator_list)


def _optional_imports(test: str) -> str:
    """The test part with top-level imports of GEAK's own package made optional."""
    lines = test.splitlines()
    for node in reversed(ast.parse(test).body):
        if isinstance(node, ast.ImportFrom):
            root, names = (node.module or "").split(".")[0], [a.asname or a.name for a in node.names]
        elif isinstance(node, ast.Import):
            root, names = node.names[0].name.split(".")[0], [a.asname or a.name.split(".")[0] for a in node.names]
        else:
            continue
        if root not in OPTIONAL_PACKAGES or "*" in names:
            continue
        body = ["    " + line for line in lines[node.lineno - 1:node.end_lineno]]
        lines[node.lineno - 1:node.end_lineno] = [
            "try:", *body, "except ImportError:  # GEAK's perf helpers: only its perf tests, never run here, use them",
            f"    {' = '.join(names)} = None"]
    return "\n".join(lines).strip() + "\n"


def _parametrized_names(path: Path, node: ast.FunctionDef) -> set[str] | None:
    """The argnames of the test's parametrize decorators, or None where one is computed."""
    names: set[str] = set()
    for decorator in node.decorator_list:
        if not isinstance(decorator, ast.Call) or not _callee(decorator).endswith("mark.parametrize"):
            continue
        options = {k.arg: k.value for k in decorator.keywords}
        if _constant(options.get("indirect"), False) is not False:
            raise TaskError(f"{path}: test {node.name}() uses parametrize(indirect=...), which tritonsmith does not "
                            "support, so this task is not supported.")
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


def _signature(node: ast.FunctionDef | ast.ClassDef) -> str:
    if isinstance(node, ast.ClassDef):
        return f"class {node.name}:"
    header = copy.copy(node)
    header.decorator_list, header.body = [], [ast.Expr(ast.Constant(...))]
    return ast.unparse(header).splitlines()[0]


# --- running the tests (inside the evaluator's worker, on the gold code and on each candidate) -----


def check_defined(namespace: dict[str, Any], names: list[str]) -> None:
    """Fail the import, as a missing definition would, before any test runs."""
    missing = [name for name in names if name not in namespace]
    if missing:
        raise NameError(f"the candidate does not define {', '.join(f'`{n}`' for n in missing)}, "
                        "which the tests use")


def run_tests(namespace: dict[str, Any], seed: int, tests: list[str], fixtures: dict[str, str] | None = None,
              autouse: list[str] | None = None) -> dict[str, Any]:
    """Run every parametrisation of `tests` (functions in `namespace`) and return the result_gold they fill."""
    from tritonsmith.suites.geak_perf import seed_all

    skipped, failed = _outcomes()
    namespace["result_gold"] = {}
    ran = 0
    for call in planned_calls(namespace, tests):
        if call.skip:
            continue
        seed_all(seed)
        resolver = _Fixtures(namespace, fixtures or {}, call)
        try:
            for name in list(autouse or ()) + call.usefixtures:
                resolver.value(name)
            call.function(**resolver.arguments(call.function, call.params))
            ran += 1
        except skipped:
            pass
        except failed as exc:  # a failed check fails this call only, as under pytest
            ran += 1
            print(f"tritonsmith: {call.name} failed: {type(exc).__name__}: {str(exc)[:500]}", file=sys.stderr)
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(f"(raised in test {call.name})")
            raise
        finally:
            resolver.finish()
    if not ran:
        raise RuntimeError(f"every call of the correctness tests {', '.join(tests)} was skipped: nothing was checked")
    return dict(namespace["result_gold"])


class Call:
    """One test function with one combination of parameters, named as pytest names it."""

    def __init__(self, name: str, function: Any, params: dict[str, Any], skip: bool, usefixtures: list[str]):
        self.name, self.function, self.params, self.skip, self.usefixtures = name, function, params, skip, usefixtures

    def __repr__(self) -> str:
        return f"Call({self.name!r}{', skip' if self.skip else ''})"


def planned_calls(namespace: dict[str, Any], tests: list[str]) -> list[Call]:
    calls = []
    for test in tests:
        function = namespace[test]
        marks = _marks(function)
        combos: list[tuple[list[Any], dict[str, Any], bool]] = [([], {}, _skips(marks, namespace))]
        for mark in marks:  # in the order applied: the decorator nearest the function first, as pytest
            if mark.name != "parametrize":
                continue
            argnames, sets = _parameter_sets(mark)
            combos = [(ids + [set_id], {**params, **dict(zip(argnames, values))}, skip or _skips(set_marks, namespace))
                      for ids, params, skip in combos for set_id, values, set_marks in sets]
        usefixtures = [n for m in marks if m.name == "usefixtures" for n in m.args]
        for ids, params, skip in combos:
            shown = [i for i in ids if not _hidden(i)]  # pytest.HIDDEN_PARAM leaves no trace in the name
            name = f"{test}[{'-'.join(shown)}]" if shown else test
            calls.append(Call(name, function, params, skip, usefixtures))
    return calls


def _outcomes() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(exceptions that skip a call, exceptions that fail it) under pytest."""
    try:
        import pytest
    except ImportError:
        return (), (AssertionError,)
    return (pytest.skip.Exception, pytest.xfail.Exception), (AssertionError, pytest.fail.Exception)


def _marks(obj: Any) -> list[Any]:
    return _as_marks(getattr(obj, "pytestmark", None))


def _as_marks(marks: Any) -> list[Any]:
    """Marks from a mark, a MarkDecorator or a list of them."""
    if marks is None:
        return []
    marks = marks if isinstance(marks, (list, tuple)) else [marks]
    return [getattr(m, "mark", m) for m in marks]


def _skips(marks: Any, namespace: dict[str, Any]) -> bool:
    import os
    import platform

    for mark in _as_marks(marks):
        if mark.name == "skip" or (mark.name == "xfail" and mark.kwargs.get("run", True) is False):
            return True
        if mark.name == "skipif":
            conditions = list(mark.args) + ([mark.kwargs["condition"]] if "condition" in mark.kwargs else [])
            if not conditions:
                return True
            for condition in conditions:
                if isinstance(condition, str):
                    condition = eval(condition, {"os": os, "sys": sys, "platform": platform, **namespace})
                if condition:
                    return True
    return False


def _parameter_sets(mark: Any) -> tuple[list[str], list[tuple[Any, tuple, list[Any]]]]:
    """(argnames, [(id, values, marks)]) of one parametrize mark, with pytest's ids."""
    args, kwargs = list(mark.args), dict(mark.kwargs)
    names = ("argnames", "argvalues", "indirect", "ids")
    options = {**dict(zip(names, args)), **kwargs}
    argnames, argvalues, ids = options["argnames"], list(options["argvalues"]), options.get("ids")
    if isinstance(argnames, str):
        argnames = [n.strip() for n in argnames.split(",") if n.strip()]
        force_tuple = len(argnames) == 1
    else:
        argnames, force_tuple = list(argnames), False
    idfn = ids if callable(ids) else None
    ids = None if idfn else (list(ids) if ids is not None else None)
    sets, resolved = [], []
    for index, value in enumerate(argvalues):
        if _is_parameter_set(value):
            values, set_marks, set_id = tuple(value.values), list(value.marks), value.id
        else:
            values, set_marks, set_id = ((value,) if force_tuple else tuple(value)), [], None
        if set_id is not None:
            resolved.append(set_id if _hidden(set_id) else _ascii_escaped(set_id))
        elif ids is not None and index < len(ids) and ids[index] is not None:
            given = ids[index] if _hidden(ids[index]) else _id_from_value(ids[index])
            if given is None:
                raise ValueError(f"parametrize ids: unsupported value {ids[index]!r} at index {index}")
            resolved.append(given)
        else:
            resolved.append("-".join(_id_of(v, n, index, idfn) for v, n in zip(values, argnames)))
        sets.append((values, set_marks))
    unique = _unique(resolved)
    return argnames, [(i, values, set_marks) for i, (values, set_marks) in zip(unique, sets)]


def _hidden(value: Any) -> bool:
    return type(value).__name__ == "_HiddenParam"


def _is_parameter_set(value: Any) -> bool:
    return type(value).__name__ == "ParameterSet" and all(hasattr(value, a) for a in ("values", "marks", "id"))


def _id_of(value: Any, argname: str, index: int, idfn: Any) -> str:
    if idfn is not None:
        made = idfn(value)
        if made is not None:
            text = _id_from_value(made)
            if text is not None:
                return text
    text = _id_from_value(value)
    return text if text is not None else f"{argname}{index}"


def _id_from_value(value: Any) -> str | None:
    """pytest's rendering of a parameter value in a test id (IdMaker._idval_from_value)."""
    import enum

    if isinstance(value, (str, bytes)):
        return _ascii_escaped(value)
    if value is None or isinstance(value, (float, int, bool, complex)):
        return str(value)
    if isinstance(value, re.Pattern):
        return _ascii_escaped(value.pattern)
    if isinstance(value, enum.Enum):
        return str(value)
    name = getattr(value, "__name__", None)
    return name if isinstance(name, str) else None


_NON_PRINTABLE = {i: f"\\x{i:02x}" for i in range(128) if i not in range(32, 127)}
_NON_PRINTABLE.update({ord("\t"): "\\t", ord("\r"): "\\r", ord("\n"): "\\n"})


def _ascii_escaped(value: str | bytes) -> str:
    text = value.decode("ascii", "backslashreplace") if isinstance(value, bytes) else \
        value.encode("unicode_escape").decode("ascii")
    return text.translate(_NON_PRINTABLE)


def _unique(ids: list[Any]) -> list[Any]:
    """pytest's suffixes for repeated ids: a0, a1; 10_0, 10_1 after a digit."""
    counts: dict[Any, int] = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    if all(c == 1 for c in counts.values()):
        return ids
    taken, suffixes, out = set(ids), {}, list(ids)
    for index, i in enumerate(ids):
        if not isinstance(i, str) or counts[i] == 1:
            continue
        joiner = "_" if i and i[-1].isdigit() else ""
        suffixes.setdefault(i, 0)
        new = f"{i}{joiner}{suffixes[i]}"
        while new in taken:
            suffixes[i] += 1
            new = f"{i}{joiner}{suffixes[i]}"
        out[index] = new
        suffixes[i] += 1
    return out


class _Request:
    """The part of pytest's `request` fixture that tests use."""

    def __init__(self, call: Call, namespace: dict[str, Any], resolver: _Fixtures):
        path = Path(namespace.get("__file__") or "task.py").name
        self.node = SimpleNamespace(name=call.name, originalname=call.function.__name__,
                                    nodeid=f"{path}::{call.name}")
        self.function = call.function
        self.module = sys.modules.get(namespace.get("__name__", ""))
        self._resolver = resolver

    def getfixturevalue(self, name: str) -> Any:
        return self._resolver.value(name)

    def addfinalizer(self, finalizer: Any) -> None:
        self._resolver.finalizers.append(finalizer)


class _Fixtures:
    """Fixture values for one call: the file's own fixtures, then `device`; finalised after the call."""

    def __init__(self, namespace: dict[str, Any], fixtures: dict[str, str], call: Call):
        self.namespace, self.fixtures = namespace, fixtures
        self.values: dict[str, Any] = {"request": _Request(call, namespace, self)}
        self.finalizers: list[Any] = []

    def arguments(self, function: Any, params: dict[str, Any]) -> dict[str, Any]:
        import inspect

        arguments = {}
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if parameter.name in params:
                arguments[parameter.name] = params[parameter.name]
            elif parameter.default is parameter.empty:
                arguments[parameter.name] = self.value(parameter.name)
        return arguments

    def value(self, name: str) -> Any:
        import inspect

        if name in self.values:
            return self.values[name]
        if name in self.fixtures:
            function = _unwrap_fixture(self.namespace[self.fixtures[name]])
            made = function(**self.arguments(function, {}))
            if inspect.isgenerator(made):
                generator, made = made, next(made)
                self.finalizers.append(lambda generator=generator: next(generator, None))
        elif name == "device":
            import torch
            made = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            raise LookupError(f"the tests need the pytest fixture {name!r}, which tritonsmith cannot provide")
        self.values[name] = made
        return made

    def finish(self) -> None:
        while self.finalizers:
            self.finalizers.pop()()


def _unwrap_fixture(obj: Any) -> Any:
    """The plain function behind @pytest.fixture (pytest >= 8.4 wraps it; older versions mark it)."""
    if hasattr(obj, "_get_wrapped_function"):
        return obj._get_wrapped_function()
    wrapped = getattr(obj, "__pytest_wrapped__", None)
    return wrapped.obj if wrapped is not None else obj
