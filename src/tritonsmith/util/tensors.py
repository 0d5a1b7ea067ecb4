"""Facts about tensors that the evaluator and the suites' perf calls both check: whether a tensor still holds
what it held, and which memory it lives in. torch is imported where it is needed."""

from __future__ import annotations

from typing import Any


def same(after: Any, before: Any) -> bool:
    """Equal shape, dtype and values, NaN equal to NaN: `after` is unchanged from `before`."""
    import torch
    if after.shape != before.shape or after.dtype != before.dtype:
        return False
    if after.is_floating_point() or after.is_complex():
        return bool(((after == before) | (after.isnan() & before.isnan())).all())
    return bool(torch.equal(after, before))


def storage_ptr(tensor: Any) -> int:
    """The address of the memory a tensor is a view of: two tensors with the same one share memory."""
    return tensor.untyped_storage().data_ptr()
