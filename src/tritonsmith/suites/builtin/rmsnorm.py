import torch

ID = "rmsnorm"
KIND = "normalization"
DIFFICULTY = 2
ENTRY_POINT = "rmsnorm"
SIGNATURE = "def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor"
INSTRUCTION = """\
RMS normalization over the last dimension of a 2-D tensor (as in Llama-style models), with a weight.
For each row r of x (N columns):
  rstd[r] = 1 / sqrt(sum_j x[r, j]^2 / N + eps)
  out[r, j] = x[r, j] * rstd[r] * weight[j]
Inputs: x of shape (M, N), contiguous, float32, float16 or bfloat16; weight of shape (N,), same dtype as x;
eps, a Python float (e.g. 1e-6). N can be anything from 1 to tens of thousands.
Output: a new contiguous (M, N) tensor of x's dtype. Compute in float32 and round to x's dtype once, at
the end (as torch.nn.functional.rms_norm does).
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 1, "eps": 1e-6, "dtype": "float32"},
    {"M": 3, "N": 7, "eps": 1e-6, "dtype": "float32"},
    {"M": 17, "N": 1000, "eps": 1e-6, "dtype": "float16"},
    {"M": 64, "N": 513, "eps": 1e-5, "dtype": "float32"},
    {"M": 4, "N": 20000, "eps": 1e-6, "dtype": "float32"},
    {"M": 10, "N": 96, "eps": 1e-6, "dtype": "float16"},
    {"M": 33, "N": 768, "eps": 1e-6, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 32768, "N": 4096, "eps": 1e-6, "dtype": "float16"},
    {"M": 16384, "N": 4096, "eps": 1e-6, "dtype": "float32"},
    {"M": 8192, "N": 16384, "eps": 1e-6, "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _rmsnorm_kernel(x_ptr, w_ptr, y_ptr, n_cols, eps, BLOCK: tl.constexpr, ONE_PASS: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * n_cols
    y_row = y_ptr + row * n_cols
    if ONE_PASS:
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
        rstd = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / n_cols + eps)
        w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(y_row + cols, (x * rstd * w).to(y_ptr.dtype.element_ty), mask=mask)
    else:
        squares = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            x = tl.load(x_row + cols, mask=cols < n_cols, other=0.0).to(tl.float32)
            squares += x * x
        rstd = 1.0 / tl.sqrt(tl.sum(squares, axis=0) / n_cols + eps)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
            w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
            tl.store(y_row + cols, (x * rstd * w).to(y_ptr.dtype.element_ty), mask=mask)


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
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
    _rmsnorm_kernel[(M,)](x, weight.contiguous(), y, N, eps, BLOCK=block, ONE_PASS=one_pass,
                          num_warps=num_warps)
    return y
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, N = case["M"], case["N"]
    x = torch.randn((M, N), generator=generator, device=device) * 2.0
    weight = 1.0 + 0.5 * torch.randn((N,), generator=generator, device=device)
    return x.to(dtype), weight.to(dtype), float(case["eps"])


def reference(x, weight, eps):
    # torch's rms_norm accumulates in float32 and rounds once, for every dtype
    return torch.nn.functional.rms_norm(x, (x.shape[-1],), weight, eps)


def flops(case):
    # per element: square, accumulate, scale by rstd, times weight
    return 4 * case["M"] * case["N"]


def bytes_moved(case):
    M, N = case["M"], case["N"]
    return (2 * M * N + N) * _SIZE[case["dtype"]]
