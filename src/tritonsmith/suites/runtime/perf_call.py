"""Calls of a suite's perf op on copies of its inputs, and what each perf input's maker noted about it:
shared by GEAK-eval's perf scripts (geak_perf.py) and GEAK's ROCm perf tests (rocm_perf.py).
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

from tritonsmith.suites.runtime.tensors import map_tensors
from tritonsmith.util.tensors import same, storage_ptr

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
    storages = {storage_ptr(copy) for _, _, copy in inputs if copy.numel()}
    kept: dict[str, Any] = {}

    def keep(path: str, tensor: Any) -> Any:
        if tensor.numel() and storage_ptr(tensor) in storages:
            kept[path] = tensor.detach().clone()
            return kept[path]
        return tensor
    returned = map_tensors(returned, keep)
    try:
        setattr(marker, key, CallState(work, written, kept))
    except (AttributeError, TypeError):  # not a tensor: every call gets a fresh copy
        pass
    return {"returned": returned, "written": dict(written)}
