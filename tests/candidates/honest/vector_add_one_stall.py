# Honest, with one stall: its first call on new inputs after it was called again on the same ones (the first
# call after timing) waits 250 ms, as a machine busy with other work can hold up one call; no other call waits.
import time

import torch
import triton
import triton.language as tl

_state = {"last": None, "repeated": False, "stalled": False}


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    last = _state["last"]
    if last is not None and last.shape == x.shape and torch.equal(last, x):  # (by value: a warm-up's copy too)
        _state["repeated"] = True
    elif _state["repeated"] and not _state["stalled"]:
        _state["stalled"] = True
        time.sleep(0.25)
    _state["last"] = x.clone()
    out = torch.empty_like(x)
    n = out.numel()
    _add_kernel[(triton.cdiv(n, 512),)](x, y, out, n, BLOCK=512)
    return out
