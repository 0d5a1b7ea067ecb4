"""Benchmark tasks whose own code needs a GPU (GEAK-eval's tests hard-code device='cuda'): the adapters read it
from the code, `tasks` shows it, and on the CPU their failure says so and what to do, every guard kept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tritonsmith.runs.qualify import gpu_only_note
from tritonsmith.suites import load_suite, resolve_task
from tritonsmith.suites.gpu_use import gpu_use
from tritonsmith.suites.parts import SEPARATOR, split_parts

FIXTURES = Path(__file__).parents[1] / "fixtures"
ON_THE_CPU = pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU these tasks run")
CHOSEN = '"cuda" if torch.cuda.is_available() else "cpu"'  # what the fixtures do: not GPU-only
CAUGHT = """import torch


def test_scale_add():
    results = {}
    try:
        x = torch.randn(8, device="cuda")
        results["out"] = scale_add(x, x, 0.5)
    except Exception as exc:
        results["error"] = str(exc)
    return results


result_gold = test_scale_add()
"""

pytestmark = pytest.mark.usefixtures("private_cache")


def tritonbench_folder(tmp_path: Path) -> Path:
    """scale_add with its test on 'cuda' (line 26), as GEAK-eval's are; row_relu as it is."""
    folder = tmp_path / "tritonbench"
    shutil.copytree(FIXTURES / "tritonbench_g" / "tasks", folder)
    shutil.copy(FIXTURES / "tritonbench_g" / "instructions.json", tmp_path / "instructions.json")
    scale_add = folder / "scale_add.py"
    scale_add.write_text(scale_add.read_text().replace(CHOSEN, '"cuda"'))
    return folder


def rocm_folder(tmp_path: Path) -> Path:
    """vector_scale with its `device` fixture on 'cuda' (line 33); row_sum with 'cuda' in its performance test
    only, which the correctness check never runs."""
    folder = tmp_path / "rocm"
    shutil.copytree(FIXTURES / "geak_rocm" / "tasks", folder)
    shutil.copy(FIXTURES / "geak_rocm" / "instructions.json", tmp_path / "rocm.json")
    scale = folder / "vector_scale.py"
    scale.write_text(scale.read_text().replace(f"return {CHOSEN}", 'return "cuda"'))
    row_sum = folder / "row_sum.py"
    row_sum.write_text(row_sum.read_text().replace("def test_performance(rows, cols, request):\n",
                                                   "def test_performance(rows, cols, request):\n"
                                                   "    torch.empty(rows, cols, device='cuda')\n"))
    return folder


def tritonsmith(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tritonsmith", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})


def test_the_adapters_read_from_the_code_which_tasks_need_a_gpu(tmp_path):
    tritonbench = {t.id: t.gpu_only for t in load_suite(f"tritonbench-g:{tritonbench_folder(tmp_path)}")}
    assert tritonbench == {"row_relu": None, "scale_add": "its code puts tensors on the GPU ('cuda', line 26 of "
                                                          "scale_add.py)"}
    rocm = {t.id: t.gpu_only for t in load_suite(f"geak-rocm:{rocm_folder(tmp_path)}")}
    assert rocm == {"row_sum": None, "vector_scale": "its code puts tensors on the GPU ('cuda', line 33 of "
                                                     "vector_scale.py)"}
    for name, code, why in [
        ("default", "def make(n, device='cuda'):\n    return n", "(device='cuda', line 1"),
        ("moved", "def make(x):\n    return x.cuda()", "to the GPU (.cuda(), line 2"),
        ("asked", "import torch\ntorch.cuda.manual_seed(0)\nDEVICE = torch.cuda.current_device()",
         "asks torch for the GPU (torch.cuda.current_device(), line 3"),
        ("driver", "import triton\nTARGET = triton.runtime.driver.active.get_current_target()",
         "asks Triton's active driver for the GPU (triton.runtime.driver.active, line 2"),
        ("raw", "from torch._C import _cuda_getCurrentRawStream", "imports torch's CUDA functions"),
        ("compared", "def on_gpu(x):\n    return x.device.type == 'cuda'", None),
        ("seeded", "import torch\ntorch.cuda.manual_seed_all(0)\nREADY = torch.cuda.is_available()", None),
        ("autocast", "from torch.amp import custom_fwd\n@custom_fwd(device_type='cuda')\ndef f(x):\n    return x", None),
    ]:
        path = tmp_path / f"{name}.py"
        path.write_text(f"{code}\n{'#' * 146}\ndef test_it():\n    pass\n")
        found = gpu_use(split_parts(path))
        assert (found is None) if why is None else (why in found), (name, found)


def test_tasks_lists_and_shows_why_a_task_is_gpu_only(tmp_path):
    suite = f"tritonbench-g:{tritonbench_folder(tmp_path)}"
    listed = tritonsmith("tasks", "--suite", suite, tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:-1]}
    assert rows["scale_add"][-1] == "yes" and rows["row_relu"][-1] != "yes"
    shown = tritonsmith("tasks", "show", "scale_add", "--suite", suite, tmp_path=tmp_path)
    assert "GPU only: its code puts tensors on the GPU ('cuda', line 26 of scale_add.py)" in shown.stdout
    as_json = json.loads(tritonsmith("tasks", "--suite", suite, "--json", tmp_path=tmp_path).stdout)
    assert [t["gpu_only"] is not None for t in as_json["tasks"]] == [False, True]


