"""The KernelBench adapter, on small fixture problems written in its format (tests/fixtures/kernelbench)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tritonsmith.runs.store import ResultsStore
from tritonsmith.suites import Suite, load_suite, resolve_task
from tritonsmith.suites.kernelbench_sizes import LIMIT
from tritonsmith.task import TaskError
from tritonsmith.util.modules import load_module

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kernelbench"
LEVEL = FIXTURES / "level1"
FORMS = FIXTURES / "forms"  # what the real problems do that level1's fixtures do not: sizes to scale, globals, ...
CANDIDATES = FIXTURES / "candidates"
SUITE = f"kernelbench:{LEVEL}"
CHECKOUT = os.environ.get("TRITONSMITH_KERNELBENCH")  # the folder holding KernelBench/level1, ...
real_checkout = pytest.mark.skipif(not CHECKOUT, reason="TRITONSMITH_KERNELBENCH does not name a KernelBench "
                                   "checkout (the folder holding KernelBench/level1)")


def generated(task):
    """The generated task file, imported as the evaluator's worker imports it."""
    return load_module(f"kernelbench_generated_{task.id}", str(task.path), register=False)


def real_level(level: str) -> Path:
    return Path(CHECKOUT).expanduser() / "KernelBench" / level


pytestmark = pytest.mark.usefixtures("private_cache")


def test_problems_load_as_tasks_in_kernelbench_order(tmp_path):
    tasks = load_suite(SUITE)
    assert isinstance(tasks, Suite) and tasks.unsupported == []
    assert [t.id for t in tasks] == ["1_ReLU", "2_Linear_ReLU", "10_Sum_over_a_dimension"]
    linear = tasks[1]
    assert linear.suite == "kernelbench" and linear.name == "kernelbench:2_Linear_ReLU"
    assert linear.required_names == ("ModelNew",) and linear.entry_point == "tritonsmith_forward"
    assert linear.allowed_ops == ("*",) and linear.tolerances["float32"].atol == 1e-2
    assert linear.reference_source == (LEVEL / "2_Linear_ReLU.py").read_text()
    assert "as `ModelNew`" in linear.instruction and "torch.manual_seed(42)" in linear.instruction
    assert "sizes scaled down" in linear.instruction and "not from constants" in linear.instruction
    assert linear.baseline.rstrip().endswith("ModelNew = Model") and "def tritonsmith_forward" not in linear.baseline
    assert "ModelNew(*init)" in linear.harness and str((LEVEL / "2_Linear_ReLU.py").resolve()) in linear.harness
    assert len(linear.correctness_cases) * 3 >= 5 and linear.perf_cases == ({"dtype": "float32", "trial": "perf"},)
    assert linear.path.is_relative_to(tmp_path / "cache")  # generated into the user's cache, not the checkout


def test_inputs_are_six_distinct_draws_and_repeatable():
    task = resolve_task(f"{SUITE}:1_ReLU")
    module = generated(task)
    assert module.REFERENCE_TIMING == "baseline" and module.CPU_PROBLEM_FILE == module.PROBLEM_FILE
    assert module.CPU_SIZES_NOTE == ("the problem's own sizes on the CPU interpreter (no input tensor has more "
                                     "than 65536 elements)")

    def draw(case, seed):
        return module.make_inputs(case, torch.Generator().manual_seed(seed), "cpu")[0]
    draws = [draw(case, seed) for case in task.correctness_cases for seed in (0, 1, 2)]
    assert all(x.shape == (5, 37) for x in draws)
    assert len({tuple(x.flatten().tolist()) for x in draws}) == 6
    assert torch.equal(draws[0], draw(task.correctness_cases[0], 0))
    assert torch.equal(module.reference(draws[0]), torch.relu(draws[0]))


