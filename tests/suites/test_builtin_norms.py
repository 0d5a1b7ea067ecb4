"""Hand checks of the normalization, data-movement, quantization and loss tasks of the built-in suite:
flops/bytes formulas worked out by hand for one concrete case, and each reference compared with an
independent computation on a tiny hand-written input."""

from __future__ import annotations

import math

import pytest
import torch

from tritonsmith.suites import builtin_dir
from tritonsmith.task import load_task

from .builtin_helpers import close, load

TASK_IDS = ["layernorm", "rmsnorm", "flip", "transpose", "layernorm_backward", "rmsnorm_backward", "groupnorm",
            "l2_normalize", "residual_rmsnorm", "gather_rows", "embedding", "concat", "quantize_int8",
            "dequantize_int8", "dropout", "cross_entropy", "rotary", "cumsum"]


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_task_file_is_valid_and_perf_cases_are_big_enough(task_id):
    task = load_task(builtin_dir() / f"{task_id}.py")
    assert task.id == task_id and task.baseline and task.difficulty
    assert len(task.correctness_cases) >= 3 and {"float32", "float16"} <= set(task.dtypes)
    module = load(task_id)
    for case in task.perf_cases:
        # all of these are memory bound: >= 64 MB keeps the reference above ~20 us at ~3 TB/s
        assert module.bytes_moved(dict(case)) >= 64e6, case


# --- flops / bytes_moved, worked out by hand --------------------------------------------------------

def test_layernorm_counts():
    m = load("layernorm")
    case = {"M": 2, "N": 3, "eps": 1e-5, "dtype": "float16"}
    assert m.flops(case) == 42  # 7 per element * 6 elements
    assert m.bytes_moved(case) == 36  # (x 6 + out 6 + weight 3 + bias 3) elements * 2 bytes


def test_rmsnorm_counts():
    m = load("rmsnorm")
    case = {"M": 2, "N": 3, "eps": 1e-6, "dtype": "float32"}
    assert m.flops(case) == 24  # 4 per element * 6
    assert m.bytes_moved(case) == 60  # (x 6 + out 6 + weight 3) * 4


def test_layernorm_backward_counts():
    m = load("layernorm_backward")
    case = {"M": 4, "N": 8, "dtype": "float16"}
    assert m.flops(case) == 416  # 13 * 32
    # dy, x, dx: 3 * 32 * 2 = 192; weight, dweight, dbias: 3 * 8 * 2 = 48; mean, rstd: 2 * 4 * 4 = 32
    assert m.bytes_moved(case) == 272


def test_data_movement_counts():
    case = {"shape": [2, 3, 5], "dtype": "float16"}
    assert load("flip").flops(case) == 0
    assert load("flip").bytes_moved(case) == 120  # 30 elements read + 30 written, 2 bytes each
    assert load("transpose").bytes_moved({"M": 3, "N": 5, "dtype": "float32"}) == 120  # 15 + 15 elements * 4
    # 3 gathered rows of 4 halves read and written (48) + 3 int64 indices (24); src's other rows are not read
    assert load("gather_rows").bytes_moved({"M": 10, "N": 4, "K": 3, "dtype": "float16"}) == 72
    # 6 tokens * 5 floats * 4 bytes read and written (240) + 6 int64 ids (48)
    assert load("embedding").bytes_moved({"B": 2, "T": 3, "V": 100, "D": 5, "dtype": "float32"}) == 288
    # a: 2x3, b: 2x4; 14 elements read + 14 written, 2 bytes each
    assert load("concat").bytes_moved({"M": 2, "Na": 3, "Nb": 4, "dtype": "bfloat16"}) == 56


def test_quantization_and_loss_counts():
    # x 6 halves (12) + q 6 int8 (6) + 2 float32 scales (8)
    assert load("quantize_int8").bytes_moved({"M": 2, "N": 3, "dtype": "float16"}) == 26
    # q 6 int8 (6) + 2 scales (8) + 6 float32 outputs (24)
    assert load("dequantize_int8").bytes_moved({"M": 2, "N": 3, "dtype": "float32"}) == 38
    ce = load("cross_entropy")
    case = {"M": 2, "V": 3, "dtype": "float16"}
    assert ce.flops(case) == 24  # 4 per logit * 6
    assert ce.bytes_moved(case) == 36  # logits 12 + target 16 + loss 8


def test_rotary_and_groupnorm_counts():
    rot = load("rotary")
    case = {"B": 1, "T": 2, "H": 3, "D": 4, "dtype": "float16"}
    assert rot.flops(case) == 72  # 3 * 24 elements
    assert rot.bytes_moved(case) == 128  # x in and out: 2 * 24 * 2 = 96; cos, sin (2, 2) float32: 32
    gn = load("groupnorm")
    case = {"shape": [2, 4, 3, 3], "groups": 2, "eps": 1e-5, "dtype": "float32"}
    assert gn.flops(case) == 576  # 8 * 72
    assert gn.bytes_moved(case) == 608  # (x 72 + out 72 + weight 4 + bias 4) * 4


