"""benchmarks/staged_tuning.py: the comparison of a trusted autotuning staged and in full, rendered from its
records (the evaluations themselves need a GPU; `--device cpu` runs them only to check the script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "staged_tuning.py"


def row(task: str, way: str, wall_s: float, baseline_ms: list[float], status: str = "passed", **more) -> dict:
    return {"task": task, "way": way, "status": status, "wall_s": wall_s, "reference_runs_s": wall_s / 2,
            "compiles_s": wall_s / 4,
            "baseline_ms": baseline_ms, **more}


def test_each_task_is_a_row_comparing_the_two_ways(tmp_path):
    """Seconds both ways, the staged way's tuning counts, and the baseline's time staged over in full: the
    geometric mean and the worst case (a worse config chosen would show there); a task run staged only, or
    over the limit, says so."""
    records = tmp_path / "staged.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in [
        row("matmul", "staged", 40.0, [0.010, 0.020], tuning={"kept": 5, "cut": 43},
            choices={"k.autotune.json (64,)": {"A": 1.0, "B": 1.2}, "k.autotune.json (128,)": {"A": 2.0, "B": 2.5},
                     "only.autotune.json (1,)": {"A": 1.0}}),
        row("matmul", "full", 100.0, [0.010, 0.016],
            choices={"k.autotune.json (64,)": {"A": 1.1, "B": 1.0}, "k.autotune.json (128,)": {"A": 2.0, "B": 2.6}}),
        row("int8_dequant_matmul", "staged", 420.0, [], status="over the limit"),
        row("bmm", "staged", 3.0, [], status="error", message="no GPU is visible to PyTorch"),
        row("int8_dequant_matmul", "parallel", 300.0, [0.1]),
    ]) + "\n")
    done = subprocess.run([sys.executable, str(SCRIPT), "--summarize", str(records)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # the staged way chose A at both shapes; in the full way's own benchmarks A was 1.1x B at the first. The
    # control: the full way chose B there, 1.2x A in the staged way's benchmarks
    assert lines[2] == ("| matmul | 40 | 100 | - | 20.0 / 50.0 | 10.0 / 25.0 | 5 / 43 | 1 of 2 | 1.100 | 1.200 "
                        "| 1.118, 1.250 (2 cases) |")
    assert lines[3] == ("| int8_dequant_matmul | 420 (over the limit) | - | 300 | 210.0 / n/a | 105.0 / n/a | - / - | - | - "
                        "| - | - |")
    assert lines[-1] == "bmm (staged): error: no GPU is visible to PyTorch"


def test_what_each_autotuning_chose_is_read_from_tritons_cache_files(tmp_path):
    """Triton's autotune cache file (TRITON_CACHE_AUTOTUNING=1): its key and each config's figures (median first)."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from staged_tuning import autotune_choices
    finally:
        sys.path.remove(str(SCRIPT.parent))
    folder = tmp_path / "HASH"
    folder.mkdir()
    config = {"kwargs": {"BLOCK": 64}, "num_warps": 4, "pre_hook": None}
    (folder / "_kernel.autotune.json").write_text(json.dumps(
        {"key": [1024, "torch.float16"], "configs_timings": [[config, [0.5, 0.4, 0.6]], [dict(config, num_warps=8),
                                                                                      [0.7, 0.6, 0.8]]]}))
    (folder / "broken.autotune.json").write_text("{")
    choices = autotune_choices(str(tmp_path))
    assert list(choices) == ["HASH/_kernel.autotune.json [1024, 'torch.float16']"]
    assert sorted(choices["HASH/_kernel.autotune.json [1024, 'torch.float16']"].values()) == [0.5, 0.7]


def test_an_evaluation_the_command_refuses_is_a_row_saying_why(tmp_path):
    """`tritonsmith eval --json` answers {"error": ...} when it cannot evaluate (here: no GPU for --device cuda):
    the row says so, and the run goes on to the next evaluation."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from staged_tuning import evaluate
    finally:
        sys.path.remove(str(SCRIPT.parent))
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: the command would evaluate")
    row = evaluate("builtin", "vector_add", "staged", 120, device="cuda")
    assert row["status"] == "error" and "no GPU is visible" in row["message"], row
