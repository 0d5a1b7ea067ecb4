import torch

ID = "matmul_bias_relu"
KIND = "fused"
DIFFICULTY = 3
ENTRY_POINT = "matmul_bias_relu"
SIGNATURE = "def matmul_bias_relu(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Write a Triton kernel for a linear layer with a fused epilogue: out = relu(a @ b + bias), where bias
is broadcast along the rows (out[m, n] = max(0, sum_k a[m, k] * b[k, n] + bias[n])).
Inputs: a of shape (M, K), b of shape (K, N) and bias of shape (N,), all contiguous, same dtype
(float16 or bfloat16), on the GPU. Sizes are arbitrary positive integers (M or N may be 1).
Output: a new (M, N) tensor of the inputs' dtype. Accumulate in float32, add the bias and apply
the ReLU in the same kernel before the single rounding to the output dtype; do not write a @ b
to memory and read it back.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 48, "K": 33, "dtype": "float16"},
    {"M": 45, "N": 77, "K": 64, "dtype": "float16"},
    {"M": 100, "N": 30, "K": 99, "dtype": "float16"},
    {"M": 16, "N": 1, "K": 20, "dtype": "float16"},
    {"M": 57, "N": 63, "K": 81, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 4096, "N": 4096, "K": 4096, "dtype": "float16"},
    {"M": 8192, "N": 4096, "K": 1024, "dtype": "bfloat16"},
]
# The reference may round a @ b before adding the bias; a fused kernel rounds once. Both are
# within a few units in the last place.
TOLERANCES = {"float16": {"atol": 1e-2, "rtol": 1e-2}, "bfloat16": {"atol": 3e-2, "rtol": 3e-2}}
# the bias and the ReLU belong in the kernel's epilogue, not in separate PyTorch passes
FORBIDDEN_OPS = ["add", "relu", "clamp", "clamp_min", "threshold", "maximum"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _linear_relu_kernel(a_ptr, b_ptr, bias_ptr, c_ptr, M, N, K,
                        stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                        GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * tiles_n
    first_m = (pid // per_group) * GROUP_M
    rows_in_group = tl.minimum(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % per_group) % rows_in_group
    pid_n = (pid % per_group) // rows_in_group

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    in_m = offs_m < M
    in_n = offs_n < N
    a_tile = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_tile = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        in_k = offs_k < K - k0
        a = tl.load(a_tile, mask=in_m[:, None] & in_k[None, :], other=0.0)
        b = tl.load(b_tile, mask=in_k[:, None] & in_n[None, :], other=0.0)
        acc = tl.dot(a, b, acc)
        a_tile += BLOCK_K * stride_ak
        b_tile += BLOCK_K * stride_bk

    # epilogue on the fp32 accumulator: bias, ReLU, then one rounding
    bias = tl.load(bias_ptr + offs_n, mask=in_n, other=0.0).to(tl.float32)
    acc = tl.maximum(acc + bias[None, :], 0.0)
    c_tile = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_tile, acc.to(c_ptr.dtype.element_ty), mask=in_m[:, None] & in_n[None, :])


def matmul_bias_relu(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    assert a.dim() == 2 and b.dim() == 2 and a.shape[1] == b.shape[0] and bias.shape == (b.shape[1],)
    M, K = a.shape
    N = b.shape[1]
    bias = bias.contiguous()
    c = torch.empty((M, N), device=a.device, dtype=a.dtype)
    if M <= 64:
        BLOCK_M, BLOCK_N, BLOCK_K, warps, stages = 64, 128, 64, 4, 4
    else:
        BLOCK_M, BLOCK_N, BLOCK_K, warps, stages = 128, 256, 64, 8, 3
    grid = (triton.cdiv(M, BLOCK_M) * triton.cdiv(N, BLOCK_N),)
    _linear_relu_kernel[grid](a, b, bias, c, M, N, K,
                              a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0), c.stride(1),
                              BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K, GROUP_M=8,
                              num_warps=warps, num_stages=stages)
    return c
'''

_SIZE = {"float16": 2, "bfloat16": 2, "float32": 4}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, N, K = case["M"], case["N"], case["K"]
    a = torch.randn((M, K), generator=generator, device=device).to(dtype)
    b = torch.randn((K, N), generator=generator, device=device).to(dtype)
    # bias on the scale of a @ b (std sqrt(K)), so it visibly moves which entries the ReLU clips
    bias = (torch.randn((N,), generator=generator, device=device) * K ** 0.5).to(dtype)
    return a, b, bias


def reference(a, b, bias):
    return torch.relu(torch.addmm(bias, a, b))


def flops(case):
    # 2MNK for the product, then one add and one max per output element
    return 2 * case["M"] * case["N"] * case["K"] + 2 * case["M"] * case["N"]


def bytes_moved(case):
    M, N, K = case["M"], case["N"], case["K"]
    return (M * K + K * N + N + M * N) * _SIZE[case["dtype"]]
