"""Hand checks of the matmul, attention, sort and MoE tasks of the built-in suite: flops/bytes formulas
worked out by hand for one concrete case, and each reference compared with an independent
computation on a tiny hand-written input."""

from __future__ import annotations

import math

import pytest
import torch

from tritonsmith.suites import builtin_dir
from tritonsmith.task import load_task

from .builtin_helpers import close, load

TASK_IDS = ["matmul", "batched_matmul", "matmul_bias_relu", "int8_dequant_matmul", "flash_attention_causal",
            "decode_attention", "topk", "argsort", "moe_gather", "fused_linear_cross_entropy"]


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_task_file_is_valid(task_id):
    task = load_task(builtin_dir() / f"{task_id}.py")
    assert task.id == task_id and task.baseline and task.difficulty and task.gpu_only is None
    assert len(task.correctness_cases) >= 3 and task.perf_cases
    module = load(task_id)
    for case in task.correctness_cases + task.perf_cases:
        assert module.bytes_moved(dict(case)) > 0 and module.flops(dict(case)) >= 0


# --- flops / bytes, by hand ---------------------------------------------------------------------


def test_matmul_counts():
    m = load("matmul")
    case = {"M": 2, "N": 3, "K": 4, "dtype": "float16"}
    assert m.flops(case) == 48  # 2 * 2 * 3 * 4
    assert m.bytes_moved(case) == 52  # (a 8 + b 12 + c 6 elements) * 2 bytes


def test_batched_matmul_counts():
    m = load("batched_matmul")
    case = {"B": 2, "M": 1, "N": 1, "K": 3, "dtype": "bfloat16"}
    assert m.flops(case) == 12  # 2 batches * 3 multiply-adds * 2
    assert m.bytes_moved(case) == 28  # 2 * (3 + 3 + 1) elements * 2 bytes


def test_matmul_bias_relu_counts():
    m = load("matmul_bias_relu")
    case = {"M": 1, "N": 2, "K": 2, "dtype": "float16"}
    assert m.flops(case) == 12  # 8 for the product, then an add and a max per each of 2 outputs
    assert m.bytes_moved(case) == 20  # (a 2 + b 4 + bias 2 + out 2) * 2 bytes


def test_int8_dequant_matmul_counts():
    m = load("int8_dequant_matmul")
    case = {"M": 2, "N": 3, "K": 4, "dtype": "float16"}
    assert m.flops(case) == 48
    assert m.bytes_moved(case) == 52  # a 8*2 + w_q 12*1 + scales 3*4 + out 6*2


def test_flash_attention_counts():
    m = load("flash_attention_causal")
    case = {"B": 1, "H": 1, "T": 2, "D": 16, "dtype": "float16"}
    assert m.flops(case) == 192  # 3 unmasked (query, key) pairs * (16 + 16 multiply-adds) * 2
    assert m.bytes_moved(case) == 256  # q, k, v, out: 4 * 32 elements * 2 bytes


def test_decode_attention_counts():
    m = load("decode_attention")
    case = {"B": 1, "H": 2, "T": 3, "D": 4, "dtype": "float16"}
    assert m.flops(case) == 96  # 2 heads * 3 positions * (4 + 4 multiply-adds) * 2
    assert m.bytes_moved(case) == 128  # caches 2 * 24 + q 8 + out 8 = 64 elements * 2 bytes


def test_sort_counts():
    assert load("topk").bytes_moved({"R": 2, "N": 5, "k": 3, "dtype": "float32"}) == 112  # 40 in, 6 * (4 + 8) out
    assert load("argsort").bytes_moved({"R": 2, "N": 3, "dtype": "float16"}) == 60  # 6 * 2 in, 6 * 8 out


def test_moe_gather_counts():
    case = {"T": 3, "D": 2, "top_k": 2, "E": 3, "dtype": "float32"}
    # tokens 6 * 4 + ids 6 * 8 + permuted 12 * 4 + counts 3 * 8
    assert load("moe_gather").bytes_moved(case) == 144


def test_fused_linear_cross_entropy_counts():
    m = load("fused_linear_cross_entropy")
    case = {"M": 2, "K": 3, "V": 4, "dtype": "float16"}
    assert m.flops(case) == 48
    assert m.bytes_moved(case) == 60  # hidden 6 * 2 + weight 12 * 2 + targets 2 * 8 + loss 2 * 4


# --- references against tiny hand-written inputs ------------------------------------------------


def test_matmul_reference():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float16)
    b = torch.tensor([[5.0, 6.0], [7.0, 8.0]], dtype=torch.float16)
    out = load("matmul").reference(a, b)
    assert out.dtype == torch.float16
    close(out, [[19, 22], [43, 50]])


