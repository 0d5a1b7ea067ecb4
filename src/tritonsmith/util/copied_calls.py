"""Calls of a benchmark's perf op on a working copy of its inputs (GEAK-eval's TritonBench-G perf scripts and
GEAK's ROCm perf tests: suites/runtime/geak_perf.py, rocm_perf.py), and how the evaluator times a first call.

A perf op is judged by `{"returned": what it returned, "written": the input tensors it changed, by path}`,
as GEAK's ops often write into their arguments and return nothing. The first call with a given marker
tensor runs on a fresh copy of the inputs, made before the call; later calls with the same marker (the
timed calls: the evaluator passes the same arguments to each) reuse that copy, so no copying is timed.
Those calls return the first call's record: its 'written' tensors and, where it wrote any, all it returned
(else, in place of any returned tensor that shares memory with the inputs, its value after the first call):
an op that updates its input in place drifts from one timed call to the next, and so does what it computes
from it, and only its first call can match the reference's single call.

The evaluator also times a first call (on inputs the function has not seen: evaluate/runtime.py,
`time_first_call`) against the later ones. That call must not pay for the copy before it or the record after
it, which later calls do not make: inside `priming` a call only makes its copy, and the next call runs the op
alone and returns it Unrecorded, which `recorded` records after the timing. Here, not in suites/, because
the evaluator's processes beside candidate code load nothing of the suites' loaders; torch is imported by
the callers, never here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from tritonsmith.util.tensors import map_tensors, same, storage_ptr


class CopiedInput:
    """A perf input (or op) that a call never runs on directly: the first call with a marker makes a working
    copy of it (call_on_copy). The evaluator asks `copies_inputs` before timing a first call, so as to make
    that copy untimed (`priming`)."""

    def tensors(self) -> Iterator[tuple[str, Any]]:
        """(path, tensor) of every tensor a call copies, by the paths a record's 'written' names them."""
        raise NotImplementedError


def copies_inputs(args: Any) -> bool:
    """Whether a call on `args` goes through call_on_copy (one of them is a CopiedInput)."""
    return any(isinstance(arg, CopiedInput) for arg in args)


class CallState:
    """What a marker's calls run on, `work`, the working copy of the inputs; until its first call ran, the
    (path, original, copy) of its tensors (`inputs`); then what that call wrote, and the returned tensors
    that share memory with the copy, as they were after that call (`written`, `kept`); and, where it wrote
    any, all it returned (`returned`: what later calls return, computed from inputs that have drifted)."""

    def __init__(self, work: Any, inputs: list[tuple[str, Any, Any]]):
        self.work, self.inputs = work, inputs
        self.written: dict[str, Any] = {}
        self.kept: dict[str, Any] = {}
        self.returned: Any = None
        self.primed = False  # made inside `priming`: the next call returns its result Unrecorded

    def untouched(self) -> bool:
        """Whether the copy still equals the inputs (nothing ran on it since it was made)."""
        return self.inputs is not None and all(same(copy, original) for _, original, copy in self.inputs)

    def record(self, returned: Any) -> dict[str, Any]:
        """The first call's result, and its record: the inputs it changed, the returned tensors it shares."""
        self.written = {path: copy.detach().clone() for path, original, copy in self.inputs
                        if not same(copy, original)}
        storages = {storage_ptr(copy) for _, _, copy in self.inputs if copy.numel()}
        self.inputs = None

        def keep(path: str, tensor: Any) -> Any:
            if tensor.numel() and storage_ptr(tensor) in storages:
                self.kept[path] = tensor.detach().clone()
                return self.kept[path]
            return tensor
        returned = map_tensors(returned, keep)
        if self.written:
            self.returned = map_tensors(returned, lambda path, t: t.detach().clone())
        return {"returned": returned, "written": dict(self.written)}

    def again(self, returned: Any) -> dict[str, Any]:
        """A later call's result: the first call's record. An op that updates its copy in place drifts from
        call to call, and so does what it returns (a fused add and norm that updates its residual)."""
        if self.written:
            return {"returned": self.returned, "written": dict(self.written)}
        return {"returned": map_tensors(returned, lambda path, t: self.kept.get(path, t)),
                "written": dict(self.written)}

    def held(self) -> list[Any]:
        """The tensors of the record, which every later call returns again."""
        held = [*self.written.values(), *self.kept.values()]
        map_tensors(self.returned, lambda path, t: held.append(t))
        return held


class Unrecorded:
    """The result of a marker's first call after `priming`, not yet recorded: `recorded` records it."""

    def __init__(self, state: CallState, returned: Any):
        self.state, self.returned = state, returned


