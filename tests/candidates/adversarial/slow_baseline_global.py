# An honest kernel that slows the baseline through a plain global it reads at each call (no guard watches those).
import sys

import torch
import triton
import triton.language as tl


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


_baseline = sys.modules.get("tritonsmith_baseline")
if _baseline is not None and hasattr(_baseline, "BLOCK_SIZE"):
    _baseline.BLOCK_SIZE = 16  # 64x the programs, each doing 1/64 of the work


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    n = x.numel()
    _add_kernel[(triton.cdiv(n, 1024),)](x, y, out, n, BLOCK=1024)
    return out
