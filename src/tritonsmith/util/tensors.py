"""Facts about tensors that the evaluator and the suites' perf calls both check: whether a tensor still holds
what it held, which memory it lives in, and whether an error was the GPU's memory running short. torch is
imported where it is needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc`, or an error it was raised from, is the GPU running short of memory (torch's error, or a
    message that says so)."""
    import torch
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, torch.OutOfMemoryError) or "out of memory" in str(seen).lower():
            return True
        seen = seen.__cause__
    return False


def same(after: Any, before: Any) -> bool:
    """Equal shape, dtype and values, NaN equal to NaN: `after` is unchanged from `before` (wherever it is: it
    is compared on `before`'s device). Anything but a tensor is not the same."""
    import torch
    if not isinstance(after, torch.Tensor) or after.shape != before.shape or after.dtype != before.dtype:
        return False
    after = after.to(before.device)
    if after.is_floating_point() or after.is_complex():
        return bool(((after == before) | (after.isnan() & before.isnan())).all())
    return bool(torch.equal(after, before))


def storage_ptr(tensor: Any) -> int:
    """The address of the memory a tensor is a view of: two tensors with the same one share memory."""
    return tensor.untyped_storage().data_ptr()


def map_tensors(value: Any, function: Callable[[str, Any], Any], path: str = "returned") -> Any:
    """`value` with each tensor in it (in lists, tuples, dicts) replaced by `function(its path, it)`."""
    import torch
    if isinstance(value, torch.Tensor):
        return function(path, value)
    if isinstance(value, list):
        return [map_tensors(v, function, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        items = [map_tensors(v, function, f"{path}[{i}]") for i, v in enumerate(value)]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, dict):
        return {k: map_tensors(v, function, f"{path}[{k!r}]") for k, v in value.items()}
    return value
