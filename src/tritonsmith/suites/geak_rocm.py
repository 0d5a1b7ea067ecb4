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
- Top-level imports of GEAK's own `geak_eval` package become optional (the names are None where geak_eval is
  not installed), except GEAK-eval's benchmark helpers (PytestBenchmarker, do_bench_config, ...), which are
  tritonsmith's stand-ins (suites/rocm_perf.py).
- Speed: each call of a perf test that hands an op to PytestBenchmarker and calls run_benchmark once is a perf
  case, {"dtype", "test": pytest's id}. The calls are read when the file is loaded (suites/parametrize.py);
  where they depend on the device or anything else known only when the file runs, the task is correctness
  only, and its PERF_CASES line says why. The op is captured from a run of the call on the gold code, run on
  the candidate's code over copies of the inputs that run made, and timed against the gold code's op.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from tritonsmith.suites import Suite
from tritonsmith.suites.geak_perf import NARROWEST_FIRST
from tritonsmith.suites.generated import (
    find_instructions,
    generated_dir,
    load_each,
    task_files,
    write_if_changed,
)
from tritonsmith.suites.parametrize import Opaque, Unreadable, parametrisations
from tritonsmith.suites.parts import (
    SEPARATOR,
    signature,
    split_parts,
    top_level,
    used_by_tests,
    without_definitions,
)
from tritonsmith.suites.pytest_runner import FIXTURES
from tritonsmith.suites.rocm_perf import STAND_INS
from tritonsmith.task import DTYPES, Task, TaskError, load_task

SUITE = "geak-rocm"
RUNNER = "tritonsmith_run_tests"
PERF_WORDS = ("perf", "performance", "bench", "benchmark", "benchmarks", "benchmarking")
OPTIONAL_PACKAGES = ("geak_eval",)  # GEAK's own perf helpers, imported by the test part of every file
BENCHMARK_MODULE = "performance_utils_pytest"  # GEAK-eval's PytestBenchmarker and do_bench_config: ours instead
# the dtype names GEAK's tests parametrise with (strings, or torch's attributes), as tritonsmith's dtypes
DTYPE_WORDS = {"fp16": "float16", "half": "float16", "bf16": "bfloat16", "fp32": "float32", "fp64": "float64",
               "double": "float64", "fp8e4": "float8_e4m3fn", "fp8e4nv": "float8_e4m3fn", "fp8e4m3": "float8_e4m3fn",
               "float8_e4m3fnuz": "float8_e4m3fn", "fp8e5": "float8_e5m2", "float8_e5m2fnuz": "float8_e5m2",
               **{d: d for d in DTYPES}}
NOTE = ("# How your code is tested: the correctness tests below (every test_* except the performance tests and "
        "GEAK's result-saving hooks, once per parametrisation) run on the reference code and on yours, and the "
        "result_gold dicts they fill must match key by key.\n")
PERF_NOTE = ("# How your code is timed: each call of {tests} builds its inputs and the op it hands to "
             "PytestBenchmarker. That op runs on\n# your code, on the inputs that the reference code's run of the "
             "call built; what it returns, and whatever it writes\n# into those inputs, must match the reference "
             "code's op. Your op's time is compared with the reference code's.\n")


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
        fixture_functions = {f.name for f in self.fixtures.values()}
        self.tests = [n.name for n in self.functions.values() if n.name.startswith("test_")
                      and n.name not in fixture_functions and not is_skipped_test(n)]
        self.perf_tests = [n.name for n in self.functions.values() if n.name.startswith("test_")
                           and n.name not in fixture_functions and is_skipped_test(n) and _benchmarks(n)]

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


def _benchmarks(node: ast.FunctionDef) -> bool:
    """A GEAK perf test: it hands an op to PytestBenchmarker and calls run_benchmark."""
    callees = [ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)]
    return any(c.endswith("PytestBenchmarker") for c in callees) and any(c.endswith(".run_benchmark") for c in callees)


