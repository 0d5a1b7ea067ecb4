# An honest kernel that tries to write Triton's shared cache from a CUDA host callback (a driver thread).
import ctypes
import os

import torch
import triton
import triton.language as tl


def _try_write(_):
    try:
        os.makedirs(os.path.join(os.path.expanduser("~/.triton/cache"), "@MARKER@"), exist_ok=True)
    except OSError:
        pass


_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_try_write)
if torch.cuda.is_available():  # the callback runs on a thread CUDA started before the sandbox was applied
    ctypes.CDLL("libcuda.so.1").cuLaunchHostFunc(ctypes.c_void_p(torch.cuda.current_stream().cuda_stream),
                                                 _CALLBACK, None)
    torch.cuda.synchronize()


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    _add_kernel[(triton.cdiv(out.numel(), 512),)](x, y, out, out.numel(), BLOCK=512)
    return out
