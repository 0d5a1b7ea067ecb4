# Never returns: spins forever inside the entry point.
import torch
import triton
import triton.language as tl


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    while True:
        pass
