"""`ast.parse` that is safe to call from several threads at once.

CPython 3.11 keeps the recursion depth of its AST constructor in state shared by every thread; two threads
building trees at once (the agent's lineages, a bench's tasks) can leave it unbalanced, and `ast.parse` then
raises `SystemError: AST constructor recursion depth mismatch` on valid source (python/cpython#106905).
Every parse in tritonsmith goes through `parse` here, which builds one tree at a time per process.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)`, one tree at a time."""
    with _LOCK:
        return ast.parse(source, filename=filename)
