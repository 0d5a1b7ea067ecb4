"""TritonBench-G (as revised by GEAK-eval) as tasks: `tritonbench-g:PATH`.

Each task file holds Triton kernels and Python wrappers, then a line of 146 '#', then one
`test_*()` that calls the wrappers on fixed inputs and returns a dict of results, then
`result_gold = test_*()`. A candidate defines the same wrappers; it is correct when the test part,
run once on the gold code and once on the candidate with the seeds fixed before each, returns the
same results key by key. Instructions come from a JSON list of {instruction, input, output, file,
difficulty} beside the task folder (or --instructions FILE).

Each file becomes an ordinary task file of ours, generated into a cache folder: the gold code is
its BASELINE and, run through the test, its reference; the test part is its HARNESS, appended to
each candidate. Perf scripts are not read yet: such tasks are correctness-only (speedup null).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path

from tritonsmith.task import Task, TaskError, load_task

SEPARATOR = "#" * 146
RUNNER = "tritonsmith_run_test"


def load_tritonbench_g(path: str | Path, instructions: str | Path | None = None,
                       cache_dir: str | Path | None = None) -> list[Task]:
    folder = Path(path)
    if not folder.is_dir():
        raise TaskError(f"{folder}: no such folder of TritonBench-G task files.")
    entries = _instructions(folder, instructions)
    out = Path(cache_dir) if cache_dir else generated_dir(folder)
    out.mkdir(parents=True, exist_ok=True)
    tasks = []
    for source_path in sorted(folder.glob("*.py")):
        entry = entries.get(source_path.name)
        if entry is None:
            raise TaskError(f"{source_path}: no entry with file {source_path.name!r} in the instructions JSON.")
        tasks.append(load_task(_generate(source_path, entry, out), suite="tritonbench-g"))
    if not tasks:
        raise TaskError(f"{folder}: the folder holds no task files (*.py).")
    return tasks


def generated_dir(folder: Path) -> Path:
    """Where the generated task files of a suite folder live: the user's cache, never the checkout."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tritonsmith" / "suites"
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return base / f"{folder.name}-{key}"


def split_task_file(path: Path) -> tuple[str, str, str, list[str]]:
    """(gold code, test code without the result_gold line, test function name, wrapper names)."""
    text = path.read_text()
    lines = text.splitlines()
    try:
        cut = next(i for i, line in enumerate(lines) if line.strip() == SEPARATOR)
    except StopIteration:
        raise TaskError(f"{path}: no separator line of 146 '#' between the kernels and the test.") from None
    gold = "\n".join(lines[:cut]) + "\n"
    test_lines = lines[cut + 1:]
    try:
        test_tree = ast.parse("\n".join(test_lines))
        gold_tree = ast.parse(gold)
    except SyntaxError as err:
        raise TaskError(f"{path}: line {err.lineno}: not valid Python ({err.msg}).") from None
    tests = [n.name for n in test_tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    if len(tests) != 1:
        raise TaskError(f"{path}: the test part must define exactly one test_*() function (found {len(tests)}).")
    drop = {n.lineno - 1 for n in test_tree.body if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "result_gold" for t in n.targets)}
    test = "\n".join(line for i, line in enumerate(test_lines) if i not in drop).strip() + "\n"
    wrappers = [n.name for n in gold_tree.body if isinstance(n, ast.FunctionDef) and not _is_jit(n)
                and not n.name.startswith("_")]
    if not wrappers:
        raise TaskError(f"{path}: the kernel part defines no wrapper function for the test to call.")
    return gold, test, tests[0], wrappers


def _generate(path: Path, entry: dict, out: Path) -> Path:
    gold, test, test_name, wrappers = split_task_file(path)
    gold_tree = ast.parse(gold)
    signatures = "\n    ".join(_signature(gold, n) for n in gold_tree.body
                               if isinstance(n, ast.FunctionDef) and n.name in wrappers)
    harness = (f"{test}\n\ndef {RUNNER}(seed):\n    import random\n\n    import numpy\n    import torch\n\n"
               f"    random.seed(seed)\n    numpy.random.seed(seed)\n    torch.manual_seed(seed)\n"
               f"    return {test_name}()\n")
    instruction = entry["instruction"].strip() + (f"\n\n{entry['input'].strip()}" if entry.get("input") else "")
    difficulty = entry.get("difficulty")
    difficulty = int(difficulty) if str(difficulty).isdigit() and 1 <= int(difficulty) <= 5 else None
    task_id = path.stem.replace(".", "_")
    shown = ("# How your code is tested: this runs on the reference code and on yours, and the results must "
             "match key by key.\n" + test)
    gold_file = out / f"{task_id}__gold.py"
    gold_file.write_text(gold + "\n\n" + harness)
    generated = f'''# Generated by tritonsmith from {path.name} (TritonBench-G format). Do not edit: regenerated on load.
import importlib.util

ID = {task_id!r}
KIND = "other"
DIFFICULTY = {difficulty!r}
ENTRY_POINT = {RUNNER!r}
REQUIRED_NAMES = {wrappers!r}
SIGNATURE = {signatures!r}
INSTRUCTION = {instruction!r}
CORRECTNESS_CASES = [{{"dtype": "float32"}}]
PERF_CASES = []
ALLOWED_OPS = ["*"]
SOURCE_FILE = {str(path.resolve())!r}
GOLD_FILE = {str(gold_file.resolve())!r}
BASELINE = {gold!r}
HARNESS = {harness!r}
REFERENCE_SOURCE = {shown!r}

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
    digest = hashlib.sha256(generated.encode()).hexdigest()
    if not target.exists() or hashlib.sha256(target.read_bytes()).hexdigest() != digest:
        target.write_text(generated)
    return target


def _instructions(folder: Path, instructions: str | Path | None) -> dict[str, dict]:
    candidates = [Path(instructions)] if instructions else sorted(folder.glob("*.json")) + sorted(
        folder.parent.glob("*.json"))
    for candidate in candidates:
        try:
            data = json.loads(candidate.read_text())
        except (OSError, ValueError) as err:
            if instructions:
                raise TaskError(f"{candidate}: cannot read the instructions JSON ({err}).") from None
            continue
        if isinstance(data, list) and data and all(isinstance(e, dict) and "file" in e and "instruction" in e
                                                   for e in data):
            return {Path(e["file"]).name: e for e in data}
        if instructions:
            raise TaskError(f"{candidate}: the instructions must be a JSON list of "
                            "{instruction, input, output, file, difficulty} records.")
    raise TaskError(f"{folder}: no instructions JSON (a list of {{instruction, file, ...}}) beside the task "
                    "folder; name it with --instructions FILE.")


def _is_jit(node: ast.FunctionDef) -> bool:
    return any("jit" in ast.unparse(d) or "autotune" in ast.unparse(d) or "heuristics" in ast.unparse(d)
               for d in node.decorator_list)


def _signature(source: str, node: ast.FunctionDef) -> str:
    header = ast.get_source_segment(source, node).split(":\n", 1)[0]
    return " ".join(header.split()) + ":"
