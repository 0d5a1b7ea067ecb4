# Allocates a terabyte, far beyond the worker's memory limit.
import torch
import triton
import triton.language as tl


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    buffer = torch.empty(2**40, dtype=torch.uint8, device=x.device)
    buffer.fill_(1)
    return x
