import torch

ID = "gather_rows"
KIND = "data_movement"
DIFFICULTY = 1
ENTRY_POINT = "gather_rows"
SIGNATURE = "def gather_rows(src: torch.Tensor, index: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Gather rows of a matrix by index: out[k, :] = src[index[k], :] (src[index], torch.index_select(src, 0, index)).
Inputs: src of shape (M, N), contiguous, float32, float16, bfloat16 or int32; index of shape (K,), int64,
contiguous, every value in [0, M) (no negative indices), in any order and possibly repeated.
Output: a new contiguous (K, N) tensor of src's dtype.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 1, "K": 1, "dtype": "float32"},
    {"M": 3, "N": 7, "K": 5, "dtype": "float32"},
    {"M": 17, "N": 1000, "K": 40, "dtype": "float16"},
    {"M": 64, "N": 513, "K": 1, "dtype": "float32"},
    {"M": 10, "N": 33, "K": 64, "dtype": "float32"},
    {"M": 50, "N": 3, "K": 77, "dtype": "int32"},
    {"M": 20, "N": 256, "K": 30, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 131072, "N": 1024, "K": 131072, "dtype": "float16"},
    {"M": 65536, "N": 1024, "K": 65536, "dtype": "float32"},
    {"M": 262144, "N": 256, "K": 524288, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["index", "index_select", "gather", "take", "embedding"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _gather_rows_kernel(src_ptr, index_ptr, out_ptr, n_out_rows, n_cols, col_tiles,
                        BLOCK_K: tl.constexpr, BLOCK_N: tl.constexpr):
    pid = tl.program_id(0)
    rows = (pid // col_tiles) * BLOCK_K + tl.arange(0, BLOCK_K)
    cols = (pid % col_tiles) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_mask = rows < n_out_rows
    src_rows = tl.load(index_ptr + rows, mask=row_mask, other=0)
    mask = row_mask[:, None] & (cols[None, :] < n_cols)
    values = tl.load(src_ptr + src_rows[:, None] * n_cols + cols[None, :], mask=mask)
    tl.store(out_ptr + rows[:, None].to(tl.int64) * n_cols + cols[None, :], values, mask=mask)


def gather_rows(src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    src, index = src.contiguous(), index.contiguous()
    n_cols = src.shape[1]
    n_out_rows = index.shape[0]
    out = torch.empty((n_out_rows, n_cols), dtype=src.dtype, device=src.device)
    if out.numel() == 0:
        return out
    block_n = min(triton.next_power_of_2(n_cols), 1024)
    block_k = max(1, 4096 // block_n)
    col_tiles = triton.cdiv(n_cols, block_n)
    grid = (triton.cdiv(n_out_rows, block_k) * col_tiles,)
    _gather_rows_kernel[grid](src, index, out, n_out_rows, n_cols, col_tiles,
                              BLOCK_K=block_k, BLOCK_N=block_n, num_warps=4)
    return out
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2, "int32": 4}


def make_inputs(case, generator, device):
    M, N, K = case["M"], case["N"], case["K"]
    dtype = getattr(torch, case["dtype"])
    if dtype.is_floating_point:
        src = torch.randn((M, N), generator=generator, device=device).to(dtype)
    else:
        src = torch.randint(-1000, 1000, (M, N), generator=generator, device=device, dtype=dtype)
    index = torch.randint(0, M, (K,), generator=generator, device=device, dtype=torch.int64)
    return src, index


def reference(src, index):
    return src[index]


def flops(case):
    return 0


def bytes_moved(case):
    # the K gathered rows are read once and written once; the index is read once
    K, N = case["K"], case["N"]
    return 2 * K * N * _SIZE[case["dtype"]] + 8 * K
