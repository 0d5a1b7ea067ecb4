import math

import torch

ID = "dropout"
KIND = "random"
DIFFICULTY = 2
ENTRY_POINT = "dropout"
SIGNATURE = "def dropout(x: torch.Tensor, p: float, seed: int) -> torch.Tensor"
INSTRUCTION = """\
Seeded (inverted) dropout: each element of x is independently dropped with probability p, and the kept
elements are scaled by 1 / (1 - p):
  out[i] = 0                 with probability p
  out[i] = x[i] / (1 - p)    otherwise
Inputs: x of any shape, contiguous, float32, float16 or bfloat16; p, a Python float in (0, 1); seed, a
Python int.
Output: a new contiguous tensor of x's shape and dtype.
Any good random number generator may be used (e.g. Philox through tl.rand), but whether element i is
dropped must be a deterministic function of (seed, i) alone: not of x's values, of earlier calls or of a
global RNG state. So two calls with the same seed and shape drop exactly the same elements, and different
seeds drop different elements.
How it is checked (the output is random, so it is not compared with one reference output): every element
is 0 or x[i] / (1 - p) within the dtype's rounding; the fraction of dropped elements, overall and in each
eighth of the tensor, is within six standard deviations of p; pairs of neighbouring elements (along the
last dimension and across rows) are dropped together about p^2 of the time; calls with the same seed and
shape drop the same elements, and two cases of the same shape and different seeds drop different ones.
"""
CORRECTNESS_CASES = [
    {"shape": [1, 1], "p": 0.5, "seed": 11, "dtype": "float32"},
    {"shape": [3, 7], "p": 0.3, "seed": 12, "dtype": "float32"},
    {"shape": [9, 1000], "p": 0.1, "seed": 13, "dtype": "float16"},
    {"shape": [40, 257], "p": 0.5, "seed": 14, "dtype": "float32"},
    {"shape": [40, 257], "p": 0.5, "seed": 15, "dtype": "float32"},
    {"shape": [8, 9, 130], "p": 0.25, "seed": 16, "dtype": "float16"},
    {"shape": [33, 768], "p": 0.2, "seed": 17, "dtype": "bfloat16"},
]
PERF_CASES = [
    {"shape": [16384, 8192], "p": 0.1, "seed": 21, "dtype": "float16"},
    {"shape": [8192, 8192], "p": 0.5, "seed": 22, "dtype": "float32"},
    {"shape": [32768, 4096], "p": 0.2, "seed": 23, "dtype": "bfloat16"},
]
FORBIDDEN_OPS = ["native_dropout", "dropout", "bernoulli", "feature_dropout", "alpha_dropout"]

BASELINE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _dropout_kernel(x_ptr, out_ptr, n, p, scale, seed, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0)
    keep = tl.rand(seed, offsets) >= p  # Philox keyed by (seed, element index)
    out = tl.where(keep, x.to(tl.float32) * scale, 0.0)
    tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=mask)