@ON_THE_CPU
@pytest.mark.parametrize("suite, task_id, why", [
    ("tritonbench-g", "scale_add", "its code puts tensors on the GPU ('cuda', line 26 of scale_add.py)"),
    ("geak-rocm", "vector_scale", "its code puts tensors on the GPU ('cuda', line 33 of vector_scale.py)"),
])
def test_on_the_cpu_a_gpu_only_task_fails_with_its_cause_and_the_fix(tmp_path, suite, task_id, why):
    """GEAK's ROCm tests count an AssertionError as a failed check: torch's 'Torch not compiled with CUDA
    enabled' was one, the gold's results were empty alike, and the gold was rejected by the launch guard."""
    folder = tritonbench_folder(tmp_path) if suite == "tritonbench-g" else rocm_folder(tmp_path)
    done = tritonsmith("eval", f"{suite}:{folder}:{task_id}", "--baseline", "--device", "cpu", tmp_path=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith(f"tritonsmith: error: this task needs a GPU: {why}, and on the CPU its reference fails "
                           "on case 0 ("), said
    assert said.endswith(" with \"AssertionError: Torch not compiled with CUDA enabled\"; run it on a GPU with "
                         "--device cuda"), said


@ON_THE_CPU
def test_a_test_that_catches_the_error_itself_is_still_rejected_and_told_why(cpu_pool, tmp_path):
    """Like TritonBench-G's matrix_reduction: its test stores the error as a result, on the gold and the candidate
    alike. The launch guard still rejects it; the message says why no kernel ran."""
    folder = tritonbench_folder(tmp_path)
    scale_add = folder / "scale_add.py"
    scale_add.write_text(split_parts(scale_add).kernel + f"{SEPARATOR}\n" + CAUGHT)
    task = resolve_task(f"tritonbench-g:{folder}:scale_add")
    assert task.gpu_only
    result = cpu_pool.evaluate(task, task.baseline)
    assert result.status == "rejected" and not result.exec_ok, result.summary()
    assert result.guard_violations == ["no Triton kernel was launched: the entry point must launch @triton.jit kernels"]
    assert result.message.startswith("this task needs a GPU: its code puts tensors on the GPU (device='cuda', line "
                                     "28 of scale_add.py), so on the CPU"), result.message
    assert "so on the CPU no Triton kernel ran; run it on a GPU with --device cuda (rejected by the evaluator's " \
           "guards: no Triton kernel was launched" in result.message


@ON_THE_CPU
def test_a_candidate_that_asks_torch_for_a_gpu_fails_with_that_error(cpu_pool):
    """The gold runs on the CPU; the candidate's wrapper asks for a GPU. Its AssertionError used to fail each call
    as a check (output keys missing); now the run stops with it. Either way the candidate fails."""
    folder = FIXTURES / "geak_rocm" / "tasks"
    task = resolve_task(f"geak-rocm:{folder}:vector_scale")
    source = split_parts(folder / "vector_scale.py").kernel.replace(
        "    return out", "    torch.cuda.synchronize()\n    return out")
    result = cpu_pool.evaluate(task, source)
    assert result.status == "runtime_error" and not result.exec_ok, result.summary()
    assert "torch.cuda.synchronize()\nAssertionError: Torch not compiled with CUDA enabled" in result.message


def test_bench_on_the_cpu_says_up_front_how_many_selected_tasks_need_a_gpu(tmp_path):
    tasks = list(load_suite(f"tritonbench-g:{tritonbench_folder(tmp_path)}"))
    assert gpu_only_note(tasks, "cpu") == (
        "1 of the 2 selected tasks needs a GPU (`tritonsmith tasks show ID` says why), so on the CPU its evaluation "
        "fails: run it on a GPU with --device cuda")
    assert gpu_only_note(tasks[1:], "cpu").startswith("the selected task needs a GPU")
    assert gpu_only_note(tasks + tasks, "cpu").startswith("2 of the 4 selected tasks need a GPU (gpu-only in ")
    assert gpu_only_note(tasks[1:] * 3, "cpu").startswith("all 3 selected tasks need a GPU")
    assert gpu_only_note(tasks, "cuda") is None and gpu_only_note(tasks[:1], "cpu") is None


@ON_THE_CPU
def test_a_bench_on_the_cpu_says_it_before_the_first_task(tmp_path):
    import io

    from tritonsmith.agent.config import RunConfig
    from tritonsmith.runs.bench import solve_suite

    stream = io.StringIO()
    records = solve_suite(f"tritonbench-g:{tritonbench_folder(tmp_path)}", "baseline", RunConfig(device="cpu"),
                          tmp_path / "bench", pattern="scale_add", stream=stream)
    said = stream.getvalue()
    assert said.startswith("the selected task needs a GPU (`tritonsmith tasks show ID` says why)"), said
    assert [r.status for r in records] == ["error"] and "this task needs a GPU" in records[0].error
