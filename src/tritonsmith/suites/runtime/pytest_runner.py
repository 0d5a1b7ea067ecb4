"""Running a pytest module's tests without pytest's runner, as GEAK's ROCm tasks are checked: inside the
evaluator's worker, on the gold code and on each candidate (the generated harness calls `run_tests`).

- Each test runs once per combination of its `@pytest.mark.parametrize` decorators (stacked decorators
  give the cartesian product, the decorator nearest the function varying slowest), in pytest's order,
  with random, numpy and torch seeded before each call. `pytest.param` values, ids and marks are
  honoured; skip, skipif and xfail(run=False) marks skip a call, as does pytest.skip() inside it.
- `request.node.name` is pytest's own test id, e.g. `test_add[128-float16]` (values as pytest renders
  them: strings, numbers, None, enums and named objects by value, anything else as argname + index;
  `pytest.param(id=...)` and `ids=` win; duplicates get pytest's counters).
- Fixtures: `request` (node.name, node.nodeid, function, getfixturevalue, addfinalizer), `device`
  ("cuda" when torch sees a GPU, else "cpu"), `monkeypatch` (setattr, delattr, setitem, delitem, setenv,
  delenv, syspath_prepend, chdir, context; undone after the call) and the module's own `@pytest.fixture`
  functions (without params; generator fixtures are finalised after each call).
- A failed assertion (or pytest.fail) fails that one call, as under pytest: the run goes on and the
  dict, missing whatever the call did not store, decides. Any other exception stops the run, with the
  test id added to its message, and so does the AssertionError of a CPU-only torch asked for a GPU ("Torch
  not compiled with CUDA enabled"): it is no check of the test. A run in which every call was skipped is an
  error: it checks nothing.

Only the standard library here; pytest and torch are imported where a call needs them.
"""

from __future__ import annotations

import collections.abc
import inspect
import os
import re
import sys
import threading
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tritonsmith.suites.runtime import seed_all
from tritonsmith.suites.runtime.monkeypatch import MonkeyPatch
from tritonsmith.suites.runtime.tensors import as_tensors

FIXTURES = ("request", "device", "monkeypatch")  # what the runner provides besides the module's own fixtures


def check_defined(namespace: dict[str, Any], names: list[str]) -> None:
    """Fail the import before the tests are defined: their decorators may already read a missing name."""
    missing = [name for name in names if name not in namespace]
    if missing:
        raise NameError(f"the candidate does not define {', '.join(f'`{n}`' for n in missing)}, "
                        "which the tests use")


def run_tests(namespace: dict[str, Any], seed: int, tests: list[str], fixtures: dict[str, str] | None = None,
              autouse: list[str] | None = None) -> dict[str, Any]:
    """Run every parametrisation of `tests` (functions in `namespace`) and return the result_gold they fill."""
    skipped, failed = _outcomes()
    namespace["result_gold"] = {}
    ran = 0
    for call in planned_calls(namespace, tests):
        if call.skip:
            continue
        try:
            _invoke(namespace, call, seed, fixtures, autouse)
            ran += 1
        except skipped:
            pass
        except failed as exc:  # a failed check fails this call only, as under pytest
            if _refused_gpu(exc):
                if hasattr(exc, "add_note"):  # (Python 3.11 and later)
                    exc.add_note(f"(raised in test {call.name})")
                raise
            ran += 1
            print(f"tritonsmith: {call.name} failed: {type(exc).__name__}: {str(exc)[:500]}", file=sys.stderr)
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(f"(raised in test {call.name})")
            raise
    if not ran:
        raise RuntimeError(f"every call of the correctness tests {', '.join(tests)} was skipped: nothing was checked")
    return as_tensors(dict(namespace["result_gold"]))


