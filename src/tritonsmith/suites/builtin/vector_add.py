import torch

ID = "vector_add"
KIND = "elementwise"
DIFFICULTY = 1
ENTRY_POINT = "vector_add"
SIGNATURE = "def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Add two tensors elementwise: out[i] = x[i] + y[i].
Inputs: x and y, 1-D, contiguous, same length and dtype (float32, float16 or bfloat16), on the GPU.
Output: a new 1-D tensor of the same length and dtype.
"""
CORRECTNESS_CASES = [
    {"shape": [1], "dtype": "float32"},
    {"shape": [1000], "dtype": "float32"},
    {"shape": [4097], "dtype": "float16"},
    {"shape": [65536], "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [16777216], "dtype": "float32"},
    {"shape": [67108864], "dtype": "float16"},
]
FORBIDDEN_OPS = ["add"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, x + y, mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    n = x.numel()
    BLOCK = 1024
    _add_kernel[(triton.cdiv(n, BLOCK),)](x, y, out, n, BLOCK=BLOCK, num_warps=4)
    return out
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    x = torch.randn(case["shape"], generator=generator, device=device, dtype=torch.float32).to(dtype)
    y = torch.randn(case["shape"], generator=generator, device=device, dtype=torch.float32).to(dtype)
    return x, y


def reference(x, y):
    return x + y


def flops(case):
    return case["shape"][0]


def bytes_moved(case):
    return 3 * case["shape"][0] * {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
