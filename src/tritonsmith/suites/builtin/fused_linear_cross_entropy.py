import torch

ID = "fused_linear_cross_entropy"
KIND = "fused"
DIFFICULTY = 4
ENTRY_POINT = "fused_linear_cross_entropy"
SIGNATURE = ("def fused_linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) "
             "-> torch.Tensor")
INSTRUCTION = """\
Write a fused language-model head + cross-entropy forward in Triton: the per-row loss of the
logits hidden @ weight.T against integer targets, without ever writing the logits to memory.
loss[i] = logsumexp_j(z[i, j]) - z[i, targets[i]], where z = hidden @ weight.T.
Inputs: hidden of shape (M, K) (M token positions, K model width) and weight of shape (V, K)
(the vocabulary projection in nn.Linear layout: one row per vocabulary entry), both contiguous,
same dtype (float16 or bfloat16); targets of shape (M,), int64, every value in [0, V). All on the
GPU. M, K and V are arbitrary (V is a vocabulary size such as 32000 or 50257, not a multiple of
any tile; M may be 1).
Output: a new float32 tensor of shape (M,), the unreduced losses. Accumulate the logits in
float32 and keep them in float32 for the log-sum-exp (the reference rounds them to the input
dtype first; the tolerance covers that). The (M, V) logits must not be materialized: stream over
the vocabulary with a running max and sum (online log-sum-exp), splitting V across programs and
merging their partial results when M alone gives too little parallelism.
"""
CORRECTNESS_CASES = [
    {"M": 1, "K": 16, "V": 10, "dtype": "float16"},
    {"M": 37, "K": 64, "V": 300, "dtype": "float16"},
    {"M": 100, "K": 48, "V": 1000, "dtype": "float16"},
    {"M": 20, "K": 33, "V": 129, "dtype": "float16"},
    {"M": 50, "K": 40, "V": 500, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 4096, "K": 2048, "V": 32000, "dtype": "float16"},
    {"M": 2048, "K": 4096, "V": 50257, "dtype": "bfloat16"},
]
# The output is float32 whatever the input dtype. The reference rounds each logit to the input
# dtype (bfloat16: up to about 0.01 for logits of size 3) before the log-sum-exp, so the float32
# tolerance is loosened to cover that; losses are about log(V) ~ 10.
TOLERANCES = {"float32": {"atol": 2e-3, "rtol": 2e-3}}
# the log-sum-exp must be fused into the matmul kernel, not done by PyTorch on materialized logits
FORBIDDEN_OPS = ["exp", "exp2", "log", "logsumexp", "amax", "max", "gather"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _lce_partial_kernel(h_ptr, w_ptr, tgt_ptr, m_part_ptr, s_part_ptr, t_part_ptr, M, K, V, tiles_per_split,
                        stride_hm, stride_hk, stride_wv, stride_wk,
                        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # program (row tile, vocabulary split): for BLOCK_M rows, the running max and sum of exp over
    # the split's logits (in log2 units), and the target logit if the split holds it.
    # Row tiles vary fastest, so programs running together share the split's weight rows in L2.
    pid_m = tl.program_id(0)
    split = tl.program_id(1)
    LOG2E: tl.constexpr = 1.4426950408889634
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    in_m = offs_m < M
    tgt = tl.load(tgt_ptr + offs_m, mask=in_m, other=-1)
    offs_k = tl.arange(0, BLOCK_K)

    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    s_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    t_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    n_begin = split * tiles_per_split * BLOCK_N
    n_end = tl.minimum(n_begin + tiles_per_split * BLOCK_N, V)
    for n0 in range(n_begin, n_end, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        in_n = offs_n < V
        h_tile = h_ptr + offs_m[:, None] * stride_hm + offs_k[None, :] * stride_hk
        w_tile = w_ptr + offs_n[None, :] * stride_wv + offs_k[:, None] * stride_wk  # (BLOCK_K, BLOCK_N) view of W^T
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, K, BLOCK_K):
            in_k = offs_k < K - k0
            a = tl.load(h_tile, mask=in_m[:, None] & in_k[None, :], other=0.0)
            b = tl.load(w_tile, mask=in_k[:, None] & in_n[None, :], other=0.0)
            acc = tl.dot(a, b, acc)
            h_tile += BLOCK_K * stride_hk
            w_tile += BLOCK_K * stride_wk
        z = tl.where(in_n[None, :], acc * LOG2E, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(z, axis=1))
        s_i = s_i * tl.exp2(m_i - m_new) + tl.sum(tl.exp2(z - m_new[:, None]), axis=1)
        m_i = m_new
        t_i += tl.sum(tl.where(offs_n[None, :] == tgt[:, None], acc, 0.0), axis=1)

    part = split * M + offs_m
    tl.store(m_part_ptr + part, m_i, mask=in_m)
    tl.store(s_part_ptr + part, s_i, mask=in_m)
    tl.store(t_part_ptr + part, t_i, mask=in_m)


@triton.jit
def _lce_combine_kernel(m_part_ptr, s_part_ptr, t_part_ptr, loss_ptr, M, num_splits,
                        BLOCK_M: tl.constexpr, BLOCK_S: tl.constexpr):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_s = tl.arange(0, BLOCK_S)
    ok = (offs_m[:, None] < M) & (offs_s[None, :] < num_splits)
    part = offs_s[None, :] * M + offs_m[:, None]
    m = tl.load(m_part_ptr + part, mask=ok, other=float("-inf"))
    s = tl.load(s_part_ptr + part, mask=ok, other=0.0)
    t = tl.load(t_part_ptr + part, mask=ok, other=0.0)
    m_all = tl.max(m, axis=1)
    m_all = tl.where(m_all == float("-inf"), 0.0, m_all)  # rows past M: keep the math finite
    total = tl.sum(tl.where(ok, s * tl.exp2(m - m_all[:, None]), 0.0), axis=1)
    lse = (m_all + tl.log2(total)) * 0.6931471805599453
    tl.store(loss_ptr + offs_m, lse - tl.sum(t, axis=1), mask=offs_m < M)


def fused_linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    M, K = hidden.shape
    V = weight.shape[0]
    assert weight.shape[1] == K and targets.shape == (M,)
    targets = targets.contiguous()
    if M <= 64:
        BLOCK_M, BLOCK_N, BLOCK_K, warps, stages = 64, 128, 64, 4, 4
    else:
        BLOCK_M, BLOCK_N, BLOCK_K, warps, stages = 128, 128, 64, 8, 3
    sms = torch.cuda.get_device_properties(hidden.device).multi_processor_count if hidden.is_cuda else 132
    tiles_m = triton.cdiv(M, BLOCK_M)
    tiles_n = triton.cdiv(V, BLOCK_N)
    # split the vocabulary so that there are about two programs per SM; every split is non-empty
    wanted = max(1, min(tiles_n, triton.cdiv(2 * sms, tiles_m)))
    tiles_per_split = triton.cdiv(tiles_n, wanted)
    num_splits = triton.cdiv(tiles_n, tiles_per_split)

    parts = torch.empty((3, num_splits, M), device=hidden.device, dtype=torch.float32)
    loss = torch.empty((M,), device=hidden.device, dtype=torch.float32)
    _lce_partial_kernel[(tiles_m, num_splits)](
        hidden, weight, targets, parts[0], parts[1], parts[2], M, K, V, tiles_per_split,
        hidden.stride(0), hidden.stride(1), weight.stride(0), weight.stride(1),
        BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K, num_warps=warps, num_stages=stages)
    BLOCK_S = triton.next_power_of_2(num_splits)
    ROWS = max(1, min(64, 4096 // BLOCK_S))
    _lce_combine_kernel[(triton.cdiv(M, ROWS),)](parts[0], parts[1], parts[2], loss, M, num_splits,
                                                 BLOCK_M=ROWS, BLOCK_S=BLOCK_S, num_warps=4)
    return loss
'''

_SIZE = {"float16": 2, "bfloat16": 2, "float32": 4}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, K, V = case["M"], case["K"], case["V"]
    hidden = torch.randn((M, K), generator=generator, device=device).to(dtype)
    # scaled so that the logits are about N(0, 1), as for a trained head
    weight = (torch.randn((V, K), generator=generator, device=device) * K ** -0.5).to(dtype)
    targets = torch.randint(0, V, (M,), generator=generator, device=device)
    return hidden, weight, targets


def reference(hidden, weight, targets):
    logits = (hidden @ weight.t()).float()
    return torch.nn.functional.cross_entropy(logits, targets, reduction="none")


def flops(case):
    # the logits' matmul dominates; the online log-sum-exp adds a few flops per logit
    return 2 * case["M"] * case["K"] * case["V"]


def bytes_moved(case):
    M, K, V = case["M"], case["K"], case["V"]
    return (M * K + V * K) * _SIZE[case["dtype"]] + M * 8 + M * 4
