"""KernelBench problems as tasks: `kernelbench:PATH`, PATH a level folder such as KernelBench/level1.

Each problem file defines `class Model(nn.Module)`, `get_inputs()` (the forward's inputs, made with
torch's global RNG) and `get_init_inputs()` (Model's constructor arguments). A candidate defines
`class ModelNew(nn.Module)` with the same constructor and forward, computing forward with Triton
kernels; KernelBench allows replacing only part of the model, so torch ops are not forbidden. Both
models are built right after torch.manual_seed(42), as KernelBench builds them, so their weights
match when ModelNew creates the same parameters in the same order.

Each problem becomes an ordinary task file of ours, generated into a cache folder: its HARNESS,
appended to each candidate, builds ModelNew once per device and calls it; its BASELINE is the
problem's own source with `ModelNew = Model`, so speedup is measured against Model as in KernelBench;
its reference is that baseline run through the same harness.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tritonsmith.suites.generated import generated_dir, write_if_changed
from tritonsmith.task import Task, TaskError, load_task

ENTRY_POINT = "tritonsmith_forward"
INIT_SEED = 42  # KernelBench's seed_num for weights and init inputs (src/eval.py, eval_kernel_against_ref)
NEEDED = ("Model", "get_inputs", "get_init_inputs")
SIGNATURE = "class ModelNew(nn.Module): same __init__ and forward as Model"

INSTRUCTION = """\
Rewrite this PyTorch program's `Model` as `ModelNew`: a torch.nn.Module with the same constructor \
arguments and the same forward inputs and outputs, whose forward computes the result with Triton \
kernels (@triton.jit) that it launches. You may keep some PyTorch operations and replace only part of \
the model with kernels, but the kernels must do real work: outputs that stay correct with every Triton \
launch disabled are rejected.
Create the same parameters and buffers as Model, in the same order and with the same default \
initialisation (for example, keep its nn.Linear or nn.Conv2d submodules and read their weights in your \
kernels): both models are built right after torch.manual_seed(42) and must start with identical weights.
Constructor arguments come from get_init_inputs() and forward inputs from get_inputs(), both defined \
in the problem below; its sizes are the ones timed. Outputs must match Model's \
within a tolerance of 1e-2 (float32). Speedup is measured against Model itself."""


def harness(problem_file: Path) -> str:
    """Appended to each candidate (and to the baseline): defines the entry point on top of ModelNew."""
    return f'''\
def _tritonsmith_harness():
    """Builds ModelNew as KernelBench does and calls it; the problem is its own module, so the
    candidate's names (its own Model, get_inputs, ...) never shadow the problem's."""
    import importlib.util
    import sys

    import torch

    name = __name__ + ".tritonsmith_problem"
    spec = importlib.util.spec_from_file_location(name, {str(problem_file.resolve())!r})
    problem = importlib.util.module_from_spec(spec)
    sys.modules[name] = problem
    spec.loader.exec_module(problem)
    models = {{}}

    def forward(*inputs):
        device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), torch.device("cpu"))
        model = models.get(str(device))
        if model is None:
            torch.manual_seed({INIT_SEED})
            init = [x.to(device) if isinstance(x, torch.Tensor) else x for x in problem.get_init_inputs()]
            with torch.no_grad():
                torch.manual_seed({INIT_SEED})
                model = models[str(device)] = ModelNew(*init).to(device)
        with torch.no_grad():
            return model(*inputs)

    return forward


{ENTRY_POINT} = _tritonsmith_harness()
'''


