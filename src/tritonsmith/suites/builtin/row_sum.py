import torch

ID = "row_sum"
KIND = "reduction"
DIFFICULTY = 2
ENTRY_POINT = "row_sum"
SIGNATURE = "def row_sum(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Sum each row of a matrix: out[i] = sum_j x[i, j] (torch.sum(x, dim=-1)).
Input: x, 2-D (M, N), contiguous (row-major), dtype float32, float16 or bfloat16, on the GPU.
Output: a new 1-D tensor of length M in x's dtype. Accumulate in float32 and round once at the end.
"""
CORRECTNESS_CASES = [
    {"shape": [1, 1], "dtype": "float32"},
    {"shape": [3, 7], "dtype": "float32"},
    {"shape": [17, 1000], "dtype": "float32"},
    {"shape": [5, 3000], "dtype": "float32"},
    {"shape": [64, 129], "dtype": "float16"},
    {"shape": [1, 777], "dtype": "float16"},
    {"shape": [33, 1000], "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [16384, 4096], "dtype": "float32"},
    {"shape": [32768, 4096], "dtype": "float16"},
    {"shape": [262144, 256], "dtype": "float16"},
    {"shape": [4096, 16384], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["sum", "mean", "nansum"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _row_sum_kernel(x_ptr, out_ptr, M, N, stride_m, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < M
    row_ptrs = x_ptr + rows.to(tl.int64)[:, None] * stride_m
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for start in range(0, N, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        mask = row_mask[:, None] & (cols < N)[None, :]
        acc += tl.load(row_ptrs + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    total = tl.sum(acc, axis=1)
    tl.store(out_ptr + rows, total.to(out_ptr.dtype.element_ty), mask=row_mask)


def row_sum(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    out = torch.empty((M,), dtype=x.dtype, device=x.device)
    BLOCK_N = min(max(triton.next_power_of_2(N), 16), 2048)
    BLOCK_M = min(max(1, 4096 // BLOCK_N), triton.next_power_of_2(M))
    num_warps = 8 if BLOCK_M * BLOCK_N >= 4096 else 4
    _row_sum_kernel[(triton.cdiv(M, BLOCK_M),)](x, out, M, N, x.stride(0),
                                                 BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=num_warps)
    return out
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    x = torch.randn(case["shape"], generator=generator, device=device, dtype=torch.float32) + 0.5
    return (x.to(dtype),)


def reference(x):
    return x.sum(dim=-1)


def flops(case):
    m, n = case["shape"]
    return m * n


def bytes_moved(case):
    m, n = case["shape"]
    size = {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
    return (m * n + m) * size
