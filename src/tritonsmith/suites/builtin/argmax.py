import torch

ID = "argmax"
KIND = "reduction"
DIFFICULTY = 2
ENTRY_POINT = "argmax"
SIGNATURE = "def argmax(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Index of the largest element of each row: out[i] = argmax_j x[i, j] (torch.argmax(x, dim=-1)).
Input: x, 2-D (M, N) with N >= 1, contiguous (row-major), dtype float32, float16 or bfloat16, finite
values, on the GPU. Each row's maximum is unique (no ties), but rows may be long.
Output: a new 1-D int64 tensor of length M.
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
    {"shape": [4096, 32000], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["argmax", "max", "amax", "argmin", "sort", "topk"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _argmax_kernel(x_ptr, out_ptr, M, N, stride_m, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < M
    row_ptrs = x_ptr + rows.to(tl.int64)[:, None] * stride_m
    best_val = tl.full((BLOCK_M, BLOCK_N), float("-inf"), dtype=tl.float32)
    best_idx = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for start in range(0, N, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        mask = row_mask[:, None] & (cols < N)[None, :]
        x = tl.load(row_ptrs + cols[None, :], mask=mask, other=float("-inf")).to(tl.float32)
        # strictly greater: each lane keeps the first index of its own maximum
        better = x > best_val
        best_val = tl.where(better, x, best_val)
        best_idx = tl.where(better, cols[None, :], best_idx)
    row_best = tl.max(best_val, axis=1)
    # among the lanes holding the row maximum, take the smallest index
    candidates = tl.where(best_val == row_best[:, None], best_idx, 2147483647)
    idx = tl.min(candidates, axis=1)
    tl.store(out_ptr + rows, idx.to(tl.int64), mask=row_mask)


def argmax(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    out = torch.empty((M,), dtype=torch.int64, device=x.device)
    BLOCK_N = min(max(triton.next_power_of_2(N), 16), 1024)
    BLOCK_M = min(max(1, 2048 // BLOCK_N), triton.next_power_of_2(M))
    num_warps = 8 if BLOCK_M * BLOCK_N >= 2048 else 4
    _argmax_kernel[(triton.cdiv(M, BLOCK_M),)](x, out, M, N, x.stride(0),
                                               BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=num_warps)
    return out
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    m, n = case["shape"]
    x = torch.randn((m, n), generator=generator, device=device, dtype=torch.float32).to(dtype)
    # plant a unique maximum, 1 above everything else in the row, at a random column
    where = torch.randint(0, n, (m,), generator=generator, device=device)
    x[torch.arange(m, device=device), where] = x.amax(dim=1) + 1
    return (x,)


def reference(x):
    return x.argmax(dim=-1)


def flops(case):
    m, n = case["shape"]
    return m * n  # one comparison per element


def bytes_moved(case):
    m, n = case["shape"]
    size = {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
    return m * n * size + m * 8
