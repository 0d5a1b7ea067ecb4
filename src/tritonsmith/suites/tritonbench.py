"""TritonBench-G (as revised by GEAK-eval) as tasks: `tritonbench-g:PATH`.

Each task file holds Triton kernels and Python wrappers, then a line of 146 '#', then one
`test_*()` that calls the wrappers on fixed inputs and returns a dict of results, then
`result_gold = test_*()`. A candidate defines what the test (and the perf script) reads of the kernel
part: wrappers under any name, classes (autograd Functions, nn.Modules), kernels and module-level
objects (suites/parts.py). It is correct when the test part, run once on the gold code and once on the
candidate with the seeds fixed before each, returns the same results key by key. Instructions come
from a JSON list of {instruction, input, output, file, difficulty} beside the task folder (or
--instructions FILE). A file that cannot be a task is listed in the Suite's `unsupported` with its
reason; the rest loads.

Each file becomes an ordinary task file of ours, generated into a cache folder: the gold code is
its BASELINE and, run through the test, its reference; the test part is its HARNESS, appended to
each candidate.

Speed comes from GEAK-eval's perf script for the task, `<file stem>_perf.py`, found in
`performance_metrics/perf_G/golden_metrics/` two levels above the task folder (GEAK-eval keeps the
tasks in `TritonBench/data/TritonBench_G_v1/` and the scripts in
`TritonBench/performance_metrics/perf_G/golden_metrics/`), or in the folder named by `perf_scripts`
(--perf-scripts DIR). Each input its get_input_tensors() makes is a perf case, `{"dtype", "input": i}`;
the harness runs the script's call_op on the candidate's code and the reference runs its call_op_ref
on the gold code (read by suites/perf_scripts.py, run by suites/runtime/geak_perf.py). A task without a
perf script is correctness-only (speedup null).
"""

from __future__ import annotations

import ast
from pathlib import Path

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
from tritonsmith.suites.parts import (
    Parts,
    signature,
    split_parts,
    top_level,
    used_by_tests,
    without_definitions,
)
from tritonsmith.suites.perf_scripts import ScriptInfo, read_script
from tritonsmith.task import Task, TaskError, load_task
from tritonsmith.util import pyast

RUNNER = "tritonsmith_run_test"
PERF_FOLDER = Path("performance_metrics") / "perf_G" / "golden_metrics"  # GEAK-eval's, two levels above the tasks
RUNTIME = "tritonsmith.suites.runtime"
SHOWN_TEST = ("# How your code is tested: this runs on the reference code and on yours, and the results must "
              "match key by key.\n")
SHOWN_PERF = ("\n\n# How your code is timed ({script}, GEAK-eval's perf script): call_op runs your code "
              "on each input\n# that get_input_tensors() makes (moved to the GPU by to_cuda). What it returns, "
              "and whatever it writes\n# into its input, must match call_op_ref, which runs the reference code. "
              "Your time is compared with\n# the reference code's on the same inputs.\n")


def load_tritonbench_g(path: str | Path, instructions: str | Path | None = None,
                       cache_dir: str | Path | None = None, perf_scripts: str | Path | None = None) -> Suite:
    """The task files of folder `path`, and the files that cannot be tasks with their reasons;
    `perf_scripts` names the folder of `<stem>_perf.py` scripts when it is not GEAK-eval's
    `performance_metrics/perf_G/golden_metrics/` two levels above `path`."""
    folder, sources, entries = described_files(path, "TritonBench-G task", instructions,
                                               "{instruction, input, output, file, difficulty}")
    scripts = perf_scripts_dir(folder, perf_scripts)
    out = Path(cache_dir) if cache_dir else generated_dir(folder)
    out.mkdir(parents=True, exist_ok=True)
    stems = {p.stem for p in sources}

    def make(source_path: Path, entry: dict) -> Task:
        script = scripts / f"{source_path.stem}_perf.py" if scripts else None
        generated = _generate(source_path, entry, out, script if script and script.is_file() else None, stems)
        return load_task(generated, suite="tritonbench-g")
    return load_described(sources, entries, make)


