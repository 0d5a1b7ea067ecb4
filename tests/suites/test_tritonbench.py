"""The TritonBench-G adapter, on small fixture tasks written in its format (tests/fixtures/tritonbench_g)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fakellm import FakeLLMServer

from tritonsmith.runs.store import ResultsStore
from tritonsmith.suites import load_suite, resolve_task
from tritonsmith.suites.tritonbench import SEPARATOR
from tritonsmith.task import TaskError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tritonbench_g"
SUITE = f"tritonbench-g:{FIXTURES / 'tasks'}"
WRONG_RELU = (FIXTURES / "tasks" / "row_relu.py").read_text().split(SEPARATOR)[0].replace(
    "tl.maximum(x, 0.0)", "tl.abs(x)")
TORCH_RELU = "import torch\n\n\ndef row_relu(x):\n    return torch.relu(x)\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


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
    folder.mkdir()
    shutil.copy(FIXTURES / "tasks" / "row_relu.py", folder / "row_relu.py")
    with pytest.raises(TaskError, match="no instructions JSON"):
        load_suite(f"tritonbench-g:{folder}")
    shutil.copy(FIXTURES / "instructions.json", tmp_path / "instructions.json")
    (folder / "row_relu.py").write_text((FIXTURES / "tasks" / "row_relu.py").read_text().replace(SEPARATOR, "#" * 20))
    with pytest.raises(TaskError, match="no separator line of 146"):
        load_suite(f"tritonbench-g:{folder}")
    (folder / "extra.py").write_text("x = 1\n")
    (folder / "row_relu.py").unlink()
    with pytest.raises(TaskError, match="no entry with file 'extra.py'"):
        load_suite(f"tritonbench-g:{folder}")


@pytest.mark.parametrize("task_id", ["scale_add", "row_relu"])
def test_gold_code_passes_its_own_test(cpu_pool, task_id):
    task = resolve_task(f"{SUITE}:{task_id}")
    result = cpu_pool.evaluate(task, task.baseline)
    assert result.status == "passed", result.summary()


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
    gold = (FIXTURES / "tasks" / f"{task}.py").read_text().split(SEPARATOR)[0]
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