def test_a_file_that_cannot_be_read_is_listed_with_its_reason_and_the_rest_loads(tmp_path):
    folder = tmp_path / "level1"
    folder.mkdir()
    with pytest.raises(TaskError, match="holds no KernelBench problem files"):
        load_suite(f"kernelbench:{folder}")
    with pytest.raises(TaskError, match="no such folder"):
        load_suite(f"kernelbench:{tmp_path / 'missing'}")
    relu = (LEVEL / "1_ReLU.py").read_text()
    (folder / "1_ReLU.py").write_text(relu)
    (folder / "2_Net.py").write_text(relu.replace("class Model(", "class Net("))
    (folder / "3_No_Inputs.py").write_text(relu.replace("def get_inputs(", "def make_inputs("))
    (folder / "4_Broken.py").write_text(relu + "\ndef oops(:\n")
    (folder / "5_Latin1.py").write_bytes(relu.encode() + b"# caf\xe9\n")
    (folder / "6_Re.LU.py").write_text(relu)
    (folder / "6_Re_LU.py").write_text(relu)
    (folder / "7_Unreadable.py").mkdir()  # a folder named like a problem file: reading it fails
    suite = load_suite(f"kernelbench:{folder}")
    assert [t.id for t in suite] == ["1_ReLU", "6_Re_LU"]
    reasons = {entry.path.name: entry.reason for entry in suite.unsupported}
    assert set(reasons) == {"2_Net.py", "3_No_Inputs.py", "4_Broken.py", "5_Latin1.py", "6_Re_LU.py",
                            "7_Unreadable.py"}
    needed = "(a KernelBench problem defines class Model(nn.Module), get_inputs() and get_init_inputs())."
    assert reasons["2_Net.py"] == f"the problem file does not define Model {needed}"
    assert reasons["3_No_Inputs.py"] == f"the problem file does not define get_inputs {needed}"
    assert reasons["4_Broken.py"] == "line 28: the problem file is not valid Python (invalid syntax)."
    assert reasons["5_Latin1.py"].startswith("cannot read the file ('utf-8' codec can't decode byte 0xe9")
    assert reasons["6_Re_LU.py"] == "its task id '6_Re_LU' is already used by 6_Re.LU.py."
    assert reasons["7_Unreadable.py"].startswith("cannot read the file ([Errno 21] Is a directory")
    assert all("\n" not in reason and reason.endswith(".") for reason in reasons.values())


@pytest.mark.parametrize("task_id, candidate, status, words", [
    ("1_ReLU", "1_ReLU", "passed", ""),
    ("2_Linear_ReLU", "2_Linear_ReLU", "passed", ""),  # seeded init: nn.Linear's weights match Model's
    ("2_Linear_ReLU", "linear_relu_partial", "passed", ""),  # partial replacement; the problem's names win
    ("10_Sum_over_a_dimension", "sum_triton", "passed", ""),
    ("1_ReLU", "relu_wrong", "wrong_output", "differs from the reference"),
    ("2_Linear_ReLU", "linear_relu_own_init", "wrong_output", "differs from the reference"),
    ("10_Sum_over_a_dimension", "10_Sum_over_a_dimension", "wrong_output", "expected [4, 1, 5]"),
    ("1_ReLU", "relu_torch", "rejected", "no Triton kernel was launched"),
    ("1_ReLU", "relu_kernel_does_nothing", "rejected", "every Triton kernel launch disabled"),
    ("1_ReLU", "relu_no_modelnew", "compile_error", "does not define `ModelNew`"),
])
def test_candidates_are_judged_against_model(cpu_pool, task_id, candidate, status, words):
    result = cpu_pool.evaluate(resolve_task(f"{SUITE}:{task_id}"), (CANDIDATES / f"{candidate}.py").read_text())
    assert result.status == status and words in result.message, result.summary()


def test_the_baseline_is_model_itself_timed_but_never_a_passing_candidate(cpu_pool):
    # The worker only imports BASELINE to time it; judged as a candidate it launches no Triton
    # kernel, yet every output matches: Model built through the harness is the reference.
    task = resolve_task(f"{SUITE}:2_Linear_ReLU")
    result = cpu_pool.evaluate(task, task.baseline)
    assert result.status == "rejected" and "no Triton kernel was launched" in result.message
    assert result.call_ok and len(result.cases) == 6 and all(case.ok for case in result.cases)


