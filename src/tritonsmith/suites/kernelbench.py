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
its reference is that baseline run through the same harness. On the CPU interpreter the problem's sizes
are scaled down (suites/kernelbench_sizes.py): the task's inputs and the harness's model both come from a
copy of the problem with smaller size constants, and the task file says which (CPU_SIZES_NOTE).
A problem file that cannot be read is listed in the suite's `unsupported`, with its reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from tritonsmith.suites import Suite
from tritonsmith.suites.generated import Raw, generated_dir, load_each, render_task, write_if_changed
from tritonsmith.suites.kernelbench_sizes import scale_sizes
from tritonsmith.suites.parts import top_level
from tritonsmith.task import Task, TaskError, load_task
from tritonsmith.util import pyast

ENTRY_POINT = "tritonsmith_forward"
INIT_SEED = 42  # KernelBench's seed_num for weights and init inputs (src/kernelbench/eval.py, eval_kernel_against_ref)
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
in the problem below; its sizes are the ones timed. On a machine without a GPU, correctness is checked \
with the problem's module-level sizes scaled down, for Model and ModelNew alike: take every size from \
the constructor arguments and the inputs' shapes, not from constants. Outputs must match Model's \
within a tolerance of 1e-2 (float32). Speedup is measured against Model itself."""

HARNESS = '''\
def _tritonsmith_harness():
    """Builds ModelNew as KernelBench does and calls it. The problem is its own module, so the candidate's
    names (its own Model, get_inputs, ...) never shadow the problem's. On the CPU the problem's sizes are
    scaled down (the task's CPU_SIZES_NOTE), and so are the candidate's own copies of those constants."""
    import torch

    from tritonsmith.suites.runtime import load_module

    problem_files = {files!r}
    cpu_sizes = {cpu_sizes!r}
    models = {{}}

    def build(device):
        where = "cpu" if device.type == "cpu" else "gpu"
        problem = load_module(__name__ + ".tritonsmith_problem_" + where, problem_files[where])
        scope = globals()
        for key, (real, scaled) in cpu_sizes.items() if where == "cpu" else ():
            try:
                if type(scope.get(key)) is type(real) and scope[key] == real:
                    scope[key] = scaled
            except Exception:  # noqa: BLE001 - a value of the candidate's that cannot be compared is no size
                pass
        torch.manual_seed({seed})
        init = [x.to(device) if isinstance(x, torch.Tensor) else x for x in problem.get_init_inputs()]
        with torch.no_grad():
            torch.manual_seed({seed})
            return ModelNew(*init).to(device)

    def forward(*inputs):
        device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), torch.device("cpu"))
        model = models.get(str(device))
        if model is None:
            model = models[str(device)] = build(device)
        with torch.no_grad():
            torch.manual_seed({seed})  # a forward that draws random numbers (dropout) draws the same ones
            return model(*inputs)

    return forward


{entry_point} = _tritonsmith_harness()
'''

IMPORTS = "import torch\n\nfrom tritonsmith.suites.runtime import load_module"
TASK_CODE = '''
_modules = {}


def _module(name, path):
    """The problem (with its CPU sizes on the CPU) or the reference, imported once, named under this module (what
    drops this module drops them too: the reference's models, weights on the GPU)."""
    if name not in _modules:
        _modules[name] = load_module(__name__ + ".kernelbench_" + name, path)
    return _modules[name]


def make_inputs(case, generator, device):
    on_cpu = torch.device(device).type == "cpu"
    problem = _module("cpu_problem", CPU_PROBLEM_FILE) if on_cpu else _module("problem", PROBLEM_FILE)
    trial = 999 if case["trial"] == "perf" else int(case["trial"])
    torch.manual_seed(int(generator.initial_seed()) * 1000 + trial)  # get_inputs() draws from the global RNG
    with torch.device(device):  # drawn where they are used: a 6 GiB input drawn on the CPU took seconds, then a copy
        inputs = problem.get_inputs()
    return tuple(x.to(device) if isinstance(x, torch.Tensor) else x for x in inputs)


def reference(*inputs):
    """Model as ModelNew, through the harness candidates get: the same seeding, sizes, device and no_grad."""
    try:
        return _module("reference", REFERENCE_FILE).{entry_point}(*inputs)
    except Exception as exc:
        if CPU_PROBLEM_FILE == PROBLEM_FILE or any(x.device.type != "cpu" for x in inputs if isinstance(x, torch.Tensor)):
            raise
        raise RuntimeError(f"Model itself fails at the sizes scaled for the CPU interpreter "
                           f"({CPU_SIZES_NOTE.partition(': ')[2]}), so this problem is checked on a GPU only: "
                           f"{type(exc).__name__}: {exc}") from exc


def flops(case):
    return 0


def bytes_moved(case):
    return 0
'''