MAX_PERF_CASES = 24  # test_iv_dependent_matmul has 2,100 calls: timing them all would take an hour per candidate


def _perf_cases(path: Path, parts: Any, tests: _TestPart) -> tuple[list[dict], str | None]:
    """One perf case per call of each GEAK perf test, {"dtype", "test": pytest's id}, at most MAX_PERF_CASES
    of them spread evenly over the calls in pytest's order; or none, and why."""
    cases: list[dict] = []
    for test in tests.perf_tests:
        node = tests.functions[test]
        runs = [n for n in ast.walk(node) if isinstance(n, ast.Call) and ast.unparse(n.func).endswith(".run_benchmark")]
        loops = [n for n in ast.walk(node) if isinstance(n, (ast.For, ast.While))
                 and any(r in set(ast.walk(n)) for r in runs)]
        if len(runs) != 1 or loops:
            return [], (f"{test}() calls run_benchmark {len(runs)} times{' in a loop' if loops else ''}; "
                        "tritonsmith times one op per call of a test")
        try:
            tests.check_fixtures([test])
            calls = parametrisations(str(path), [(parts.kernel, 0), (parts.test, parts.test_line)], test)
        except (TaskError, Unreadable) as exc:
            return [], str(exc).removeprefix(f"{path}: ")
        cases += [{"dtype": _case_dtype(params), "test": name} for name, params in calls]
    if len(cases) > MAX_PERF_CASES:
        cases = [cases[round(i * (len(cases) - 1) / (MAX_PERF_CASES - 1))] for i in range(MAX_PERF_CASES)]
    return cases, None