def test_bench_with_pre_written_candidates_and_hand_checked_metrics(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, "-m", "tritonsmith", "bench", "--json", "--suite", SUITE, "--solver", f"dir:{CANDIDATES}",
         "--device", "cpu", "--out", str(out)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    records = {r.task: r for r in ResultsStore(out).records()}
    assert {name: r.status for name, r in records.items()} == {
        "kernelbench:1_ReLU": "passed", "kernelbench:2_Linear_ReLU": "passed",
        "kernelbench:10_Sum_over_a_dimension": "wrong_output"}
    metrics = json.loads(done.stdout)
    # all three ran on every case (call 3/3); the sum reduces the wrong dimension (exec 2/3)
    assert metrics["call_accuracy"] == 1.0 and metrics["exec_accuracy"] == pytest.approx(2 / 3)


def test_the_agent_solves_a_kernelbench_problem_whose_answer_is_a_class(tmp_path):
    from fakellm import FakeLLMServer

    from tritonsmith.agent.config import RunConfig
    from tritonsmith.agent.session import solve_task

    answer = (CANDIDATES / "1_ReLU.py").read_text()
    task = {t.id: t for t in load_suite(SUITE)}["1_ReLU"]

    def model(messages):
        if "expert GPU kernel engineer" not in messages[0]["content"]:
            return "PLAN: keep it."
        assert "class Model(nn.Module)" in messages[-1]["content"]  # the prompt shows the model to rewrite
        return f"Here it is.\n```python\n{answer}\n```"

    with FakeLLMServer(model) as server:
        config = RunConfig(model="openai/scripted-model", api_base=server.url, device="cpu", rounds=2, parallel=1,
                           hardware_knowledge=False, guide_knowledge=False, one_shot=False)
        summary = solve_task(task, config, tmp_path / "run", quiet=True)
    assert summary.solved and summary.statuses == {"passed": 1}


def test_on_the_cpu_inputs_and_models_take_the_scaled_sizes_elsewhere_the_real_ones():
    tasks = {t.id: t for t in load_suite(f"kernelbench:{FORMS}")}
    assert list(tasks) == ["1_Scaled_ReLU", "2_Hidden_State", "3_Masked_Loss", "4_Dropout_Positions",
                           "5_Attention_Heads", "6_Hard_Coded_Width"]
    relu = generated(tasks["1_Scaled_ReLU"])
    assert relu.CPU_SIZES_NOTE == ("sizes scaled for the CPU interpreter: batch_size 512→256, dim 3000→187, "
                                   "width 3000→187")
    scaled = Path(relu.CPU_PROBLEM_FILE).read_text()
    assert scaled.startswith(f"# 1_Scaled_ReLU.py, {relu.CPU_SIZES_NOTE}\n")
    assert "\nbatch_size = 256\ndim = width = 187\n" in scaled and relu.PROBLEM_FILE == str(FORMS / "1_Scaled_ReLU.py")
    case = tasks["1_Scaled_ReLU"].correctness_cases[0]
    assert relu.make_inputs(case, torch.Generator().manual_seed(0), "cpu")[0].shape == (256, 187)
    real = relu.make_inputs(case, torch.Generator().manual_seed(0), "meta")[0]  # any device but the CPU
    assert real.shape == (512, 3000) and real.device.type == "meta"
    for task in list(tasks.values())[:5]:
        module = generated(task)
        inputs = module.make_inputs(case, torch.Generator().manual_seed(1), "cpu")
        assert all(x.numel() <= LIMIT for x in inputs if isinstance(x, torch.Tensor)), task.id
        first, again = module.reference(*inputs), module.reference(*inputs)  # dropout: the same mask each call
        for a, b in zip(first if isinstance(first, tuple) else (first,), again if isinstance(again, tuple) else (again,)):
            assert torch.equal(a, b), task.id
    positions = generated(tasks["4_Dropout_Positions"]).HARNESS  # the table still covers every position
    assert "'seq_len': (256, 128)" in positions and "'max_len': (1024, 256)" in positions


@pytest.mark.parametrize("task_id", ["1_Scaled_ReLU", "2_Hidden_State", "3_Masked_Loss", "4_Dropout_Positions",
                                     "5_Attention_Heads"])
def test_model_matches_itself_at_the_scaled_sizes(cpu_pool, task_id):
    # what `--solver baseline` runs: Model judged as a candidate matches on all 6 checks, and launches no Triton
    # kernel, which alone rejects it
    task = resolve_task(f"kernelbench:{FORMS}:{task_id}")
    result = cpu_pool.evaluate(task, task.baseline)
    assert result.call_ok and len(result.cases) == 6 and all(case.ok for case in result.cases), result.summary()
    assert result.status == "rejected" and len(result.guard_violations) == 1
    assert result.guard_violations[0].startswith("no Triton kernel was launched")
    assert result.evidence["cpu_sizes"] == generated(task).CPU_SIZES_NOTE


@pytest.mark.parametrize("task_id, candidate, status, words", [
    ("1_Scaled_ReLU", "1_ReLU", "passed", ""),
    ("2_Hidden_State", "hidden_state_copied_constants", "passed", ""),  # its copy of batch_size is scaled too
    ("2_Hidden_State", "hidden_state_literal_size", "runtime_error", "must match the size of tensor b (1024)"),
])
def test_candidates_are_checked_at_the_scaled_sizes(cpu_pool, task_id, candidate, status, words):
    result = cpu_pool.evaluate(resolve_task(f"kernelbench:{FORMS}:{task_id}"), (CANDIDATES / f"{candidate}.py").read_text())
    assert result.status == status and words in result.message, result.summary()


def test_a_model_that_fails_at_the_scaled_sizes_says_so_in_one_sentence(cpu_pool):
    task = resolve_task(f"kernelbench:{FORMS}:6_Hard_Coded_Width")
    with pytest.raises(TaskError) as raised:
        cpu_pool.evaluate(task, task.baseline)
    assert ("Model itself fails at the sizes scaled for the CPU interpreter (width 3000→750), so this problem is "
            "checked on a GPU only: RuntimeError: Given normalized_shape=[3000]") in str(raised.value)


@real_checkout
@pytest.mark.parametrize("level, count", [("level1", 100), ("level2", 100), ("level3", 50), ("level4", 20)])
def test_the_real_levels_load_whole(level, count):
    suite = load_suite(f"kernelbench:{real_level(level)}")
    assert len(suite) == count and suite.unsupported == []
    assert all("CPU_SIZES_NOTE = " in task.source() for task in suite)


@real_checkout
def test_a_modelnew_written_like_kernelbench_examples_passes_the_real_relu_at_scaled_sizes(cpu_pool):
    task = resolve_task(f"kernelbench:{real_level('level1')}:19_ReLU")
    result = cpu_pool.evaluate(task, (CANDIDATES / "1_ReLU.py").read_text())
    assert result.status == "passed", result.summary()
    assert result.evidence["cpu_sizes"] == "sizes scaled for the CPU interpreter: batch_size 4096→256, dim 393216→192"


@real_checkout
@pytest.mark.parametrize("level, problem", [
    ("level1", "23_Softmax"), ("level1", "95_CrossEntropyLoss"), ("level2", "76_Gemm_Add_ReLU"),
    ("level2", "66_Matmul_Dropout_Softmax"), ("level3", "33_VanillaRNN"), ("level3", "43_MinGPTCausalAttention")])
def test_real_models_match_themselves_at_scaled_sizes(cpu_pool, level, problem):
    task = resolve_task(f"kernelbench:{real_level(level)}:{problem}")
    result = cpu_pool.evaluate(task, task.baseline)
    assert result.call_ok and len(result.cases) == 6 and all(case.ok for case in result.cases), result.summary()
    assert result.evidence["cpu_sizes"].startswith("sizes scaled for the CPU interpreter: ")


WRITTEN_HERE = Path(__file__).parents[1] / "fixtures" / "kernelbench_candidates"


@real_checkout
def test_models_written_here_pass_the_real_level1_through_the_dir_solver_and_the_golds_qualify(tmp_path):
    """The direct-answer check on the real KernelBench: ModelNew kernels written here for four level-1 problems,
    run as `bench --solver dir:` runs them, pass (at the real sizes on a GPU, scaled on the CPU interpreter),
    and each problem's own Model qualifies against itself (`--solver baseline`). The ReLU is the fixtures' own."""
    folder = tmp_path / "candidates"  # named by the real problems' ids, as the dir solver looks them up
    shutil.copytree(WRITTEN_HERE, folder)
    shutil.copy(CANDIDATES / "1_ReLU.py", folder / "19_ReLU.py")
    names = sorted(p.stem for p in folder.glob("*.py"))
    assert names == ["19_ReLU", "21_Sigmoid", "23_Softmax", "25_Swish"]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for solver in (f"dir:{folder}", "baseline"):
        out = tmp_path / solver.split(":")[0]
        command = [sys.executable, "-m", "tritonsmith", "bench", "--suite", f"kernelbench:{real_level('level1')}",
                   "--solver", solver, "--tasks", ",".join(names), "--device", device, "--out", str(out)]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=1200)
        assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
        records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert sorted(r["task"] for r in records) == [f"kernelbench:{n}" for n in names]
        for record in records:
            assert record["status"] == "passed", {k: record.get(k) for k in (
                "task", "status", "error", "qualification", "phases_s")}
            assert (record["speedup"] is not None) == (device == "cuda"), record
            if solver == "baseline":
                assert record["qualified"] is True, record


