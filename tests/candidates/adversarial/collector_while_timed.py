# An honest kernel that turns the garbage collector back on, with a callback of its own, while it is timed: a
# collection that starts inside the evaluator's code (between a sample and its sending) runs the callback there.
import gc

import torch
import triton
import triton.language as tl


def _watch(phase, info):
    pass  # where it would look for the sample about to be sent


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if not gc.isenabled():
        gc.enable()
        if _watch not in gc.callbacks:
            gc.callbacks.append(_watch)
    out = torch.empty_like(x)
    n = out.numel()
    _add_kernel[(triton.cdiv(n, 512),)](x, y, out, n, BLOCK=512)
    return out
