import torch

ID = "rmsnorm_backward"
KIND = "normalization"
DIFFICULTY = 3
ENTRY_POINT = "rmsnorm_backward"
SIGNATURE = ("def rmsnorm_backward(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, rstd: torch.Tensor) "
             "-> tuple[torch.Tensor, torch.Tensor]")
INSTRUCTION = """\
Backward pass of RMS normalization over the last dimension, y = x * rstd[:, None] * weight, given the
statistic saved by the forward pass.
Inputs: dy (gradient of y) and x, both (M, N), contiguous, same dtype (float32, float16 or bfloat16);
weight (N,) of that dtype; rstd (M,), float32, rstd[r] = 1 / sqrt(mean_j(x[r, j]^2) + eps).
2 <= N <= 16384.
With xhat = x * rstd[:, None] and g = dy * weight, return a tuple of two new tensors:
  dx[r, :]   = rstd[r] * (g[r, :] - xhat[r, :] * mean_j(g[r, j] * xhat[r, j]))   (M, N)
  dweight[j] = sum_r dy[r, j] * xhat[r, j]                                      (N,)
each in x's dtype. Compute in float32 (including the sum over rows) and round once, at the end.
"""
CORRECTNESS_CASES = [
    # N = 1 is left out: there dx = rstd * g * eps / (x^2 + eps) is pure cancellation, ill-conditioned
    {"M": 1, "N": 2, "dtype": "float32"},
    {"M": 3, "N": 7, "dtype": "float32"},
    {"M": 17, "N": 1000, "dtype": "float16"},
    {"M": 64, "N": 513, "dtype": "float32"},
    {"M": 40, "N": 96, "dtype": "float16"},
    {"M": 33, "N": 768, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 32768, "N": 4096, "dtype": "float16"},
    {"M": 16384, "N": 4096, "dtype": "float32"},
    {"M": 8192, "N": 8192, "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _rms_bwd_rows(dy_ptr, x_ptr, w_ptr, rstd_ptr, dx_ptr, dw_part_ptr, n_rows, n_cols, n_programs,
                  BLOCK_N: tl.constexpr):
    # each program takes rows pid, pid + n_programs, ...: dx row by row, and its own partial dweight
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < n_cols
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    dw_acc = tl.zeros([BLOCK_N], dtype=tl.float32)
    for row in range(pid, n_rows, n_programs):
        offset = tl.cast(row, tl.int64) * n_cols
        x = tl.load(x_ptr + offset + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + offset + cols, mask=mask, other=0.0).to(tl.float32)
        rstd = tl.load(rstd_ptr + row)
        xhat = x * rstd
        g = dy * w
        c = tl.sum(g * xhat, axis=0) / n_cols
        dx = (g - xhat * c) * rstd
        tl.store(dx_ptr + offset + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        dw_acc += dy * xhat
    tl.store(dw_part_ptr + pid * n_cols + cols, dw_acc, mask=mask)


@triton.jit
def _sum_partials(part_ptr, out_ptr, n_parts, n_cols, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    cols = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    col_mask = cols < n_cols
    acc = tl.zeros([BLOCK_P, BLOCK_C], dtype=tl.float32)
    for start in range(0, n_parts, BLOCK_P):
        parts = start + tl.arange(0, BLOCK_P)
        mask = (parts[:, None] < n_parts) & col_mask[None, :]
        acc += tl.load(part_ptr + parts[:, None] * n_cols + cols[None, :], mask=mask, other=0.0)
    tl.store(out_ptr + cols, tl.sum(acc, axis=0).to(out_ptr.dtype.element_ty), mask=col_mask)


def rmsnorm_backward(dy, x, weight, rstd):
    dy, x = dy.contiguous(), x.contiguous()
    M, N = x.shape
    block_n = triton.next_power_of_2(N)
    if block_n > 16384:
        raise ValueError("this kernel keeps a whole row in registers: N must be at most 16384")
    dx = torch.empty_like(x)
    dweight = torch.empty((N,), dtype=weight.dtype, device=x.device)
    if x.is_cuda:
        n_programs = 4 * torch.cuda.get_device_properties(x.device).multi_processor_count
    else:
        n_programs = 8
    n_programs = max(1, min(M, n_programs))
    dw_part = torch.empty((n_programs, N), dtype=torch.float32, device=x.device)
    num_warps = min(max(block_n // 256, 1), 16)
    _rms_bwd_rows[(n_programs,)](dy, x, weight.contiguous(), rstd.contiguous(), dx, dw_part, M, N, n_programs,
                                 BLOCK_N=block_n, num_warps=num_warps)
    block_c = 64
    _sum_partials[(triton.cdiv(N, block_c),)](dw_part, dweight, n_programs, N, BLOCK_P=32, BLOCK_C=block_c,
                                             num_warps=4)
    return dx, dweight
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
EPS = 1e-6


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, N = case["M"], case["N"]
    x = (torch.randn((M, N), generator=generator, device=device) * 2.0).to(dtype)
    weight = (1.0 + 0.5 * torch.randn((N,), generator=generator, device=device)).to(dtype)
    dy = torch.randn((M, N), generator=generator, device=device).to(dtype)
    rstd = torch.rsqrt(x.float().pow(2).mean(dim=-1) + EPS)
    return dy, x, weight, rstd


def reference(dy, x, weight, rstd):
    dyf, xf, wf = dy.float(), x.float(), weight.float()
    xhat = xf * rstd[:, None]
    g = dyf * wf
    dx = rstd[:, None] * (g - xhat * (g * xhat).mean(dim=-1, keepdim=True))
    dweight = (dyf * xhat).sum(dim=0)
    return dx.to(x.dtype), dweight.to(weight.dtype)


def flops(case):
    # per element: xhat (1), g (1), the row sum of g * xhat (2), dx (3), dweight (2)
    return 9 * case["M"] * case["N"]


def bytes_moved(case):
    M, N = case["M"], case["N"]
    # dy, x, dx; weight, dweight; rstd in float32
    return (3 * M * N + 2 * N) * _SIZE[case["dtype"]] + M * 4
