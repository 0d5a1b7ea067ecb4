import torch

ID = "transpose"
KIND = "data_movement"
DIFFICULTY = 2
ENTRY_POINT = "transpose"
SIGNATURE = "def transpose(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Transpose a 2-D matrix into new contiguous memory: out[j, i] = x[i, j] (x.t().contiguous()).
Input: x of shape (M, N), contiguous (row-major), float32, float16 or bfloat16.
Output: a new contiguous (row-major) tensor of shape (N, M) and x's dtype.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 1, "dtype": "float32"},
    {"M": 3, "N": 7, "dtype": "float32"},
    {"M": 17, "N": 1000, "dtype": "float16"},
    {"M": 1, "N": 300, "dtype": "float32"},
    {"M": 257, "N": 1, "dtype": "float16"},
    {"M": 130, "N": 67, "dtype": "float32"},
    {"M": 45, "N": 129, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 8192, "N": 8192, "dtype": "float32"},
    {"M": 8192, "N": 16384, "dtype": "float16"},
    {"M": 20000, "N": 6000, "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _transpose_kernel(x_ptr, y_ptr, n_rows, n_cols, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    tile = tl.load(x_ptr + rows[:, None].to(tl.int64) * n_cols + cols[None, :], mask=mask)
    # out[j, i] = x[i, j]: the compiler stages the tile through shared memory so both sides coalesce
    tl.store(y_ptr + cols[None, :].to(tl.int64) * n_rows + rows[:, None], tile, mask=mask)


def transpose(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    y = torch.empty((N, M), dtype=x.dtype, device=x.device)
    if M == 0 or N == 0:
        return y
    block = 64
    grid = (triton.cdiv(M, block), triton.cdiv(N, block))
    _transpose_kernel[grid](x, y, M, N, BLOCK_M=block, BLOCK_N=block, num_warps=4)
    return y
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    return (torch.randn((case["M"], case["N"]), generator=generator, device=device).to(dtype),)


def reference(x):
    return x.t().contiguous()


def flops(case):
    return 0


def bytes_moved(case):
    return 2 * case["M"] * case["N"] * _SIZE[case["dtype"]]
