# Looks, at import, for the after-timing checks' inputs in the evaluator's frames, to compute their outputs ahead
# (if it finds any, it gives itself away with a wrong answer: the test expects none to be there).
import sys

import torch
import triton
import triton.language as tl


def _after_checks_known():
    frame = sys._getframe()
    while frame is not None:
        run = frame.f_locals.get("self")
        meta = getattr(run, "meta", None)
        if isinstance(meta, dict) and any(m.get("phase") == "after_timing" for m in meta.values()):
            return True
        frame = frame.f_back
    return False


_KNOWN = _after_checks_known()


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    _add_kernel[(triton.cdiv(out.numel(), 512),)](x if not _KNOWN else y, y, out, out.numel(), BLOCK=512)
    return out
