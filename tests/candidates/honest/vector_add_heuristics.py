# Block size and an unmasked fast path derived by @triton.heuristics from the arguments.
import torch
import triton
import triton.language as tl


@triton.heuristics({
    "BLOCK": lambda args: min(2048, triton.next_power_of_2(args["n"])),
    "EVEN": lambda args: args["n"] % min(2048, triton.next_power_of_2(args["n"])) == 0,
})
@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    if EVEN:
        tl.store(out_ptr + offsets, tl.load(x_ptr + offsets) + tl.load(y_ptr + offsets))
    else:
        mask = offsets < n
        tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask),
                 mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    n = x.numel()
    block = min(2048, triton.next_power_of_2(n))
    _add_kernel[(triton.cdiv(n, block),)](x, y, out, n)
    return out
