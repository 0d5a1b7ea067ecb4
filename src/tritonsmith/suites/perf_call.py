"""Calls of a suite's perf op on copies of its inputs, and what each perf input's maker noted about it:
shared by GEAK-eval's perf scripts (suites/geak_perf.py) and GEAK's ROCm perf tests (suites/rocm_perf.py).
Runs in the evaluator's worker and its reference keeper; torch is imported inside the functions.

A perf op is judged by `{"returned": what it returned, "written": the input tensors it changed, by path}`,
as GEAK's ops often write into their arguments and return nothing. The first call with a given marker
tensor runs on a fresh copy of the inputs, made before the call; later calls with the same marker (the
timed calls: the evaluator passes the same arguments to each) reuse that copy, so no copying is timed.
Those calls return the first call's 'written' tensors, and in place of any returned tensor that shares
memory with the inputs its value after the first call: an op that updates its input in place drifts from
one timed call to the next, and only its first call can match the reference's single call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (where the perf inputs come from, which input) -> what their maker noted: "flops", "bytes", "inputs". Filled
# where an input is made and where one arrives from the reference keeper (PerfInput.__setstate__), read by
# the task's flops, bytes_moved and perf_evidence, which the worker calls with the case alone.
_FACTS: dict[tuple[str, Any], dict[str, Any]] = {}


def note_facts(source: str, key: Any, facts: dict[str, Any]) -> None:
    _FACTS[(source, key)] = dict(facts)


def facts_of(source: str, key: Any) -> dict[str, Any] | None:
    return _FACTS.get((source, key))


class CallState:
    """What the first call with one marker left: the working copy it ran on, what it wrote, and the
    returned tensors that share memory with the copy, as they were after that call."""

    def __init__(self, work: Any, written: dict[str, Any], kept: dict[str, Any]):
        self.work, self.written, self.kept = work, written, kept


def call_on_copy(marker: Any, key: str, prepare: Callable[[], tuple[Any, list[tuple[str, Any, Any]]]],
                 run: Callable[[Any], Any]) -> dict[str, Any]:
    """{'returned', 'written'} of `run(work)`. `prepare()` makes the working copy of the inputs and lists its
    tensors as (path, original, copy); it is called once per marker (see the module's docstring)."""
    state = getattr(marker, key, None)
    if state is not None:
        returned = run(state.work)
        return {"returned": map_tensors(returned, lambda path, t: state.kept.get(path, t)),
                "written": dict(state.written)}
    work, inputs = prepare()
    returned = run(work)
    written = {path: copy.detach().clone() for path, original, copy in inputs if not same(copy, original)}
    storages = {storage(copy) for _, _, copy in inputs if copy.numel()}
    kept: dict[str, Any] = {}

    def keep(path: str, tensor: Any) -> Any:
        if tensor.numel() and storage(tensor) in storages:
            kept[path] = tensor.detach().clone()
            return kept[path]
        return tensor
    returned = map_tensors(returned, keep)
    try:
        setattr(marker, key, CallState(work, written, kept))
    except (AttributeError, TypeError):  # not a tensor: every call gets a fresh copy
        pass
    return {"returned": returned, "written": dict(written)}


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


def map_tensors(value: Any, function: Callable[[str, Any], Any], path: str = "returned") -> Any:
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


def storage(tensor: Any) -> int:
    return tensor.untyped_storage().data_ptr()


def same(after: Any, before: Any) -> bool:
    import torch
    if after.shape != before.shape or after.dtype != before.dtype:
        return False
    if after.is_floating_point() or after.is_complex():
        return bool(((after == before) | (after.isnan() & before.isnan())).all())
    return bool(torch.equal(after, before))
