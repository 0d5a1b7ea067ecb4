import torch

ID = "batched_matmul"
KIND = "matmul"
DIFFICULTY = 3
ENTRY_POINT = "batched_matmul"
SIGNATURE = "def batched_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Write a Triton batched matrix multiplication: c[i] = a[i] @ b[i] for every batch index i.
Inputs: a of shape (B, M, K) and b of shape (B, K, N), 3-D, contiguous (row-major), same dtype
(float16 or bfloat16), on the GPU. B, M, N and K are arbitrary positive sizes (B, M or N may be 1;
sizes need not be multiples of any tile size).
Output: a new (B, M, N) tensor of the inputs' dtype. Accumulate in float32 and round to the output
dtype once, at the end (what torch.bmm does).
"""
CORRECTNESS_CASES = [
    {"B": 1, "M": 33, "N": 17, "K": 65, "dtype": "float16"},
    {"B": 3, "M": 1, "N": 40, "K": 31, "dtype": "float16"},
    {"B": 5, "M": 47, "N": 70, "K": 100, "dtype": "float16"},
    {"B": 2, "M": 64, "N": 1, "K": 9, "dtype": "float16"},
    {"B": 4, "M": 37, "N": 53, "K": 71, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"B": 32, "M": 1024, "N": 1024, "K": 1024, "dtype": "float16"},
    {"B": 64, "M": 512, "N": 512, "K": 2048, "dtype": "bfloat16"},
    {"B": 8, "M": 2048, "N": 2048, "K": 512, "dtype": "float16"},
]
# Like matmul: output rounding plus possible reduced-precision split-K reductions in cuBLAS.
TOLERANCES = {"float16": {"atol": 1e-2, "rtol": 1e-2}, "bfloat16": {"atol": 3e-2, "rtol": 3e-2}}

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _bmm_kernel(a_ptr, b_ptr, c_ptr, M, N, K,
                stride_ab, stride_am, stride_ak, stride_bb, stride_bk, stride_bn,
                stride_cb, stride_cm, stride_cn,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    # axis 0: output tiles of one batch entry, in grouped order for L2 reuse; axis 1: the batch.
    pid = tl.program_id(0)
    batch = tl.program_id(1).to(tl.int64)
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
    a_tile = a_ptr + batch * stride_ab + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_tile = b_ptr + batch * stride_bb + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        in_k = offs_k < K - k0
        a = tl.load(a_tile, mask=in_m[:, None] & in_k[None, :], other=0.0)
        b = tl.load(b_tile, mask=in_k[:, None] & in_n[None, :], other=0.0)
        acc = tl.dot(a, b, acc)
        a_tile += BLOCK_K * stride_ak
        b_tile += BLOCK_K * stride_bk

    c_tile = c_ptr + batch * stride_cb + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_tile, acc.to(c_ptr.dtype.element_ty), mask=in_m[:, None] & in_n[None, :])


def batched_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    assert a.dim() == 3 and b.dim() == 3 and a.shape[0] == b.shape[0] and a.shape[2] == b.shape[1]
    B, M, K = a.shape
    N = b.shape[2]
    c = torch.empty((B, M, N), device=a.device, dtype=a.dtype)
    if M <= 64:
        BLOCK_M, BLOCK_N, BLOCK_K, warps, stages = 64, 128, 64, 4, 4
    else:
        BLOCK_M, BLOCK_N, BLOCK_K, warps, stages = 128, 128, 64, 4, 4
    grid = (triton.cdiv(M, BLOCK_M) * triton.cdiv(N, BLOCK_N), B)
    _bmm_kernel[grid](a, b, c, M, N, K,
                      a.stride(0), a.stride(1), a.stride(2), b.stride(0), b.stride(1), b.stride(2),
                      c.stride(0), c.stride(1), c.stride(2),
                      BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K, GROUP_M=8,
                      num_warps=warps, num_stages=stages)
    return c
'''

_SIZE = {"float16": 2, "bfloat16": 2, "float32": 4}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    B, M, N, K = case["B"], case["M"], case["N"], case["K"]
    a = torch.randn((B, M, K), generator=generator, device=device).to(dtype)
    b = torch.randn((B, K, N), generator=generator, device=device).to(dtype)
    return a, b


def reference(a, b):
    return torch.bmm(a, b)


def flops(case):
    return 2 * case["B"] * case["M"] * case["N"] * case["K"]


def bytes_moved(case):
    B, M, N, K = case["B"], case["M"], case["N"], case["K"]
    return B * (M * K + K * N + M * N) * _SIZE[case["dtype"]]