def _case_dtype(params: dict[str, Any]) -> str:
    """The narrowest floating dtype the parameters name (`'fp16'`, `'bfloat16'`, `torch.float16`), else the first
    other dtype, else float32. It picks the compute roofline's peak only."""
    named: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, (str, Opaque)):
            word = str(value).rsplit(".", 1)[-1].lower()
            if word in DTYPE_WORDS:
                named.append(DTYPE_WORDS[word])
        elif isinstance(value, (list, tuple, set)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
    walk(list(params.values()))
    return next((d for d in NARROWEST_FIRST if d in named), named[0] if named else "float32")


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
    perf_cases, perf_problem = _perf_cases(path, parts, tests)
    prelude = "".join(ast.unparse(node) + "\n" for node in imports)
    if prelude:  # the kernel part's imports that the tests rely on, so a candidate need not repeat them
        prelude = "# the kernel part's imports that the tests use\n" + prelude + "\n"
    if repeated:
        prelude += (f"# tritonsmith dropped the test part's own copies of {', '.join(repeated)}: the tests call the "
                    "code under test's\n")
    perf_branch = ("    if perf_input is not None:  # a perf case: the op its perf test times, rebuilt on this "
                   "module's code\n        from tritonsmith.suites.rocm_perf import run_perf_op\n\n"
                   "        return run_perf_op(globals(), seed, perf_input)\n") if perf_cases else ""
    harness = (f"from tritonsmith.suites.pytest_runner import check_defined as _tritonsmith_check_defined\n\n"
               f"_tritonsmith_check_defined(globals(), {required!r})\n\n{prelude}{_optional_imports(test)}\n\n"
               f"# --- tritonsmith: run the correctness tests above (see tritonsmith/suites/pytest_runner.py) ---\n"
               f"from tritonsmith.suites.pytest_runner import run_tests as _tritonsmith_run_tests\n\n\n"
               f"def {RUNNER}(seed{', perf_input=None' if perf_cases else ''}):\n{perf_branch}"
               f"    return _tritonsmith_run_tests(globals(), seed, {tests.tests!r}, {tests.fixture_functions()!r}, "
               f"{tests.autouse!r})\n")
    task_id = path.stem.replace(".", "_")
    gold_file = out / f"{task_id}__gold.py"
    write_if_changed(gold_file, gold + "\n\n" + harness)
    shown = NOTE + test
    if perf_cases:
        shown += "\n\n" + PERF_NOTE.format(tests=", ".join(f"{t}()" for t in tests.perf_tests))
    perf_field = (f"PERF_CASES = {perf_cases!r}\n" if perf_cases or not perf_problem
                  else f"PERF_CASES = []  # {perf_problem}: correctness only\n")
    generated = f'''# Generated by tritonsmith from {path.name} (GEAK ROCm format). Do not edit: regenerated on load.
import importlib.util

ID = {task_id!r}
KIND = "other"
ENTRY_POINT = {RUNNER!r}
REQUIRED_NAMES = {required!r}
SIGNATURE = {signature(gold_tree, required)!r}
INSTRUCTION = {entry["instruction"].strip()!r}
CORRECTNESS_CASES = [{{"dtype": "float32"}}]
{perf_field}ALLOWED_OPS = ["*"]
REFERENCE_TIMING = "none"  # the reference is the gold code's op: timed once, as the baseline
SOURCE_FILE = {str(path.resolve())!r}
GOLD_FILE = {str(gold_file.resolve())!r}
TESTS = {tests.tests!r}
FIXTURES = {tests.fixture_functions()!r}
AUTOUSE = {tests.autouse!r}
BASELINE = {gold!r}
HARNESS = {harness!r}
REFERENCE_SOURCE = {shown!r}

_gold = []


def _gold_module():
    if not _gold:
        spec = importlib.util.spec_from_file_location("tritonsmith_gold_{task_id}", GOLD_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _gold.append(module)
    return _gold[0]


def make_inputs(case, generator, device):
    if "test" in case:  # a perf case: (marker tensor, PerfOp), the op its perf test hands to PytestBenchmarker
        from tritonsmith.suites.rocm_perf import capture

        return capture(vars(_gold_module()), case["test"], int(generator.initial_seed()), FIXTURES, AUTOUSE,
                       SOURCE_FILE)
    return (int(generator.initial_seed()),)


def reference(seed, perf_input=None):
    if perf_input is not None:
        from tritonsmith.suites.rocm_perf import run_perf_op

        return run_perf_op(vars(_gold_module()), seed, perf_input)
    return _gold_module().{RUNNER}(seed)


def _perf_facts(case):
    from tritonsmith.suites.rocm_perf import perf_facts

    return perf_facts(SOURCE_FILE, case["test"]) if "test" in case else {{}}


def flops(case):
    return _perf_facts(case).get("flops", 0)


def bytes_moved(case):
    return _perf_facts(case).get("bytes", 0)


def perf_evidence(case):
    """How the perf case's inputs were made, for the perf case's evidence."""
    facts = _perf_facts(case)
    return {{"inputs": facts["inputs"]}} if facts else {{}}
'''
    target = out / f"{task_id}.py"
    write_if_changed(target, generated)
    return target


def _optional_imports(test: str) -> str:
    """The test part with GEAK-eval's benchmark helpers imported from tritonsmith's stand-ins, and other top-level
    imports of GEAK's own package made optional."""
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
        replaced = []
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(BENCHMARK_MODULE):
            ours = [a for a in node.names if a.name in STAND_INS]
            if ours:
                replaced.append("from tritonsmith.suites.rocm_perf import "
                                + ", ".join(a.name if not a.asname else f"{a.name} as {a.asname}" for a in ours)
                                + "  # GEAK-eval's benchmark helpers: tritonsmith's stand-ins")
            names = [a.asname or a.name for a in node.names if a.name not in STAND_INS]
            body = [f"    from {node.module} import {', '.join(names)}"] if names else []
        else:
            body = ["    " + line for line in lines[node.lineno - 1:node.end_lineno]]
        if body:
            replaced += ["try:", *body, "except ImportError:  # GEAK's perf helpers: only its perf tests use them",
                         f"    {' = '.join(names)} = None"]
        lines[node.lineno - 1:node.end_lineno] = replaced
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
