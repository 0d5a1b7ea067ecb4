import torch

ID = "layernorm"
KIND = "normalization"
DIFFICULTY = 2
ENTRY_POINT = "layernorm"
SIGNATURE = "def layernorm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor"
INSTRUCTION = """\
Layer normalization over the last dimension of a 2-D tensor, with an elementwise affine transform.
For each row r of x (N columns):
  mean[r] = sum_j x[r, j] / N
  var[r]  = sum_j (x[r, j] - mean[r])^2 / N          (biased variance, as torch.nn.functional.layer_norm)
  out[r, j] = (x[r, j] - mean[r]) / sqrt(var[r] + eps) * weight[j] + bias[j]
Inputs: x of shape (M, N), contiguous, float32, float16 or bfloat16; weight and bias of shape (N,), same
dtype as x; eps, a Python float (e.g. 1e-5). N can be anything from 1 to tens of thousands.
Output: a new contiguous (M, N) tensor of x's dtype. Accumulate the statistics in float32 and round to
x's dtype once, at the end.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 1, "eps": 1e-5, "dtype": "float32"},
    {"M": 3, "N": 7, "eps": 1e-5, "dtype": "float32"},
    {"M": 17, "N": 1000, "eps": 1e-5, "dtype": "float16"},
    {"M": 64, "N": 513, "eps": 1e-6, "dtype": "float32"},
    {"M": 5, "N": 20000, "eps": 1e-5, "dtype": "float32"},
    {"M": 9, "N": 300, "eps": 1e-5, "dtype": "float16"},
    {"M": 33, "N": 768, "eps": 1e-5, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 32768, "N": 4096, "eps": 1e-5, "dtype": "float16"},
    {"M": 16384, "N": 4096, "eps": 1e-5, "dtype": "float32"},
    {"M": 8192, "N": 16384, "eps": 1e-5, "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _layernorm_kernel(x_ptr, w_ptr, b_ptr, y_ptr, n_cols, eps,
                      BLOCK: tl.constexpr, ONE_PASS: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * n_cols
    y_row = y_ptr + row * n_cols
    if ONE_PASS:
        # the whole row fits in registers: read it once
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
        mean = tl.sum(x, axis=0) / n_cols
        centered = tl.where(mask, x - mean, 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(centered * centered, axis=0) / n_cols + eps)
        w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(y_row + cols, (centered * rstd * w + b).to(y_ptr.dtype.element_ty), mask=mask)
    else:
        # long rows: mean, then variance of the centred values, then the output, chunk by chunk
        total = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            total += tl.load(x_row + cols, mask=cols < n_cols, other=0.0).to(tl.float32)
        mean = tl.sum(total, axis=0) / n_cols
        squares = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
            centered = tl.where(mask, x - mean, 0.0)
            squares += centered * centered
        rstd = 1.0 / tl.sqrt(tl.sum(squares, axis=0) / n_cols + eps)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
            w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
            b = tl.load(b_ptr + cols, mask=mask, other=0.0).to(tl.float32)
            tl.store(y_row + cols, ((x - mean) * rstd * w + b).to(y_ptr.dtype.element_ty), mask=mask)


def layernorm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    y = torch.empty_like(x)
    if M == 0 or N == 0:
        return y
    block = triton.next_power_of_2(N)
    one_pass = block <= 16384
    if not one_pass:
        block = 4096
    num_warps = min(max(block // 256, 1), 16)
    _layernorm_kernel[(M,)](x, weight.contiguous(), bias.contiguous(), y, N, eps,
                            BLOCK=block, ONE_PASS=one_pass, num_warps=num_warps)
    return y
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, N = case["M"], case["N"]
    # an offset mean checks that the variance is computed stably
    x = torch.randn((M, N), generator=generator, device=device) * 1.5 + 0.5
    weight = 1.0 + 0.5 * torch.randn((N,), generator=generator, device=device)
    bias = 0.5 * torch.randn((N,), generator=generator, device=device)
    return x.to(dtype), weight.to(dtype), bias.to(dtype), float(case["eps"])


def reference(x, weight, bias, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def flops(case):
    # per element: sum, subtract mean, square, accumulate, scale by rstd, times weight, plus bias
    return 7 * case["M"] * case["N"]


def bytes_moved(case):
    M, N = case["M"], case["N"]
    return (2 * M * N + 2 * N) * _SIZE[case["dtype"]]
