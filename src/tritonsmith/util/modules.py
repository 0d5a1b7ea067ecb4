"""Loading a Python module from a file, under a name of the caller's choosing."""

from __future__ import annotations

import importlib.util
import sys
import types


def load_module(name: str, path: str, register: bool = True) -> types.ModuleType:
    """Execute the file `path` as a fresh module named `name`. With `register`, it is in sys.modules while it
    runs and after (as an import would leave it: dataclasses, pickling and `inspect` look it up there), and taken
    out again if it fails."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if register and sys.modules.get(name) is module:
            del sys.modules[name]
        raise
    return module


def load_once(name: str, path: str) -> types.ModuleType:
    """The module registered as `name` if there is one, else `path` loaded under that name."""
    module = sys.modules.get(name)
    return module if module is not None else load_module(name, path)