def run_call(namespace: dict[str, Any], name: str, seed: int, fixtures: dict[str, str] | None = None,
             autouse: list[str] | None = None) -> None:
    """Run one call of a test function, named by pytest's id (`test_performance[98432-1024-float16]`), seeded
    and given its fixtures as run_tests runs each call. CaseSkipped if its marks or its own pytest.skip skip
    it; anything else it raises (a perf op's capture included, rocm_perf.py) goes to the caller."""
    from tritonsmith.task import CaseSkipped

    test = name.split("[", 1)[0]
    call = next((c for c in planned_calls(namespace, [test]) if c.name == name), None) if test in namespace else None
    if call is None:
        raise RuntimeError(f"the test file has no call {name}: it changed since the suite was loaded; load it again")
    if call.skip:
        raise CaseSkipped(f"{name} is skipped by its marks")
    skipped, _ = _outcomes()
    try:
        _invoke(namespace, call, seed, fixtures, autouse)
    except skipped as exc:
        raise CaseSkipped(f"{name} skipped itself: {exc}") from None


def _invoke(namespace: dict[str, Any], call: Call, seed: int, fixtures: dict[str, str] | None,
            autouse: list[str] | None) -> None:
    """One call, seeded, with the autouse fixtures and its usefixtures made first and its arguments filled from its
    parameters and fixtures; every fixture is finalised afterwards, whatever the call raised."""
    seed_all(seed)
    resolver = _Fixtures(namespace, fixtures or {}, call)
    try:
        for fixture in list(autouse or ()) + call.usefixtures:
            resolver.value(fixture)
        call.function(**resolver.arguments(call.function, call.params))
    finally:
        resolver.finish()


class Call:
    """One test function with one combination of parameters, named as pytest names it."""

    def __init__(self, name: str, function: Any, params: dict[str, Any], skip: bool, usefixtures: list[str]):
        self.name, self.function, self.params, self.skip, self.usefixtures = name, function, params, skip, usefixtures

    def __repr__(self) -> str:
        return f"Call({self.name!r}{', skip' if self.skip else ''})"


def planned_calls(namespace: dict[str, Any], tests: list[str], skips: Any = None) -> list[Call]:
    """Every call of `tests`, in pytest's order; `skips(marks, namespace)` decides which its marks skip (by
    default as pytest does; suites/parametrize.py, at load time, decides only what is known without running)."""
    skips = skips or _skips
    calls = []
    for test in tests:
        function = namespace[test]
        marks = _marks(function)
        combos: list[tuple[list[Any], dict[str, Any], bool]] = [([], {}, skips(marks, namespace))]
        for mark in marks:  # in the order applied: the decorator nearest the function first, as pytest
            if mark.name != "parametrize":
                continue
            argnames, sets = _parameter_sets(mark)
            combos = [(ids + [set_id], {**params, **dict(zip(argnames, values))}, skip or skips(set_marks, namespace))
                      for ids, params, skip in combos for set_id, values, set_marks in sets]
        usefixtures = [n for m in marks if m.name == "usefixtures" for n in m.args]
        for ids, params, skip in combos:
            shown = [i for i in ids if not _hidden(i)]  # pytest.HIDDEN_PARAM leaves no trace in the name
            name = f"{test}[{'-'.join(shown)}]" if shown else test
            calls.append(Call(name, function, params, skip, usefixtures))
    return calls


def _outcomes() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(exceptions that skip a call, exceptions that fail it) under pytest."""
    try:
        import pytest
    except ImportError:
        return (), (AssertionError,)
    return (pytest.skip.Exception, pytest.xfail.Exception), (AssertionError, pytest.fail.Exception)


def _refused_gpu(exc: BaseException) -> bool:
    """torch's own refusal to use a GPU on a machine without one (a CPU-only build raises AssertionError in
    torch.cuda): not a test's check failing, but the test unable to run here, which the caller must be told."""
    innermost = exc.__traceback__
    while innermost is not None and innermost.tb_next is not None:
        innermost = innermost.tb_next
    module = innermost.tb_frame.f_globals.get("__name__", "") if innermost is not None else ""
    torch = sys.modules.get("torch")
    return (module == "torch.cuda" or module.startswith("torch.cuda.")) and torch is not None \
        and not torch.cuda.is_available()


def _marks(obj: Any) -> list[Any]:
    return _as_marks(getattr(obj, "pytestmark", None))


def _as_marks(marks: Any) -> list[Any]:
    """Marks from a mark, a MarkDecorator or a list of them."""
    if marks is None:
        return []
    marks = marks if isinstance(marks, (list, tuple)) else [marks]
    return [getattr(m, "mark", m) for m in marks]