def load_kernelbench(path: str | Path, cache_dir: str | Path | None = None) -> list[Task]:
    folder = Path(path)
    if not folder.is_dir():
        raise TaskError(f"{folder}: no such folder of KernelBench problem files.")
    out = Path(cache_dir) if cache_dir else generated_dir(folder)
    out.mkdir(parents=True, exist_ok=True)
    tasks: list[Task] = []
    seen: dict[str, Path] = {}
    for problem in sorted((p for p in folder.glob("*.py") if not p.name.startswith("_")), key=_problem_order):
        task_id = re.sub(r"[^A-Za-z0-9_-]", "_", problem.stem)
        if task_id in seen:
            raise TaskError(f"{problem}: its task id {task_id!r} is already used by {seen[task_id]}.")
        seen[task_id] = problem
        tasks.append(load_task(_generate(problem, task_id, out), suite="kernelbench"))
    if not tasks:
        raise TaskError(f"{folder}: the folder holds no KernelBench problem files (*.py).")
    return tasks


def _problem_order(path: Path) -> tuple[int, str]:
    """KernelBench numbers its problems (1_..., 2_..., 10_...): numeric order, not 1, 10, 2."""
    number = re.match(r"\d+", path.stem)
    return (int(number.group()) if number else 1 << 30, path.name)


def check_problem(path: Path) -> str:
    """The problem's source, once it is known to define Model, get_inputs and get_init_inputs."""
    source = path.read_text()
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as err:
        raise TaskError(f"{path}: line {err.lineno}: the problem file is not valid Python ({err.msg}).") from None
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    missing = [name for name in NEEDED if name not in defined]
    if missing:
        raise TaskError(f"{path}: the problem file does not define {' or '.join(missing)} (a KernelBench problem "
                        "defines class Model(nn.Module), get_inputs() and get_init_inputs()).")
    return source


def _generate(path: Path, task_id: str, out: Path) -> Path:
    source = check_problem(path)
    appended = harness(path)
    baseline = (f"# KernelBench's Model itself, as ModelNew: the program whose time speedup is measured against.\n"
                f"{source.rstrip()}\n\n\nModelNew = Model\n")
    reference_file = out / f"{task_id}__reference.py"
    write_if_changed(reference_file, f"{baseline}\n\n{appended}")
    generated = f'''# Generated by tritonsmith from {path.name} (KernelBench format). Do not edit: regenerated on load.
import importlib.util

import torch

ID = {task_id!r}
KIND = "other"
ENTRY_POINT = {ENTRY_POINT!r}
REQUIRED_NAMES = ["ModelNew"]
SIGNATURE = {SIGNATURE!r}
INSTRUCTION = {INSTRUCTION!r}
# 2 trials x the evaluator's 3 seeds = 6 random input sets (KernelBench checks 5)
CORRECTNESS_CASES = [{{"dtype": "float32", "trial": 0}}, {{"dtype": "float32", "trial": 1}}]
PERF_CASES = [{{"dtype": "float32", "trial": "perf"}}]
# KernelBench's fp32 tolerance (v0, v0.1); our atol is in units of the output's RMS (evaluate/compare.py)
TOLERANCES = {{"float32": {{"atol": 1e-2, "rtol": 1e-2}}}}
ALLOWED_OPS = ["*"]
PROBLEM_FILE = {str(path.resolve())!r}
REFERENCE_FILE = {str(reference_file.resolve())!r}
BASELINE = {baseline!r}
HARNESS = {appended!r}
REFERENCE_SOURCE = {source!r}

_reference = []


def _reference_module():
    """Model as ModelNew, through the harness candidates get: the same seeding, device and no_grad."""
    if not _reference:
        spec = importlib.util.spec_from_file_location("tritonsmith_kernelbench_reference", REFERENCE_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _reference.append(module)
    return _reference[0]


def make_inputs(case, generator, device):
    trial = 999 if case["trial"] == "perf" else int(case["trial"])
    torch.manual_seed(int(generator.initial_seed()) * 1000 + trial)  # get_inputs() draws from the global RNG
    return tuple(x.to(device) if isinstance(x, torch.Tensor) else x for x in _reference_module().get_inputs())


def reference(*inputs):
    return _reference_module().{ENTRY_POINT}(*inputs)


def flops(case):
    return 0


def bytes_moved(case):
    return 0
'''
    target = out / f"{task_id}.py"
    write_if_changed(target, generated)
    return target


