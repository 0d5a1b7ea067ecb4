"""pytest's `monkeypatch` fixture, the part GEAK's tests use, for the runner (pytest_runner.py): pytest's runner
is not used, so its fixture is not at hand either. Standard library only."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from typing import Any

_NOTSET = object()


class MonkeyPatch:
    """pytest's `monkeypatch` fixture, the part tests use: each change is recorded and `undo` reverts them
    all, last first (the runner calls it after the test and its other fixtures are finalised)."""

    def __init__(self) -> None:
        self._attributes: list[tuple[Any, str, Any]] = []
        self._items: list[tuple[Any, Any, Any]] = []
        self._syspath: list[str] | None = None
        self._cwd: str | None = None

    @classmethod
    @contextlib.contextmanager
    def context(cls):
        patch = cls()
        try:
            yield patch
        finally:
            patch.undo()

    def setattr(self, target: Any, name: Any, value: Any = _NOTSET, raising: bool = True) -> None:
        if value is _NOTSET:  # setattr("package.module.attribute", value)
            target, name, value = *_resolve(target), name
        old = target.__dict__.get(name, _NOTSET) if inspect.isclass(target) else getattr(target, name, _NOTSET)
        if raising and old is _NOTSET:
            raise AttributeError(f"{target!r} has no attribute {name!r}")
        self._attributes.append((target, name, old))
        setattr(target, name, value)

    def delattr(self, target: Any, name: Any = _NOTSET, raising: bool = True) -> None:
        if name is _NOTSET:
            target, name = _resolve(target)
        if not hasattr(target, name):
            if raising:
                raise AttributeError(name)
            return
        old = target.__dict__.get(name, _NOTSET) if inspect.isclass(target) else getattr(target, name, _NOTSET)
        self._attributes.append((target, name, old))
        delattr(target, name)

    def setitem(self, mapping: Any, name: Any, value: Any) -> None:
        self._items.append((mapping, name, mapping.get(name, _NOTSET)))
        mapping[name] = value

    def delitem(self, mapping: Any, name: Any, raising: bool = True) -> None:
        if name not in mapping:
            if raising:
                raise KeyError(name)
            return
        self._items.append((mapping, name, mapping.get(name, _NOTSET)))
        del mapping[name]

    def setenv(self, name: str, value: Any, prepend: str | None = None) -> None:
        value = str(value)
        if prepend and name in os.environ:
            value = value + prepend + os.environ[name]
        self.setitem(os.environ, name, value)

    def delenv(self, name: str, raising: bool = True) -> None:
        self.delitem(os.environ, name, raising=raising)

    def syspath_prepend(self, path: Any) -> None:
        if self._syspath is None:
            self._syspath = list(sys.path)
        sys.path.insert(0, str(path))
        importlib.invalidate_caches()

    def chdir(self, path: Any) -> None:
        if self._cwd is None:
            self._cwd = os.getcwd()
        os.chdir(path)

    def undo(self) -> None:
        for target, name, old in reversed(self._attributes):
            if old is _NOTSET:
                delattr(target, name)
            else:
                setattr(target, name, old)
        for mapping, name, old in reversed(self._items):
            if old is _NOTSET:
                mapping.pop(name, None)
            else:
                mapping[name] = old
        self._attributes.clear()
        self._items.clear()
        if self._syspath is not None:
            sys.path[:] = self._syspath
            self._syspath = None
        if self._cwd is not None:
            os.chdir(self._cwd)
            self._cwd = None


def _resolve(dotted: Any) -> tuple[Any, str]:
    """("package.module.attribute") -> (the object holding it, "attribute"), importing modules on the way."""
    if not isinstance(dotted, str) or "." not in dotted:
        raise TypeError(f"monkeypatch needs an object and a name, or a dotted import path, not {dotted!r}")
    path, name = dotted.rsplit(".", 1)
    parts = path.split(".")
    found = importlib.import_module(parts[0])
    for index, part in enumerate(parts[1:], start=2):
        try:
            found = getattr(found, part)
        except AttributeError:
            found = importlib.import_module(".".join(parts[:index]))
    return found, name
