import torch

ID = "quantize_int8"
KIND = "quantization"
DIFFICULTY = 2
ENTRY_POINT = "quantize_int8"
SIGNATURE = "def quantize_int8(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]"
INSTRUCTION = """\
Symmetric per-row int8 quantization of a 2-D tensor.
Input: x of shape (M, N), contiguous, float32, float16 or bfloat16.
For each row r, in float32:
  amax[r]  = max_j |x[r, j]|
  scale[r] = amax[r] / 127
  q[r, j]  = clamp(round(x[r, j] / scale[r]), -127, 127)
where round is round-half-to-even (as torch.round). A row of zeros has scale 0 and q = 0.
Output: a tuple (q, scale) of new tensors: q of shape (M, N), int8, contiguous; scale of shape (M,),
float32. The check allows q to differ by one from the exact result only where x / scale lies within
1e-4 of a rounding boundary (n + 0.5), since computing x / scale as x * (127 / amax) may land either side;
scale must match to a relative 1e-5.
"""
CORRECTNESS_CASES = [
    {"M": 1, "N": 1, "dtype": "float32"},
    {"M": 3, "N": 7, "dtype": "float32"},
    {"M": 17, "N": 1000, "dtype": "float16"},
    {"M": 32, "N": 513, "zero_rows": True, "dtype": "float32"},
    {"M": 4, "N": 20000, "dtype": "float32"},
    {"M": 8, "N": 100, "zero_rows": True, "dtype": "float16"},
    {"M": 33, "N": 768, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"M": 16384, "N": 8192, "dtype": "float16"},
    {"M": 8192, "N": 8192, "dtype": "float32"},
    {"M": 32768, "N": 4096, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["round", "amax", "aminmax", "quantize_per_channel", "quantize_per_tensor"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _round_half_even(t):
    lower = tl.floor(t)
    frac = t - lower
    lower_is_odd = (lower - 2.0 * tl.floor(lower * 0.5)) == 1.0
    round_up = (frac > 0.5) | ((frac == 0.5) & lower_is_odd)
    return tl.where(round_up, lower + 1.0, lower)


@triton.jit
def _quantize_int8_kernel(x_ptr, q_ptr, scale_ptr, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offset = row.to(tl.int64) * n_cols
    amax_acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + offset + cols, mask=cols < n_cols, other=0.0).to(tl.float32)
        amax_acc = tl.maximum(amax_acc, tl.abs(x))
    amax = tl.max(amax_acc, axis=0)
    scale = amax / 127.0
    tl.store(scale_ptr + row, scale)
    safe_scale = tl.where(amax > 0.0, scale, 1.0)  # a zero row quantizes to zeros
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(x_ptr + offset + cols, mask=mask, other=0.0).to(tl.float32)
        q = tl.minimum(tl.maximum(_round_half_even(x / safe_scale), -127.0), 127.0)
        tl.store(q_ptr + offset + cols, q.to(tl.int8), mask=mask)


def quantize_int8(x: torch.Tensor):
    x = x.contiguous()
    M, N = x.shape
    q = torch.empty((M, N), dtype=torch.int8, device=x.device)
    scale = torch.empty((M,), dtype=torch.float32, device=x.device)
    if M == 0:
        return q, scale
    block = min(triton.next_power_of_2(N), 4096)
    num_warps = min(max(block // 256, 1), 8)
    _quantize_int8_kernel[(M,)](x, q, scale, N, BLOCK=block, num_warps=num_warps)
    return q, scale
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    M, N = case["M"], case["N"]
    x = torch.randn((M, N), generator=generator, device=device) * 4.0
    if case.get("zero_rows"):
        x[::5] = 0.0
    return (x.to(dtype),)


def reference(x):
    xf = x.float()
    amax = xf.abs().amax(dim=-1)
    scale = amax / 127.0
    q = torch.where(amax[:, None] > 0, torch.round(xf / scale[:, None]), 0.0).clamp(-127, 127)
    return q.to(torch.int8), scale


def check(output, expected, args, case):
    if not isinstance(output, (tuple, list)) or len(output) != 2:
        return "must return a tuple (q, scale)"
    q, scale = output
    q_ref, scale_ref = expected
    for name, got, want in (("q", q, q_ref), ("scale", scale, scale_ref)):
        if not isinstance(got, torch.Tensor):
            return f"{name} is a {type(got).__name__}, expected a torch.Tensor"
        if tuple(got.shape) != tuple(want.shape) or got.dtype != want.dtype:
            return (f"{name} has shape {list(got.shape)} and dtype {got.dtype}, expected {list(want.shape)} "
                    f"and {want.dtype}")
        if got.device.type != want.device.type:
            return f"{name} is on {got.device}, expected {want.device}"
    scale_err = (scale.double() - scale_ref.double()).abs()
    bad_scale = ~(scale_err <= 1e-5 * scale_ref.double().abs())
    if bool(bad_scale.any()):
        row = int(bad_scale.nonzero()[0].item())
        return f"scale[{row}] is {scale[row].item():.8g}, expected {scale_ref[row].item():.8g}"
    zero_row = scale_ref == 0
    safe = torch.where(zero_row, torch.ones_like(scale_ref), scale_ref).double()
    exact = args[0].double() / safe[:, None]
    err = (q.double() - exact).abs()
    ok = torch.where(zero_row[:, None], q == 0, err <= 0.5 + 1e-4)
    if not bool(ok.all()):
        bad = (~ok).nonzero()[0].tolist()
        return (f"q differs from the reference in {int((~ok).sum().item())} of {q.numel()} elements; first at "
                f"{bad}: got {q[bad[0], bad[1]].item()}, expected {q_ref[bad[0], bad[1]].item()} "
                f"(x / scale = {exact[bad[0], bad[1]].item():.6f})")
    return None


def flops(case):
    # per element: abs, max, divide, round
    return 4 * case["M"] * case["N"]


def bytes_moved(case):
    M, N = case["M"], case["N"]
    # read x; write q (int8) and scale (float32)
    return M * N * _SIZE[case["dtype"]] + M * N + 4 * M
