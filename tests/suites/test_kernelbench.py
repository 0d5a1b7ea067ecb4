"""The KernelBench adapter, on small fixture problems written in its format (tests/fixtures/kernelbench)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tritonsmith.runs.store import ResultsStore
from tritonsmith.suites import load_suite, resolve_task
from tritonsmith.task import TaskError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kernelbench"
LEVEL = FIXTURES / "level1"
CANDIDATES = FIXTURES / "candidates"
SUITE = f"kernelbench:{LEVEL}"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_problems_load_as_tasks_in_kernelbench_order(tmp_path):
    tasks = load_suite(SUITE)
    assert [t.id for t in tasks] == ["1_ReLU", "2_Linear_ReLU", "10_Sum_over_a_dimension"]
    linear = tasks[1]
    assert linear.suite == "kernelbench" and linear.name == "kernelbench:2_Linear_ReLU"
    assert linear.required_names == ("ModelNew",) and linear.entry_point == "tritonsmith_forward"
    assert linear.allowed_ops == ("*",) and linear.tolerances["float32"].atol == 1e-2
    assert linear.reference_source == (LEVEL / "2_Linear_ReLU.py").read_text()
    assert "as `ModelNew`" in linear.instruction and "torch.manual_seed(42)" in linear.instruction
    assert linear.baseline.rstrip().endswith("ModelNew = Model") and "def tritonsmith_forward" not in linear.baseline
    assert "ModelNew(*init)" in linear.harness and str((LEVEL / "2_Linear_ReLU.py").resolve()) in linear.harness
    assert len(linear.correctness_cases) * 3 >= 5 and linear.perf_cases == ({"dtype": "float32", "trial": "perf"},)
    assert linear.path.is_relative_to(tmp_path / "cache")  # generated into the user's cache, not the checkout


def test_inputs_are_six_distinct_draws_and_repeatable():
    task = resolve_task(f"{SUITE}:1_ReLU")
    spec = importlib.util.spec_from_file_location("kernelbench_generated_task", task.path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def draw(case, seed):
        return module.make_inputs(case, torch.Generator().manual_seed(seed), "cpu")[0]
    draws = [draw(case, seed) for case in task.correctness_cases for seed in (0, 1, 2)]
    assert all(x.shape == (5, 37) for x in draws)
    assert len({tuple(x.flatten().tolist()) for x in draws}) == 6
    assert torch.equal(draws[0], draw(task.correctness_cases[0], 0))
    assert torch.equal(module.reference(draws[0]), torch.relu(draws[0]))


def test_malformed_problems_fail_with_one_sentence_naming_the_file(tmp_path):
    folder = tmp_path / "level1"
    folder.mkdir()
    with pytest.raises(TaskError, match="holds no KernelBench problem files"):
        load_suite(f"kernelbench:{folder}")
    with pytest.raises(TaskError, match="no such folder"):
        load_suite(f"kernelbench:{tmp_path / 'missing'}")
    relu = (LEVEL / "1_ReLU.py").read_text()
    broken = folder / "3_Broken.py"
    for text, words in [(relu.replace("class Model(", "class Net("), "does not define Model"),
                        (relu.replace("def get_inputs(", "def make_inputs("), "does not define get_inputs"),
                        (relu + "\ndef oops(:\n", "is not valid Python")]:
        broken.write_text(text)
        with pytest.raises(TaskError, match=words) as raised:
            load_suite(f"kernelbench:{folder}")
        assert str(broken) in str(raised.value)
    broken.unlink()
    shutil.copy(LEVEL / "1_ReLU.py", folder / "7_Re.LU v2.py")
    assert [t.id for t in load_suite(f"kernelbench:{folder}")] == ["7_Re_LU_v2"]


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
    from tritonsmith.agent.run import run_task

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
        summary = run_task(task, config, tmp_path / "run", quiet=True)
    assert summary["solved"] and summary["statuses"] == {"passed": 1}
