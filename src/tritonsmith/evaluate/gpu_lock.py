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

import collections
import contextlib
import contextvars
import fcntl
import functools
import os
import sys
import tempfile
import threading
import time
from typing import Any

_holders: dict[tuple[int, str], GpuLock] = {}
"""(thread, slot) -> the GpuLock held for that thread, in that slot ("gpu", "making"), which a compile lets go
(`compiles_let_go`). A GpuLock is used by one thread at a time: the one it is held for, or another that thread
waits for (`acting_thread`)."""
_kept: dict[int, int] = {}
"""thread -> how many locks it holds alone through compiles (a timing's)."""


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
    def __init__(self, path: str | None, slot: str = "gpu"):
        """`path`: the lock file of this GPU (its turnstile is PATH.turnstile); None: no sharing, no lock. `slot`:
        which of a thread's held locks it is for `compiles_let_go` ("gpu", or "making": making_lock_path)."""
        self.slot = slot
        self.fds = None
        if path:
            self.fds = tuple(os.open(p, os.O_RDWR | os.O_CREAT, 0o600) for p in (path, path + ".turnstile"))
        self.held: int | None = None
        self.owner: int | None = None  # the thread it is held for (`acting_thread` when taken)
        self.compiles_yield_alone = False  # a compile lets go of the alone hold too (`alone(compiles_yield=True)`)
        self.keeps = False  # held alone through compiles (counted in _kept)
        self.alone_waited = 0.0  # seconds this lock has waited, in all, to hold the GPU alone
        # a trusted autotuning's configs "kept" and "cut" (autotuning.staged_bench)
        self.tuning_counts = collections.Counter()
        self.compile_s = 0.0  # seconds Triton compiled on the thread holding this lock shared (`compiles_let_go`)

    def close(self) -> None:
        """Let the lock files go (a long-lived process that makes one per task: the keeper)."""
        for fd in self.fds or ():
            os.close(fd)
        self.fds, self.held = None, None
        self._forget()

    def _take(self, mode: int) -> None:
        lock, turnstile = self.fds
        began = time.perf_counter()
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, mode)
        except BaseException:  # (interrupted while waiting: the turnstile is not left shut on the others)
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            raise
        if mode == fcntl.LOCK_SH:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        self.held = mode
        if mode == fcntl.LOCK_EX:
            self.alone_waited += time.perf_counter() - began
        if mode == fcntl.LOCK_SH or self.compiles_yield_alone:
            _holders[self.owner, self.slot] = self
        else:  # held alone through compiles (a timing): a compile lets no lock of this thread go meanwhile
            self._keep(True)

    def _keep(self, keeps: bool) -> None:
        """Whether this lock keeps its compiles (held alone: a timing's), counted in its owner's `_kept`."""
        if keeps != self.keeps:
            self.keeps = keeps
            _kept[self.owner] = _kept.get(self.owner, 0) + (1 if keeps else -1)
            if not _kept[self.owner]:
                del _kept[self.owner]

    def _forget(self) -> None:
        """Neither let go by a compile nor keeping compiles: what a lock let go or closed is."""
        if _holders.get((self.owner, self.slot)) is self:
            del _holders[self.owner, self.slot]
        self._keep(False)

    def _release(self) -> None:
        lock, turnstile = self.fds
        held, self.held = self.held, None
        self._forget()
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
        self.owner = acting_thread()
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
        with self.let_go():
            self.compiles_yield_alone = compiles_yield  # (before it is taken: `_take` reads it)
            try:
                with self.exclusive():
                    yield
            finally:
                self.compiles_yield_alone = False

    @contextlib.contextmanager
    def yielding(self):
        """Within a hold alone that keeps its compiles (a timing's), a stretch in which a Triton compile lets the
        GPU go for its while and takes it alone again after, as `alone(compiles_yield=True)` does: a timed
        function's first call, which compiles (a perf shape not seen before; an autotuning's configs, one of
        TritonBench-G's kept ptxas busy for minutes) before anything is timed, while every other evaluation of
        the GPU would wait. Nothing changes outside such a hold. Raises RuntimeError if the stretch ends without
        the GPU held alone again (a retake interrupted, and the interruption caught by the code within)."""
        if self.held != fcntl.LOCK_EX or not self.keeps:
            yield
            return
        key = (self.owner, self.slot)
        previous = _holders.get(key)
        try:
            self._keep(False)
            self.compiles_yield_alone = True
            _holders[key] = self
            yield
        finally:
            self.compiles_yield_alone = False
            if _holders.get(key) is self:
                if previous is None:
                    del _holders[key]
                else:
                    _holders[key] = previous
            if self.held == fcntl.LOCK_EX:  # (held again after a compile, not kept meanwhile)
                self._keep(True)
        if self.held != fcntl.LOCK_EX:
            raise RuntimeError("the GPU lock was not taken alone again after a compile: nothing is timed without it")

    @contextlib.contextmanager
    def exclusive(self):
        """Alone on the GPU: every other evaluation's work in flight has finished, and new work waits."""
        if not self.fds or self.held == fcntl.LOCK_EX:
            yield
            return
        if self.held is not None:
            raise RuntimeError("exclusive() inside shared(): the lock cannot be upgraded in place")
        self.owner = acting_thread()
        self._take(fcntl.LOCK_EX)
        try:
            yield
        finally:
            self._release()


