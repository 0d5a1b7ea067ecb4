import torch

ID = "residual_rmsnorm"
KIND = "fused"
DIFFICULTY = 2
ENTRY_POINT = "residual_rmsnorm"
SIGNATURE = ("def residual_rmsnorm(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float) "
             "-> tuple[torch.Tensor, torch.Tensor]")
INSTRUCTION = """\
Fused residual add + RMS normalization, as between the blocks of a Llama-style transformer.
Inputs: x and residual of shape (M, N), contiguous, same dtype (float32, float16 or bfloat16); weight of
shape (N,), same dtype; eps, a Python float (e.g. 1e-6).
Compute
  new_residual = x + residual                      (rounded to the input dtype)
  rstd[r]      = 1 / sqrt(sum_j new_residual[r, j]^2 / N + eps)
  out[r, j]    = new_residual[r, j] * rstd[r] * weight[j]
with the normalization computed in float32 from new_residual and rounded to the dtype once, at the end.
Return a tuple (out, new_residual) of two new contiguous (M, N) tensors of the input dtype; do not modify
x or residual in place.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 1, "eps": 1e-6, "dtype": "float32"},
    {"M": 3, "N": 7, "eps": 1e-6, "dtype": "float32"},
    {"M": 17, "N": 1000, "eps": 1e-6, "dtype": "float16"},
    {"M": 64, "N": 513, "eps": 1e-5, "dtype": "float32"},
    {"M": 4, "N": 20000, "eps": 1e-6, "dtype": "float16"},
    {"M": 10, "N": 96, "eps": 1e-6, "dtype": "float16"},
    {"M": 33, "N": 768, "eps": 1e-6, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 16384, "N": 4096, "eps": 1e-6, "dtype": "float16"},
    {"M": 8192, "N": 4096, "eps": 1e-6, "dtype": "float32"},
    {"M": 8192, "N": 8192, "eps": 1e-6, "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _residual_rmsnorm_kernel(x_ptr, r_ptr, w_ptr, y_ptr, h_ptr, n_cols, eps,
                             BLOCK: tl.constexpr, ONE_PASS: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offset = row * n_cols
    if ONE_PASS:
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(x_ptr + offset + cols, mask=mask, other=0.0).to(tl.float32)
        r = tl.load(r_ptr + offset + cols, mask=mask, other=0.0).to(tl.float32)
        h = (x + r).to(h_ptr.dtype.element_ty)
        tl.store(h_ptr + offset + cols, h, mask=mask)
        h = h.to(tl.float32)
        rstd = 1.0 / tl.sqrt(tl.sum(h * h, axis=0) / n_cols + eps)
        w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(y_ptr + offset + cols, (h * rstd * w).to(y_ptr.dtype.element_ty), mask=mask)
    else:
        # long rows: write new_residual while summing squares, then read it back to normalize
        squares = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            x = tl.load(x_ptr + offset + cols, mask=mask, other=0.0).to(tl.float32)
            r = tl.load(r_ptr + offset + cols, mask=mask, other=0.0).to(tl.float32)
            h = (x + r).to(h_ptr.dtype.element_ty)
            tl.store(h_ptr + offset + cols, h, mask=mask)
            h = h.to(tl.float32)
            squares += h * h
        rstd = 1.0 / tl.sqrt(tl.sum(squares, axis=0) / n_cols + eps)
        tl.debug_barrier()
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            h = tl.load(h_ptr + offset + cols, mask=mask, other=0.0).to(tl.float32)
            w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
            tl.store(y_ptr + offset + cols, (h * rstd * w).to(y_ptr.dtype.element_ty), mask=mask)


def residual_rmsnorm(x, residual, weight, eps):
    x, residual = x.contiguous(), residual.contiguous()
    M, N = x.shape
    out = torch.empty_like(x)
    new_residual = torch.empty_like(x)
    if M == 0 or N == 0:
        return out, new_residual
    block = triton.next_power_of_2(N)
    one_pass = block <= 16384
    if not one_pass:
        block = 4096
    num_warps = min(max(block // 256, 1), 16)
    _residual_rmsnorm_kernel[(M,)](x, residual, weight.contiguous(), out, new_residual, N, eps,
                                   BLOCK=block, ONE_PASS=one_pass, num_warps=num_warps)
    return out, new_residual
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, N = case["M"], case["N"]
    x = torch.randn((M, N), generator=generator, device=device)
    residual = torch.randn((M, N), generator=generator, device=device) * 2.0
    weight = 1.0 + 0.5 * torch.randn((N,), generator=generator, device=device)
    return x.to(dtype), residual.to(dtype), weight.to(dtype), float(case["eps"])


def reference(x, residual, weight, eps):
    new_residual = x + residual
    out = torch.nn.functional.rms_norm(new_residual, (x.shape[-1],), weight, eps)
    return out, new_residual


def flops(case):
    # per element: add, square, accumulate, scale by rstd, times weight
    return 5 * case["M"] * case["N"]


def bytes_moved(case):
    M, N = case["M"], case["N"]
    # read x, residual, weight; write out, new_residual
    return (4 * M * N + N) * _SIZE[case["dtype"]]
