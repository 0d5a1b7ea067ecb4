import torch

ID = "online_softmax_long"
KIND = "softmax"
DIFFICULTY = 3
ENTRY_POINT = "online_softmax_long"
SIGNATURE = "def online_softmax_long(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Softmax over the last dimension of a matrix with very long rows and few of them
(torch.softmax(x, dim=-1)), e.g. 8 to 256 rows of 2**17 to 2**22 elements:
    out[i, j] = exp(x[i, j] - max_k x[i, k]) / sum_k exp(x[i, k] - max_k x[i, k])
A row does not fit in one block's registers and there are too few rows to fill the GPU with one
program per row, so split the rows and combine partial (max, sum of exponentials) statistics.
Input: x, 2-D (M, N) with N >= 1, contiguous (row-major), dtype float32, float16 or bfloat16, on the GPU.
Output: a new (M, N) tensor in x's dtype. Compute in float32 internally; subtract the row maximum.
"""
CORRECTNESS_CASES = [
    {"shape": [1, 1], "dtype": "float32"},
    {"shape": [3, 7], "dtype": "float32"},
    {"shape": [1, 5000], "dtype": "float32"},
    {"shape": [3, 6000], "dtype": "float32"},
    {"shape": [1, 20001], "dtype": "float32"},
    {"shape": [8, 4500], "dtype": "float16"},
    {"shape": [2, 30000], "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [64, 262144], "dtype": "float32"},
    {"shape": [16, 1048576], "dtype": "float32"},
    {"shape": [256, 131072], "dtype": "float16"},
    {"shape": [8, 4194304], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["exp", "amax", "max", "sum", "logsumexp", "div"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _chunk_stats_kernel(x_ptr, max_ptr, sum_ptr, N, stride_m, CHUNK, splits, BLOCK: tl.constexpr):
    # program (row, s): online max and sum of exp over x[row, s*CHUNK : (s+1)*CHUNK]
    row = tl.program_id(0)
    split = tl.program_id(1)
    row_ptr = x_ptr + row.to(tl.int64) * stride_m
    start = split * CHUNK
    m = tl.full((), float("-inf"), dtype=tl.float32)
    s = tl.zeros((), dtype=tl.float32)
    # looping from 0 (not from start) lets the compiler see aligned, vectorizable addresses
    for i in range(0, CHUNK, BLOCK):
        cols = start + i + tl.arange(0, BLOCK)
        x = tl.load(row_ptr + cols, mask=cols < N, other=float("-inf")).to(tl.float32)
        m_new = tl.maximum(m, tl.max(x, axis=0))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # avoids -inf - -inf
        s = s * tl.exp(m - m_safe) + tl.sum(tl.exp(x - m_safe), axis=0)
        m = m_new
    tl.store(max_ptr + row * splits + split, m)
    tl.store(sum_ptr + row * splits + split, s)


@triton.jit
def _normalize_kernel(x_ptr, y_ptr, max_ptr, sum_ptr, N, stride_xm, stride_ym, CHUNK, splits,
                      BLOCK: tl.constexpr, BLOCK_S: tl.constexpr):
    row = tl.program_id(0)
    split = tl.program_id(1)
    # combine the row's partial statistics
    parts = tl.arange(0, BLOCK_S)
    part_mask = parts < splits
    part_max = tl.load(max_ptr + row * splits + parts, mask=part_mask, other=float("-inf"))
    part_sum = tl.load(sum_ptr + row * splits + parts, mask=part_mask, other=0.0)
    row_max = tl.max(part_max, axis=0)
    total = tl.sum(part_sum * tl.exp(part_max - row_max), axis=0)
    inv_total = 1.0 / total
    x_row = x_ptr + row.to(tl.int64) * stride_xm
    y_row = y_ptr + row.to(tl.int64) * stride_ym
    start = split * CHUNK
    for i in range(0, CHUNK, BLOCK):
        cols = start + i + tl.arange(0, BLOCK)
        mask = cols < N
        x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
        y = tl.exp(x - row_max) * inv_total
        tl.store(y_row + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


def online_softmax_long(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    y = torch.empty_like(x)
    BLOCK = 4096
    # enough (row, chunk) programs to fill the GPU: about 8 per multiprocessor
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else 1
    splits = max(1, min(triton.cdiv(8 * sms, M), triton.cdiv(N, BLOCK)))
    chunk = triton.cdiv(triton.cdiv(N, splits), BLOCK) * BLOCK
    splits = triton.cdiv(N, chunk)
    stats = torch.empty((2, M, splits), dtype=torch.float32, device=x.device)
    grid = (M, splits)
    _chunk_stats_kernel[grid](x, stats[0], stats[1], N, x.stride(0), chunk, splits, BLOCK=BLOCK, num_warps=4)
    _normalize_kernel[grid](x, y, stats[0], stats[1], N, x.stride(0), y.stride(0), chunk, splits,
                            BLOCK=BLOCK, BLOCK_S=max(triton.next_power_of_2(splits), 2), num_warps=4)
    return y
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    m, n = case["shape"]
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
