# A slow kernel (6 ms a call more than it needs) that has each timed sample start late, after two thirds of its
# work: it walks up its stack to the timer's sample and, on a GPU, records the sample's start event again; on the
# host clock (no GPU), it sets the sample's start time to now. Each sample then reports a third of the call, and
# its first call on new inputs (timed whole) is only three times its timed calls: not enough to be seen as reuse.
import ctypes
import sys
import time

import torch
import triton
import triton.language as tl


def _set_local(frame, name, value) -> None:
    if sys.version_info >= (3, 13):
        frame.f_locals[name] = value  # write-through since 3.13
        return
    frame.f_locals[name] = value
    ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))


def _start_the_sample_now() -> None:
    frame = sys._getframe(2)
    while frame is not None:
        names = frame.f_locals
        if frame.f_code.co_name == "_sample" and "events" in names:  # the GPU's: per call or batched
            events, batched = names["events"], names.get("batched")
            events[0 if batched else 2 * names.get("index", 0)].record()
            return
        if frame.f_code.co_name == "sample" and "started" in names:  # the host clock's
            _set_local(frame, "started", time.perf_counter())
            return
        frame = frame.f_back


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    time.sleep(0.004)
    out = torch.empty_like(x)
    n = out.numel()
    _add_kernel[(triton.cdiv(n, 512),)](x, y, out, n, BLOCK=512)
    _start_the_sample_now()
    time.sleep(0.002)
    return out
