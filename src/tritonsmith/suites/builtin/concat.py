import torch

ID = "concat"
KIND = "data_movement"
DIFFICULTY = 1
ENTRY_POINT = "concat"
SIGNATURE = "def concat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Concatenate two matrices along the last dimension (torch.cat([a, b], dim=-1)):
out[r, :Na] = a[r, :], out[r, Na:] = b[r, :].
Inputs: a of shape (M, Na) and b of shape (M, Nb), both contiguous, same dtype (float32, float16 or
bfloat16); Na and Nb are at least 1 and need not be equal.
Output: a new contiguous (M, Na + Nb) tensor of the same dtype.
"""
CORRECTNESS_CASES = [
    {"M": 1, "Na": 1, "Nb": 1, "dtype": "float32"},
    {"M": 3, "Na": 7, "Nb": 5, "dtype": "float32"},
    {"M": 17, "Na": 1000, "Nb": 24, "dtype": "float16"},
    {"M": 40, "Na": 1, "Nb": 513, "dtype": "float32"},
    {"M": 5, "Na": 300, "Nb": 1, "dtype": "float16"},
    {"M": 9, "Na": 130, "Nb": 70, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 8192, "Na": 3072, "Nb": 5120, "dtype": "float32"},
    {"M": 16384, "Na": 2048, "Nb": 6144, "dtype": "float16"},
    {"M": 65536, "Na": 1000, "Nb": 1000, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["cat", "_cat", "stack", "hstack", "concat", "concatenate"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _concat_kernel(a_ptr, b_ptr, out_ptr, n_rows, n_a, n_b, col_tiles,
                   BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr):
    # one tile of the output; its columns come from a (col < n_a) or from b
    pid = tl.program_id(0)
    rows = (pid // col_tiles) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = (pid % col_tiles) * BLOCK_N + tl.arange(0, BLOCK_N)
    n_out = n_a + n_b
    row_ok = rows[:, None] < n_rows
    rows64 = rows[:, None].to(tl.int64)
    from_a = row_ok & (cols[None, :] < n_a)
    from_b = row_ok & (cols[None, :] >= n_a) & (cols[None, :] < n_out)
    a = tl.load(a_ptr + rows64 * n_a + cols[None, :], mask=from_a)
    b = tl.load(b_ptr + rows64 * n_b + (cols[None, :] - n_a), mask=from_b)
    tl.store(out_ptr + rows64 * n_out + cols[None, :], tl.where(from_a, a, b), mask=from_a | from_b)


def concat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.contiguous(), b.contiguous()
    n_rows, n_a = a.shape
    n_b = b.shape[1]
    out = torch.empty((n_rows, n_a + n_b), dtype=a.dtype, device=a.device)
    if out.numel() == 0:
        return out
    block_n = min(triton.next_power_of_2(n_a + n_b), 1024)
    block_r = max(1, 4096 // block_n)
    col_tiles = triton.cdiv(n_a + n_b, block_n)
    grid = (triton.cdiv(n_rows, block_r) * col_tiles,)
    _concat_kernel[grid](a, b, out, n_rows, n_a, n_b, col_tiles, BLOCK_R=block_r, BLOCK_N=block_n, num_warps=4)
    return out
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M = case["M"]
    a = torch.randn((M, case["Na"]), generator=generator, device=device).to(dtype)
    b = torch.randn((M, case["Nb"]), generator=generator, device=device).to(dtype)
    return a, b


def reference(a, b):
    return torch.cat([a, b], dim=-1)


def flops(case):
    return 0


def bytes_moved(case):
    return 2 * case["M"] * (case["Na"] + case["Nb"]) * _SIZE[case["dtype"]]
