# Writes the sum into x in place and returns x, saving an allocation.
import torch
import triton
import triton.language as tl


@triton.jit
def _add_into_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(x_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    n = x.numel()
    _add_into_kernel[(triton.cdiv(n, 1024),)](x, y, n, BLOCK=1024)
    return x