# --- references against independent computations ---------------------------------------------------

def test_layernorm_reference_by_hand():
    m = load("layernorm")
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]])
    weight = torch.tensor([1.0, 1.0, 2.0])
    bias = torch.tensor([0.0, 1.0, 0.0])
    # row 0: mean 2, var 2/3 -> (x - 2) * sqrt(1.5); row 1: mean 2, var 8 -> (x - 2) / sqrt(8)
    s0, s1 = math.sqrt(1.5), 1 / math.sqrt(8)
    want = [[-s0, 1.0, 2 * s0], [-2 * s1, 1 - 2 * s1, 8 * s1]]
    close(m.reference(x, weight, bias, 0.0), want)


def test_rmsnorm_and_residual_reference_by_hand():
    x = torch.tensor([[3.0, 4.0]])
    weight = torch.tensor([1.0, 2.0])
    rms = math.sqrt(12.5)
    close(load("rmsnorm").reference(x, weight, 0.0), [[3 / rms, 8 / rms]])
    out, new_residual = load("residual_rmsnorm").reference(torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 3.0]]),
                                                           weight, 0.0)
    close(new_residual, [[3.0, 4.0]])
    close(out, [[3 / rms, 8 / rms]])


def test_l2_normalize_reference_by_hand():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.03, 0.04]])
    # norms 5, 0, 0.05: with eps 0.1 the last two rows are divided by 0.1
    close(load("l2_normalize").reference(x, 0.1), [[0.6, 0.8], [0.0, 0.0], [0.3, 0.4]])


def test_groupnorm_reference_by_hand():
    x = torch.tensor([1.0, 3.0, 5.0, 7.0]).reshape(1, 2, 1, 2)
    weight = torch.tensor([1.0, 2.0])
    bias = torch.tensor([0.0, 1.0])
    # one group of two channels: both channels normalised together, mean 4, var 5
    z = [(v - 4) / math.sqrt(5) for v in (1, 3, 5, 7)]
    want = torch.tensor([z[0], z[1], 2 * z[2] + 1, 2 * z[3] + 1]).reshape(1, 2, 1, 2)
    close(load("groupnorm").reference(x, weight, bias, 1, 0.0), want)
    # two groups: each channel on its own, mean 2 and 6, var 1
    want = torch.tensor([-1.0, 1.0, 2 * -1.0 + 1, 2 * 1.0 + 1]).reshape(1, 2, 1, 2)
    close(load("groupnorm").reference(x, weight, bias, 2, 0.0), want)


def test_norm_backward_references_match_autograd():
    torch.manual_seed(0)
    M, N, eps = 5, 7, 1e-5
    x = torch.randn(M, N, dtype=torch.float64) * 2 + 1
    weight = torch.randn(N, dtype=torch.float64)
    bias = torch.randn(N, dtype=torch.float64)
    dy = torch.randn(M, N, dtype=torch.float64)

    xg, wg, bg = (t.clone().requires_grad_() for t in (x, weight, bias))
    torch.nn.functional.layer_norm(xg, (N,), wg, bg, eps).backward(dy)
    mean = x.mean(-1)
    rstd = 1 / torch.sqrt(x.var(-1, unbiased=False) + eps)
    dx, dw, db = load("layernorm_backward").reference(dy, x, weight, mean.float(), rstd.float())
    close(dx, xg.grad, 1e-4)
    close(dw, wg.grad, 1e-4)
    close(db, bg.grad, 1e-4)

    xg, wg = x.clone().requires_grad_(), weight.clone().requires_grad_()
    (xg / torch.sqrt(xg.pow(2).mean(-1, keepdim=True) + eps) * wg).backward(dy)
    rstd = 1 / torch.sqrt(x.pow(2).mean(-1) + eps)
    dx, dw = load("rmsnorm_backward").reference(dy, x, weight, rstd.float())
    close(dx, xg.grad, 1e-4)
    close(dw, wg.grad, 1e-4)


