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
not used: the harness calls suites/runtime/pytest_runner.py, which runs the test functions directly.

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
  tritonsmith's stand-ins (suites/runtime/rocm_perf.py).
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
from tritonsmith.suites.generated import (
    Raw,
    described_files,
    described_task_id,
    generated_dir,
    load_described,
    render_task,
    write_if_changed,
)
from tritonsmith.suites.gpu_use import gpu_use
from tritonsmith.suites.parametrize import Opaque, Unreadable, parametrisations
from tritonsmith.suites.parts import (
    Parts,
    signature,
    split_parts,
    top_level,
    used_by_tests,
    without_definitions,
)
from tritonsmith.suites.perf_scripts import NARROWEST_FIRST
from tritonsmith.suites.pytest_reader import PytestPart
from tritonsmith.suites.runtime.rocm_perf import STAND_INS
from tritonsmith.task import DTYPES, TaskError, load_task
from tritonsmith.util import pyast

SUITE = "geak-rocm"
RUNNER = "tritonsmith_run_tests"
RUNTIME = "tritonsmith.suites.runtime"
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
    folder, files, entries = described_files(path, "GEAK ROCm task", instructions,
                                             "{file, target_kernel_name, instruction, label}")
    default = generated_dir(folder)
    out = Path(cache_dir) if cache_dir else default.with_name(f"{SUITE}-{default.name}")
    out.mkdir(parents=True, exist_ok=True)
    return load_described(files, entries, lambda source, entry: load_task(_generate(source, entry, out), suite=SUITE))


MAX_PERF_CASES = 24  # test_iv_dependent_matmul has 2,100 calls: timing them all would take an hour per candidate


def _perf_cases(path: Path, parts: Parts, tests: PytestPart) -> tuple[list[dict], str | None]:
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
    gold_tree = parts.kernel_tree()
    defined = top_level(gold_tree)
    # the test part's own copies of kernel-part functions and classes would replace the candidate's
    test, repeated = without_definitions(parts.test, set(defined))
    tests = PytestPart(path, test)
    if not tests.tests:
        raise TaskError(f"{path}: the test part has no correctness test_*() function (performance tests and "
                        "test_save* hooks are not run).")
    tests.check_fixtures()
    required, imports = _required(path, entry, gold_tree, set(defined), test)
    perf_cases, perf_problem = _perf_cases(path, parts, tests)
    harness = _harness(test, tests, required, imports, repeated, bool(perf_cases))
    task_id = described_task_id(path.stem)
    gold_file = out / f"{task_id}__gold.py"
    write_if_changed(gold_file, parts.kernel + "\n\n" + harness)
    shown = NOTE + test
    if perf_cases:
        shown += "\n\n" + PERF_NOTE.format(tests=", ".join(f"{t}()" for t in tests.perf_tests))
    fields = {
        "ID": task_id, "KIND": Raw('"other"'), "ENTRY_POINT": RUNNER, "REQUIRED_NAMES": required,
        "SIGNATURE": signature(gold_tree, required), "INSTRUCTION": entry["instruction"].strip(),
        "CORRECTNESS_CASES": Raw('[{"dtype": "float32"}]'),
        "PERF_CASES": Raw(repr(perf_cases) if perf_cases or not perf_problem else f"[]  # {perf_problem}: correctness only"),
        "ALLOWED_OPS": Raw('["*"]'),
        "REFERENCE_TIMING": Raw('"none"  # the reference is the gold code\'s op: timed once, as the baseline'),
        "PERF_INPUT_ERRORS": Raw('"skip"  # pytest goes on past a test_performance call that raises'),
        "SOURCE_FILE": str(path.resolve()), "GOLD_FILE": str(gold_file.resolve()), "TESTS": tests.tests,
        "FIXTURES": tests.fixture_functions(), "AUTOUSE": tests.autouse, "BASELINE": parts.kernel,
        "HARNESS": harness, "REFERENCE_SOURCE": shown, "GPU_ONLY": gpu_use(parts, _not_run(tests))}
    target = out / f"{task_id}.py"
    write_if_changed(target, render_task(path.name, "GEAK ROCm", f"from {RUNTIME} import load_module", fields,
                                         TASK_CODE.replace("{task_id}", task_id)))
    return target