_priming = [False]


@contextlib.contextmanager
def priming() -> Iterator[None]:
    """Calls inside only make their marker's working copy, and run nothing; the marker's next call is then
    the op alone, and returns an Unrecorded, which `recorded` makes into its result afterwards. So a first
    call can be timed without the copy before it and the record after it, which later calls do not make."""
    _priming[0] = True
    try:
        yield
    finally:
        _priming[0] = False


def recorded(value: Any) -> Any:
    """`value`, or the result of an Unrecorded call with its record made now."""
    return value.state.record(value.returned) if isinstance(value, Unrecorded) else value


def snapshot_storages(args: Any) -> set[int]:
    """The memory of the first call's record held by the markers among `args`: every later call returns it
    again (`again`), which is the harness, not the op, returning memory it returned before."""
    if not copies_inputs(args):  # no harness call: nothing is the harness's
        return set()
    return {storage_ptr(t) for state in _states(args) for t in state.held() if t.numel()}


def _states(args: Any) -> list[CallState]:
    """The call states the markers among `args` hold."""
    return [state for arg in args for state in (vars(arg).values() if hasattr(arg, "__dict__") else ())
            if isinstance(state, CallState)]


def call_on_copy(marker: Any, key: str, prepare: Callable[[], tuple[Any, list[tuple[str, Any, Any]]]],
                 run: Callable[[Any], Any]) -> Any:
    """{'returned', 'written'} of `run(work)`. `prepare()` makes the working copy of the inputs and lists its
    tensors as (path, original, copy); it is called once per marker (see the module's docstring). Inside
    `priming`, None and nothing run."""
    state = getattr(marker, key, None)
    if state is None:
        state = CallState(*prepare())
        try:
            setattr(marker, key, state)
        except (AttributeError, TypeError):  # not a tensor: every call gets a fresh copy, and none is primed
            return None if _priming[0] else state.record(run(state.work))
        state.primed = _priming[0]
        if state.primed:
            return None
        return state.record(run(state.work))
    if _priming[0]:
        return None
    if state.primed:  # the call after priming: the op alone, recorded afterwards
        state.primed = False
        return Unrecorded(state, run(state.work))
    if state.inputs is not None:  # a first call that raised: this one is the first
        return state.record(run(state.work))
    return state.again(run(state.work))


def written_aligned(output: Any, args: Any, expected: Any, expected_args: Any,
                    trusted: bool = True) -> tuple[Any, Any]:
    """Two records of calls made comparable (`output` of a call on `args`, `expected` of one on `expected_args`):
    an input that one call wrote and the other did not is, in the other's record, that input as it was before
    its call. A call "wrote" an input when the input changed, and an output buffer made by torch.empty may
    already hold the result (memory that held it before, freed by an earlier run): such a write changes
    nothing, and shows in one record only. With `trusted` False (`output` is a candidate's), an input its call
    left alone stands for a write only where it held exactly what `expected` wrote: else a candidate could
    skip an in-place update smaller than the tolerance. Anything but two records is returned as it is."""
    if not (_is_record(output) and _is_record(expected)) or set(output["written"]) == set(expected["written"]):
        return output, expected
    missing = set(expected["written"]) - set(output["written"])
    return (_with_inputs(output, args, missing, None if trusted else expected["written"]),
            _with_inputs(expected, expected_args, set(output["written"]) - set(expected["written"])))


def nothing_recorded(value: Any) -> bool:
    """Whether `value` is a record of a call that returned None and wrote no input: nothing to compare."""
    return _is_record(value) and not value["written"] and value["returned"] is None


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"returned", "written"} and isinstance(value["written"], dict)


def _with_inputs(record: dict[str, Any], args: Any, paths: set[str],
                 only_equal_to: dict[str, Any] | None = None) -> dict[str, Any]:
    """`record` with each of `paths` that its call did not write: the input there, unchanged by the call (with
    `only_equal_to`, only where the input is exactly that record's tensor at the path)."""
    if not paths or not isinstance(args, (tuple, list)):
        return record
    inputs = {path: tensor for arg in args if isinstance(arg, CopiedInput) for path, tensor in arg.tensors()}
    filled = {path: inputs[path] for path in paths if path in inputs and (
        only_equal_to is None or same(only_equal_to.get(path), inputs[path]))}
    return {**record, "written": {**record["written"], **filled}} if filled else record


def primed_untouched(args: Any) -> bool:
    """Whether every primed copy held by the markers among `args` still equals its inputs: nothing ran on it
    while the harness made it (the evaluator checks this before it times the call)."""
    return all(state.untouched() for state in _states(args) if state.primed)
