"""Sharing one GPU between several evaluations (runs in the worker): many may check correctness at once,
one alone may time.

A readers-writer lock on two files with flock: `shared()` for work that may overlap other work
(references, correctness), `exclusive()` for timing. The turnstile keeps a waiting timer from being
starved by a stream of new readers. A lock held by a process that dies is released by the kernel.
"""

from __future__ import annotations

import contextlib
import fcntl
import os


class GpuLock:
    def __init__(self, path: str | None):
        """`path`: the lock file of this GPU (its turnstile is PATH.turnstile); None: no sharing, no lock."""
        self.fds = None
        if path:
            self.fds = tuple(os.open(p, os.O_RDWR | os.O_CREAT, 0o600) for p in (path, path + ".turnstile"))
        self.held: int | None = None

    def _take(self, mode: int) -> None:
        lock, turnstile = self.fds
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, mode)
        finally:
            if mode == fcntl.LOCK_SH:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        self.held = mode

    def _release(self) -> None:
        lock, turnstile = self.fds
        held, self.held = self.held, None
        fcntl.flock(lock, fcntl.LOCK_UN)
        if held == fcntl.LOCK_EX:
            fcntl.flock(turnstile, fcntl.LOCK_UN)

    def share(self) -> None:
        """Take the lock shared, for the rest of the evaluation (until `exclusive` trades it)."""
        if self.fds and self.held is None:
            self._take(fcntl.LOCK_SH)

    @contextlib.contextmanager
    def exclusive(self):
        """Alone on the GPU: every other evaluation's shared work has finished, and new work waits."""
        if not self.fds:
            yield
            return
        had = self.held
        if had is not None:
            self._release()
        self._take(fcntl.LOCK_EX)
        try:
            yield
        finally:
            self._release()
            if had is not None:
                self._take(fcntl.LOCK_SH)
