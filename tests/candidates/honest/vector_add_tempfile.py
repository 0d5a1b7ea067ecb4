# Writes and reads back a temporary file on every call, as Triton's compiler does with its .ptx and .cubin
# files on a GPU: the sandbox must give it a temporary folder it may write.
import tempfile

import torch
import triton
import triton.language as tl


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with tempfile.NamedTemporaryFile("w+", suffix=".ptx") as scratch:
        scratch.write("512")
        scratch.flush()
        scratch.seek(0)
        block = int(scratch.read())
    out = torch.empty_like(x)
    _add_kernel[(triton.cdiv(out.numel(), block),)](x, y, out, out.numel(), BLOCK=block)
    return out