def _skips(marks: Any, namespace: dict[str, Any]) -> bool:
    import platform

    for mark in _as_marks(marks):
        if mark.name == "skip" or (mark.name == "xfail" and mark.kwargs.get("run", True) is False):
            return True
        if mark.name == "skipif":
            conditions = list(mark.args) + ([mark.kwargs["condition"]] if "condition" in mark.kwargs else [])
            if not conditions:
                return True
            for condition in conditions:
                if isinstance(condition, str):
                    condition = eval(condition, {"os": os, "sys": sys, "platform": platform, **namespace})
                if condition:
                    return True
    return False


def _parameter_sets(mark: Any) -> tuple[list[str], list[tuple[Any, tuple, list[Any]]]]:
    """(argnames, [(id, values, marks)]) of one parametrize mark, with pytest's ids."""
    args, kwargs = list(mark.args), dict(mark.kwargs)
    names = ("argnames", "argvalues", "indirect", "ids")
    options = {**dict(zip(names, args)), **kwargs}
    argnames, argvalues, ids = options["argnames"], _values_of(mark, options["argvalues"]), options.get("ids")
    if isinstance(argnames, str):
        argnames = [n.strip() for n in argnames.split(",") if n.strip()]
        force_tuple = len(argnames) == 1
    else:
        argnames, force_tuple = list(argnames), False
    idfn = ids if callable(ids) else None
    ids = None if idfn else (list(ids) if ids is not None else None)
    sets, resolved = [], []
    for index, value in enumerate(argvalues):
        if _is_parameter_set(value):
            values, set_marks, set_id = tuple(value.values), list(value.marks), value.id
        else:
            values, set_marks, set_id = ((value,) if force_tuple else tuple(value)), [], None
        if set_id is not None:
            resolved.append(set_id if _hidden(set_id) else _ascii_escaped(set_id))
        elif ids is not None and index < len(ids) and ids[index] is not None:
            given = ids[index] if _hidden(ids[index]) else _id_from_value(ids[index])
            if given is None:
                raise ValueError(f"parametrize ids: unsupported value {ids[index]!r} at index {index}")
            resolved.append(given)
        else:
            resolved.append("-".join(_id_of(v, n, index, idfn) for v, n in zip(values, argnames)))
        sets.append((values, set_marks))
    unique = _unique(resolved)
    return argnames, [(i, values, set_marks) for i, (values, set_marks) in zip(unique, sets)]


_ITERATED: dict[int, list[Any]] = {}  # id(mark) -> what its argvalues iterator gave, while the mark lives
_ITERATING = threading.Lock()


def _values_of(mark: Any, argvalues: Any) -> list[Any]:
    """A parametrize mark's argvalues as a list. An iterator (test_gemm_no_scf's `itertools.chain(...)`) gives its
    values once, as pytest reads them once, at collection; the calls are planned again for each perf case, so
    what it gave is kept for its mark, and let go with it (marks hash by value, which a dict argument cannot)."""
    if not isinstance(argvalues, collections.abc.Iterator):
        return list(argvalues)
    with _ITERATING:
        values = _ITERATED.get(id(mark))
        if values is None:
            values = list(argvalues)
            try:
                weakref.finalize(mark, _ITERATED.pop, id(mark), None)
            except TypeError:  # a mark that cannot be weakly referenced: its values are not kept
                return values
            _ITERATED[id(mark)] = values
        return values


def _hidden(value: Any) -> bool:
    return type(value).__name__ == "_HiddenParam"


def _is_parameter_set(value: Any) -> bool:
    return type(value).__name__ == "ParameterSet" and all(hasattr(value, a) for a in ("values", "marks", "id"))


def _id_of(value: Any, argname: str, index: int, idfn: Any) -> str:
    if idfn is not None:
        made = idfn(value)
        if made is not None:
            text = _id_from_value(made)
            if text is not None:
                return text
    text = _id_from_value(value)
    return text if text is not None else f"{argname}{index}"


def _id_from_value(value: Any) -> str | None:
    """pytest's rendering of a parameter value in a test id (IdMaker._idval_from_value)."""
    import enum

    if isinstance(value, (str, bytes)):
        return _ascii_escaped(value)
    if value is None or isinstance(value, (float, int, bool, complex)):
        return str(value)
    if isinstance(value, re.Pattern):
        return _ascii_escaped(value.pattern)
    if isinstance(value, enum.Enum):
        return str(value)
    name = getattr(value, "__name__", None)
    return name if isinstance(name, str) else None


