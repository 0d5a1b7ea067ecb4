"""Shared by the suite's hand checks: load a built-in task's module, compare with a hand value."""

from __future__ import annotations

import torch

from tritonsmith.suites import builtin_dir
from tritonsmith.util.modules import load_module


def load(task_id: str):
    """The task file executed as a module (trusted code: tests only, never a candidate)."""
    return load_module(f"hand_checked_{task_id}", str(builtin_dir() / f"{task_id}.py"), register=False)


def close(got, want, tol=1e-5):
    want = torch.as_tensor(want, dtype=torch.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert torch.allclose(got.double(), want, atol=tol, rtol=tol), (got, want)
