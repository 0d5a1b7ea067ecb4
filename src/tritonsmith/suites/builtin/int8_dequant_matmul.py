import torch

ID = "int8_dequant_matmul"
KIND = "quantization"
DIFFICULTY = 3
ENTRY_POINT = "int8_dequant_matmul"
SIGNATURE = ("def int8_dequant_matmul(a: torch.Tensor, w_q: torch.Tensor, w_scale: torch.Tensor) "
             "-> torch.Tensor")
INSTRUCTION = """\
Write a Triton weight-only int8 matmul: out = a @ W, where W is the dequantized weight
W[k, n] = w_q[k, n] * w_scale[n] (symmetric per-output-channel quantization).
Inputs: a, float16 activations of shape (M, K), contiguous; w_q, int8 weights of shape (K, N),
contiguous, values in [-127, 127]; w_scale, float32 per-column scales of shape (N,). All on the GPU.
Sizes are arbitrary positive integers (M may be 1 or 16, as in decoding).
Output: a new float16 (M, N) tensor. The reference dequantizes W to float16 and multiplies with
float32 accumulation; dequantize inside the kernel (never materialize W in memory) and accumulate
in float32. Applying the scale to the accumulator in the epilogue is fine: it is within tolerance.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 70, "K": 64, "dtype": "float16"},
    {"M": 16, "N": 33, "K": 100, "dtype": "float16"},
    {"M": 77, "N": 96, "K": 45, "dtype": "float16"},
    {"M": 40, "N": 1, "K": 129, "dtype": "float16"},
]
PERF_CASES = [
    {"M": 16, "N": 8192, "K": 8192, "dtype": "float16"},
    {"M": 4096, "N": 4096, "K": 4096, "dtype": "float16"},
]
# The reference rounds every dequantized weight to float16; a kernel that scales the float32
# accumulator instead differs by about 2^-11 of the output's RMS. Plus output rounding.
TOLERANCES = {"float16": {"atol": 1e-2, "rtol": 1e-2}}

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _w8_matmul_kernel(a_ptr, w_ptr, scale_ptr, c_ptr, M, N, K,
                      stride_am, stride_ak, stride_wk, stride_wn, stride_cm, stride_cn,
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
    w_tile = w_ptr + offs_k[:, None] * stride_wk + offs_n[None, :] * stride_wn

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        in_k = offs_k < K - k0
        a = tl.load(a_tile, mask=in_m[:, None] & in_k[None, :], other=0.0)
        w = tl.load(w_tile, mask=in_k[:, None] & in_n[None, :], other=0)
        # int8 values are exact in float16; the per-column scale is applied once, after the loop
        acc = tl.dot(a, w.to(tl.float16), acc)
        a_tile += BLOCK_K * stride_ak
        w_tile += BLOCK_K * stride_wk

    scale = tl.load(scale_ptr + offs_n, mask=in_n, other=0.0)
    out = acc * scale[None, :]
    c_tile = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_tile, out.to(c_ptr.dtype.element_ty), mask=in_m[:, None] & in_n[None, :])


def int8_dequant_matmul(a: torch.Tensor, w_q: torch.Tensor, w_scale: torch.Tensor) -> torch.Tensor:
    assert a.dim() == 2 and w_q.dim() == 2 and a.shape[1] == w_q.shape[0] and w_q.dtype == torch.int8
    M, K = a.shape
    N = w_q.shape[1]
    w_scale = w_scale.contiguous()
    c = torch.empty((M, N), device=a.device, dtype=a.dtype)
    if M <= 16:  # decoding: weight-bandwidth bound, so keep many column tiles in flight
        BLOCK_M, BLOCK_N, BLOCK_K, warps, stages = 16, 64, 256, 4, 4
    elif M <= 64:
        BLOCK_M, BLOCK_N, BLOCK_K, warps, stages = 64, 128, 64, 4, 4
    else:
        BLOCK_M, BLOCK_N, BLOCK_K, warps, stages = 128, 128, 64, 8, 4
    grid = (triton.cdiv(M, BLOCK_M) * triton.cdiv(N, BLOCK_N),)
    _w8_matmul_kernel[grid](a, w_q, w_scale, c, M, N, K,
                            a.stride(0), a.stride(1), w_q.stride(0), w_q.stride(1), c.stride(0), c.stride(1),
                            BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K, GROUP_M=8,
                            num_warps=warps, num_stages=stages)
    return c
'''


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, N, K = case["M"], case["N"], case["K"]
    a = torch.randn((M, K), generator=generator, device=device).to(dtype)
    w_q = torch.randint(-127, 128, (K, N), generator=generator, device=device, dtype=torch.int8)
    # scales so that dequantized weights are O(1), spread over a factor of 3 between columns
    w_scale = (0.5 + torch.rand((N,), generator=generator, device=device)) / 127.0
    return a, w_q, w_scale


def reference(a, w_q, w_scale):
    return a @ (w_q.float() * w_scale[None, :]).to(a.dtype)


def flops(case):
    return 2 * case["M"] * case["N"] * case["K"]


def bytes_moved(case):
    M, N, K = case["M"], case["N"], case["K"]
    return M * K * 2 + K * N + N * 4 + M * N * 2
