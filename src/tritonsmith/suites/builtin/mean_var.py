import torch

ID = "mean_var"
KIND = "reduction"
DIFFICULTY = 2
ENTRY_POINT = "mean_var"
SIGNATURE = "def mean_var(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]"
INSTRUCTION = """\
Per-row mean and population variance of a matrix:
    mean[i] = sum_j x[i, j] / N
    var[i]  = sum_j (x[i, j] - mean[i])**2 / N      (divide by N, not N - 1)
Input: x, 2-D (M, N) with N >= 1, contiguous (row-major), dtype float32, float16 or bfloat16, on the
GPU. Rows may have a mean far from zero, so E[x^2] - E[x]^2 in low precision is not accurate enough.
Output: a tuple (mean, var) of two new 1-D float32 tensors of length M (float32 whatever x's dtype).
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
    {"shape": [4096, 16384], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["var_mean", "var", "std", "std_mean", "mean", "sum"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _mean_var_kernel(x_ptr, mean_ptr, var_ptr, M, N, stride_m, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # one pass: per tile, the mean and the sum of squared deviations from the tile's own mean, merged
    # into the running (mean, m2) with Chan et al.'s pairwise formula (no E[x^2] - E[x]^2 cancellation)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < M
    row_ptrs = x_ptr + rows.to(tl.int64)[:, None] * stride_m
    mean = tl.zeros((BLOCK_M,), dtype=tl.float32)
    m2 = tl.zeros((BLOCK_M,), dtype=tl.float32)
    for start in range(0, N, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        mask = row_mask[:, None] & (cols < N)[None, :]
        x = tl.load(row_ptrs + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        count = tl.minimum(N - start, BLOCK_N) * 1.0  # valid columns in this tile
        seen = start * 1.0  # columns merged so far
        tile_mean = tl.sum(x, axis=1) / count
        d = tl.where(mask, x - tile_mean[:, None], 0.0)
        tile_m2 = tl.sum(d * d, axis=1)
        total = seen + count
        delta = tile_mean - mean
        mean = mean + delta * (count / total)
        m2 = m2 + tile_m2 + delta * delta * (seen * count / total)
    tl.store(mean_ptr + rows, mean, mask=row_mask)
    tl.store(var_ptr + rows, m2 / N, mask=row_mask)


def mean_var(x: torch.Tensor):
    x = x.contiguous()
    M, N = x.shape
    mean = torch.empty((M,), dtype=torch.float32, device=x.device)
    var = torch.empty((M,), dtype=torch.float32, device=x.device)
    BLOCK_N = min(max(triton.next_power_of_2(N), 16), 2048)
    BLOCK_M = min(max(1, 4096 // BLOCK_N), triton.next_power_of_2(M))
    num_warps = 8 if BLOCK_M * BLOCK_N >= 4096 else 4
    _mean_var_kernel[(triton.cdiv(M, BLOCK_M),)](x, mean, var, M, N, x.stride(0),
                                                 BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=num_warps)
    return mean, var
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    m, n = case["shape"]
    scale = 0.5 + 2.0 * torch.rand((m, 1), generator=generator, device=device, dtype=torch.float32)
    offset = 8.0 * torch.randn((m, 1), generator=generator, device=device, dtype=torch.float32)
    x = torch.randn((m, n), generator=generator, device=device, dtype=torch.float32) * scale + offset
    return (x.to(dtype),)


def reference(x):
    var, mean = torch.var_mean(x.float(), dim=-1, correction=0)
    return mean, var


def flops(case):
    m, n = case["shape"]
    # two-pass count: the sum for the mean (1 per element), then subtract, square and add (3 per element)
    return 4 * m * n


def bytes_moved(case):
    m, n = case["shape"]
    size = {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
    return m * n * size + 2 * m * 4
