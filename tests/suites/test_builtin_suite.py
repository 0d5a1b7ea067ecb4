"""The built-in suite: required tasks exist, references are deterministic, byte counts are sane,
and every baseline passes the evaluator on the CPU interpreter."""

from __future__ import annotations

import pytest
import torch

from tritonsmith.suites import load_suite

from .builtin_helpers import load

TASKS = load_suite("builtin")
REQUIRED = {"vector_add": "vector_add", "softmax": "softmax", "layernorm": "layernorm", "rmsnorm": "rmsnorm",
            "matmul": "matmul", "flip": "flip"}


def tensors(value):
    items = value if isinstance(value, (tuple, list)) else [value]
    return [t for t in items if isinstance(t, torch.Tensor)]


def test_required_tasks_and_entry_points():
    by_id = {t.id: t for t in TASKS}
    for task_id, entry in REQUIRED.items():
        assert task_id in by_id, f"missing required task {task_id}"
        assert by_id[task_id].entry_point == entry


def test_suite_size_and_spread():
    assert len(TASKS) >= 40
    assert len({t.kind for t in TASKS}) >= 12
    assert all(t.baseline for t in TASKS), [t.id for t in TASKS if not t.baseline]
    assert all(t.difficulty for t in TASKS)
    gpu_only = [t.id for t in TASKS if t.gpu_only]
    assert len(gpu_only) <= 4, gpu_only


def dimensions(case):
    values = []
    for key, value in case.items():
        if key != "dtype":
            values += value if isinstance(value, list) else [value] if isinstance(value, int) else []
    return values


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_cases_include_awkward_shapes_and_every_timed_dtype(task):
    assert len(task.correctness_cases) >= 3
    sizes = [d for case in task.correctness_cases for d in dimensions(case)]
    assert 1 in sizes, f"{task.id}: no correctness case has a dimension of size 1"
    assert any(d > 0 and d & (d - 1) for d in sizes), f"{task.id}: every correctness dimension is a power of two"
    untested = {c["dtype"] for c in task.perf_cases} - {c["dtype"] for c in task.correctness_cases}
    assert not untested, f"{task.id}: perf dtypes {untested} are never checked for correctness"


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_reference_is_deterministic_and_counts_are_sane(task):
    module = load(task.id)
    for case in task.correctness_cases:
        if case["dtype"] == "bfloat16":
            continue
        first = module.make_inputs(dict(case), torch.Generator().manual_seed(0), "cpu")
        again = module.make_inputs(dict(case), torch.Generator().manual_seed(0), "cpu")
        other = module.make_inputs(dict(case), torch.Generator().manual_seed(1), "cpu")
        for a, b in zip(tensors(first), tensors(again)):
            assert torch.equal(a, b), f"{task.id}: make_inputs is not deterministic for {case}"
        out_a = tensors(module.reference(*first))
        out_b = tensors(module.reference(*again))
        for a, b in zip(out_a, out_b):
            assert torch.equal(a.nan_to_num(), b.nan_to_num()), f"{task.id}: reference is not deterministic"
        if max(t.numel() for t in tensors(first)) > 8:
            assert any(not torch.equal(a, b) for a, b in zip(tensors(first), tensors(other))), (
                f"{task.id}: inputs do not depend on the seed for {case}")
        in_bytes = sum(t.numel() * t.element_size() for t in tensors(first))
        out_bytes = sum(t.numel() * t.element_size() for t in out_a)
        moved = module.bytes_moved(dict(case))
        # at least the outputs; at most every input once plus gathered reads the size of the outputs
        assert out_bytes <= moved <= in_bytes + 2 * out_bytes, (
            f"{task.id}: bytes_moved {moved} is outside [{out_bytes}, {in_bytes + 2 * out_bytes}] for {case}")
        assert module.flops(dict(case)) >= 0
    for case in task.perf_cases:
        assert isinstance(module.bytes_moved(dict(case)), int) and module.bytes_moved(dict(case)) > 0
        assert isinstance(module.flops(dict(case)), int)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_baseline_passes_on_the_cpu_interpreter(task, cpu_pool):
    if task.gpu_only:
        pytest.skip(f"GPU only: {task.gpu_only}")
    result = cpu_pool.evaluate(task, task.baseline)
    assert result.status == "passed", result.summary()
    assert not result.guard_violations
