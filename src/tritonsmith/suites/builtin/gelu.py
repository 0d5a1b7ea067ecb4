import math

import torch

ID = "gelu"
KIND = "elementwise"
DIFFICULTY = 1
ENTRY_POINT = "gelu"
SIGNATURE = "def gelu(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Apply the tanh approximation of GELU elementwise:
    out = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))
(the same as torch.nn.functional.gelu(x, approximate="tanh")).
Input: x, a contiguous tensor of any shape (treat it as flat), dtype float32, float16 or bfloat16, on the GPU.
Output: a new tensor of the same shape and dtype. Compute in float32 internally for half-precision inputs.
"""
CORRECTNESS_CASES = [
    {"shape": [1], "dtype": "float32"},
    {"shape": [3, 7], "dtype": "float32"},
    {"shape": [17, 1000], "dtype": "float32"},
    {"shape": [2, 5, 333], "dtype": "float16"},
    {"shape": [4097], "dtype": "float16"},
    {"shape": [64, 1000], "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [8192, 4096], "dtype": "float32"},
    {"shape": [16384, 4096], "dtype": "float16"},
    {"shape": [16384, 4096], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["tanh", "sigmoid"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _gelu_tanh_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
    # 0.5 * (1 + tanh(u)) == sigmoid(2u); exp overflowing to inf gives the right limit (0).
    y = x / (1.0 + tl.exp(-2.0 * u))
    tl.store(out_ptr + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)


def gelu(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    out = torch.empty_like(x)
    n = x.numel()
    BLOCK = 1024
    _gelu_tanh_kernel[(triton.cdiv(n, BLOCK),)](x, out, n, BLOCK=BLOCK, num_warps=4)
    return out
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    x = 3.0 * torch.randn(case["shape"], generator=generator, device=device, dtype=torch.float32)
    return (x.to(dtype),)


def reference(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


def flops(case):
    # per element: x*x, *x, *0.044715, +x, *sqrt(2/pi), tanh, +1, *x, *0.5
    return 9 * math.prod(case["shape"])


def bytes_moved(case):
    size = {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
    return 2 * math.prod(case["shape"]) * size