def test_batched_matmul_reference():
    a = torch.tensor([[[1.0, 2.0, 3.0]], [[1.0, 0.0, -1.0]]])
    b = torch.tensor([[[1.0], [1.0], [1.0]], [[2.0], [3.0], [4.0]]])
    close(load("batched_matmul").reference(a, b), [[[6]], [[-2]]])


def test_matmul_bias_relu_reference():
    a = torch.tensor([[1.0, -1.0]], dtype=torch.float16)
    b = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float16)
    bias = torch.tensor([3.0, 1.0], dtype=torch.float16)
    close(load("matmul_bias_relu").reference(a, b, bias), [[1, 0]])  # relu([-2 + 3, -2 + 1])


def test_int8_dequant_matmul_reference():
    a = torch.tensor([[1.0, 2.0]], dtype=torch.float16)
    w_q = torch.tensor([[1, -2], [3, 4]], dtype=torch.int8)
    w_scale = torch.tensor([0.5, 0.25])
    out = load("int8_dequant_matmul").reference(a, w_q, w_scale)
    assert out.dtype == torch.float16
    close(out, [[3.5, 1.5]])  # W = [[0.5, -0.5], [1.5, 1.0]]


def test_flash_attention_reference_is_causal():
    m = load("flash_attention_causal")
    q = torch.ones(1, 1, 2, 1)
    k = torch.tensor([0.0, math.log(3.0)]).reshape(1, 1, 2, 1)
    v = torch.tensor([4.0, 8.0]).reshape(1, 1, 2, 1)
    # query 0 sees only key 0; query 1 weighs keys 0 and 1 by 1 : 3
    close(m.reference(q, k, v, 1.0), torch.tensor([4.0, 0.25 * 4 + 0.75 * 8]).reshape(1, 1, 2, 1))
    w = math.sqrt(3.0) / (1.0 + math.sqrt(3.0))  # sm_scale 0.5: weights 1 : sqrt(3)
    close(m.reference(q, k, v, 0.5), torch.tensor([4.0, (1 - w) * 4 + w * 8]).reshape(1, 1, 2, 1))


def test_decode_attention_reference():
    m = load("decode_attention")
    q = torch.tensor([1.0, 0.0]).reshape(1, 1, 2)
    k = torch.tensor([[0.0, 5.0], [math.log(2.0), -1.0], [0.0, 0.0]]).reshape(1, 1, 3, 2)
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]).reshape(1, 1, 3, 2)
    # scores 0, ln 2, 0 -> weights 1/4, 1/2, 1/4
    close(m.reference(q, k, v, 1.0), [[[0.25 + 0.5, 0.5 + 0.5]]])


def test_topk_reference_and_inputs():
    m = load("topk")
    values, indices = m.reference(torch.tensor([[3.0, 1.0, 4.0, 1.5, 5.0]]), 2)
    close(values, [[5, 4]])
    assert indices.dtype == torch.int64 and indices.tolist() == [[4, 2]]
    for dtype in ("float32", "float16", "bfloat16"):
        x, k = m.make_inputs({"R": 6, "N": 3000, "k": 8, "dtype": dtype}, torch.Generator().manual_seed(0), "cpu")
        assert k == 8 and x.dtype == getattr(torch, dtype)
        assert all(torch.unique(row).numel() == row.numel() for row in x)  # no ties


def test_argsort_reference_and_inputs():
    m = load("argsort")
    assert m.reference(torch.tensor([[3.0, 1.0, 2.0], [-1.0, -3.0, 7.0]])).tolist() == [[1, 2, 0], [1, 0, 2]]
    (x,) = m.make_inputs({"R": 5, "N": 1024, "dtype": "bfloat16"}, torch.Generator().manual_seed(1), "cpu")
    assert all(torch.unique(row).numel() == row.numel() for row in x) and bool((x != 0).all())


def test_moe_gather_reference():
    tokens = torch.tensor([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]])
    expert_ids = torch.tensor([[1, 0], [2, 1], [0, 2]])
    permuted, counts = load("moe_gather").reference(tokens, expert_ids, 4)
    # copies e = 0..5 go to experts 1, 0, 2, 1, 0, 2: expert 0 gets e=1 (token 0), e=4 (token 2);
    # expert 1 gets e=0 (token 0), e=3 (token 1); expert 2 gets e=2 (token 1), e=5 (token 2)
    close(permuted, tokens[[0, 2, 0, 1, 1, 2]])
    assert counts.dtype == torch.int64 and counts.tolist() == [2, 2, 2, 0]


def test_fused_linear_cross_entropy_reference():
    m = load("fused_linear_cross_entropy")
    hidden = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    weight = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 3.0]])
    targets = torch.tensor([1, 2])
    loss = m.reference(hidden, weight, targets)
    assert loss.dtype == torch.float32
    # row 0: logits (2, 0, 0), target 1; row 1: all logits 0, so log(3)
    close(loss, [math.log(math.exp(2) + 2), math.log(3)])