def harness(problem_file: Path, cpu_problem_file: Path, cpu_sizes: dict) -> str:
    """Appended to each candidate (and to the baseline): defines the entry point on top of ModelNew."""
    files = {"cpu": str(cpu_problem_file.resolve()), "gpu": str(problem_file.resolve())}
    return HARNESS.format(files=files, cpu_sizes=cpu_sizes, seed=INIT_SEED, entry_point=ENTRY_POINT)


def load_kernelbench(path: str | Path, cache_dir: str | Path | None = None) -> Suite:
    """One task per problem file of the folder; a file that cannot be read is listed in `unsupported`."""
    folder = Path(path)
    if not folder.is_dir():
        raise TaskError(f"{folder}: no such folder of KernelBench problem files.")
    problems = problem_files(folder)
    if not problems:
        raise TaskError(f"{folder}: the folder holds no KernelBench problem files (*.py).")
    out = Path(cache_dir) if cache_dir else generated_dir(folder)
    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, Path] = {}
    level = re.fullmatch(r"level([1-5])", folder.resolve().name)  # KernelBench's levels: the tasks' difficulty

    def load_one(problem: Path) -> Task:
        task_id = re.sub(r"[^A-Za-z0-9_-]", "_", problem.stem)
        if task_id in seen:
            raise TaskError(f"{problem}: its task id {task_id!r} is already used by {seen[task_id].name}.")
        task = load_task(_generate(problem, check_problem(problem), task_id, out, int(level[1]) if level else None),
                         suite="kernelbench")
        seen[task_id] = problem
        return task
    return load_each(problems, load_one)


def problem_files(folder: Path) -> list[Path]:
    """The folder's problem files in KernelBench's order (`_problem_order`), not its `_`-named helpers."""
    return sorted((p for p in folder.glob("*.py") if not p.name.startswith("_")), key=_problem_order)


def _problem_order(path: Path) -> tuple[int, str]:
    """KernelBench numbers its problems (1_..., 2_..., 10_...): numeric order, not 1, 10, 2."""
    number = re.match(r"\d+", path.stem)
    return (int(number.group()) if number else 1 << 30, path.name)


def check_problem(path: Path) -> str:
    """The problem's source, once it is known to define Model, get_inputs and get_init_inputs."""
    source = path.read_text()
    try:
        tree = pyast.parse(source, filename=str(path))
    except SyntaxError as err:
        raise TaskError(f"{path}: line {err.lineno}: the problem file is not valid Python ({err.msg}).") from None
    defined = top_level(tree)
    missing = [name for name in NEEDED if name not in defined]
    if missing:
        raise TaskError(f"{path}: the problem file does not define {' or '.join(missing)} (a KernelBench problem "
                        "defines class Model(nn.Module), get_inputs() and get_init_inputs()).")
    return source


def _generate(path: Path, source: str, task_id: str, out: Path, level: int | None = None) -> Path:
    sizes = scale_sizes(source)
    cpu_problem = path
    if sizes.changes:
        cpu_problem = out / f"{task_id}__cpu_problem.py"
        write_if_changed(cpu_problem, f"# {path.name}, {sizes.note}\n{sizes.source}")
    appended = harness(path, cpu_problem, sizes.changes)
    baseline = (f"# KernelBench's Model itself, as ModelNew: the program whose time speedup is measured against.\n"
                f"{source.rstrip()}\n\n\nModelNew = Model\n")
    reference_file = out / f"{task_id}__reference.py"
    write_if_changed(reference_file, f"{baseline}\n\n{appended}")
    fields = {
        "ID": task_id, "KIND": Raw('"other"'), "DIFFICULTY": level, "ENTRY_POINT": ENTRY_POINT,
        "REQUIRED_NAMES": Raw('["ModelNew"]'),
        "SIGNATURE": SIGNATURE, "INSTRUCTION": INSTRUCTION,
        "CORRECTNESS_CASES": Raw('[{"dtype": "float32", "trial": 0}, {"dtype": "float32", "trial": 1}]',
                                 "# 2 trials x the evaluator's 3 seeds = 6 random input sets (KernelBench checks 5)"),
        "PERF_CASES": Raw('[{"dtype": "float32", "trial": "perf"}]'),
        "TOLERANCES": Raw('{"float32": {"atol": 1e-2, "rtol": 1e-2}}', "# KernelBench's fp32 tolerance (v0, v0.1); "
                          "our atol is in units of the output's RMS (evaluate/compare.py)"),
        "ALLOWED_OPS": Raw('["*"]'),
        "REFERENCE_TIMING": Raw('"baseline"  # the baseline is Model, which is the PyTorch reference: timed once'),
        "CPU_SIZES_NOTE": sizes.note, "PROBLEM_FILE": str(path.resolve()),
        "CPU_PROBLEM_FILE": str(cpu_problem.resolve()), "REFERENCE_FILE": str(reference_file.resolve()),
        "BASELINE": baseline, "HARNESS": appended, "REFERENCE_SOURCE": source}
    target = out / f"{task_id}.py"
    write_if_changed(target, render_task(path.name, "KernelBench", IMPORTS, fields,
                                         TASK_CODE.replace("{entry_point}", ENTRY_POINT)))
    return target
