"""Honest candidates in varied styles: every one must pass with no guard violation (no false rejections)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CANDIDATES

from tritonsmith.task import load_task

BUILTIN = Path(__file__).parents[2] / "src/tritonsmith/suites/builtin"

# file (under candidates/honest), task
HONEST = [
    ("vector_add_fixed_block", "vector_add"),
    ("vector_add_autotune", "vector_add"),
    ("vector_add_heuristics", "vector_add"),
    ("vector_add_glue", "vector_add"),
    ("vector_add_two_kernels", "vector_add"),
    ("vector_add_jit_helper", "vector_add"),
    ("vector_add_persistent", "vector_add"),
    ("vector_add_hints", "vector_add"),
    ("vector_add_import_marker", "vector_add"),
    ("vector_add_tempfile", "vector_add"),
    ("vector_add_one_stall", "vector_add"),  # one call held up 250 ms: made again, passes (on a GPU: timed)
    ("softmax_row_per_program", "softmax"),
    ("softmax_online", "softmax"),
]


@pytest.mark.parametrize("name, task_id", HONEST, ids=[case[0] for case in HONEST])
def test_honest_candidate_passes(run_candidate, name, task_id):
    path = BUILTIN / f"{task_id}.py"
    if not path.exists():
        pytest.skip(f"the built-in task {task_id} does not exist yet")
    result = run_candidate(load_task(path, suite="builtin"), f"honest/{name}.py", timeout_s=120)
    assert result.status == "passed", result.summary()
    assert result.guard_violations == []
    assert result.exec_ok and result.call_ok
    assert result.cases and all(case.ok for case in result.cases)
    assert result.evidence["handed_over_by_digest"] >= len(result.cases)  # no call's arguments sent as a file


def test_arguments_a_call_left_unchanged_come_back_by_digest(cpu_pool):
    """The arguments after each call are compared with the checker's digest of the inputs in the candidate's
    process: an honest candidate's evaluation reads no arguments file, one that writes into an input still
    hands them over, and is caught as before."""
    task = load_task(BUILTIN / "vector_add.py", suite="builtin")
    honest = cpu_pool.evaluate(task, task.baseline)
    mutating = cpu_pool.evaluate(task, (CANDIDATES / "adversarial/mutate_input.py").read_text())
    assert honest.status == "passed" and honest.guard_violations == [], honest.summary()
    assert honest.evidence["handed_over_by_digest"] == len(honest.cases)  # every call: no -args.pt read
    assert mutating.status == "rejected" and "modified input 0 in place" in mutating.message, mutating.summary()
    assert mutating.evidence["handed_over_by_digest"] == 0
    # both read each call's output, twice (the `late` look); the mutating one its two arguments too
    assert mutating.evidence["handed_over_mb"] > 1.5 * honest.evidence["handed_over_mb"] > 0


def test_outputs_of_one_call_may_share_memory(cpu_pool, tmp_path):
    """A test that returns one buffer under two keys (TritonBench-G's kldiv_ops writes two backward results
    into one grads tensor) is no cached output: only memory shared with an earlier call's output is."""
    source = (BUILTIN / "vector_add.py").read_text().replace(
        "def reference(x, y):\n    return x + y\n", "def reference(x, y):\n    out = x + y\n    return out, out\n")
    assert "return out, out" in source
    path = tmp_path / "twice.py"
    path.write_text(source)
    task = load_task(path)
    twice = task.baseline.rstrip() + "\n\n\n_single = vector_add\n\n\ndef vector_add(x, y):\n    out = _single(x, y)\n" \
                                      "    return out, out\n"
    result = cpu_pool.evaluate(task, twice)
    assert result.status == "passed", result.summary()
