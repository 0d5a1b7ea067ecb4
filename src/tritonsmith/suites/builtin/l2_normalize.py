import torch

ID = "l2_normalize"
KIND = "normalization"
DIFFICULTY = 2
ENTRY_POINT = "l2_normalize"
SIGNATURE = "def l2_normalize(x: torch.Tensor, eps: float) -> torch.Tensor"
INSTRUCTION = """\
Normalize each row of a 2-D tensor to unit Euclidean length (torch.nn.functional.normalize with p=2,
dim=-1): out[r, :] = x[r, :] / max(||x[r, :]||_2, eps), where ||v||_2 = sqrt(sum_j v[j]^2).
A row of zeros therefore stays zeros.
Inputs: x of shape (M, N), contiguous, float32, float16 or bfloat16; eps, a Python float (e.g. 1e-12).
Output: a new contiguous (M, N) tensor of x's dtype. Accumulate the sum of squares in float32 and round
to x's dtype once, at the end.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 1, "eps": 1e-12, "dtype": "float32"},
    {"M": 3, "N": 7, "eps": 1e-12, "dtype": "float32"},
    {"M": 17, "N": 1000, "eps": 1e-12, "dtype": "float16"},
    {"M": 64, "N": 513, "eps": 1e-12, "zero_rows": True, "dtype": "float32"},
    {"M": 4, "N": 20000, "eps": 1e-12, "dtype": "float32"},
    {"M": 12, "N": 100, "eps": 1.0, "zero_rows": True, "dtype": "float16"},
    {"M": 33, "N": 768, "eps": 1e-12, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 65536, "N": 2048, "eps": 1e-12, "dtype": "float16"},
    {"M": 16384, "N": 4096, "eps": 1e-12, "dtype": "float32"},
    {"M": 8192, "N": 16384, "eps": 1e-12, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["linalg_vector_norm", "norm", "frobenius_norm", "renorm"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _l2_normalize_kernel(x_ptr, y_ptr, n_cols, eps, BLOCK: tl.constexpr, ONE_PASS: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * n_cols
    y_row = y_ptr + row * n_cols
    if ONE_PASS:
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
        scale = 1.0 / tl.maximum(tl.sqrt(tl.sum(x * x, axis=0)), eps)
        tl.store(y_row + cols, (x * scale).to(y_ptr.dtype.element_ty), mask=mask)
    else:
        squares = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            x = tl.load(x_row + cols, mask=cols < n_cols, other=0.0).to(tl.float32)
            squares += x * x
        scale = 1.0 / tl.maximum(tl.sqrt(tl.sum(squares, axis=0)), eps)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
            tl.store(y_row + cols, (x * scale).to(y_ptr.dtype.element_ty), mask=mask)


def l2_normalize(x: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    y = torch.empty_like(x)
    if M == 0 or N == 0:
        return y
    block = triton.next_power_of_2(N)
    one_pass = block <= 16384
    if not one_pass:
        block = 4096
    num_warps = min(max(block // 256, 1), 16)
    _l2_normalize_kernel[(M,)](x, y, N, eps, BLOCK=block, ONE_PASS=one_pass, num_warps=num_warps)
    return y
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, N = case["M"], case["N"]
    x = torch.randn((M, N), generator=generator, device=device) * 3.0
    if case.get("zero_rows"):
        x[::5] = 0.0  # rows 0, 5, 10, ...: their norm is below eps
        x[1::7] *= 1e-3  # small rows: with eps=1.0 these are divided by eps, not by their norm
    return x.to(dtype), float(case["eps"])


def reference(x, eps):
    xf = x.float()
    norm = torch.linalg.vector_norm(xf, ord=2, dim=-1, keepdim=True)
    return (xf / norm.clamp_min(eps)).to(x.dtype)


def flops(case):
    # per element: square, accumulate, scale
    return 3 * case["M"] * case["N"]


def bytes_moved(case):
    return 2 * case["M"] * case["N"] * _SIZE[case["dtype"]]
