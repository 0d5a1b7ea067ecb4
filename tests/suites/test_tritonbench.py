"""The TritonBench-G adapter, on small fixture tasks written in its format (tests/fixtures/tritonbench_g)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakellm import FakeLLMServer

from tritonsmith.runs.store import ResultsStore
from tritonsmith.suites import load_suite, parts, perf_scripts, resolve_task
from tritonsmith.suites.parts import SEPARATOR, split_parts
from tritonsmith.suites.runtime import geak_perf
from tritonsmith.suites.tritonbench import load_tritonbench_g, perf_scripts_dir
from tritonsmith.task import TaskError, load_task
from tritonsmith.util.modules import load_module

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tritonbench_g"
SUITE = f"tritonbench-g:{FIXTURES / 'tasks'}"
PERF_SCRIPTS = FIXTURES / "performance_metrics" / "perf_G" / "golden_metrics"  # named with perf_scripts=
GEAK_TASKS = FIXTURES / "TritonBench" / "data" / "TritonBench_G_v1"  # GEAK-eval's layout: scripts two levels up
FORMS = f"tritonbench-g:{FIXTURES / 'forms'}"  # one small file per form of GEAK-eval's real files, and unsupported ones
WRONG_RELU = split_parts(FIXTURES / "tasks" / "row_relu.py").kernel.replace(
    "tl.maximum(x, 0.0)", "tl.abs(x)")
TORCH_RELU = "import torch\n\n\ndef row_relu(x):\n    return torch.relu(x)\n"


pytestmark = pytest.mark.usefixtures("private_cache")


def test_fixture_tasks_load_with_their_instructions():
    tasks = {t.id: t for t in load_suite(SUITE)}
    assert sorted(tasks) == ["row_relu", "scale_add"]
    relu = tasks["row_relu"]
    assert relu.suite == "tritonbench-g" and relu.required_names == ("row_relu",) and relu.difficulty == 2
    assert "one program per row" in relu.instruction and "The input is contiguous." in relu.instruction
    assert relu.signature == "def row_relu(x: torch.Tensor) -> torch.Tensor:"
    assert "def test_row_relu" in relu.harness and "result_gold" not in relu.harness
    assert "@triton.jit" in relu.baseline and "def test_row_relu" not in relu.baseline


def test_malformed_suites_fail_with_one_sentence(tmp_path):
    folder = tmp_path / "tasks"
    with pytest.raises(TaskError, match="no such folder of TritonBench-G task files"):
        load_suite(f"tritonbench-g:{folder}")
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    with pytest.raises(TaskError, match="holds no task files"):
        load_suite(f"tritonbench-g:{folder}")
    shutil.copy(FIXTURES / "tasks" / "row_relu.py", folder / "row_relu.py")
    with pytest.raises(TaskError, match="no instructions JSON"):
        load_suite(f"tritonbench-g:{folder}")


def test_a_file_that_cannot_be_read_is_listed_with_its_reason_and_the_rest_loads(tmp_path):
    folder = tmp_path / "tasks"
    shutil.copytree(FIXTURES / "tasks", folder)
    shutil.copy(FIXTURES / "instructions.json", tmp_path / "instructions.json")
    (folder / "row_relu.py").write_text((FIXTURES / "tasks" / "row_relu.py").read_text().replace(SEPARATOR, "#" * 20))
    (folder / "extra.py").write_text("x = 1\n")  # no separator, no instruction: a helper module, skipped
    (folder / "banner.py").write_text(f"{'#' * 160}\nx = 1\n")  # a longer line of '#' is no separator: skipped too
    suite = load_suite(f"tritonbench-g:{folder}")
    assert [t.id for t in suite] == ["scale_add"]
    assert [(u.path, u.reason) for u in suite.unsupported] == [
        (folder / "row_relu.py", "no separator line of 146 '#' between the kernels and the tests.")]


def test_a_file_whose_task_id_an_earlier_file_has_is_listed_and_the_first_loads(tmp_path):
    """`scale.add.py` and `scale_add.py` would both be task scale_add (dots become underscores): the second in
    the folder's order is unsupported before anything of it is generated, and the first loads unchanged."""
    folder = tmp_path / "tasks"
    shutil.copytree(FIXTURES / "tasks", folder)
    entries = json.loads((FIXTURES / "instructions.json").read_text())
    twin = dict(next(e for e in entries if e["file"] == "scale_add.py"), file="scale.add.py")
    (tmp_path / "instructions.json").write_text(json.dumps(entries + [twin]))
    (folder / "scale.add.py").write_text((folder / "scale_add.py").read_text())
    suite = load_suite(f"tritonbench-g:{folder}")  # in name order: scale.add.py first
    assert sorted(t.id for t in suite) == ["row_relu", "scale_add"]
    assert [(u.path.name, u.reason) for u in suite.unsupported] == [
        ("scale_add.py", "its task id 'scale_add' is already used by scale.add.py.")]