def perf_scripts_dir(folder: Path, perf_scripts: str | Path | None = None) -> Path | None:
    """The folder of perf scripts: `perf_scripts` if given, else PATH/../../performance_metrics/perf_G/
    golden_metrics (the task folder's grandparent, resolved, holds performance_metrics/), if it exists."""
    if perf_scripts is not None:
        named = Path(perf_scripts)
        if not named.is_dir():
            raise TaskError(f"{named}: no such folder of perf scripts (<stem>_perf.py).")
        return named
    parents = folder.resolve().parents
    if len(parents) < 2:
        return None
    found = parents[1] / PERF_FOLDER
    return found if found.is_dir() else None


def harness_test_part(parts: Parts, defined: set[str]) -> tuple[str, str, list[str]]:
    """(the test part as the harness runs it, its test function's name, the kernel-part definitions it
    repeated): without `result_gold = ...`, and without its own copies of kernel-part functions and classes,
    so that it calls the candidate's (GEAK-eval, appending the test part, would run the copies)."""
    test, repeated = without_definitions(parts.test, defined)
    tree = pyast.parse(test)
    tests = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    if len(tests) != 1:
        raise TaskError(f"{parts.path}: the test part must define exactly one test_*() function (found {len(tests)}).")
    drop = {i for n in tree.body if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "result_gold" for t in n.targets)
            for i in range(n.lineno - 1, n.end_lineno)}
    kept = "\n".join(line for i, line in enumerate(test.splitlines()) if i not in drop).strip() + "\n"
    return kept, tests[0], repeated


def _generate(path: Path, entry: dict, out: Path, script: Path | None = None,
              stems: set[str] | None = None) -> Path:
    parts = split_parts(path)
    gold_tree = parts.kernel_tree()
    defined = top_level(gold_tree)
    test, test_name, repeated = harness_test_part(parts, set(defined))
    task_id = described_task_id(path.stem)
    info = (read_script(script, path.stem, (stems or set()) | {path.stem}, set(defined)) if script else None)
    required, imports = used_by_tests(gold_tree, test, list(info.stem_names) if info else [])
    if not required:
        raise TaskError(f"{path}: the test part uses nothing that the kernel part defines, so it would pass "
                        "any candidate.")
    test = _with_notes(test, imports, repeated)
    harness = _harness(test, test_name, info is not None)
    gold_file = out / f"{task_id}__gold.py"
    write_if_changed(gold_file, parts.kernel + "\n\n" + harness)
    perf = _perf_part(script, info, path.stem, out) if info else _NO_PERF
    shown = SHOWN_TEST + test + (SHOWN_PERF.format(script=script.name) + info.text if info else "")
    difficulty = entry.get("difficulty")
    fields = {
        "ID": task_id, "KIND": Raw('"other"'),
        "DIFFICULTY": int(difficulty) if str(difficulty).isdigit() and 1 <= int(difficulty) <= 5 else None,
        "ENTRY_POINT": RUNNER, "REQUIRED_NAMES": required, "SIGNATURE": signature(gold_tree, required),
        "INSTRUCTION": entry["instruction"].strip() + (f"\n\n{entry['input'].strip()}" if entry.get("input") else ""),
        "CORRECTNESS_CASES": Raw('[{"dtype": "float32"}]'), "PERF_CASES": perf["cases"], "ALLOWED_OPS": Raw('["*"]'),
        "REFERENCE_TIMING": Raw('"none"  # the reference is call_op_ref on the gold code: timed once, as the baseline'),
        "PERF_INPUT_ERRORS": Raw('"skip"  # GEAK-eval\'s harness goes on past a perf input whose run raises'),
        "SOURCE_FILE": str(path.resolve()), "GOLD_FILE": str(gold_file.resolve()),
        "GOLD_MODULE": _gold_module_name(task_id), "BASELINE": parts.kernel, "HARNESS": harness,
        "REFERENCE_SOURCE": shown, "GPU_ONLY": gpu_use(parts), **perf["fields"]}
    code = "\n\ndef _gold():\n    return load_gold(GOLD_MODULE, GOLD_FILE)\n" + perf["functions"]
    target = out / f"{task_id}.py"
    write_if_changed(target, render_task(path.name, "TritonBench-G", f"from {RUNTIME} import load_gold", fields, code))
    return target


