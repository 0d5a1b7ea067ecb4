"""Shared by the suite's hand checks: load a built-in task's module, compare with a hand value."""

from __future__ import annotations

import importlib.util

import torch

from tritonsmith.suites import builtin_dir


def load(task_id: str):
    """The task file executed as a module (trusted code: tests only, never a candidate)."""
    spec = importlib.util.spec_from_file_location(f"hand_checked_{task_id}", builtin_dir() / f"{task_id}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def close(got, want, tol=1e-5):
    want = torch.as_tensor(want, dtype=torch.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert torch.allclose(got.double(), want, atol=tol, rtol=tol), (got, want)