def test_files_python_cannot_compile_or_read_are_listed_too(tmp_path):
    folder = tmp_path / "tasks"
    shutil.copytree(FIXTURES / "tasks", folder)
    shutil.copy(FIXTURES / "instructions.json", tmp_path / "instructions.json")
    relu = (FIXTURES / "tasks" / "row_relu.py").read_text()
    # parses, but the compiler rejects it: symtable raises
    (folder / "row_relu.py").write_text(relu.replace("import torch\n\n\ndef test_row_relu", "x = 1\nglobal x\n\n\n"
                                                     "def test_row_relu"))
    (folder / "scale_add.py").write_bytes(b"\xff\xfe" + (FIXTURES / "tasks" / "scale_add.py").read_bytes())
    suite = load_suite(f"tritonbench-g:{folder}")
    reasons = {u.path.name: u.reason for u in suite.unsupported}
    assert list(suite) == [] and sorted(reasons) == ["row_relu.py", "scale_add.py"]
    assert reasons["row_relu.py"] == ("line 2 of the test part: not valid Python (name 'x' is assigned to before "
                                      "global declaration).")
    assert reasons["scale_add.py"].startswith("cannot read the file ('utf-8' codec can't decode")


def test_the_forms_of_geak_evals_files_load():
    suite = load_suite(FORMS)  # its own instructions.json, which names more of its files than the one above it
    tasks = {t.id: t for t in suite}
    assert sorted(tasks) == ["autograd_apply", "module_class", "private_wrapper", "repeated_copy"]
    assert {u.path.name: u.reason for u in suite.unsupported} == {  # __init__.py and helpers.py are skipped
        "no_entry.py": "no entry with file 'no_entry.py' in the instructions JSON.",
        "untested.py": "the test part uses nothing that the kernel part defines, so it would pass any candidate."}
    assert tasks["private_wrapper"].required_names == ("_double",)
    assert tasks["autograd_apply"].required_names == ("SIZES", "square")  # module-level objects the test reads
    assert tasks["autograd_apply"].signature == "SIZES = [1, 33]\n    square = _Square.apply"
    assert "# the kernel part's imports that the test uses\nimport numpy as np\n" in tasks["autograd_apply"].harness
    assert tasks["module_class"].required_names == ("RowScale",)
    assert tasks["module_class"].signature == ("class RowScale(torch.nn.Module):\n"
                                               "        def __init__(self, scale: float):\n"
                                               "        def forward(self, x: torch.Tensor) -> torch.Tensor:")
    repeated = tasks["repeated_copy"]
    assert repeated.required_names == ("negate",) and "def negate" not in repeated.harness
    assert "dropped this test part's own copies of negate_kernel, negate" in repeated.harness


def test_tasks_lists_the_unsupported_files_and_bench_names_them(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "tritonsmith", "tasks", "--suite", FORMS,
               "--instructions", str(FIXTURES / "forms" / "instructions.json")]
    listed = subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=120, env=env)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [t["id"] for t in data["tasks"]] == ["autograd_apply", "module_class", "private_wrapper", "repeated_copy"]
    assert data["unsupported"] == [
        {"path": str(FIXTURES / "forms" / "no_entry.py"), "reason": "no entry with file 'no_entry.py' in the "
         "instructions JSON."},
        {"path": str(FIXTURES / "forms" / "untested.py"), "reason": "the test part uses nothing that the kernel part "
         "defines, so it would pass any candidate."}]
    text = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env).stdout
    assert text.splitlines()[-3:] == [
        "2 files not supported:", "  no_entry.py: no entry with file 'no_entry.py' in the instructions JSON.",
        "  untested.py: the test part uses nothing that the kernel part defines, so it would pass any candidate."]
    bench = subprocess.run([sys.executable, "-m", "tritonsmith", "bench", "--suite", FORMS, "--solver", "baseline",
                            "--tasks", "private_wrapper,untested", "--device", "cpu", "--out", str(tmp_path / "bench")],
                           capture_output=True, text=True, timeout=600, env=env)
    assert bench.returncode == 0, bench.stderr
    assert ("1 file of suite " + FORMS + " not supported, not run: untested.py (the test part uses nothing that "
            "the kernel part defines, so it would pass any candidate)") in bench.stderr
    assert [r.task for r in ResultsStore(tmp_path / "bench").records()] == ["tritonbench-g:private_wrapper"]


