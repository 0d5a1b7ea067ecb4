"""Hand checks of the elementwise, reduction and softmax tasks of the built-in suite: flops/bytes
formulas worked out by hand for one concrete case, and each reference compared with an independent
computation (plain math) on a tiny hand-written input."""

from __future__ import annotations

import math

import pytest
import torch

from tritonsmith.suites import builtin_dir
from tritonsmith.task import load_task

from .builtin_helpers import close, load

TASK_IDS = ["gelu", "bias_gelu", "swiglu", "silu", "row_sum", "row_max", "argmax", "mean_var", "logsumexp",
            "col_sum", "softmax", "online_softmax_long", "log_softmax", "softmax_backward"]


def t(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype)


def gelu_tanh(x):
    return 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1 + math.exp(-x))


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_task_file_is_valid_and_perf_cases_are_big_enough(task_id):
    task = load_task(builtin_dir() / f"{task_id}.py")
    assert task.id == task_id and task.entry_point == task_id and task.baseline and task.difficulty
    assert task.gpu_only is None
    assert len(task.correctness_cases) >= 3 and {"float32", "float16", "bfloat16"} <= set(task.dtypes)
    shapes = [case["shape"] for case in task.correctness_cases]
    assert any(1 in shape for shape in shapes)  # a size-1 dimension
    assert any(any(d > 1 and d & (d - 1) for d in shape) for shape in shapes)  # not a power of two
    module = load(task_id)
    for case in task.perf_cases:
        # all of these are memory bound: >= 64 MB keeps the reference above ~20 us at ~3 TB/s
        assert module.bytes_moved(dict(case)) >= 64e6, case


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_make_inputs_are_deterministic_and_unchanged_by_reference(task_id):
    module = load(task_id)
    case = dict(module.CORRECTNESS_CASES[2])
    first = module.make_inputs(case, torch.Generator().manual_seed(3), "cpu")
    again = module.make_inputs(case, torch.Generator().manual_seed(3), "cpu")
    kept = [a.clone() for a in first]
    module.reference(*first)
    for a, b, c in zip(first, again, kept, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


# --- flops / bytes_moved, worked out by hand --------------------------------------------------------

def test_elementwise_counts():
    gelu = load("gelu")
    case = {"shape": [3, 7], "dtype": "float16"}
    assert gelu.flops(case) == 9 * 21 == 189  # 21 elements, 9 operations each
    assert gelu.bytes_moved(case) == 21 * 2 + 21 * 2 == 84  # read x, write out, 2 bytes each
    swiglu = load("swiglu")
    case = {"shape": [4, 5], "dtype": "float32"}
    assert swiglu.flops(case) == 100  # silu (4) + multiply (1) on 20 elements
    assert swiglu.bytes_moved(case) == 240  # gate + up + out = 60 float32 values
    bias_gelu = load("bias_gelu")
    case = {"shape": [2, 3], "dtype": "bfloat16"}
    assert bias_gelu.flops(case) == 60  # 6 elements x (1 add + 9 gelu)
    assert bias_gelu.bytes_moved(case) == 30  # x (6) + bias (3) + out (6) values, 2 bytes each


def test_reduction_counts():
    row_sum = load("row_sum")
    case = {"shape": [3, 7], "dtype": "float32"}
    assert row_sum.flops(case) == 21
    assert row_sum.bytes_moved(case) == 96  # 21 values read + 3 written, 4 bytes each
    argmax = load("argmax")
    case = {"shape": [3, 5], "dtype": "float16"}
    assert argmax.bytes_moved(case) == 15 * 2 + 3 * 8 == 54  # int64 indices out
    mean_var = load("mean_var")
    case = {"shape": [2, 4], "dtype": "float16"}
    assert mean_var.flops(case) == 32
    assert mean_var.bytes_moved(case) == 8 * 2 + 2 * 2 * 4 == 32  # two float32 outputs of length 2
    col_sum = load("col_sum")
    case = {"shape": [5, 3], "dtype": "float16"}
    assert col_sum.bytes_moved(case) == 36  # 15 read + 3 written, 2 bytes each


def test_softmax_counts():
    softmax = load("softmax")
    case = {"shape": [2, 3], "dtype": "float32"}
    assert softmax.flops(case) == 30
    assert softmax.bytes_moved(case) == 48
    backward = load("softmax_backward")
    case = {"shape": [2, 3], "dtype": "float16"}
    assert backward.flops(case) == 24
    assert backward.bytes_moved(case) == 36  # y, dy read, dx written: 18 values, 2 bytes each
    long = load("online_softmax_long")
    case = {"shape": [1, 8], "dtype": "bfloat16"}
    assert long.bytes_moved(case) == 32 and long.flops(case) == 40


# --- references against plain math -------------------------------------------------------------------

def test_elementwise_references():
    xs = [0.0, 1.0, -1.0, 2.0, -3.5]
    close(load("gelu").reference(t(xs)), [gelu_tanh(x) for x in xs])
    close(load("gelu").reference(t([[1.0], [2.0]])), [[0.841192], [1.954598]])
    close(load("silu").reference(t(xs)), [silu(x) for x in xs])
    gate, up = [[0.0, 1.0], [-1.0, 2.0]], [[5.0, 2.0], [3.0, -1.0]]
    close(load("swiglu").reference(t(gate), t(up)),
          [[silu(g) * u for g, u in zip(gr, ur, strict=True)] for gr, ur in zip(gate, up, strict=True)])
    close(load("bias_gelu").reference(t([[0.0, 1.0], [2.0, -2.0]]), t([1.0, -1.0])),
          [[gelu_tanh(1.0), 0.0], [gelu_tanh(3.0), gelu_tanh(-3.0)]])


def test_reduction_references():
    x = t([[1.0, 5.0, 3.0], [-4.0, -2.0, -9.0], [7.0, 0.0, 1.0]])
    close(load("row_sum").reference(x), [9.0, -15.0, 8.0])
    close(load("row_max").reference(x), [5.0, -2.0, 7.0])
    index = load("argmax").reference(x)
    assert index.dtype == torch.int64 and index.tolist() == [1, 1, 0]
    close(load("col_sum").reference(x), [4.0, 3.0, -5.0])
    mean, var = load("mean_var").reference(t([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]], torch.float16))
    assert mean.dtype == var.dtype == torch.float32
    close(mean, [2.5, 5.0])
    close(var, [1.25, 0.0])  # population variance: (2.25 + 0.25 + 0.25 + 2.25) / 4
    close(load("logsumexp").reference(t([[0.0, 0.0], [1000.0, 1000.0], [1.0, 2.0]])),
          [math.log(2), 1000 + math.log(2), math.log(math.e + math.e ** 2)])


def test_softmax_references():
    x = t([[0.0, math.log(3.0)], [1000.0, 1000.0]])
    for task_id in ("softmax", "online_softmax_long"):
        close(load(task_id).reference(x), [[0.25, 0.75], [0.5, 0.5]])
    close(load("log_softmax").reference(x), [[math.log(0.25), math.log(0.75)], [math.log(0.5)] * 2])
    # dx = y * (dy - sum(y * dy)): sum = 0.25, so dx = [0.25 * 0.75, 0.75 * -0.25]
    close(load("softmax_backward").reference(t([[0.25, 0.75]]), t([[1.0, 0.0]])), [[0.1875, -0.1875]])
    close(load("softmax_backward").reference(t([[1.0]]), t([[3.0]])), [[0.0]])


def test_argmax_inputs_have_a_unique_maximum():
    argmax = load("argmax")
    for case in argmax.CORRECTNESS_CASES:
        (x,) = argmax.make_inputs(dict(case), torch.Generator().manual_seed(0), "cpu")
        if x.shape[1] > 1:
            top2 = x.float().topk(2, dim=1).values
            assert bool((top2[:, 0] > top2[:, 1]).all()), case
