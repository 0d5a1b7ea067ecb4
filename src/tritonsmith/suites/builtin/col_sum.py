import torch

ID = "col_sum"
KIND = "reduction"
DIFFICULTY = 2
ENTRY_POINT = "col_sum"
SIGNATURE = "def col_sum(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Sum each column of a matrix: out[j] = sum_i x[i, j] (torch.sum(x, dim=0)).
Input: x, 2-D (M, N), contiguous (row-major, so a column is strided), dtype float32, float16 or
bfloat16, on the GPU. M may be much larger than N.
Output: a new 1-D tensor of length N in x's dtype. Accumulate in float32 and round once at the end.
"""
CORRECTNESS_CASES = [
    {"shape": [1, 1], "dtype": "float32"},
    {"shape": [7, 3], "dtype": "float32"},
    {"shape": [1000, 17], "dtype": "float32"},
    {"shape": [3000, 5], "dtype": "float32"},
    {"shape": [129, 64], "dtype": "float16"},
    {"shape": [777, 1], "dtype": "float16"},
    {"shape": [1, 300], "dtype": "float16"},
    {"shape": [1000, 33], "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [16384, 4096], "dtype": "float32"},
    {"shape": [32768, 4096], "dtype": "float16"},
    {"shape": [262144, 256], "dtype": "float32"},
    {"shape": [8192, 8192], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["sum", "mean", "nansum"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _col_sum_kernel(x_ptr, out_ptr, M, N, stride_m, rows_per_split,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # program (c, s) sums rows [s * rows_per_split, (s + 1) * rows_per_split) of its BLOCK_N columns
    # and writes row s of out, which is (splits, N)
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    col_mask = cols < N
    split = tl.program_id(1)
    row_start = split * rows_per_split
    row_end = tl.minimum(row_start + rows_per_split, M)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for start in range(row_start, row_end, BLOCK_M):
        rows = start + tl.arange(0, BLOCK_M)
        mask = (rows < row_end)[:, None] & col_mask[None, :]
        ptrs = x_ptr + rows.to(tl.int64)[:, None] * stride_m + cols[None, :]
        acc += tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)
    total = tl.sum(acc, axis=0)
    tl.store(out_ptr + split.to(tl.int64) * N + cols, total.to(out_ptr.dtype.element_ty), mask=col_mask)


def col_sum(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    out = torch.empty((N,), dtype=x.dtype, device=x.device)
    BLOCK_N = min(max(triton.next_power_of_2(N), 16), 128)
    BLOCK_M = 32
    col_blocks = triton.cdiv(N, BLOCK_N)
    # split the rows when the column blocks alone cannot fill the GPU
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else 4
    splits = max(1, min(triton.cdiv(4 * sms, col_blocks), triton.cdiv(M, 4 * BLOCK_M)))
    rows_per_split = triton.cdiv(triton.cdiv(M, splits), BLOCK_M) * BLOCK_M
    splits = triton.cdiv(M, rows_per_split)
    if splits == 1:
        _col_sum_kernel[(col_blocks, 1)](x, out, M, N, x.stride(0), M,
                                         BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=4)
        return out
    partial = torch.empty((splits, N), dtype=torch.float32, device=x.device)
    _col_sum_kernel[(col_blocks, splits)](x, partial, M, N, x.stride(0), rows_per_split,
                                          BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=4)
    # second pass: sum the (splits, N) float32 partials the same way, in one split
    _col_sum_kernel[(col_blocks, 1)](partial, out, splits, N, N, splits,
                                     BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=4)
    return out
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    x = torch.randn(case["shape"], generator=generator, device=device, dtype=torch.float32) + 0.5
    return (x.to(dtype),)


def reference(x):
    return x.sum(dim=0)


def flops(case):
    m, n = case["shape"]
    return m * n


def bytes_moved(case):
    m, n = case["shape"]
    size = {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
    return (m * n + n) * size