def test_required_names_are_what_the_test_reads_of_the_kernel_part():
    kernel = ast.parse("import math\nimport numpy as np\nfrom torch import matmul\nimport triton\n\n"
                       "@triton.jit\ndef kernel(x):\n    pass\n\ndef matmul(a, b):\n    return a\n\n"
                       "class Box:\n    pass\n\nSIZES = [1, 2]\nunused = 3\n")
    test = ("import torch\n\n@decorate(SIZES)\ndef test_it(n=math.pi):\n    kernel[(1,)](Box())\n"
            "    return [matmul(x, x) for x in np.ones(n)]\n\ndef decorate(sizes):\n    return lambda f: f\n")
    required, imports = parts.used_by_tests(kernel, test)
    assert required == ["matmul", "Box", "kernel", "SIZES"]  # the def that rebinds torch's matmul is required
    assert [ast.unparse(node) for node in imports] == ["import math", "import numpy as np"]


FORM_GOLD = {name: split_parts(FIXTURES / "forms" / f"{name}.py").kernel
             for name in ("private_wrapper", "autograd_apply", "module_class", "repeated_copy")}


@pytest.mark.parametrize("task_id", sorted(FORM_GOLD))
def test_the_gold_code_of_each_form_passes_as_a_candidate(cpu_pool, task_id):
    result = cpu_pool.evaluate(resolve_task(f"{FORMS}:{task_id}"), FORM_GOLD[task_id])
    assert result.status == "passed", result.summary()


@pytest.mark.parametrize("task_id, change, status, words", [
    ("repeated_copy", ("-tl.load(x_ptr + offsets, mask=mask)", "tl.load(x_ptr + offsets, mask=mask)"),
     "wrong_output", "output['test_case_1'] differs"),  # the test ran the candidate, not its own copy
    ("module_class", ("x * scale, mask=mask", "x + scale, mask=mask"), "wrong_output", "output['test_case_1']"),
    ("autograd_apply", ("square = _Square.apply", "square_fn = _Square.apply"), "compile_error",
     "does not define `square`"),
    ("autograd_apply", ("import numpy as np\n", ""), "passed", ""),  # the harness imports what its test uses
    ("autograd_apply", ("x * x, mask=mask", "x * x + 1e-3, mask=mask"), "wrong_output", "differs"),
    ("private_wrapper", ("def _double(x):", "def double(x):"), "compile_error", "does not define `_double`"),
])
def test_candidates_of_the_new_forms_are_judged(cpu_pool, task_id, change, status, words):
    assert change[0] in FORM_GOLD[task_id]
    result = cpu_pool.evaluate(resolve_task(f"{FORMS}:{task_id}"), FORM_GOLD[task_id].replace(*change))
    assert result.status == status and words in result.message, result.summary()


def test_an_unsupported_task_named_by_id_says_why():
    with pytest.raises(TaskError, match="untested.py is not supported: the test part uses nothing"):
        resolve_task(f"{FORMS}:untested")


@pytest.mark.parametrize("task_id", ["scale_add", "row_relu"])
def test_gold_code_passes_its_own_test(cpu_pool, task_id):
    task = resolve_task(f"{SUITE}:{task_id}")
    result = cpu_pool.evaluate(task, task.baseline)
    assert result.status == "passed", result.summary()


def test_two_tasks_of_one_id_keep_their_own_gold_in_one_pool(cpu_pool, tmp_path):
    """Two checkouts' scale_add (one computes alpha * x - y) evaluated by one pool, whose workers and keepers
    outlive a task: each gold is its own task's, so each passes against itself and fails the other's."""
    other = tmp_path / "other"
    shutil.copytree(FIXTURES / "tasks", other)
    shutil.copy(FIXTURES / "instructions.json", tmp_path / "instructions.json")
    (other / "scale_add.py").write_text((other / "scale_add.py").read_text().replace("alpha * x + y", "alpha * x - y"))
    first, second = resolve_task(f"{SUITE}:scale_add"), resolve_task(f"tritonbench-g:{other}:scale_add")
    assert first.baseline != second.baseline
    for task in (first, second, first):
        assert cpu_pool.evaluate(task, task.baseline).status == "passed", task.path
    assert cpu_pool.evaluate(second, first.baseline).status == "wrong_output"
    assert cpu_pool.evaluate(first, second.baseline).status == "wrong_output"