def test_inputs_are_drawn_on_the_device_they_are_used_on(tmp_path):
    """get_inputs() draws on the evaluation's device (torch's default device, while it runs), not on the CPU
    and copied: at KernelBench's own sizes (6 GiB an input) the CPU's draws took most of a check's making. The
    same seed draws the same inputs; `meta` stands for a GPU here."""
    folder = tmp_path / "level1"
    folder.mkdir()
    relu = (LEVEL / "1_ReLU.py").read_text()
    (folder / "1_ReLU.py").write_text(relu.replace("def get_inputs():", "def get_inputs():\n    drawn_on.append("
                                                   "torch.empty(0).device.type)") + "\ndrawn_on = []\n")
    [task] = list(load_suite(f"kernelbench:{folder}"))
    module, case = generated(task), task.correctness_cases[0]
    on_meta = module.make_inputs(case, torch.Generator().manual_seed(0), "meta")
    assert on_meta[0].device.type == "meta"
    first, again = (module.make_inputs(case, torch.Generator().manual_seed(0), "cpu")[0] for _ in range(2))
    assert torch.equal(first, again) and torch.empty(0).device.type == "cpu"  # (the default device restored)
    assert module._module("problem", module.PROBLEM_FILE).drawn_on == ["meta"]
    assert module._module("cpu_problem", module.CPU_PROBLEM_FILE).drawn_on == ["cpu", "cpu"]


