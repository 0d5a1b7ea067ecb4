import torch

ID = "flash_attention_causal"
KIND = "attention"
DIFFICULTY = 4
ENTRY_POINT = "flash_attention_causal"
SIGNATURE = ("def flash_attention_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sm_scale: float) "
             "-> torch.Tensor")
INSTRUCTION = """\
Write a Triton causal self-attention forward pass (FlashAttention style):
out[b, h, i] = sum_{j <= i} softmax_j(sm_scale * q[b, h, i] . k[b, h, j]) * v[b, h, j],
the softmax taken over the keys j = 0..i only (query i never sees later keys).
Inputs: q, k and v of shape (B, H, T, D), contiguous, same dtype (float16 or bfloat16), on the
GPU; sm_scale, a Python float (often, but not always, 1/sqrt(D)). Queries and keys have the same
length T, which is arbitrary (not a multiple of any block size; T may be 1). D is one of
16, 32, 64, 128.
Output: a new (B, H, T, D) tensor of the inputs' dtype. Compute it in one pass over the keys with
an online softmax (running row max and sum in float32), never materializing the T x T scores in
memory, and skip the key blocks that the causal mask removes entirely.
"""
CORRECTNESS_CASES = [
    {"B": 1, "H": 1, "T": 1, "D": 16, "dtype": "float16"},
    {"B": 2, "H": 3, "T": 37, "D": 64, "dtype": "float16"},
    {"B": 1, "H": 2, "T": 130, "D": 32, "dtype": "float16", "sm_scale": 0.3},
    {"B": 1, "H": 1, "T": 100, "D": 128, "dtype": "float16"},
    {"B": 2, "H": 2, "T": 77, "D": 64, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"B": 4, "H": 16, "T": 2048, "D": 64, "dtype": "float16"},
    {"B": 4, "H": 16, "T": 2048, "D": 64, "dtype": "bfloat16"},
    {"B": 2, "H": 16, "T": 4096, "D": 128, "dtype": "float16"},
]
# Both the reference and a flash kernel round the probabilities to the input dtype before P @ V.
TOLERANCES = {"float16": {"atol": 5e-3, "rtol": 5e-3}, "bfloat16": {"atol": 3e-2, "rtol": 3e-2}}
# the score product and the softmax must happen in the kernel
FORBIDDEN_OPS = ["exp", "exp2", "amax", "max"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _causal_attn_kernel(q_ptr, k_ptr, v_ptr, o_ptr, qk_scale, H, T,
                        stride_qb, stride_qh, stride_qt, stride_qd,
                        stride_kb, stride_kh, stride_kt, stride_kd,
                        stride_vb, stride_vh, stride_vt, stride_vd,
                        stride_ob, stride_oh, stride_ot, stride_od,
                        D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # one program: BLOCK_M consecutive queries of one (batch, head)
    start_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // H).to(tl.int64)
    h = (bh % H).to(tl.int64)
    q_base = q_ptr + b * stride_qb + h * stride_qh
    k_base = k_ptr + b * stride_kb + h * stride_kh
    v_base = v_ptr + b * stride_vb + h * stride_vh

    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, D)
    row_ok = offs_m < T
    q = tl.load(q_base + offs_m[:, None] * stride_qt + offs_d[None, :] * stride_qd,
                mask=row_ok[:, None], other=0.0)

    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)  # running max, in log2 units
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)                 # running sum of exp2
    acc = tl.zeros((BLOCK_M, D), dtype=tl.float32)

    # 1) key blocks entirely before this query block: no mask needed (and all keys are < T)
    diag_start = start_m * BLOCK_M
    for start_n in range(0, diag_start, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        kt = tl.load(k_base + offs_n[None, :] * stride_kt + offs_d[:, None] * stride_kd)
        s = tl.dot(q, kt) * qk_scale
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(v_base + offs_n[:, None] * stride_vt + offs_d[None, :] * stride_vd)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new

    # 2) key blocks on the diagonal: apply the causal mask (which also hides keys >= T for real rows)
    diag_end = tl.minimum(diag_start + BLOCK_M, T)
    for start_n in range(diag_start, diag_end, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        key_ok = offs_n < T
        kt = tl.load(k_base + offs_n[None, :] * stride_kt + offs_d[:, None] * stride_kd,
                     mask=key_ok[None, :], other=0.0)
        s = tl.dot(q, kt) * qk_scale
        s = tl.where(offs_m[:, None] >= offs_n[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(v_base + offs_n[:, None] * stride_vt + offs_d[None, :] * stride_vd,
                    mask=key_ok[:, None], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new

    out = acc / l_i[:, None]
    o_base = o_ptr + b * stride_ob + h * stride_oh
    tl.store(o_base + offs_m[:, None] * stride_ot + offs_d[None, :] * stride_od,
             out.to(o_ptr.dtype.element_ty), mask=row_ok[:, None])


def flash_attention_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sm_scale: float) -> torch.Tensor:
    assert q.shape == k.shape == v.shape and q.dim() == 4
    B, H, T, D = q.shape
    assert D in (16, 32, 64, 128)
    out = torch.empty_like(q)
    BLOCK_M, BLOCK_N = 128, 64
    warps = 8 if D == 128 else 4
    grid = (triton.cdiv(T, BLOCK_M), B * H)
    _causal_attn_kernel[grid](q, k, v, out, sm_scale * 1.4426950408889634, H, T,
                              *q.stride(), *k.stride(), *v.stride(), *out.stride(),
                              D=D, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=warps, num_stages=3)
    return out
'''

_SIZE = {"float16": 2, "bfloat16": 2, "float32": 4}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    shape = (case["B"], case["H"], case["T"], case["D"])
    q = torch.randn(shape, generator=generator, device=device).to(dtype)
    k = torch.randn(shape, generator=generator, device=device).to(dtype)
    v = torch.randn(shape, generator=generator, device=device).to(dtype)
    return q, k, v, float(case.get("sm_scale", case["D"] ** -0.5))


def reference(q, k, v, sm_scale):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=sm_scale)


def flops(case):
    # QK^T and PV over the T(T+1)/2 unmasked (query, key) pairs, 2 flops per multiply-add each
    B, H, T, D = case["B"], case["H"], case["T"], case["D"]
    return 4 * B * H * D * (T * (T + 1) // 2)


def bytes_moved(case):
    return 4 * case["B"] * case["H"] * case["T"] * case["D"] * _SIZE[case["dtype"]]
