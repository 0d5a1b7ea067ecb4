"""benchmarks/gold_pass.py: a gold pass's results, grouped by why a gold does not qualify (docs/benchmarks.md's
tables are made with it), and the tasks a call was cut off in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gold_pass.py"


def record(task: str, status: str, qualification: str = "", error: str | None = None) -> dict:
    return {"task": f"geak-rocm:{task}", "status": status, "qualified": status == "passed",
            "qualification": qualification, "error": error, "speedup": 1.0 if status == "passed" else None,
            "wall_s": 2.0, "phases_s": None, "perf_cases": None}


def test_golds_are_grouped_by_why_they_do_not_qualify_as_the_device_said_it(tmp_path):
    """The reasons are the H100's own words (session 22's ROCm calls), one group each; a later file's record of a
    task wins, and a task the last call was cut off in is named."""
    first = [
        record("test_chained_dot_fp8", "error", "the reference fails on this device: RuntimeError: Cannot convert "
               "ScalarType Float8_e4m3fnuz to cudaDataType."),
        record("test_kernel_dot", "error", "the reference fails on this device: ImportError: cannot import name "
               "'AttrsDescriptor' from 'triton.backends.compiler'"),
        record("test_matmul_MXFP", "error", "the reference fails on this device: ModuleNotFoundError: No module "
               "named 'triton.tools.experimental_descriptor'"),
        record("gemm", "error", "the gold needs AMD GPUs: KeyError: 'Keyword argument waves_per_eu was specified'"),
        record("chunk_gla_fwd", "error", "the reference fails on this device: AcceleratorError: CUDA error: an "
               "illegal memory access was encountered"),
        record("test_reverse_range", "rejected", "the gold fails its own evaluation (rejected): rejected by the "
               "evaluator's guards: the outputs are correct even with every Triton kernel launch disabled"),
        record("test_flashattention_fwd", "crashed", "the gold needs more GPU memory than this device has: out of "
               "GPU memory with no other evaluation on this GPU too: the evaluation failed unexpectedly: "
               "OutOfMemoryError: CUDA out of memory."),
        record("test_add_kernel", "passed"),
    ]
    second = [dict(record("test_reverse_range", "passed"), device="NVIDIA H200")]  # run again: this record wins
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in first))
    (tmp_path / "a" / "log.1").write_text("[6/31] running: geak-rocm:rmsnorm_bwd (289 s; correctness for 28 s)\n")
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in second))
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "a" / "results.jsonl"), str(tmp_path / "b.jsonl")],
                          capture_output=True, text=True, timeout=60, cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("2 of 8 golds qualify"), out
    assert ("Devices: not recorded (7), NVIDIA H200 (1): a pass resumed on other "
            "machines.") in out, out
    assert "| needs an AMD GPU (2) | gemm, test_chained_dot_fp8 |" in out, out
    assert "| imports a Triton API this Triton lacks (2) | test_kernel_dot, test_matmul_MXFP |" in out, out
    assert "| illegal memory access (1) | chunk_gla_fwd |" in out, out
    assert "| needs more GPU memory than the device has (1) | test_flashattention_fwd |" in out, out
    assert "test_reverse_range" not in out.split("Gold against itself")[0].split("| --- | --- |")[-1], out
    assert "Still running when a call was cut off, not finished since: rmsnorm_bwd (1 call(s), 289 s at most)." in out


def test_golds_evaluated_as_candidates_show_the_baseline_beside_them_against_alone(tmp_path):
    """`--solver dir:` of the golds (benchmarks/write_golds.py): each perf case's baseline beside the candidate
    against its time alone, and the passed ones counted as passed, not as unqualified. The count of cases the
    margin rejects follows the evaluator's rule: the ratio, and a floor in milliseconds, and on the host clock
    ("cpu") its wider ratio; the time beside is the recorded `baseline_ms` where present (the speedup times the
    candidate's time in older records)."""
    def case(speedup: float, candidate_ms: float, alone_ms: float, baseline_ms: float | None = None) -> dict:
        return dict({"label": "n=1", "speedup": speedup, "candidate_ms": candidate_ms, "baseline_alone_ms": alone_ms},
                    **({"baseline_ms": baseline_ms} if baseline_ms else {}))
    records = [dict(record("softmax", "passed"), solver="dir", perf_cases=[case(1.0, 0.1, 0.1), case(1.2, 0.1, 0.1)]),
               dict(record("vector_add", "passed"), solver="dir",
                    perf_cases=[case(0.99, 0.01, 0.0099), case(3.0, 0.001, 0.001)]),  # 3x, by 0.002 ms: kept
               dict(record("relu", "passed"), solver="dir", device="cpu", perf_cases=[case(2.0, 1.0, 1.0)]),
               dict(record("layernorm", "rejected", error="the baseline took 0.2000 ms a call timed beside the "
                           "candidate, 2.00x"), solver="dir", perf_cases=[case(1.9, 0.1, 0.1, baseline_ms=0.2)])]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "results.jsonl")], capture_output=True,
                          text=True, timeout=60, cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("3 of 4 golds, evaluated as candidates (`--solver dir:`), passed."), out
    assert "| rejected: a guard (1) | layernorm |" in out, out
    assert ("The baseline beside the candidate against its time alone (before any candidate code ran), in perf "
            "cases: min 1.000, median 1.600, p99 3.000, max 3.000 over 6; 1 rejected by it") in out, out
