"""`ast.parse` that is safe to call from several threads at once.

CPython before 3.11.8 (and 3.12.0-3.12.1) keeps the recursion depth of its AST constructor in state shared by
every thread; two threads building trees at once (the agent's lineages, a bench's tasks) can leave it
unbalanced, and `ast.parse` then raises `SystemError: AST constructor recursion depth mismatch` on valid
source (python/cpython#106905, fixed by #113035). Every parse in tritonsmith goes through `parse` here, which
builds one tree at a time per process; a parse elsewhere in the process (Python formatting a traceback in
another thread) can still collide with one, so that error is retried: the counter is set afresh on each call.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()
TRIES = 5


def parse(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)`, one tree at a time."""
    tries = 1
    while True:
        with _LOCK:
            try:
                return ast.parse(source, filename=filename)
            except SystemError as err:
                if "recursion depth mismatch" not in str(err) or tries >= TRIES:
                    raise
        tries += 1