def test_what_a_task_loads_goes_with_its_module(tmp_path):
    """The problem and reference modules a KernelBench task loads are named under the task's module, so that a
    reference keeper dropping the task (`task_modules_dropped`: a bench's finished task, references too large
    to keep) frees the reference's models too, and no other task's."""
    import gc
    import weakref

    from tritonsmith.evaluate.keeper import task_modules_dropped
    from tritonsmith.evaluate.runtime import import_file
    [task] = [t for t in load_suite(SUITE) if t.id == "1_ReLU"]
    key = "0123456789abcdef" + "0" * 48
    module = import_file(str(task.path), f"tritonsmith_task_{key[:16]}")
    case = task.correctness_cases[0]
    module.reference(*module.make_inputs(case, torch.Generator().manual_seed(0), "cpu"))
    loaded = sorted(name for name in sys.modules if name.startswith(f"tritonsmith_task_{key[:16]}"))
    name = f"tritonsmith_task_{key[:16]}"
    assert loaded == [name, f"{name}.kernelbench_cpu_problem", f"{name}.kernelbench_reference",
                      f"{name}.kernelbench_reference.tritonsmith_problem_cpu"], loaded  # (the reference's Model)
    sys.modules["tritonsmith_task_0123456789abcdeg"] = other = type(sys)("other")  # another task's
    alive = [weakref.ref(sys.modules[name]) for name in loaded]
    dropped = task_modules_dropped(key)
    assert len(dropped) == 4 and sys.modules.pop("tritonsmith_task_0123456789abcdeg") is other
    del dropped, module
    gc.collect()
    assert not any(ref() is not None for ref in alive)