_NON_PRINTABLE = {i: f"\\x{i:02x}" for i in range(128) if i not in range(32, 127)}
_NON_PRINTABLE.update({ord("\t"): "\\t", ord("\r"): "\\r", ord("\n"): "\\n"})


def _ascii_escaped(value: str | bytes) -> str:
    text = value.decode("ascii", "backslashreplace") if isinstance(value, bytes) else \
        value.encode("unicode_escape").decode("ascii")
    return text.translate(_NON_PRINTABLE)


def _unique(ids: list[Any]) -> list[Any]:
    """pytest's suffixes for repeated ids: a0, a1; 10_0, 10_1 after a digit."""
    counts: dict[Any, int] = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    if all(c == 1 for c in counts.values()):
        return ids
    taken, suffixes, out = set(ids), {}, list(ids)
    for index, i in enumerate(ids):
        if not isinstance(i, str) or counts[i] == 1:
            continue
        joiner = "_" if i and i[-1].isdigit() else ""
        suffixes.setdefault(i, 0)
        new = f"{i}{joiner}{suffixes[i]}"
        while new in taken:
            suffixes[i] += 1
            new = f"{i}{joiner}{suffixes[i]}"
        out[index] = new
        suffixes[i] += 1
    return out


class _Request:
    """The part of pytest's `request` fixture that tests use."""

    def __init__(self, call: Call, namespace: dict[str, Any], resolver: _Fixtures):
        path = Path(namespace.get("__file__") or "task.py").name
        self.node = SimpleNamespace(name=call.name, originalname=call.function.__name__,
                                    nodeid=f"{path}::{call.name}")
        self.function = call.function
        self.module = sys.modules.get(namespace.get("__name__", ""))
        self._resolver = resolver

    def getfixturevalue(self, name: str) -> Any:
        return self._resolver.value(name)

    def addfinalizer(self, finalizer: Any) -> None:
        self._resolver.finalizers.append(finalizer)


class _Fixtures:
    """Fixture values for one call: the file's own fixtures, then `device` and `monkeypatch`; finalised
    after the call, in the reverse order of their making."""

    def __init__(self, namespace: dict[str, Any], fixtures: dict[str, str], call: Call):
        self.namespace, self.fixtures = namespace, fixtures
        self.values: dict[str, Any] = {"request": _Request(call, namespace, self)}
        self.finalizers: list[Any] = []

    def arguments(self, function: Any, params: dict[str, Any]) -> dict[str, Any]:
        arguments = {}
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if parameter.name in params:
                arguments[parameter.name] = params[parameter.name]
            elif parameter.default is parameter.empty:
                arguments[parameter.name] = self.value(parameter.name)
        return arguments

    def value(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.fixtures:
            function = _unwrap_fixture(self.namespace[self.fixtures[name]])
            made = function(**self.arguments(function, {}))
            if inspect.isgenerator(made):
                generator, made = made, next(made)
                self.finalizers.append(lambda generator=generator: next(generator, None))
        elif name == "device":
            import torch
            made = "cuda" if torch.cuda.is_available() else "cpu"
        elif name == "monkeypatch":
            made = MonkeyPatch()
            self.finalizers.append(made.undo)
        else:
            raise LookupError(f"the tests need the pytest fixture {name!r}, which tritonsmith cannot provide")
        self.values[name] = made
        return made

    def finish(self) -> None:
        """Every finalizer runs, even after one fails (a monkeypatch is always undone); the first error is
        raised at the end."""
        error = None
        while self.finalizers:
            try:
                self.finalizers.pop()()
            except Exception as exc:  # noqa: BLE001 - raised below, once the rest have run
                error = error or exc
        if error is not None:
            raise error


def _unwrap_fixture(obj: Any) -> Any:
    """The plain function behind @pytest.fixture (pytest >= 8.4 wraps it; older versions mark it)."""
    if hasattr(obj, "_get_wrapped_function"):
        return obj._get_wrapped_function()
    wrapped = getattr(obj, "__pytest_wrapped__", None)
    return wrapped.obj if wrapped is not None else obj
