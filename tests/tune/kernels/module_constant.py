# a module-level constant passed positionally; num_warps from a conditional expression with two literals
import torch
import triton
import triton.language as tl

BLOCK_SIZE = 512


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    n = x.numel()
    warps = 8 if n >= 1 << 20 else 4
    grid = (triton.cdiv(n, BLOCK_SIZE),)
    _add_kernel[grid](x, y, out, n, BLOCK_SIZE, num_warps=warps)
    return out
