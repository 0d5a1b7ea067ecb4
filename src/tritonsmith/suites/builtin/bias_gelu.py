import torch

ID = "bias_gelu"
KIND = "fused"
DIFFICULTY = 2
ENTRY_POINT = "bias_gelu"
SIGNATURE = "def bias_gelu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Fused bias add + GELU (tanh approximation), as after a linear layer:
    z = x + bias (bias broadcast over the rows)
    out = 0.5 * z * (1 + tanh(sqrt(2 / pi) * (z + 0.044715 * z**3)))
i.e. torch.nn.functional.gelu(x + bias, approximate="tanh").
Inputs: x, 2-D (M, N), contiguous (row-major); bias, 1-D (N,); both the same dtype (float32, float16
or bfloat16), on the GPU.
Output: a new (M, N) tensor of the same dtype. Compute in float32 internally for half-precision inputs.
"""
CORRECTNESS_CASES = [
    {"shape": [1, 1], "dtype": "float32"},
    {"shape": [3, 7], "dtype": "float32"},
    {"shape": [17, 1000], "dtype": "float32"},
    {"shape": [33, 555], "dtype": "float16"},
    {"shape": [1, 4097], "dtype": "float16"},
    {"shape": [64, 1000], "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [8192, 4096], "dtype": "float32"},
    {"shape": [16384, 5120], "dtype": "float16"},
    {"shape": [16384, 5120], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["add", "tanh", "sigmoid"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _bias_gelu_kernel(x_ptr, bias_ptr, out_ptr, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    col_mask = cols < N
    mask = (rows < M)[:, None] & col_mask[None, :]
    offsets = rows.to(tl.int64)[:, None] * N + cols[None, :]
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(bias_ptr + cols, mask=col_mask, other=0.0).to(tl.float32)
    z = x + b[None, :]
    u = 0.7978845608028654 * (z + 0.044715 * z * z * z)
    # 0.5 * (1 + tanh(u)) == sigmoid(2u)
    y = z / (1.0 + tl.exp(-2.0 * u))
    tl.store(out_ptr + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)


def bias_gelu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    bias = bias.contiguous()
    M, N = x.shape
    out = torch.empty_like(x)
    BLOCK_N = min(max(triton.next_power_of_2(N), 16), 1024)
    BLOCK_M = min(max(1, 2048 // BLOCK_N), triton.next_power_of_2(M))
    grid = (triton.cdiv(M, BLOCK_M), triton.cdiv(N, BLOCK_N))
    _bias_gelu_kernel[grid](x, bias, out, M, N, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=4)
    return out
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    m, n = case["shape"]
    x = 2.0 * torch.randn((m, n), generator=generator, device=device, dtype=torch.float32)
    bias = torch.randn((n,), generator=generator, device=device, dtype=torch.float32)
    return x.to(dtype), bias.to(dtype)


def reference(x, bias):
    return torch.nn.functional.gelu(x + bias, approximate="tanh")


def flops(case):
    m, n = case["shape"]
    # per element: the bias add, then GELU's 9 (x*x, *x, *c1, +x, *c2, tanh, +1, *x, *0.5)
    return 10 * m * n


def bytes_moved(case):
    m, n = case["shape"]
    size = {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
    return (2 * m * n + n) * size