@contextlib.contextmanager
def holding(path: str | None, alone: bool = False, slot: str = "gpu"):
    """A GpuLock on `path` held shared (or alone) for the block, then closed; nothing without a path. The
    making lock (`slot` "making") is let go by a compile however it is held: it keeps memory, not time."""
    if not path:
        yield
        return
    lock = GpuLock(path, slot)
    try:
        if alone:
            with lock.alone(compiles_yield=slot == "making") if slot == "making" else lock.exclusive():
                yield
        else:
            with lock.shared():
                yield
    finally:
        lock.close()


def making_lock_path(gpu_lock: str | None) -> str | None:
    """The lock of making references on a GPU (beside its GPU lock): held shared by every process that makes a
    task's references, alone by a keeper's second try at a task that ran out of memory."""
    return gpu_lock + ".making" if gpu_lock else None


_compiles_hooked = False

_scouting = contextvars.ContextVar("tritonsmith_scouting", default=False)


class ScoutStopped(BaseException):
    """A scouting run of a call (`scouting`) stopped at the first kernel it would compile, whose compile was handed
    to Triton's asynchronous mode instead (a BaseException: a task's `except Exception` does not swallow it)."""


@contextlib.contextmanager
def scouting(on: bool = True):
    """Within it, in this thread, inside Triton's asynchronous compile mode: the first kernel not yet compiled
    (in memory) is handed to that mode and the call stops there with ScoutStopped
    (autotuning.compile_calls_ahead). `on=False`: not within a scouting's part that hands several over (an
    autotuning's configs)."""
    token = _scouting.set(on)
    try:
        yield
    finally:
        _scouting.reset(token)


def is_scouting() -> bool:
    return _scouting.get()


def compiles_let_go() -> None:
    """From now on in this process, Triton compiling a kernel (JITFunction._do_compile, Triton 3.3+) gives up
    the shared hold of the thread's GpuLock while it compiles: a compile uses the CPU, not the GPU, and can
    take seconds (an autotuned gold compiles every config at every shape; one of TritonBench-G's kernels kept
    ptxas busy for minutes), for which a timer waiting to time alone, and every check queued behind it, would
    otherwise wait. So does the making lock, however held (a keeper's second try at a task short of memory
    holds it alone, and every other keeper of the GPU waits for it): it is taken again first, the GPU lock
    last, the order in which they are taken. Within a hold alone that keeps its compiles (a timing), nothing
    is let go. Where a call is scouted (`scouting`), a compile handed to Triton's asynchronous mode stops it
    instead. Called by the evaluator's processes before any task or candidate code runs."""
    global _compiles_hooked
    if _compiles_hooked:
        return
    _compiles_hooked = True
    _backward_acts_for_its_caller()  # (for the trusted tuning's hold too, whatever Triton's compile hook)
    try:
        from triton.runtime.jit import JITFunction
    except ImportError:
        return
    compile_ = getattr(JITFunction, "_do_compile", None)
    if compile_ is None:
        return

    try:
        from triton.runtime._async_compile import FutureKernel, active_mode
    except ImportError:
        FutureKernel = active_mode = None

    def _do_compile(kernel: object, *args: object, **kwargs: object) -> object:
        if active_mode is not None and active_mode.get() is not None:  # (handed to a thread of Triton's
            compiled = compile_(kernel, *args, **kwargs)  # asynchronous mode: its caller waits for it, let go)
            if _scouting.get():
                raise ScoutStopped
            return compiled
        with compiling():
            return compile_(kernel, *args, **kwargs)
    JITFunction._do_compile = _do_compile
    if FutureKernel is None:
        return
    result_ = FutureKernel.result

    def result(future_kernel: Any, *args: object, **kwargs: object) -> object:
        pending = getattr(future_kernel, "future", None)
        if _scouting.get() and getattr(future_kernel, "kernel", None) is None and pending is not None \
                and not pending.done():  # a scouted call meets a compile handed over already, not yet done
            raise ScoutStopped  # (Triton 3.9 puts it in the JIT's cache at once): it stops there, not waits
        return result_(future_kernel, *args, **kwargs)
    FutureKernel.result = result


