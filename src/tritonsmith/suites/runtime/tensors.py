"""Walking the nested values that tests and perf ops take and return (lists, tuples, dicts) for their tensors:
copying them, listing them by path, mapping over them, and turning NumPy arrays into tensors. torch is
imported inside the functions."""

from __future__ import annotations

from typing import Any


def as_tensors(value: Any) -> Any:
    """A test's results with NumPy arrays as tensors, in the dicts, lists and tuples that hold them, so that
    they are compared under tolerances like the tensors (several TritonBench-G tests return `.numpy()`).
    Each is a copy, as `.cpu().numpy()` of a GPU tensor is: no two results share memory."""
    import numpy
    import torch
    if isinstance(value, numpy.ndarray):
        return torch.tensor(value) if value.dtype.kind in "biufc" else value.tolist()
    if isinstance(value, dict):
        return {key: as_tensors(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(as_tensors(item) for item in value)
    return value


def copy_value(value: Any, memo: dict[int, Any]) -> Any:
    """Tensors cloned (detached, requires_grad kept), containers rebuilt, modules deep-copied; a tensor met
    twice is cloned once (memo: id of the original -> its copy)."""
    import copy

    import torch
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, torch.Tensor):
        result = value.detach().clone()
        if value.requires_grad:
            result.requires_grad_(True)
    elif isinstance(value, list):
        result = [copy_value(v, memo) for v in value]
    elif isinstance(value, tuple):
        items = [copy_value(v, memo) for v in value]
        result = type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    elif isinstance(value, dict):
        result = {k: copy_value(v, memo) for k, v in value.items()}
    elif isinstance(value, torch.nn.Module):
        result = copy.deepcopy(value)
    else:
        return value
    memo[id(value)] = result
    return result


def tensors_in(value: Any, path: str):
    """(path, tensor) of every tensor in nested lists, tuples and dicts, e.g. ('input[1]', y)."""
    import torch
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from tensors_in(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from tensors_in(item, f"{path}[{key!r}]")
