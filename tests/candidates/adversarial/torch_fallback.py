# Computes the sum with torch and launches no kernel at all.
import torch


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x + y
