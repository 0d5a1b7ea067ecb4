"""Sharing one GPU between several evaluations (runs in the worker): many may run checks at once, one
alone may time.

A readers-writer lock on two files with flock. `shared()` wraps each piece of GPU work that may overlap
other evaluations' (making one check's inputs and reference, one call of the candidate), so a timer
waits at most for the pieces in flight; `exclusive()` wraps timing. The turnstile keeps a waiting timer
from being starved by a stream of new readers. A lock held by a process that dies is released by the
kernel. Triton's compiles inside a shared piece let the hold go while they run (`compiles_let_go`): they
use the CPU, and a timer need not wait for them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
import threading
import time

_holder = threading.local()  # the GpuLock this thread holds shared, if any (`compiles_let_go`); a GpuLock is
# used by one thread: its `held` is the object's, and another thread's compile would let it go


def gpu_lock_path(gpu: int) -> str:
    """The lock file of GPU `gpu` (its index as the machine numbers it), one for the whole machine: every
    tritonsmith process of this user that times on that GPU (two benches, a bench and a tuner, a test run's
    parallel workers) waits for the others' timing, not only the evaluations of one pool. The folder is
    TRITONSMITH_LOCK_DIR, else one of this user's own under the temp folder."""
    folder = os.environ.get("TRITONSMITH_LOCK_DIR") or os.path.join(tempfile.gettempdir(),
                                                                     f"tritonsmith-locks-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, f"gpu{gpu}.lock")


class GpuLock:
    def __init__(self, path: str | None):
        """`path`: the lock file of this GPU (its turnstile is PATH.turnstile); None: no sharing, no lock."""
        self.fds = None
        if path:
            self.fds = tuple(os.open(p, os.O_RDWR | os.O_CREAT, 0o600) for p in (path, path + ".turnstile"))
        self.held: int | None = None
        self.compiles_yield_alone = False  # a compile lets go of the alone hold too (`alone(compiles_yield=True)`)
        self.alone_waited = 0.0  # seconds this lock has waited, in all, to hold the GPU alone

    def close(self) -> None:
        """Let the lock files go (a long-lived process that makes one per task: the keeper)."""
        for fd in self.fds or ():
            os.close(fd)
        self.fds, self.held = None, None
        if getattr(_holder, "lock", None) is self:
            _holder.lock = None

    def _take(self, mode: int) -> None:
        lock, turnstile = self.fds
        began = time.perf_counter()
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, mode)
        finally:
            if mode == fcntl.LOCK_SH:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        self.held = mode
        if mode == fcntl.LOCK_EX:
            self.alone_waited += time.perf_counter() - began
        if mode == fcntl.LOCK_SH or self.compiles_yield_alone:
            _holder.lock = self

    def _release(self) -> None:
        lock, turnstile = self.fds
        held, self.held = self.held, None
        if getattr(_holder, "lock", None) is self:
            _holder.lock = None
        fcntl.flock(lock, fcntl.LOCK_UN)
        if held == fcntl.LOCK_EX:
            fcntl.flock(turnstile, fcntl.LOCK_UN)

    @property
    def is_alone(self) -> bool:
        return self.held == fcntl.LOCK_EX

    @contextlib.contextmanager
    def let_go(self):
        """A shared hold (or an alone hold taken with `compiles_yield`) given up for a while (a compile, which
        uses no GPU), then taken again. The work this process queued on the GPU is waited for first: a timer
        that takes the lock meanwhile finds none in flight."""
        mode = self.held
        if mode is None or (mode == fcntl.LOCK_EX and not self.compiles_yield_alone):
            yield
            return
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_initialized():
            if torch.cuda.is_current_stream_capturing():  # a CUDA graph being captured cannot wait: kept held
                yield
                return
            torch.cuda.synchronize()
        self._release()
        try:
            yield
        finally:
            self._take(mode)

    @contextlib.contextmanager
    def shared(self):
        """GPU work that may overlap other evaluations' checks, never a timing. Within `exclusive` or another
        `shared`, it is already covered."""
        if not self.fds or self.held is not None:
            yield
            return
        self._take(fcntl.LOCK_SH)
        try:
            yield
        except BaseException:  # what was queued before the error may still run: not into a timer's turn
            torch = sys.modules.get("torch")
            if torch is not None and torch.cuda.is_initialized():
                with contextlib.suppress(Exception):  # a sticky CUDA error: nothing more runs anyway
                    torch.cuda.synchronize()
            raise
        finally:
            self._release()

    @contextlib.contextmanager
    def alone(self, compiles_yield: bool = False):
        """Alone on the GPU, from inside `shared` too: the shared hold is let go, the GPU taken alone, then
        held shared again (others may run in between: for a stretch that must not overlap anyone's work, such
        as a trusted process's autotuning of the baseline, within a reference run that may). `compiles_yield`:
        a Triton compile within lets the GPU go for its while and takes it alone again after (a stretch that
        benchmarks, among its GPU work, kernels it compiles first: an autotuning's configs)."""
        compiles_yield = compiles_yield and self.held != fcntl.LOCK_EX  # not an outer hold's (a timing's) to give
        with self.let_go(), self.exclusive():
            self.compiles_yield_alone = compiles_yield
            if compiles_yield:
                _holder.lock = self
            try:
                yield
            finally:
                self.compiles_yield_alone = False

    @contextlib.contextmanager
    def exclusive(self):
        """Alone on the GPU: every other evaluation's work in flight has finished, and new work waits."""
        if not self.fds or self.held == fcntl.LOCK_EX:
            yield
            return
        if self.held is not None:
            raise RuntimeError("exclusive() inside shared(): the lock cannot be upgraded in place")
        self._take(fcntl.LOCK_EX)
        try:
            yield
        finally:
            self._release()


@contextlib.contextmanager
def holding(path: str | None, alone: bool = False):
    """A GpuLock on `path` held shared (or alone) for the block, then closed; nothing without a path."""
    if not path:
        yield
        return
    lock = GpuLock(path)
    try:
        with lock.exclusive() if alone else lock.shared():
            yield
    finally:
        lock.close()


def making_lock_path(gpu_lock: str | None) -> str | None:
    """The lock of making references on a GPU (beside its GPU lock): held shared by every process that makes a
    task's references, alone by a keeper's second try at a task that ran out of memory."""
    return gpu_lock + ".making" if gpu_lock else None


_compiles_hooked = False


def compiles_let_go() -> None:
    """From now on in this process, Triton compiling a kernel (JITFunction._do_compile, Triton 3.3+) gives up
    the shared hold of the thread's GpuLock while it compiles: a compile uses the CPU, not the GPU, and can
    take seconds (an autotuned gold compiles every config at every shape), for which a timer waiting to
    time alone, and every check queued behind it, would otherwise wait. Called by the evaluator's processes
    before any task or candidate code runs."""
    global _compiles_hooked
    if _compiles_hooked:
        return
    _compiles_hooked = True
    try:
        from triton.runtime.jit import JITFunction
    except ImportError:
        return
    compile_ = getattr(JITFunction, "_do_compile", None)
    if compile_ is None:
        return

    def _do_compile(kernel: object, *args: object, **kwargs: object) -> object:
        lock = getattr(_holder, "lock", None)
        if lock is None:
            return compile_(kernel, *args, **kwargs)
        with lock.let_go():
            return compile_(kernel, *args, **kwargs)
    JITFunction._do_compile = _do_compile
