import math

import torch

ID = "flip"
KIND = "data_movement"
DIFFICULTY = 1
ENTRY_POINT = "flip"
SIGNATURE = "def flip(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Reverse a tensor along its last dimension: out[..., j] = x[..., N - 1 - j], where N = x.shape[-1]
(torch.flip(x, dims=[-1])).
Input: x of any rank >= 1 (e.g. 2-D (M, N) or 3-D (B, M, N)), contiguous, float32, float16 or bfloat16.
Output: a new contiguous tensor of the same shape and dtype.
"""
CORRECTNESS_CASES = [
    {"shape": [1, 1], "dtype": "float32"},
    {"shape": [3, 7], "dtype": "float32"},
    {"shape": [17, 1000], "dtype": "float16"},
    {"shape": [2, 5, 33], "dtype": "float32"},
    {"shape": [4, 3, 1], "dtype": "float16"},
    {"shape": [4099], "dtype": "float32"},
    {"shape": [6, 9, 130], "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [8192, 8192], "dtype": "float32"},
    {"shape": [64, 2048, 1000], "dtype": "float16"},
    {"shape": [16384, 8192], "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _flip_kernel(x_ptr, y_ptr, n_rows, n_cols, col_tiles,
                 BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr):
    pid = tl.program_id(0)
    rows = (pid // col_tiles) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = (pid % col_tiles) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    base = rows[:, None].to(tl.int64) * n_cols
    values = tl.load(x_ptr + base + (n_cols - 1 - cols)[None, :], mask=mask)
    tl.store(y_ptr + base + cols[None, :], values, mask=mask)


def flip(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    y = torch.empty_like(x)
    if x.numel() == 0:
        return y
    n_cols = x.shape[-1]
    n_rows = x.numel() // n_cols
    block_n = min(triton.next_power_of_2(n_cols), 1024)
    block_r = max(1, 4096 // block_n)
    col_tiles = triton.cdiv(n_cols, block_n)
    grid = (triton.cdiv(n_rows, block_r) * col_tiles,)
    _flip_kernel[grid](x, y, n_rows, n_cols, col_tiles, BLOCK_R=block_r, BLOCK_N=block_n, num_warps=4)
    return y
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    return (torch.randn(case["shape"], generator=generator, device=device).to(dtype),)


def reference(x):
    return torch.flip(x, dims=[-1])


def flops(case):
    return 0


def bytes_moved(case):
    return 2 * math.prod(case["shape"]) * _SIZE[case["dtype"]]
