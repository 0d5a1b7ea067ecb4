import torch

ID = "dequantize_int8"
KIND = "quantization"
DIFFICULTY = 1
ENTRY_POINT = "dequantize_int8"
SIGNATURE = "def dequantize_int8(q: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor"
INSTRUCTION = """\
Per-row int8 dequantization: out[r, j] = q[r, j] * scale[r], computed in float32 and rounded once to the
requested output dtype.
Inputs: q of shape (M, N), int8, contiguous; scale of shape (M,), float32; dtype, the output dtype, one of
torch.float32, torch.float16 or torch.bfloat16.
Output: a new contiguous (M, N) tensor of that dtype.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 1, "dtype": "float32"},
    {"M": 3, "N": 7, "dtype": "float32"},
    {"M": 17, "N": 1000, "dtype": "float16"},
    {"M": 64, "N": 513, "dtype": "float32"},
    {"M": 130, "N": 33, "dtype": "float16"},
    {"M": 33, "N": 768, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 16384, "N": 8192, "dtype": "float16"},
    {"M": 8192, "N": 8192, "dtype": "float32"},
    {"M": 32768, "N": 4096, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["mul", "dequantize"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _dequantize_int8_kernel(q_ptr, scale_ptr, out_ptr, n_rows, n_cols, col_tiles,
                            BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr):
    pid = tl.program_id(0)
    rows = (pid // col_tiles) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = (pid % col_tiles) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_mask = rows < n_rows
    mask = row_mask[:, None] & (cols[None, :] < n_cols)
    offsets = rows[:, None].to(tl.int64) * n_cols + cols[None, :]
    q = tl.load(q_ptr + offsets, mask=mask, other=0).to(tl.float32)
    scale = tl.load(scale_ptr + rows, mask=row_mask, other=0.0)
    tl.store(out_ptr + offsets, (q * scale[:, None]).to(out_ptr.dtype.element_ty), mask=mask)


def dequantize_int8(q: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    q, scale = q.contiguous(), scale.contiguous()
    n_rows, n_cols = q.shape
    out = torch.empty((n_rows, n_cols), dtype=dtype, device=q.device)
    if out.numel() == 0:
        return out
    block_n = min(triton.next_power_of_2(n_cols), 1024)
    block_r = max(1, 4096 // block_n)
    col_tiles = triton.cdiv(n_cols, block_n)
    grid = (triton.cdiv(n_rows, block_r) * col_tiles,)
    _dequantize_int8_kernel[grid](q, scale, out, n_rows, n_cols, col_tiles,
                                  BLOCK_R=block_r, BLOCK_N=block_n, num_warps=4)
    return out
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    M, N = case["M"], case["N"]
    q = torch.randint(-127, 128, (M, N), generator=generator, device=device, dtype=torch.int8)
    scale = torch.rand((M,), generator=generator, device=device) * 0.05 + 1e-3
    return q, scale, getattr(torch, case["dtype"])


def reference(q, scale, dtype):
    return (q.float() * scale[:, None]).to(dtype)


def flops(case):
    return case["M"] * case["N"]


def bytes_moved(case):
    M, N = case["M"], case["N"]
    # read q (int8) and scale (float32); write the output
    return M * N + 4 * M + M * N * _SIZE[case["dtype"]]
