import torch

ID = "rotary"
KIND = "positional"
DIFFICULTY = 2
ENTRY_POINT = "rotary"
SIGNATURE = "def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor"
INSTRUCTION = """\
Apply rotary position embedding (RoPE) to queries or keys, in the half-split ("rotate_half", GPT-NeoX /
Llama) convention: the last dimension of each head is split into a first and a second half, and element i
of the first half is rotated together with element i of the second half.
Inputs: x of shape (B, T, H, D), contiguous, float32, float16 or bfloat16, with D even (batch, sequence
position, head, head dimension); cos and sin of shape (T, D // 2), float32, contiguous: the cosine and sine
of the rotation angle for position t and frequency i.
With h = D // 2, x1 = x[..., :h], x2 = x[..., h:], and c = cos[t, :], s = sin[t, :] for each position t
(broadcast over B and H):
  out[..., :h] = x1 * c - x2 * s
  out[..., h:] = x2 * c + x1 * s
Output: a new contiguous (B, T, H, D) tensor of x's dtype, computed in float32 and rounded once.
"""
CORRECTNESS_CASES = [
    {"B": 1, "T": 1, "H": 1, "D": 2, "dtype": "float32"},
    {"B": 2, "T": 3, "H": 5, "D": 6, "dtype": "float32"},
    {"B": 1, "T": 7, "H": 3, "D": 64, "dtype": "float16"},
    {"B": 2, "T": 17, "H": 4, "D": 128, "dtype": "float32"},
    {"B": 1, "T": 5, "H": 40, "D": 10, "dtype": "float16"},
    {"B": 1, "T": 9, "H": 2, "D": 32, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"B": 4, "T": 4096, "H": 32, "D": 128, "dtype": "float16"},
    {"B": 2, "T": 4096, "H": 32, "D": 128, "dtype": "float32"},
    {"B": 8, "T": 2048, "H": 32, "D": 128, "dtype": "bfloat16"},
]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _rotary_kernel(x_ptr, cos_ptr, sin_ptr, out_ptr, seq_len, n_heads, half,
                   BLOCK_H: tl.constexpr, BLOCK_HALF: tl.constexpr):
    # one program per (batch, position): all heads of that token share one row of cos and sin
    pid = tl.program_id(0)
    t = pid % seq_len
    cols = tl.arange(0, BLOCK_HALF)
    col_mask = cols < half
    c = tl.load(cos_ptr + t * half + cols, mask=col_mask, other=0.0)[None, :]
    s = tl.load(sin_ptr + t * half + cols, mask=col_mask, other=0.0)[None, :]
    token = pid.to(tl.int64) * n_heads * 2 * half
    for h0 in range(0, n_heads, BLOCK_H):
        heads = h0 + tl.arange(0, BLOCK_H)
        mask = (heads[:, None] < n_heads) & col_mask[None, :]
        first = token + heads[:, None] * (2 * half) + cols[None, :]
        x1 = tl.load(x_ptr + first, mask=mask, other=0.0).to(tl.float32)
        x2 = tl.load(x_ptr + first + half, mask=mask, other=0.0).to(tl.float32)
        tl.store(out_ptr + first, (x1 * c - x2 * s).to(out_ptr.dtype.element_ty), mask=mask)
        tl.store(out_ptr + first + half, (x2 * c + x1 * s).to(out_ptr.dtype.element_ty), mask=mask)


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x, cos, sin = x.contiguous(), cos.contiguous(), sin.contiguous()
    B, T, H, D = x.shape
    out = torch.empty_like(x)
    if x.numel() == 0:
        return out
    half = D // 2
    block_half = triton.next_power_of_2(half)
    block_h = min(triton.next_power_of_2(H), max(1, 4096 // block_half))
    _rotary_kernel[(B * T,)](x, cos, sin, out, T, H, half, BLOCK_H=block_h, BLOCK_HALF=block_half, num_warps=4)
    return out
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    B, T, H, D = case["B"], case["T"], case["H"], case["D"]
    half = D // 2
    x = torch.randn((B, T, H, D), generator=generator, device=device).to(dtype)
    inv_freq = 10000.0 ** (-torch.arange(half, device=device, dtype=torch.float64) / half)
    angles = torch.arange(T, device=device, dtype=torch.float64)[:, None] * inv_freq[None, :]
    return x, torch.cos(angles).float(), torch.sin(angles).float()


def reference(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1).to(x.dtype)


def flops(case):
    # two multiplies and one add or subtract per output element
    return 3 * case["B"] * case["T"] * case["H"] * case["D"]


def bytes_moved(case):
    B, T, H, D = case["B"], case["T"], case["H"], case["D"]
    # read and write x once; cos and sin (T, D / 2) in float32 once
    return 2 * B * T * H * D * _SIZE[case["dtype"]] + 2 * T * (D // 2) * 4
