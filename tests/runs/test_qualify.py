"""Qualification: a task counts when its gold passes its own evaluation on the device."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tritonsmith.runs.qualify import Qualification, QualificationStore, classify, other_vendor
from tritonsmith.runs.store import ResultsStore
from tritonsmith.suites import builtin_dir, resolve_task


@pytest.mark.parametrize("status, message, task_error, expected", [
    ("passed", "", False, ""),
    ("compile_error", "TypeError: kernel() got an unexpected keyword argument 'waves_per_eu'", False,
     "the gold needs AMD GPUs: TypeError: kernel() got an unexpected keyword argument 'waves_per_eu'"),
    ("compile_error", "AttributeError: module 'triton.language' has no attribute 'float8e4b8'", False,
     "the gold fails its own evaluation (compile_error): AttributeError: module 'triton.language' has no "
     "attribute 'float8e4b8'"),
    ("error", "the task's make_inputs/reference failed on case 1: AcceleratorError: illegal memory access", True,
     "the reference fails on this device: the task's make_inputs/reference failed on case 1: AcceleratorError: "
     "illegal memory access"),
    ("error", "the task's reference is not reproducible on any correctness case: ...", True,
     "the reference is not reproducible: the task's reference is not reproducible on any correctness case: ..."),
    ("error", "the task's inputs and references were not ready within the 300 s limit of one evaluation (before "
     "any candidate code ran): the task is too slow to prepare", True,
     "the gold exceeds the time limit: the task's inputs and references were not ready within the 300 s limit of "
     "one evaluation (before any candidate code ran): the task is too slow to prepare"),
    ("timeout", "the candidate did not finish within 600 s and was killed", False,
     "the gold exceeds the time limit: the candidate did not finish within 600 s and was killed"),
    ("crashed", "out of GPU memory with no other evaluation on this GPU too: the evaluation failed unexpectedly: "
     "OutOfMemoryError: CUDA out of memory. Tried to allocate 12.00 GiB. GPU 0 has a total capacity of 79.18 GiB",
     False, "the gold needs more GPU memory than this device has: out of GPU memory with no other evaluation on "
     "this GPU too: the evaluation failed unexpectedly: OutOfMemoryError: CUDA out of memory. Tried to allocate "
     "12.00 GiB. GPU 0 has a total capacity of 79.18 GiB"),  # ROCm's test_flashattention_fwd on an H100
    ("error", "the task's make_inputs/reference failed on case 0: OutOfMemoryError: CUDA out of memory. Tried to "
     "allocate 96.00 GiB. GPU 0 has a total capacity of 79.18 GiB", True, "the gold needs more GPU memory than "
     "this device has: the task's make_inputs/reference failed on case 0: OutOfMemoryError: CUDA out of memory. "
     "Tried to allocate 96.00 GiB. GPU 0 has a total capacity of 79.18 GiB"),  # more than the whole GPU at once
    ("crashed", "the evaluation failed unexpectedly: OutOfMemoryError: CUDA out of memory. Tried to allocate "
     "2.00 GiB. GPU 0 has a total capacity of 79.18 GiB", False, "the gold crashes: the evaluation failed "
     "unexpectedly: OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity "
     "of 79.18 GiB"),  # (not made again alone: others may have held what it lacked)
    ("wrong_output", "case 0 (dtype=float16 input=0, seed 7): output differs\nmore", False,
     "the gold fails its own evaluation (wrong_output): case 0 (dtype=float16 input=0, seed 7): output differs"),
])
def test_classify(status, message, task_error, expected):
    found = classify("s:t", status, message, "NVIDIA H200", task_error=task_error)
    assert found.qualified is (status == "passed")
    assert found.reason == expected


def test_vendor_features_are_told_apart_by_the_device():
    assert other_vendor("unexpected keyword argument 'waves_per_eu'", "NVIDIA H200") == "AMD"
    assert other_vendor("unexpected keyword argument 'waves_per_eu'", "AMD Instinct MI300X") is None
    assert other_vendor("ptx assembly failed", "AMD Instinct MI300X") == "NVIDIA"
    assert other_vendor("is_hip() is false", "NVIDIA H200") is None  # a word inside a name is no evidence
    # a vendor's device library, unresolved by the other's linker (as ptxas said of TritonBench-G golds on an H100)
    unresolved = "PTXASError: ptxas fatal   : Unresolved extern function '{}'"
    assert other_vendor(unresolved.format("__ocml_pown_f32"), "NVIDIA H100 80GB HBM3") == "AMD"
    assert other_vendor(unresolved.format("__triton_hip_llrint"), "NVIDIA H100 80GB HBM3") == "AMD"
    assert other_vendor(unresolved.format("__ocml_pown_f32"), "AMD Instinct MI300X") is None
    assert other_vendor("undefined symbol __nv_powf", "AMD Instinct MI300X") == "NVIDIA"
    fnuz = ('RuntimeError: false INTERNAL ASSERT FAILED at "/pytorch/aten/src/ATen/cuda/CUDADataType.h":98, please '
            "report a bug to PyTorch. Cannot convert ScalarType Float8_e4m3fnuz to cudaDataType.")  # test_chained_dot_fp8
    assert other_vendor(fnuz, "NVIDIA H100 80GB HBM3") == "AMD"
    assert other_vendor(fnuz, "AMD Instinct MI300X") is None


def test_dropped_checks_are_noted_on_a_qualified_task():
    found = classify("s:t", "passed", "", "NVIDIA H200", dropped=["case 1 ...", "case 2 ..."])
    assert found.qualified and found.reason == "2 check(s) dropped: the reference is not reproducible there"
    found = classify("s:t", "passed", "", "NVIDIA H200", dropped=["case 1 ..."], skipped=["case 17 ..."])
    assert found.qualified and found.reason == ("1 check(s) dropped: the reference is not reproducible there; 1 perf "
                                                "case(s) skipped: the reference raises there")


def test_the_store_keeps_the_latest_per_task_and_skips_torn_lines(tmp_path):
    store = QualificationStore("NVIDIA H200", folder=tmp_path)
    store.save("k1", Qualification("s:a", False, "the gold crashes: x"))
    store.save("k1", Qualification("s:a", True, ""))
    store.save("k2", Qualification("s:b", False, "why", made_alone=True))
    store.save("k2", Qualification("s:b", True, "", version="0.0.1"))  # an older tritonsmith's judgement
    with open(store.path, "a") as handle:
        handle.write('{"key": "k3", "task"')
    loaded = QualificationStore("NVIDIA H200", folder=tmp_path).load()
    assert {k: (q.qualified, q.reason) for k, q in loaded.items()} == {"k1": (True, ""), "k2": (False, "why")}
    assert loaded["k1"].device == "NVIDIA H200" and loaded["k1"].at
    assert loaded["k2"].made_alone and not loaded["k1"].made_alone
    assert store.path.name == "nvidia-h200.jsonl"


def test_bench_baseline_qualifies_and_a_later_bench_reads_it(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    good = (builtin_dir() / "vector_add.py").read_text()
    (suite / "vector_add.py").write_text(good)
    broken = good.replace("ID = \"vector_add\"", "ID = \"broken\"").replace(
        "def reference(x, y):\n    return x + y\n", "def reference(x, y):\n    raise ValueError(\"no\")\n")
    assert "raise ValueError" in broken
    (suite / "broken.py").write_text(broken)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def bench(*args, suite=suite):
        return subprocess.run([sys.executable, "-m", "tritonsmith", "bench", "--suite", f"dir:{suite}", "--device",
                               "cpu", "--json", *args], capture_output=True, text=True, timeout=600, env=env)
    done = bench("--solver", "baseline", "--out", str(tmp_path / "b1"))
    metrics = json.loads(done.stdout)
    assert metrics["tasks"] == 2 and metrics["exec_ok"] == 1
    qualified = metrics["qualified"]
    assert (qualified["tasks"], qualified["unqualified"], qualified["exec_ok"]) == (1, 1, 1)
    assert qualified["unqualified_reasons"]["dir:broken"].startswith("the reference fails on this device:")
    candidates = tmp_path / "cands"
    candidates.mkdir()
    (candidates / "vector_add.py").write_text(resolve_task("vector_add").baseline)
    moved = tmp_path / "moved"  # the checkout moved (or another machine's): the files' content finds them
    shutil.copytree(suite, moved)
    later = json.loads(bench("--solver", f"dir:{candidates}", "--out", str(tmp_path / "b2"), suite=moved).stdout)
    assert later["qualified"]["tasks"] == 1 and later["qualified"]["exec_ok"] == 1
    assert later["qualified"]["unqualified"] == 1


def test_a_task_whose_gold_was_made_alone_for_memory_is_made_alone_and_last_in_a_later_bench(tmp_path):
    """A gold that ran short of GPU memory beside other evaluations and was made alone is stored so
    (Qualification.made_alone): a later bench on the device model evaluates that task after the others (each such
    evaluation stops the GPU's others), alone at once (the pool's alone_tasks). On the CPU nothing is made alone:
    the store is written as a GPU's bench would, and the order and the pool's list are seen."""
    from tritonsmith.runs.bench import known_alone
    from tritonsmith.suites import load_suite

    suite, candidates = tmp_path / "suite", tmp_path / "cands"
    suite.mkdir()
    candidates.mkdir()
    for name in ("flip", "vector_add"):
        (suite / f"{name}.py").write_text((builtin_dir() / f"{name}.py").read_text())
        (candidates / f"{name}.py").write_text(resolve_task(name).baseline)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def bench(solver, out):
        done = subprocess.run([sys.executable, "-m", "tritonsmith", "bench", "--suite", f"dir:{suite}", "--device",
                               "cpu", "--jobs", "1", "--solver", solver, "--out", str(tmp_path / out)],
                              capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr
        return [record.task for record in ResultsStore(tmp_path / out).records()]
    assert bench("baseline", "b1") == ["dir:flip", "dir:vector_add"]  # the suite's order
    (stored,) = (tmp_path / "cache" / "tritonsmith" / "qualification").glob("*.jsonl")
    lines = [json.loads(line) for line in stored.read_text().splitlines()]
    assert len(lines) == 2 and not any(line["made_alone"] for line in lines)  # (the CPU: never)
    stored.write_text("".join(json.dumps(dict(line, made_alone=line["task"] == "dir:flip")) + "\n" for line in lines))
    assert bench(f"dir:{candidates}", "b2") == ["dir:vector_add", "dir:flip"]
    assert bench("baseline", "b3") == ["dir:vector_add", "dir:flip"]  # a gold pass again: it stays known
    latest = {}
    for line in stored.read_text().splitlines():
        latest[json.loads(line)["task"]] = json.loads(line)["made_alone"]
    assert latest == {"dir:flip": True, "dir:vector_add": False}
    known = QualificationStore(lines[0]["device"], folder=stored.parent).load()
    alone_tasks: dict[str, str] = {}
    assert known_alone(list(load_suite(f"dir:{suite}")), known, [0, 1, 2], alone_tasks) == {"dir:flip"}
    assert list(alone_tasks.values()) == ["an earlier bench on this device model made this task's gold alone for "
                                          "want of GPU memory beside others (its qualification)"]
    assert known_alone(list(load_suite(f"dir:{suite}")), known, [0, 1, 2], None) == set()  # (a Ray cluster)


def test_the_text_summary_shows_both_sets_of_metrics(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "vector_add.py").write_text((builtin_dir() / "vector_add.py").read_text())
    done = subprocess.run([sys.executable, "-m", "tritonsmith", "bench", "--suite", f"dir:{suite}", "--device", "cpu",
                           "--solver", "baseline", "--out", str(tmp_path / "b")], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    assert "tasks 1 (all tasks, as GEAK-eval counts)" in done.stdout
    assert "qualified tasks 1 (unqualified 0, unknown 0)" in done.stdout
    assert "device: cpu (Triton interpreter)" in done.stdout.splitlines()  # (each record keeps it)
    assert json.loads((tmp_path / "b" / "results.jsonl").read_text().splitlines()[0])["device"] == "cpu (Triton interpreter)"


def test_kernelbench_models_qualify_against_themselves(tmp_path):
    """KernelBench's gold is Model, PyTorch code that launches no Triton kernel: evaluated against itself to
    qualify the task, the guards that require Triton kernels do not apply (they still do to candidates)."""
    level = Path(__file__).parents[1] / "fixtures/kernelbench/level1"
    done = subprocess.run([sys.executable, "-m", "tritonsmith", "bench", "--suite", f"kernelbench:{level}",
                           "--tasks", "1_ReLU,2_Linear_ReLU", "--device", "cpu", "--solver", "baseline", "--json",
                           "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["exec_ok"] == 2 and metrics["qualified"]["tasks"] == 2, metrics


def test_a_candidate_that_submits_the_pytorch_model_is_still_rejected(cpu_pool):
    from tritonsmith.suites import load_suite

    level = Path(__file__).parents[1] / "fixtures/kernelbench/level1"
    task = next(t for t in load_suite(f"kernelbench:{level}") if t.id == "1_ReLU")
    result = cpu_pool.evaluate(task, task.baseline)  # not as the gold: an ordinary candidate
    assert result.status == "rejected" and "no Triton kernel was launched" in result.message
