# two kernels share one block-size variable; a jit helper takes the tl.arange extent; ALPHA is not a block size
import torch
import triton
import triton.language as tl


@triton.jit
def _block_offsets(pid, BLOCK: tl.constexpr):
    return pid * BLOCK + tl.arange(0, BLOCK)


@triton.jit
def _copy_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = _block_offsets(tl.program_id(0), BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask), mask=mask)


@triton.jit
def _accumulate_kernel(y_ptr, out_ptr, n, ALPHA: tl.constexpr, TILE: tl.constexpr):
    offsets = _block_offsets(tl.program_id(0), TILE)
    mask = offsets < n
    total = tl.load(out_ptr + offsets, mask=mask) + ALPHA * tl.load(y_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, total, mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    n = x.numel()
    block = 512
    grid = (triton.cdiv(n, block),)
    _copy_kernel[grid](x, out, n, BLOCK=block, num_warps=4)
    _accumulate_kernel[grid](y, out, n, ALPHA=1, TILE=block)
    return out
