import torch

ID = "softmax_backward"
KIND = "softmax"
DIFFICULTY = 2
ENTRY_POINT = "softmax_backward"
SIGNATURE = "def softmax_backward(y: torch.Tensor, dy: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Backward pass of a softmax over the last dimension. Given the forward output y = softmax(x, dim=-1)
and the gradient dy of the loss with respect to y, compute the gradient with respect to x:
    dx[i, j] = y[i, j] * (dy[i, j] - sum_k y[i, k] * dy[i, k])
Inputs: y and dy, 2-D (M, N), contiguous (row-major), same dtype (float32, float16 or bfloat16), on
the GPU; every row of y is a probability distribution. Rows are at most a few thousand elements long.
Output: a new (M, N) tensor dx in the inputs' dtype. Compute in float32 internally.
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
    {"shape": [8192, 4096], "dtype": "float32"},
    {"shape": [16384, 4096], "dtype": "float16"},
    {"shape": [65536, 1000], "dtype": "float16"},
    {"shape": [16384, 4096], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["mul", "sum", "sub", "addcmul", "mv", "bmm"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _softmax_backward_kernel(y_ptr, dy_ptr, dx_ptr, M, N, stride_m, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_N)
    mask = (rows < M)[:, None] & (cols < N)[None, :]
    offsets = rows.to(tl.int64)[:, None] * stride_m + cols[None, :]
    y = tl.load(y_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    dy = tl.load(dy_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    dot = tl.sum(y * dy, axis=1)
    dx = y * (dy - dot[:, None])
    tl.store(dx_ptr + offsets, dx.to(dx_ptr.dtype.element_ty), mask=mask)


def softmax_backward(y: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    y = y.contiguous()
    dy = dy.contiguous()
    M, N = y.shape
    dx = torch.empty_like(y)
    BLOCK_N = max(triton.next_power_of_2(N), 16)
    BLOCK_M = min(max(1, 2048 // BLOCK_N), triton.next_power_of_2(M))
    tile = BLOCK_M * BLOCK_N
    num_warps = 4 if tile <= 1024 else (8 if tile <= 4096 else 16)
    _softmax_backward_kernel[(triton.cdiv(M, BLOCK_M),)](y, dy, dx, M, N, y.stride(0),
                                                         BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=num_warps)
    return dx
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    m, n = case["shape"]
    logits = 2.0 * torch.randn((m, n), generator=generator, device=device, dtype=torch.float32)
    y = torch.softmax(logits, dim=-1).to(dtype)
    # a mean far from zero makes the sum term matter: dy - sum(y * dy) cancels most of it
    dy = torch.randn((m, n), generator=generator, device=device, dtype=torch.float32) + 1.0
    return y, dy.to(dtype)


def reference(y, dy):
    # in float32, rounded once: PyTorch's own fused half-precision backward rounds intermediates and
    # loses accuracy where dy is close to sum(y * dy)
    yf, dyf = y.float(), dy.float()
    return (yf * (dyf - (yf * dyf).sum(dim=-1, keepdim=True))).to(y.dtype)


def flops(case):
    m, n = case["shape"]
    # per element: y * dy, add to the row sum, dy - dot, y * (...)
    return 4 * m * n


def bytes_moved(case):
    m, n = case["shape"]
    size = {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
    return 3 * m * n * size
