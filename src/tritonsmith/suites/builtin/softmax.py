import torch

ID = "softmax"
KIND = "softmax"
DIFFICULTY = 2
ENTRY_POINT = "softmax"
SIGNATURE = "def softmax(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Softmax over the last dimension of a matrix (torch.softmax(x, dim=-1)):
    out[i, j] = exp(x[i, j] - max_k x[i, k]) / sum_k exp(x[i, k] - max_k x[i, k])
Input: x, 2-D (M, N) with N >= 1, contiguous (row-major), dtype float32, float16 or bfloat16, on the
GPU. Rows are at most a few thousand elements long (up to 8192 in the timed shapes).
Output: a new (M, N) tensor in x's dtype. Compute in float32 internally; subtract the row maximum so
large inputs do not overflow.
"""
CORRECTNESS_CASES = [
    {"shape": [1, 1], "dtype": "float32"},
    {"shape": [3, 7], "dtype": "float32"},
    {"shape": [17, 1000], "dtype": "float32"},
    {"shape": [64, 33], "dtype": "float32"},
    {"shape": [5, 2049], "dtype": "float16"},
    {"shape": [1, 777], "dtype": "float16"},
    {"shape": [33, 1000], "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [16384, 4096], "dtype": "float32"},
    {"shape": [32768, 4096], "dtype": "float16"},
    {"shape": [131072, 1000], "dtype": "float16"},
    {"shape": [262144, 128], "dtype": "float32"},
    {"shape": [8192, 8192], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["exp", "amax", "max", "sum", "logsumexp", "div"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _softmax_kernel(x_ptr, y_ptr, M, N, stride_xm, stride_ym, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # each program holds BLOCK_M whole rows in registers: one read, one write
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rows_safe = tl.minimum(rows, M - 1).to(tl.int64)  # out-of-range rows re-read the last row, never stored
    cols = tl.arange(0, BLOCK_N)
    col_mask = cols < N
    x = tl.load(x_ptr + rows_safe[:, None] * stride_xm + cols[None, :], mask=col_mask[None, :],
                other=float("-inf")).to(tl.float32)
    row_max = tl.max(x, axis=1)
    e = tl.exp(x - row_max[:, None])
    denom = tl.sum(e, axis=1)
    y = e * (1.0 / denom)[:, None]
    out_mask = (rows < M)[:, None] & col_mask[None, :]
    tl.store(y_ptr + rows_safe[:, None] * stride_ym + cols[None, :], y.to(y_ptr.dtype.element_ty), mask=out_mask)


def softmax(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    y = torch.empty_like(x)
    BLOCK_N = max(triton.next_power_of_2(N), 16)
    BLOCK_M = min(max(1, 4096 // BLOCK_N), triton.next_power_of_2(M))
    tile = BLOCK_M * BLOCK_N
    num_warps = 4 if tile <= 1024 else (8 if tile <= 4096 else 16)
    _softmax_kernel[(triton.cdiv(M, BLOCK_M),)](x, y, M, N, x.stride(0), y.stride(0),
                                                BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=num_warps)
    return y
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    m, n = case["shape"]
    # per-row offsets make exp(x) overflow unless the row maximum is subtracted
    offset = 20.0 * torch.randn((m, 1), generator=generator, device=device, dtype=torch.float32)
    x = 2.0 * torch.randn((m, n), generator=generator, device=device, dtype=torch.float32) + offset
    return (x.to(dtype),)


def reference(x):
    return torch.softmax(x, dim=-1)


def flops(case):
    m, n = case["shape"]
    # per element: max, subtract, exp, add, scale
    return 5 * m * n


def bytes_moved(case):
    m, n = case["shape"]
    size = {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
    return 2 * m * n * size
