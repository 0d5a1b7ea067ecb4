# Dereferences a null pointer, killing the worker with SIGSEGV.
import ctypes

import torch
import triton
import triton.language as tl


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    ctypes.string_at(0)
    return x