def test_data_movement_references_by_hand():
    close(load("flip").reference(torch.tensor([[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]])),
          [[[3.0, 2.0, 1.0]], [[6.0, 5.0, 4.0]]])
    transposed = load("transpose").reference(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    assert transposed.is_contiguous()
    close(transposed, [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]])
    src = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    close(load("gather_rows").reference(src, torch.tensor([2, 0, 2])), [[5.0, 6.0], [1.0, 2.0], [5.0, 6.0]])
    close(load("embedding").reference(torch.tensor([[1, 1], [0, 2]]), src),
          [[[3.0, 4.0], [3.0, 4.0]], [[1.0, 2.0], [5.0, 6.0]]])
    close(load("concat").reference(torch.tensor([[1.0], [2.0]]), torch.tensor([[3.0, 4.0], [5.0, 6.0]])),
          [[1.0, 3.0, 4.0], [2.0, 5.0, 6.0]])
    close(load("cumsum").reference(torch.tensor([[1.0, 2.0, 3.0, -6.0]])), [[1.0, 3.0, 6.0, 0.0]])


def test_rotary_reference_by_hand():
    # one token, one head, D = 4: pairs (x0, x2) and (x1, x3); rotate the first by 90 degrees, the second by 0
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 1, 4)
    cos = torch.tensor([[0.0, 1.0]])
    sin = torch.tensor([[1.0, 0.0]])
    # out[:2] = x1 * c - x2 * s = [1*0 - 3*1, 2*1 - 4*0]; out[2:] = x2 * c + x1 * s = [3*0 + 1*1, 4*1 + 2*0]
    close(load("rotary").reference(x, cos, sin), torch.tensor([-3.0, 2.0, 1.0, 4.0]).reshape(1, 1, 1, 4))


def test_cross_entropy_reference_by_hand():
    logits = torch.tensor([[0.0, 0.0, 0.0], [1000.0, 0.0, 0.0], [0.0, math.log(3.0), 0.0]])
    target = torch.tensor([1, 0, 1])
    # log 3; about 0 (and stable for huge logits); log(1 + 3 + 1) - log 3
    close(load("cross_entropy").reference(logits, target), [math.log(3.0), 0.0, math.log(5.0) - math.log(3.0)])


def test_quantize_reference_and_check_by_hand():
    m = load("quantize_int8")
    # amax 127 gives scale exactly 1, so q is x rounded half to even; the zero row has scale 0 and q 0
    x = torch.tensor([[127.0, -2.5, 3.5, 0.4], [0.0, 0.0, 0.0, 0.0]])
    q, scale = m.reference(x)
    assert q.dtype == torch.int8 and scale.dtype == torch.float32
    assert q.tolist() == [[127, -2, 4, 0], [0, 0, 0, 0]]
    assert scale.tolist() == [1.0, 0.0]
    case = {"M": 2, "N": 4, "dtype": "float32"}
    assert m.check((q, scale), (q, scale), (x,), case) is None
    at_boundary = q.clone()
    at_boundary[0, 1] = -3  # -2.5 rounded away from zero: allowed, it sits on a rounding boundary
    assert m.check((at_boundary, scale), (q, scale), (x,), case) is None
    off = q.clone()
    off[0, 3] = 1  # 0.4 is nowhere near a boundary
    assert m.check((off, scale), (q, scale), (x,), case) is not None
    assert m.check((q, scale * 1.01), (q, scale), (x,), case) is not None
    assert m.check((q.int(), scale), (q, scale), (x,), case) is not None


def test_dequantize_reference_by_hand():
    q = torch.tensor([[1, -2], [127, 0]], dtype=torch.int8)
    scale = torch.tensor([0.5, 0.25])
    out = load("dequantize_int8").reference(q, scale, torch.float16)
    assert out.dtype == torch.float16
    close(out, [[0.5, -1.0], [31.75, 0.0]])


def test_dropout_check_accepts_good_and_rejects_bad_outputs():
    m = load("dropout")
    case = {"shape": [64, 500], "p": 0.25, "seed": 5, "dtype": "float32"}
    x = torch.randn(64, 500, generator=torch.Generator().manual_seed(0))
    good = m.reference(x, 0.25, 5)
    dropped = (good == 0).float().mean().item()
    assert abs(dropped - 0.25) < 0.02
    assert torch.allclose(good[good != 0], (x / 0.75)[good != 0])
    assert m.check(good, good, (x, 0.25, 5), case) is None
    assert m.check(m.reference(x * 2, 0.25, 5), good, (x * 2, 0.25, 5), case) is None  # same seed, same mask
    other_mask = m.reference(x, 0.25, 6)
    assert "same seed" in m.check(other_mask, good, (x, 0.25, 5), case)
    assert "ignored" in m.check(good, good, (x, 0.25, 6), dict(case, seed=6))
    assert "neither" in m.check(torch.where(good != 0, x, good), good, (x, 0.25, 5), case)  # not rescaled
    assert "dropped" in m.check(x / 0.75, good, (x, 0.25, 5), case)  # nothing dropped
    first_quarter = torch.where(torch.arange(x.numel()).reshape(x.shape) < x.numel() // 4, 0.0, x / 0.75)
    assert "uniformly" in m.check(first_quarter, good, (x, 0.25, 5), case)
