import torch

ID = "swiglu"
KIND = "elementwise"
DIFFICULTY = 1
ENTRY_POINT = "swiglu"
SIGNATURE = "def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
SwiGLU gating, as in a transformer MLP: out = silu(gate) * up, where silu(g) = g / (1 + exp(-g)).
Inputs: gate and up, 2-D (M, N), contiguous (row-major), same shape and dtype (float32, float16 or
bfloat16), on the GPU.
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
    {"shape": [16384, 4096], "dtype": "float16"},
    {"shape": [16384, 4096], "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["sigmoid", "mul"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _swiglu_kernel(gate_ptr, up_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    g = tl.load(gate_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(up_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    y = g / (1.0 + tl.exp(-g)) * u
    tl.store(out_ptr + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    gate = gate.contiguous()
    up = up.contiguous()
    out = torch.empty_like(gate)
    n = gate.numel()
    BLOCK = 1024
    _swiglu_kernel[(triton.cdiv(n, BLOCK),)](gate, up, out, n, BLOCK=BLOCK, num_warps=4)
    return out
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    gate = 3.0 * torch.randn(case["shape"], generator=generator, device=device, dtype=torch.float32)
    up = torch.randn(case["shape"], generator=generator, device=device, dtype=torch.float32)
    return gate.to(dtype), up.to(dtype)


def reference(gate, up):
    return torch.nn.functional.silu(gate) * up


def flops(case):
    m, n = case["shape"]
    # per element: silu (negate, exp, +1, divide) and one multiply
    return 5 * m * n


def bytes_moved(case):
    m, n = case["shape"]
    size = {"float32": 4, "float16": 2, "bfloat16": 2}[case["dtype"]]
    return 3 * m * n * size
