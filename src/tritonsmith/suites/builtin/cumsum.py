import torch

ID = "cumsum"
KIND = "scan"
DIFFICULTY = 3
ENTRY_POINT = "cumsum"
SIGNATURE = "def cumsum(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Inclusive prefix sum along the last dimension of a 2-D tensor: out[r, j] = sum_{k <= j} x[r, k]
(torch.cumsum(x, dim=-1)).
Input: x of shape (M, N), contiguous, float32, float16 or bfloat16.
Output: a new contiguous (M, N) tensor of x's dtype. Accumulate in float32 (also for float16 and
bfloat16 inputs) and round each output once; any summation order is fine, since errors are judged
relative to the magnitude of the output.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 1, "dtype": "float32"},
    {"M": 3, "N": 7, "dtype": "float32"},
    {"M": 17, "N": 1000, "dtype": "float16"},
    {"M": 64, "N": 513, "dtype": "float32"},
    {"M": 2, "N": 5000, "dtype": "float32"},
    {"M": 40, "N": 3, "dtype": "float16"},
    {"M": 33, "N": 768, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 16384, "N": 4096, "dtype": "float32"},
    {"M": 32768, "N": 4096, "dtype": "float16"},
    {"M": 8192, "N": 8192, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["_cumsum", "cumsum_", "_logcumsumexp"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _cumsum_kernel(x_ptr, y_ptr, n_rows, n_cols, BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr):
    # BLOCK_R rows per program; each row is scanned in chunks of BLOCK_N with a running float32 carry
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows[:, None] < n_rows
    base = rows[:, None].to(tl.int64) * n_cols
    lanes = tl.arange(0, BLOCK_N)
    carry = tl.zeros([BLOCK_R], dtype=tl.float32)
    for start in range(0, n_cols, BLOCK_N):
        cols = start + lanes
        mask = row_mask & (cols[None, :] < n_cols)
        x = tl.load(x_ptr + base + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        prefix = tl.cumsum(x, axis=1) + carry[:, None]
        tl.store(y_ptr + base + cols[None, :], prefix.to(y_ptr.dtype.element_ty), mask=mask)
        # the next chunk starts from this chunk's last prefix (padding lanes add zeros, so the last lane holds it)
        carry = tl.sum(tl.where(lanes[None, :] == BLOCK_N - 1, prefix, 0.0), axis=1)


def cumsum(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    y = torch.empty_like(x)
    if x.numel() == 0:
        return y
    block_n = min(triton.next_power_of_2(N), 1024)
    block_r = max(1, 2048 // block_n)
    _cumsum_kernel[(triton.cdiv(M, block_r),)](x, y, M, N, BLOCK_R=block_r, BLOCK_N=block_n, num_warps=4)
    return y
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    # a small positive drift makes the sums grow along the row, as real prefix sums often do
    x = torch.randn((case["M"], case["N"]), generator=generator, device=device) + 0.1
    return (x.to(dtype),)


def reference(x):
    return torch.cumsum(x, dim=-1, dtype=torch.float32).to(x.dtype)


def flops(case):
    return case["M"] * case["N"]


def bytes_moved(case):
    return 2 * case["M"] * case["N"] * _SIZE[case["dtype"]]