@pytest.mark.parametrize("source, status, words", [
    (WRONG_RELU, "wrong_output", "output['test_case_"),
    (TORCH_RELU, "rejected", "no Triton kernel was launched"),
    ("import torch\n\n\ndef relu_rows(x):\n    return x\n", "compile_error", "does not define `row_relu`"),
])
def test_candidates_are_judged_against_the_gold_results(cpu_pool, source, status, words):
    result = cpu_pool.evaluate(resolve_task(f"{SUITE}:row_relu"), source)
    assert result.status == status and words in result.message, result.summary()


def answer(messages):
    system, prompt = messages[0]["content"], messages[-1]["content"]
    if "expert GPU kernel engineer" not in system:
        return "PLAN: check the test's expectations."
    task = "row_relu" if "## Task: row_relu" in prompt else "scale_add"
    gold = split_parts(FIXTURES / "tasks" / f"{task}.py").kernel
    return f"```python\n{WRONG_RELU if task == 'row_relu' else gold}\n```"


def test_agent_bench_on_the_fixture_suite_with_hand_checked_metrics(tmp_path):
    out = tmp_path / "bench"
    with FakeLLMServer(answer) as server:
        done = subprocess.run(
            [sys.executable, "-m", "tritonsmith", "bench", "--json", "--suite", SUITE, "--solver", "agent", "--model",
             "openai/scripted-model", "--api-base", server.url, "--device", "cpu", "--rounds", "2",
             "--parallel", "1", "--out", str(out)], capture_output=True, text=True, timeout=600,
            env={**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    records = {r.task: r for r in ResultsStore(out).records()}
    assert records["tritonbench-g:scale_add"].exec_ok and not records["tritonbench-g:row_relu"].exec_ok
    assert records["tritonbench-g:row_relu"].status == "wrong_output"
    metrics = json.loads(done.stdout)
    # both ran (call 2/2); only scale_add matched its gold results (exec 1/2)
    assert metrics["call_accuracy"] == 1.0 and metrics["exec_accuracy"] == 0.5
    prompt = json.loads((out / "tasks" / "row_relu" / "trajectory.jsonl").read_text().splitlines()[0])
    assert "How your code is tested" in prompt["messages"][1]["content"]
    assert "def test_row_relu" in prompt["messages"][1]["content"]


# --- perf scripts (GEAK-eval's <stem>_perf.py) --------------------------------------------------------

SCALE_ADD_GOLD = split_parts(FIXTURES / "tasks" / "scale_add.py").kernel
# right on the test's sizes (n <= 1000), wrong from 4096 elements on: only the perf shapes catch it
WRONG_WHEN_LARGE = SCALE_ADD_GOLD + "\n\n_gold_scale_add = scale_add\n\n\ndef scale_add(x, y, alpha):\n" \
    "    return _gold_scale_add(x, y, -alpha if x.numel() >= 4096 else alpha)\n"
AXPY_GOLD = split_parts(GEAK_TASKS / "axpy_inplace.py").kernel
AXPY_WRONG_WHEN_LARGE = AXPY_GOLD + "\n\n_gold_axpy_ = axpy_\n\n\ndef axpy_(x, y, alpha):\n" \
    "    _gold_axpy_(x, y, -alpha if x.numel() >= 4096 else alpha)\n"
AXPY_SKIPS_WHEN_LARGE = AXPY_GOLD + "\n\n_gold_axpy_ = axpy_\n\n\ndef axpy_(x, y, alpha):\n" \
    "    if x.numel() < 4096:\n        _gold_axpy_(x, y, alpha)\n"


def perf_tasks():
    return {t.id: t for t in load_tritonbench_g(FIXTURES / "tasks", perf_scripts=PERF_SCRIPTS)}


@pytest.fixture
def task_module():
    """Import a generated task file in this process, as the worker does (no kernel runs on the CPU here)."""
    added = []

    def load(task):
        module = load_module(f"tritonsmith_test_task_{task.id}", str(task.path), register=False)
        added.append(module.GOLD_MODULE)
        return module
    yield load
    for name in added:
        sys.modules.pop(name, None)


def test_perf_scripts_are_found_two_levels_above_the_task_folder_or_where_named():
    # GEAK-eval: TritonBench/data/TritonBench_G_v1/ and TritonBench/performance_metrics/perf_G/golden_metrics/
    assert perf_scripts_dir(GEAK_TASKS) == (FIXTURES / "TritonBench" / "performance_metrics" / "perf_G"
                                            / "golden_metrics").resolve()
    (axpy,) = load_suite(f"tritonbench-g:{GEAK_TASKS}")
    assert [c["input"] for c in axpy.perf_cases] == [0, 1, 2] and axpy.perf_cases[0]["dtype"] == "float32"
    tasks = perf_tasks()
    assert tasks["scale_add"].perf_cases == tuple({"dtype": "float32", "input": i} for i in range(3))
    assert tasks["row_relu"].perf_cases == ()  # no row_relu_perf.py: correctness only, as before
    assert "How your code is timed (scale_add_perf.py" in tasks["scale_add"].reference_source
    assert "def call_op(self, input_tensor)" in tasks["scale_add"].reference_source
    assert "How your code is timed" not in tasks["row_relu"].reference_source
    assert perf_scripts_dir(FIXTURES / "tasks") is None  # tests/fixtures/performance_metrics does not exist
    assert all(not t.perf_cases for t in load_suite(SUITE))
    with pytest.raises(TaskError, match="no such folder of perf scripts"):
        load_tritonbench_g(FIXTURES / "tasks", perf_scripts=FIXTURES / "nowhere")


def test_perf_inputs_and_the_supplied_modules_inside_the_generated_task(task_module):
    import torch
    module = task_module(perf_tasks()["scale_add"])
    before = list(sys.path)
    marker, perf_input = module.make_inputs({"dtype": "float32", "input": 1}, torch.Generator().manual_seed(5), "cpu")
    assert sys.path == before  # the script's sys.path.append is undone
    torch.manual_seed(5)  # what get_input_tensors draws: x and y of 2**12, then of 2**20 elements
    _, _, x1, y1 = (torch.randn(n, dtype=torch.float32) for n in (2**12, 2**12, 2**20, 2**20))
    x, y, alpha = perf_input.value
    assert torch.equal(x, x1) and torch.equal(y, y1) and alpha == 0.5 and x.device.type == "cpu"
    assert marker.tolist() == [1] and perf_input.index == 1
    script = module._perf_script()
    gold = sys.modules[module.GOLD_MODULE]
    assert gold.__file__ == module.GOLD_FILE
    assert script.namespace["Performance_Metrics"] is geak_perf.Performance_Metrics
    assert script.namespace["do_bench_config"] is geak_perf.do_bench_config
    assert isinstance(script.metrics, geak_perf.Performance_Metrics)
    # in the task module the code under test (bare stem) and the gold package both are the gold code
    assert script.namespace["scale_add_ref"] is gold.scale_add and script.namespace["scale_add"] is gold.scale_add
    assert script.reference_method.__name__ == "call_op_ref"


def test_flops_and_bytes_come_from_get_tflops_and_get_gbps(task_module):
    module = task_module(perf_tasks()["scale_add"])
    case = {"dtype": "float32", "input": 2}
    value = module._perf_script().inputs(0)[2]
    ms = 0.25  # GB/s = bytes / (ms / 1000) / 1e9 and TFLOP/s = flops / (ms / 1000) / 1e12, for any ms
    assert module.bytes_moved(case) == round(module._perf_script().metrics.get_gbps(value, ms) * ms * 1e6)
    assert module.flops(case) == round(module._perf_script().metrics.get_tflops(value, ms) * ms * 1e9)
    assert module.bytes_moved(case) == 3 * 2**24 * 4 and module.flops(case) == 2 * 2**24  # by hand
    assert module.flops({"dtype": "float32"}) == module.bytes_moved({"dtype": "float32"}) == 0


def correctness_on_perf_inputs(task, tmp_path, index=0):
    """The task with its perf case `index` as its only correctness case: the evaluator then checks the
    harness's perf branch on the CPU interpreter (where perf cases themselves are not run)."""
    text = task.path.read_text().replace('CORRECTNESS_CASES = [{"dtype": "float32"}]',
                                         f'CORRECTNESS_CASES = [{{"dtype": "float32", "input": {index}}}]')
    path = tmp_path / task.path.name
    path.write_text(text)
    return load_task(path, suite="tritonbench-g")


def test_perf_inputs_are_checked_through_the_harness(cpu_pool, tmp_path):
    task = perf_tasks()["scale_add"]
    # on the test's own inputs, the candidate that goes wrong at 4096 elements passes
    assert cpu_pool.evaluate(task, WRONG_WHEN_LARGE).status == "passed"
    on_perf = correctness_on_perf_inputs(task, tmp_path)
    result = cpu_pool.evaluate(on_perf, task.baseline)
    assert result.status == "passed" and len(result.cases) == 3, result.summary()  # the evaluator's 3 seeds
    result = cpu_pool.evaluate(on_perf, WRONG_WHEN_LARGE)
    assert result.status == "wrong_output" and "output['returned']" in result.message, result.summary()


def test_an_op_that_writes_its_input_is_checked_by_what_it_wrote(cpu_pool, tmp_path):
    (task,) = load_suite(f"tritonbench-g:{GEAK_TASKS}")
    assert cpu_pool.evaluate(task, task.baseline).status == "passed"
    assert cpu_pool.evaluate(task, AXPY_WRONG_WHEN_LARGE).status == "passed"
    on_perf = correctness_on_perf_inputs(task, tmp_path)
    result = cpu_pool.evaluate(on_perf, task.baseline)
    assert result.status == "passed", result.summary()
    result = cpu_pool.evaluate(on_perf, AXPY_WRONG_WHEN_LARGE)
    assert result.status == "wrong_output" and "output['written']['input[1]']" in result.message, result.summary()
    result = cpu_pool.evaluate(on_perf, AXPY_SKIPS_WHEN_LARGE)  # leaves y as it was: it wrote nothing (y as it
    # was would stand for a write only where it already held exactly the answer)
    assert result.cases[0].message == "output['written'] has keys missing ['input[1]'] and unexpected []"


INPLACE_SCRIPT = """
import torch
from accumulate import accumulate
from TritonBench_G_v1.accumulate import accumulate as accumulate_ref
from geak_eval.perf.performance_utils import Performance_Metrics


class performance_metrics(Performance_Metrics):
    def __init__(self):
        super().__init__("accumulate")

    def get_input_tensors(self):
        self.input_tensors = [(torch.ones(4), torch.zeros(4))]

    def to_cuda(self, input_tensor):
        return input_tensor

    def call_op(self, input_tensor):
        return accumulate(*input_tensor)

    def call_op_ref(self, input_tensor):
        return accumulate_ref(*input_tensor)
"""


def test_calls_run_on_copies_and_timed_calls_do_not_drift(tmp_path):
    import torch
    gold_file = tmp_path / "accumulate__gold.py"
    gold_file.write_text("def accumulate(x, total):\n    return total.add_(x)\n")
    spec = geak_perf.PerfSpec(INPLACE_SCRIPT, str(tmp_path / "accumulate_perf.py"), "performance_metrics",
                              "accumulate", {"TritonBench_G_v1.accumulate": ("tritonsmith_test_accumulate",
                                                                             str(gold_file))})
    calls = []

    def accumulate(x, total):  # the code under test: updates `total` in place and returns it
        calls.append(total)
        return total.add_(x)
    try:
        script = geak_perf.PerfScript(spec, {"accumulate": accumulate})
        perf_input = geak_perf.PerfInput(0, script.inputs(0)[0], spec)
        marker = torch.tensor([0])
        first = script.call(marker, perf_input)
        assert torch.equal(first["returned"], torch.ones(4)) and list(first["written"]) == ["input[1]"]
        assert torch.equal(first["written"]["input[1]"], torch.ones(4))
        assert torch.equal(perf_input.value[1], torch.zeros(4))  # the input itself is never changed
        for _ in range(3):  # timed calls: the same arguments, so the same copy, which drifts (2, 3, 4)
            again = script.call(marker, perf_input)
        assert len(calls) == 4 and calls[-1] is calls[0] and torch.equal(calls[-1], torch.full((4,), 4.0))
        # ... but what is checked is the first call's result, as the reference's single call computes it
        assert torch.equal(again["returned"], torch.ones(4)) and torch.equal(again["written"]["input[1]"],
                                                                              torch.ones(4))
        fresh = script.call(torch.tensor([0]), perf_input)  # a checked call: a new marker, a fresh copy
        assert calls[-1] is not calls[0] and torch.equal(fresh["returned"], torch.ones(4))
        expected = script.call(torch.tensor([0]), perf_input, reference=True)
        assert torch.equal(expected["written"]["input[1]"], torch.ones(4))
    finally:
        sys.modules.pop("tritonsmith_test_accumulate", None)


def write_script(folder, name, body):
    path = folder / name
    path.write_text(body)
    return path


def test_the_number_of_inputs_is_read_without_running_the_script(tmp_path):
    def info(get_input_tensors):
        source = ("import torch\nfrom geak_eval.perf.performance_utils import Performance_Metrics\n\n\n"
                  "class performance_metrics(Performance_Metrics):\n" + get_input_tensors +
                  "    def to_cuda(self, x):\n        return x\n\n    def call_op(self, x):\n        return x\n")
        return perf_scripts.read_script(write_script(tmp_path, "t_perf.py", source), "t", {"t"}, set())

    loop = "        for i in range({}):\n            self.input_tensors.append(torch.rand(2 ** i, dtype={}))\n"
    head = "    def get_input_tensors(self):\n        self.input_tensors = []\n"
    assert info(head + loop.format("12, 28", "torch.float32")).count == 16
    assert info(head + loop.format("2, 18, 4", "torch.float16")).dtype == "float16"
    assert info(head + "        sizes = [128, 256, 512]\n        for b in range(2):\n            for s in sizes:\n"
                "                self.input_tensors.append(torch.rand(b + 1, s, dtype=torch.bfloat16))\n"
                "                x = torch.rand(3, dtype=torch.float32)\n").count == 6
    mixed = info(head + "        for n in (1, 2):\n            self.input_tensors.append((torch.rand(n), "
                 "torch.rand(n, dtype=torch.float16), torch.rand(n, dtype=torch.bfloat16)))\n")
    assert mixed.count == 2 and mixed.dtype == "float16"  # the narrowest (first named of equal width)
    assert info(head + "        self.input_tensors = [torch.rand(n) for n in range(5)]\n").count == 5
    unknown = info(head + "        n = 1\n        while n < 1000:\n            self.input_tensors.append(torch.rand(n))\n"
                   "            n *= 2\n")
    assert unknown.count is None and "while" in unknown.count_problem


def test_a_perf_script_whose_inputs_cannot_be_counted_leaves_the_task_correctness_only(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    text = (PERF_SCRIPTS / "scale_add_perf.py").read_text()
    write_script(scripts, "scale_add_perf.py", text.replace("for exponent in (12, 20, 24):",
                                                            "for exponent in range(12, int('25'), 4):"))
    tasks = {t.id: t for t in load_tritonbench_g(FIXTURES / "tasks", perf_scripts=scripts)}
    assert tasks["scale_add"].perf_cases == ()
    assert "not counted (line " in tasks["scale_add"].path.read_text()


def test_names_the_perf_script_imports_from_the_stem_are_required(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    text = (PERF_SCRIPTS / "scale_add_perf.py").read_text()
    write_script(scripts, "scale_add_perf.py", text.replace("from scale_add import scale_add ",
                                                            "from scale_add import scale_add, scale_add_kernel "))
    task = {t.id: t for t in load_tritonbench_g(FIXTURES / "tasks", perf_scripts=scripts)}["scale_add"]
    assert task.required_names == ("scale_add", "scale_add_kernel")
    assert task.signature.endswith("\n    def scale_add_kernel(x_ptr, y_ptr, out_ptr, alpha, n, BLOCK: tl.constexpr):")


@pytest.mark.parametrize("change, words", [
    (("def get_input_tensors(self):", "def get_input_tensors(self)"), "line 19: the perf script is not valid Python"),
    (("class performance_metrics(Performance_Metrics):", "class performance_metrics:"), "no subclass of Performance"),
    (("def call_op(self, input_tensor):", "def call_the_op(self, input_tensor):"), "does not define call_op()"),
    (("import scale_add as scale_add_ref", "import scale_add_v2 as scale_add_ref"),
     "imports scale_add_v2 from TritonBench_G_v1.scale_add, which the task file scale_add.py does not define"),
])
def test_malformed_perf_scripts_leave_their_task_unsupported_with_one_sentence(tmp_path, change, words):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    text = (PERF_SCRIPTS / "scale_add_perf.py").read_text()
    assert change[0] in text
    path = write_script(scripts, "scale_add_perf.py", text.replace(*change))
    suite = load_tritonbench_g(FIXTURES / "tasks", perf_scripts=scripts)
    assert [t.id for t in suite] == ["row_relu"] and len(suite.unsupported) == 1
    assert suite.unsupported[0].path.name == "scale_add.py"
    assert re.match(f"^{re.escape(str(path))}: .*{words}", suite.unsupported[0].reason), suite.unsupported[0].reason


def _cuda() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


@pytest.mark.skipif(not _cuda(), reason="needs a GPU: perf cases are timed only there")
def test_perf_cases_are_timed_and_checked_on_a_gpu():
    from tritonsmith.evaluate import EvalConfig, WorkerPool
    scale_add = perf_tasks()["scale_add"]
    (axpy,) = load_suite(f"tritonbench-g:{GEAK_TASKS}")
    with WorkerPool(device="cuda", workers=1, config=EvalConfig(timing_rounds=3)) as pool:
        for task in (scale_add, axpy):
            result = pool.evaluate(task, task.baseline)
            assert result.status == "passed" and result.speedup is not None, result.summary()
            assert [p.label for p in result.perf] == [f"dtype=float32 input={i}" for i in range(3)]
            assert all(p.gbps and p.tflops and p.baseline_ms for p in result.perf), result.summary()
            assert 0.5 < result.speedup < 2, result.summary()  # the gold code against itself
        for task, wrong, words in ((scale_add, WRONG_WHEN_LARGE, "output['returned']"),
                                   (axpy, AXPY_WRONG_WHEN_LARGE, "output['written']['input[1]']")):
            result = pool.evaluate(task, wrong)
            assert result.status == "wrong_output" and words in result.message, result.summary()
            assert any(c.phase == "perf_shape" and not c.ok for c in result.cases), result.summary()


# --- the real benchmark: TRITONSMITH_GEAK_EVAL names a GEAK-eval checkout (the folder holding geak_eval/) ---

GEAK_EVAL = Path(os.path.expanduser(os.environ["TRITONSMITH_GEAK_EVAL"])) if os.environ.get("TRITONSMITH_GEAK_EVAL") \
    else None


@pytest.mark.skipif(GEAK_EVAL is None, reason="set TRITONSMITH_GEAK_EVAL to a GEAK-eval checkout (the folder "
                    "holding geak_eval/, with the instructions JSON of its geak-release-rocm branch) to test on it")
def test_the_real_tritonbench_g_loads_whole_in_seconds():
    folder = GEAK_EVAL / "geak_eval" / "data" / "TritonBench" / "data" / "TritonBench_G_v1"
    files = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
    started = time.monotonic()
    suite = load_suite(f"tritonbench-g:{folder}")
    seconds = time.monotonic() - started
    listing = "\n".join(f"{u.path.name}: {u.reason}" for u in suite.unsupported)
    assert len(files) == 184 and len(suite) + len(suite.unsupported) == len(files), listing
    assert len(suite.unsupported) <= 3, listing
    assert seconds < 30
    assert sum(bool(t.perf_cases) for t in suite) > 150  # GEAK-eval's perf scripts are found and counted
    for task in suite:  # every generated file is valid Python and names what the test reads
        gold = next(line for line in task.path.read_text().splitlines() if line.startswith("GOLD_FILE = "))
        compile(Path(ast.literal_eval(gold.split(" = ", 1)[1])).read_text(), task.id, "exec")
        assert task.required_names, task.id


CANDIDATES_WRITTEN_HERE = Path(__file__).parents[1] / "fixtures" / "tritonbench_g_candidates"


@pytest.mark.skipif(GEAK_EVAL is None or not _cuda(), reason="needs a GPU and TRITONSMITH_GEAK_EVAL: "
                    "TritonBench-G's tests make their tensors on 'cuda'")
def test_candidates_written_here_pass_the_real_tritonbench_g_through_the_dir_solver(tmp_path):
    """The direct-answer check: kernels written here for four real tasks, run as `bench --solver dir:` runs
    them, pass the real files' tests and are timed against the golds."""
    folder = GEAK_EVAL / "geak_eval" / "data" / "TritonBench" / "data" / "TritonBench_G_v1"
    names = sorted(p.stem for p in CANDIDATES_WRITTEN_HERE.glob("*.py"))
    assert len(names) == 4
    out = tmp_path / "bench"
    command = [sys.executable, "-m", "tritonsmith", "bench", "--suite", f"tritonbench-g:{folder}",
               "--solver", f"dir:{CANDIDATES_WRITTEN_HERE}", "--tasks", ",".join(names), "--out", str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["task"] for r in records) == [f"tritonbench-g:{n}" for n in names]
    for record in records:
        assert record["status"] == "passed" and record["speedup"], {k: record.get(k) for k in (
            "task", "status", "speedup", "speed_reason", "error", "qualification", "phases_s")}


def test_a_generated_task_skips_perf_inputs_whose_run_raises_as_geak_evals_harness_does():
    """GEAK-eval's run_benchmark goes on past a perf input whose run raises (references.make_perf_checks)."""
    for task in load_suite(SUITE):
        assert '\nPERF_INPUT_ERRORS = "skip"' in task.path.read_text(), task.id

