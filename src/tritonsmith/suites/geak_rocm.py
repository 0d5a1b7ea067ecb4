"""GEAK's ROCm benchmark as tasks: `geak-rocm:PATH`.

Each task file is a pytest module: Triton kernels (and maybe Python wrappers), then a line of 146
'#', then the tests. Its parametrised `test_*` functions run the kernels and store tensors in a
module-level dict, `result_gold[<sanitised test id>]`, plus `result_gold['_CALL_SUCCESS_']`; its
performance tests time the kernels. A candidate completes the kernels; it is correct when the
correctness tests, run once on the gold code and once on the candidate, fill the same dict (compared
key by key). Instructions come from a JSON list of {file, target_kernel_name, instruction, label}
beside the task folder (or --instructions FILE); target_kernel_name may name several kernels,
comma-separated.

Each file becomes an ordinary task file of ours, generated into a cache folder, as TritonBench-G's
do (suites/tritonbench.py): the kernel part is its BASELINE and, run through the tests, its
reference; the test part plus a runner is its HARNESS, appended to each candidate. pytest's runner is
not used: the harness calls suites/pytest_runner.py, which runs the test functions directly.

- Which tests run: every module-level `test_*` function except performance tests (one of the words
  of its name, or one of its marks, is perf, performance, bench, benchmark(s) or benchmarking, as in
  test_performance or test_add_perf; or it takes the pytest-benchmark `benchmark` fixture) and
  GEAK's result-saving hooks (`test_save*`). GEAK itself runs `pytest -k "not test_performance and not
  test_save_performance_results"` and saves the dict in test_save_results.
- The candidate must define the target kernels and everything of the kernel part that the tests use
  (functions, classes, kernels, module-level objects: REQUIRED_NAMES). The kernel part's imports that
  the tests use are the harness's own.
- A test that needs a fixture the runner cannot provide makes its file unsupported: loading it raises
  a TaskError naming the file and the fixture, and the suite lists the file with that reason.
- Top-level imports of GEAK's own `geak_eval` package (perf helpers used only by perf tests) become
  optional: the names are None where geak_eval is not installed.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from tritonsmith.suites import Suite
from tritonsmith.suites.generated import (
    find_instructions,
    generated_dir,
    load_each,
    task_files,
    write_if_changed,
)
from tritonsmith.suites.parts import (
    SEPARATOR,
    signature,
    split_parts,
    top_level,
    used_by_tests,
    without_definitions,
)
from tritonsmith.suites.pytest_runner import FIXTURES
from tritonsmith.task import Task, TaskError, load_task

SUITE = "geak-rocm"
RUNNER = "tritonsmith_run_tests"
PERF_WORDS = ("perf", "performance", "bench", "benchmark", "benchmarks", "benchmarking")
OPTIONAL_PACKAGES = ("geak_eval",)  # GEAK's own perf helpers, imported by the test part of every file
NOTE = ("# How your code is tested: the correctness tests below (every test_* except the performance tests and "
        "GEAK's result-saving hooks, once per parametrisation) run on the reference code and on yours, and the "
        "result_gold dicts they fill must match key by key.\n")


def load_geak_rocm(path: str | Path, instructions: str | Path | None = None,
                   cache_dir: str | Path | None = None) -> Suite:
    """The task files of folder `path`, and the files that cannot be tasks with their reasons."""
    folder = Path(path)
    if not folder.is_dir():
        raise TaskError(f"{folder}: no such folder of GEAK ROCm task files.")
    files = task_files(folder)
    if not files:
        raise TaskError(f"{folder}: the folder holds no task files (*.py).")
    entries = find_instructions(folder, files, instructions, "{file, target_kernel_name, instruction, label}")
    default = generated_dir(folder)
    out = Path(cache_dir) if cache_dir else default.with_name(f"{SUITE}-{default.name}")
    out.mkdir(parents=True, exist_ok=True)

    def load_one(source_path: Path) -> Task | None:
        entry = entries.get(source_path.name)
        if entry is None:
            if SEPARATOR not in source_path.read_text():
                return None  # a helper module beside the tasks
            raise TaskError(f"{source_path}: no entry with file {source_path.name!r} in the instructions JSON.")
        return load_task(_generate(source_path, entry, out), suite=SUITE)
    return load_each(files, load_one)


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


def _generate(path: Path, entry: dict, out: Path) -> Path:
    parts = split_parts(path)
    gold, gold_tree = parts.kernel, parts.kernel_tree()
    defined = top_level(gold_tree)
    # the test part's own copies of kernel-part functions and classes would replace the candidate's
    test, repeated = without_definitions(parts.test, set(defined))
    tests = _TestPart(path, test)
    if not tests.tests:
        raise TaskError(f"{path}: the test part has no correctness test_*() function (performance tests and "
                        "test_save* hooks are not run).")
    tests.check_fixtures()
    targets = [name.strip() for name in str(entry.get("target_kernel_name") or "").split(",") if name.strip()]
    absent = [name for name in targets if name not in defined]
    if absent:
        raise TaskError(f"{path}: the instructions name target_kernel_name {', '.join(map(repr, absent))}, which the "
                        "kernel part does not define.")
    used, imports = used_by_tests(gold_tree, test, targets)
    required = targets + [name for name in used if name not in targets]
    if not required:
        raise TaskError(f"{path}: the tests use nothing that the kernel part defines, and the instructions name no "
                        "target_kernel_name.")
    prelude = "".join(ast.unparse(node) + "\n" for node in imports)
    if prelude:  # the kernel part's imports that the tests rely on, so a candidate need not repeat them
        prelude = "# the kernel part's imports that the tests use\n" + prelude + "\n"
    if repeated:
        prelude += (f"# tritonsmith dropped the test part's own copies of {', '.join(repeated)}: the tests call the "
                    "code under test's\n")
    harness = (f"from tritonsmith.suites.pytest_runner import check_defined as _tritonsmith_check_defined\n\n"
               f"_tritonsmith_check_defined(globals(), {required!r})\n\n{prelude}{_optional_imports(test)}\n\n"
               f"# --- tritonsmith: run the correctness tests above (see tritonsmith/suites/pytest_runner.py) ---\n"
               f"from tritonsmith.suites.pytest_runner import run_tests as _tritonsmith_run_tests\n\n\n"
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
SIGNATURE = {signature(gold_tree, required)!r}
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