def _not_run(tests: PytestPart) -> list[str]:
    """The test functions the correctness check never runs: performance tests and GEAK's result-saving hooks."""
    fixtures = set(tests.fixture_functions().values())
    return [name for name in tests.functions if name.startswith("test_") and name not in tests.tests + list(fixtures)]


def _required(path: Path, entry: dict, gold_tree: ast.Module, defined: set[str],
              test: str) -> tuple[list[str], list[ast.stmt]]:
    """(what the candidate must define: the target kernels, then what the tests use of the kernel part; the
    kernel part's imports that the tests use)."""
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
    return required, imports


def _harness(test: str, tests: PytestPart, required: list[str], imports: list[ast.stmt], repeated: list[str],
             perf: bool) -> str:
    """The test part plus its runner: appended to each candidate, and to the gold code as its reference."""
    prelude = "".join(ast.unparse(node) + "\n" for node in imports)
    if prelude:  # the kernel part's imports that the tests rely on, so a candidate need not repeat them
        prelude = "# the kernel part's imports that the tests use\n" + prelude + "\n"
    if repeated:
        prelude += (f"# tritonsmith dropped the test part's own copies of {', '.join(repeated)}: the tests call the "
                    "code under test's\n")
    perf_branch = ("    if perf_input is not None:  # a perf case: the op its perf test times, rebuilt on this "
                   f"module's code\n        from {RUNTIME}.rocm_perf import run_perf_op\n\n"
                   "        return run_perf_op(globals(), seed, perf_input)\n") if perf else ""
    return (f"from {RUNTIME}.pytest_runner import check_defined as _tritonsmith_check_defined\n\n"
            f"_tritonsmith_check_defined(globals(), {required!r})\n\n{prelude}{_optional_imports(test)}\n\n"
            f"# --- tritonsmith: run the correctness tests above (see tritonsmith/suites/runtime/pytest_runner.py) ---\n"
            f"from {RUNTIME}.pytest_runner import run_tests as _tritonsmith_run_tests\n\n\n"
            f"def {RUNNER}(seed{', perf_input=None' if perf else ''}):\n{perf_branch}"
            f"    return _tritonsmith_run_tests(globals(), seed, {tests.tests!r}, {tests.fixture_functions()!r}, "
            f"{tests.autouse!r})\n")


TASK_CODE = '''
_gold = []


def _gold_module():
    if not _gold:
        _gold.append(load_module("tritonsmith_gold_{task_id}", GOLD_FILE, register=False))
    return _gold[0]


def make_inputs(case, generator, device):
    if "test" in case:  # a perf case: (marker tensor, PerfOp), the op its perf test hands to PytestBenchmarker
        from tritonsmith.suites.runtime.rocm_perf import capture

        return capture(vars(_gold_module()), case["test"], int(generator.initial_seed()), FIXTURES, AUTOUSE,
                       SOURCE_FILE)
    return (int(generator.initial_seed()),)


def reference(seed, perf_input=None):
    if perf_input is not None:
        from tritonsmith.suites.runtime.rocm_perf import run_perf_op

        return run_perf_op(vars(_gold_module()), seed, perf_input)
    return _gold_module().tritonsmith_run_tests(seed)


def _perf_facts(case):
    from tritonsmith.suites.runtime.rocm_perf import perf_facts

    return perf_facts(SOURCE_FILE, case["test"]) if "test" in case else {}


def flops(case):
    return _perf_facts(case).get("flops", 0)


def bytes_moved(case):
    return _perf_facts(case).get("bytes", 0)


def perf_evidence(case):
    """How the perf case's inputs were made, for the perf case's evidence."""
    facts = _perf_facts(case)
    return {"inputs": facts["inputs"]} if facts else {}
'''


def _optional_imports(test: str) -> str:
    """The test part with GEAK-eval's benchmark helpers imported from tritonsmith's stand-ins, and other top-level
    imports of GEAK's own package made optional."""
    lines = test.splitlines()
    for node in reversed(pyast.parse(test).body):
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
                replaced.append("from tritonsmith.suites.runtime.rocm_perf import "
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