def dropout(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    x = x.contiguous()
    out = torch.empty_like(x)
    n = x.numel()
    if n == 0:
        return out
    BLOCK = 1024
    _dropout_kernel[(triton.cdiv(n, BLOCK),)](x, out, n, p, 1.0 / (1.0 - p), seed, BLOCK=BLOCK, num_warps=4)
    return out
'''

_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
_RTOL = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1.6e-2}
_SIGMAS = 6.0

# Drop masks seen so far in this evaluation, keyed by (shape, p, dtype) then seed: the same seed must
# give the same mask, and different seeds different ones. Each entry is (dropped, decisive) flat bool tensors.
_SEEN: dict = {}


def make_inputs(case, generator, device):
    dtype = getattr(torch, case["dtype"])
    x = torch.randn(case["shape"], generator=generator, device=device).to(dtype)
    return x, float(case["p"]), int(case["seed"])


def reference(x, p, seed):
    # one valid dropout (torch's own generator); check() accepts any generator with the right statistics
    generator = torch.Generator(device=x.device).manual_seed(seed)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return torch.where(keep, x / (1.0 - p), torch.zeros_like(x))


def _outside(count, trials, prob):
    """Whether `count` successes in `trials` is more than _SIGMAS standard deviations from trials * prob."""
    if trials == 0:
        return False
    return abs(count - trials * prob) > _SIGMAS * math.sqrt(trials * prob * (1.0 - prob)) + 1.0


def check(output, expected, args, case):
    x, p, seed = args
    if not isinstance(output, torch.Tensor):
        return f"output is a {type(output).__name__}, expected a torch.Tensor"
    if tuple(output.shape) != tuple(x.shape) or output.dtype != x.dtype:
        return (f"output has shape {list(output.shape)} and dtype {output.dtype}, expected {list(x.shape)} and "
                f"{x.dtype}")
    if output.device.type != x.device.type:
        return f"output is on {output.device}, expected {x.device}"
    out = output.detach().reshape(-1).double()
    scaled = x.reshape(-1).double() / (1.0 - p)
    rtol = _RTOL[case["dtype"]]
    tiny = rtol * 1e-3 * float(scaled.pow(2).mean().sqrt()) if scaled.numel() else 0.0
    zero = out == 0
    kept = (out - scaled).abs() <= rtol * scaled.abs() + tiny
    bad = ~(zero | kept)
    if bool(bad.any()):
        i = int(bad.nonzero()[0].item())
        return (f"{int(bad.sum())} of {out.numel()} elements are neither 0 nor x / (1 - p); first at flat index "
                f"{i}: got {out[i].item():.6g}, x / (1 - p) = {scaled[i].item():.6g}")
    decisive = scaled.abs() > 2 * tiny  # elements where 'dropped' and 'kept' can be told apart
    dropped = zero & decisive
    n = int(decisive.sum())
    if _outside(int(dropped.sum()), n, p):
        return f"dropped {int(dropped.sum())} of {n} elements, expected about {p * n:.0f} (p = {p})"
    if n >= 8000:
        for index, (d_part, n_part) in enumerate(zip(dropped.chunk(8), decisive.chunk(8), strict=True)):
            if _outside(int(d_part.sum()), int(n_part.sum()), p):
                return (f"eighth {index} of the tensor has {int(d_part.sum())} of {int(n_part.sum())} elements "
                        f"dropped, expected about {p * int(n_part.sum()):.0f}: the drops are not spread uniformly")
    lags = {1: "along the last dimension"}
    if len(x.shape) >= 2 and x.shape[-1] < x.numel():
        lags[x.shape[-1]] = "across neighbouring rows"
    for lag, where in lags.items():
        pairs = decisive[:-lag] & decisive[lag:]
        n_pairs = int(pairs.sum())
        both = int((dropped[:-lag] & dropped[lag:] & pairs).sum())
        if n_pairs * p * p >= 20 and _outside(both, n_pairs, p * p):
            return (f"neighbouring elements {where} are both dropped {both} times in {n_pairs} pairs, expected "
                    f"about {n_pairs * p * p:.0f}: the drops are not independent")
    key = (tuple(x.shape), p, case["dtype"])
    seen = _SEEN.setdefault(key, {})
    if seed in seen:
        old_dropped, old_decisive = seen[seed]
        both = decisive & old_decisive
        if bool(((dropped != old_dropped) & both).any()):
            return f"two calls with the same seed ({seed}) and shape dropped different elements"
    else:
        for other_seed, (old_dropped, old_decisive) in seen.items():
            both = decisive & old_decisive
            if int(both.sum()) >= 64 and bool(((dropped == old_dropped) | ~both).all()):
                return f"seeds {other_seed} and {seed} dropped exactly the same elements: the seed is ignored"
        seen[seed] = (dropped, decisive)
    return None


def flops(case):
    # the scaling multiply (random number generation not counted)
    return math.prod(case["shape"])


def bytes_moved(case):
    return 2 * math.prod(case["shape"]) * _SIZE[case["dtype"]]