def _with_notes(test: str, imports: list[ast.stmt], repeated: list[str]) -> str:
    """The test part headed by the kernel part's imports it uses (so a candidate need not repeat them) and a note
    naming the kernel-part definitions whose copies it dropped."""
    if imports:
        test = ("# the kernel part's imports that the test uses\n"
                + "".join(ast.unparse(node) + "\n" for node in imports) + "\n" + test)
    if repeated:
        test = (f"# tritonsmith dropped this test part's own copies of {', '.join(repeated)}: the test calls "
                "the code under test's\n" + test)
    return test


def _harness(test: str, test_name: str, perf: bool) -> str:
    """The test part plus its runner: appended to each candidate, and to the gold code as its reference."""
    perf_branch = ("    if perf_input is not None:  # a perf case: the perf script's call_op on this module's code\n"
                   f"        from {RUNTIME}.geak_perf import run_perf_case\n\n"
                   "        return run_perf_case(globals(), seed, perf_input)\n") if perf else ""
    return (f"{test}\n\ndef {RUNNER}(seed{', perf_input=None' if perf else ''}):\n{perf_branch}"
            f"    from {RUNTIME} import as_tensors, seed_all\n\n    seed_all(seed)\n"
            f"    return as_tensors({test_name}())\n")


_NO_PERF = {"cases": [], "fields": {"PERF_SCRIPT_FILE": Raw("None  # no perf script: correctness only")},
            "functions": '''

def make_inputs(case, generator, device):
    return (int(generator.initial_seed()),)


def reference(seed):
    return _gold().tritonsmith_run_test(seed)


def flops(case):
    return 0


def bytes_moved(case):
    return 0
'''}


def _perf_part(script: Path, info: ScriptInfo, stem: str, out: Path) -> dict:
    """PERF_CASES and the code that makes a perf case's inputs (the script's, from the gold code) and its
    reference (call_op_ref), and reads flops and bytes from get_tflops and get_gbps."""
    gold = {name: [_gold_module_name(described_task_id(other)),
                   str((out / f"{described_task_id(other)}__gold.py").resolve())]
            for name, other in sorted(info.gold_imports.items())}
    cases = [{"dtype": info.dtype, "input": i} for i in range(info.count or 0)]
    note = "" if info.count is not None else f"  # not counted ({info.count_problem}): correctness only"
    fields = {"PERF_SCRIPT_FILE": str(script.resolve()), "PERF_SCRIPT": info.text, "PERF_CLASS": info.class_name,
              "PERF_GOLD": gold, "PERF_INPUTS": Raw(f"{info.count!r}{note}")}
    functions = f'''

_perf = []


def _perf_script():
    """The perf script with the gold code as its code under test: inputs, reference, flops and bytes."""
    if not _perf:
        from tritonsmith.suites.runtime.geak_perf import PerfScript, PerfSpec

        gold = {{name: tuple(where) for name, where in PERF_GOLD.items()}}
        spec = PerfSpec(PERF_SCRIPT, PERF_SCRIPT_FILE, PERF_CLASS, {stem!r}, gold)
        _perf.append(PerfScript(spec, vars(_gold())))
    return _perf[0]


def make_inputs(case, generator, device):
    if "input" in case:  # a perf case: (marker tensor, PerfInput) from get_input_tensors, seeded
        return _perf_script().make_inputs(case["input"], int(generator.initial_seed()), device, PERF_INPUTS)
    return (int(generator.initial_seed()),)


def reference(seed, perf_input=None):
    if perf_input is not None:
        return _perf_script().call(seed, perf_input, reference=True)
    return _gold().tritonsmith_run_test(seed)


def flops(case):
    return _perf_script().flops(case["input"]) if "input" in case else 0


def bytes_moved(case):
    return _perf_script().bytes_moved(case["input"]) if "input" in case else 0


def perf_evidence(case):
    """Where the perf case's input was made (the GPU, or the CPU and why), for the perf case's evidence."""
    return _perf_script().evidence(case["input"]) if "input" in case else {{}}
'''
    return {"cases": cases, "fields": fields, "functions": functions}


def _gold_module_name(task_id: str) -> str:
    return f"tritonsmith_gold_{task_id}"