@contextlib.contextmanager
def compiling():
    """Triton compiling for this thread (`compiles_let_go`; runtime's parallel compiles ahead of an autotuning):
    the thread's holds are let go meanwhile, the GPU lock first and taken again last (the order in which they are
    taken: the making lock, then the GPU's), and the seconds it compiled (not the waits to let go and take again,
    which `alone_waited` may hold) are added to the GPU lock's `compile_s` (where a reference run's seconds went).
    Within a timing's hold, which keeps its compiles, nothing is let go, so that nothing taken again after waits
    while the GPU is held alone."""
    thread = acting_thread()
    held = [lock for lock in (_holders.get((thread, "gpu")), _holders.get((thread, "making"))) if lock]
    if not held or _kept.get(thread):
        yield
        return
    with contextlib.ExitStack() as stack:
        for lock in held:
            stack.enter_context(lock.let_go())
        began = time.perf_counter()
        try:
            yield
        finally:
            if held[0].slot == "gpu":
                held[0].compile_s += time.perf_counter() - began


_waiting: list[int] = []
"""The threads waiting in autograd's engine for a backward, innermost last: the engine runs a GPU's share of it
on a device thread of its own, whose compiles and trusted autotuning count under the waiting thread's holds."""


def acting_thread() -> int:
    """The thread whose holds this one's GPU work counts under: its own, but on a thread that Python did not start
    (autograd's device thread, running a gold's backward kernels: they compiled for minutes holding the GPU
    shared, and every other evaluation's timing waited) and that holds nothing while another waits for a
    backward, the waiting one's. A thread of the evaluator's own (a keeper's other connection) is never another's."""
    me = threading.get_ident()
    callers = set(_waiting)
    if (len(callers) != 1 or me in callers or me in _kept or any(thread == me for thread, _ in list(_holders))
            or _started_by_python(me)):
        return me  # (two callers at once share autograd's device thread: which one's work it runs is not known)
    return _waiting[-1]


def _started_by_python(thread: int) -> bool:
    """Whether `thread` is one that threading started (or the main one). Not threading.current_thread(), which
    would register a thread of autograd's own as a dummy for good: one more thread for the guards' count, and
    an honest candidate's backward "left a thread running"."""
    found = next((each for each in threading.enumerate() if each.ident == thread), None)
    return found is not None and not isinstance(found, threading._DummyThread)


def _backward_acts_for_its_caller() -> None:
    """Wrap autograd's engine entry (torch.autograd.graph._engine_run_backward, torch 2.4+, wherever torch binds
    it) so that the thread calling it is `_waiting` while it runs."""
    try:
        import torch.autograd
        import torch.autograd.graph as graph
    except ImportError:
        return
    run = getattr(graph, "_engine_run_backward", None)
    if run is None or getattr(run, "tritonsmith_waits", False):
        return

    @functools.wraps(run)
    def _engine_run_backward(*args: object, **kwargs: object) -> object:
        caller = acting_thread()  # (a backward within one on autograd's thread, a reentrant checkpoint's: still
        _waiting.append(caller)  # the first caller's)
        try:
            return run(*args, **kwargs)
        finally:
            _waiting.remove(caller)
    _engine_run_backward.tritonsmith_waits = True
    for module in (graph, torch.autograd, sys.modules.get("torch.autograd.function")):
        if module is not None and getattr(module, "_engine_run_backward", None) is run:
            module._engine_run_backward = _engine_run_backward
