"""The reference keeper: a process beside a device's workers (one per worker on a GPU: processes.Keepers) that
computes each task's inputs and reference outputs once and lends them to every job of that task (runs beside
the workers, never beside candidate code). A device's keepers each keep their share of its memory.

Run as `python -m tritonsmith.evaluate.keeper SOCKET DEVICE [KEEPERS]` by the pool. A job's checker (evaluate/checker.py,
the process that never runs candidate code) connects to SOCKET and sends its job (the task file, cases, seeds, tolerances); the keeper
answers with the references pickled so that GPU tensors travel as CUDA IPC handles (torch.multiprocessing's
reduction) and everything else by value: the checker maps the GPU memory, copies it into its own, and
lets the mapping go. A peer with no_new_privs set (every candidate's process, evaluate/confine.py) is refused. No shared-memory manager is involved, so nothing a
candidate writes to an inherited file can break the keeper. Each kept tensor's checksum is taken when it
is made and checked before it is lent again: if a candidate ever reached the keeper's memory through a
leaked IPC handle and changed it, the task's references are made afresh rather than lent.

A benchmark's reference may be a Triton kernel that faults (an illegal address): CUDA errors are sticky, so
one such fault would fail every later task's references here. After any failure the keeper checks its
CUDA context; if that is broken it answers "unavailable" (each job then makes its own references, so the
fault is charged to the task that has it) and exits, and the pool starts a new keeper.

Each connection is served in a thread of its own. References are made one task at a time (`Keeper.making`,
held through the lending), and every use of CUDA in the process is under `Keeper.filling`. The pool may ask
what is being made (`{"making": true}`): a keeper whose making outlasts the job that asked for it, or that
does not answer, is restarted (pool.py, `_run_job`); a making that lasts writes the threads' stacks to the log.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import json
import os
import pickle
import signal
import socket
import struct
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

from tritonsmith.util.tensors import out_of_memory

HEADER = struct.Struct("!Q")
STACKS_EVERY_S = 180.0
BROKEN_EXIT = 3
"""The keeper's exit status when its CUDA context failed (the pool starts another)."""


def send_blob(sock: socket.socket, data: bytes) -> None:
    sock.sendall(HEADER.pack(len(data)) + data)


def receive_blob(sock: socket.socket) -> bytes:
    size = HEADER.unpack(_receive(sock, HEADER.size))[0]
    return _receive(sock, size)


def _receive(sock: socket.socket, size: int) -> bytes:
    chunks, received = [], 0
    while received < size:
        chunk = sock.recv(min(size - received, 1 << 24))
        if not chunk:
            raise ConnectionError("the reference keeper closed the connection")
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def lend(state: Any) -> bytes:
    """`state` pickled with its GPU tensors as CUDA IPC handles and its CPU tensors by value."""
    import torch
    from torch.multiprocessing.reductions import reduce_tensor

    def reduce(tensor: Any) -> Any:
        if tensor.requires_grad and not tensor.is_leaf:  # an output of autograd: its value is what counts
            tensor = tensor.detach()
        return reduce_tensor(tensor) if tensor.is_cuda else tensor.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, torch.Tensor: reduce, torch.nn.Parameter: reduce}
    pickler.dump(state)
    return buffer.getvalue()


def checksum(state: Any) -> list[int]:
    """A sum of the bytes of every tensor: changes when any of them is written."""
    import torch

    from tritonsmith.evaluate.runtime import tensors_of
    return [int(t.detach().contiguous().view(-1).view(torch.uint8).sum(dtype=torch.int64)) if t.numel() else 0
            for t in tensors_of(state)]


def task_modules_dropped(key: str) -> list[Any]:
    """Take a task's module out of sys.modules, with the modules it loaded under its name (a KernelBench task's
    problem and reference, with the reference's models) and its trusted baseline: returned, their last holder,
    for the caller to let go (`Keeper.free`). Other threads import meanwhile: the names are read from a copy."""
    names = [f"tritonsmith_task_{key[:16]}", f"tritonsmith_trusted_baseline_{key[:16]}"]
    found = [m for m in list(sys.modules) if any(m == n or m.startswith(n + ".") for n in names)]
    return [module for module in (sys.modules.pop(m, None) for m in found) if module is not None]


class Keeper:
    def __init__(self, device: str, limit_bytes: int):
        self.device = device
        self.limit_bytes = limit_bytes
        self.kept: OrderedDict[str, tuple[Any, list[int], int]] = OrderedDict()  # key -> (state, checksum, bytes)
        self.locks: dict[str, threading.Lock] = {}
        self.lock = threading.Lock()
        self.filling = threading.Lock()
        """Held while this process allocates GPU memory or uses what its cache holds for a purpose (references
        made from memory it filled, a checksum, the baseline timed alone): its cache is not given back, nor lent
        memory collected, meanwhile (`release_when_idle`)."""
        self.making = threading.Lock()
        """References are made one task at a time here (what a reference reads unwritten must be the memory its
        own job filled, and one task's perf inputs can take GBs); the device's other keepers, each a process
        of its own (processes.Keepers), make other tasks' at the same time."""
        self.too_large: dict[str, str] = {}
        """Tasks whose references are more than this keeper keeps, and why it says so."""
        self.broken: str | None = None
        """Why this keeper's CUDA context can no longer be used, once it cannot."""
        self.making_now: str | None = None
        """The task key whose references are being made now (`make`), for the pool's `{"making": ...}` question."""
        self.stacks_every_s = STACKS_EVERY_S
        """While one making lasts longer, every thread's stack is written to the log this often (a TritonBench-G pass
        stood still behind a keeper that held the GPU, and where it stood was not known)."""

    def serve(self, connection: socket.socket) -> None:
        with connection:
            if _confined_peer(connection):
                return  # a candidate's process: the expected outputs are never its to read
            try:
                job = json.loads(receive_blob(connection))
            except (OSError, ConnectionError, ValueError):
                return
            if isinstance(job, dict) and job.get("making") is True:  # the pool: is a timed-out job's task being made?
                with contextlib.suppress(OSError):
                    send_blob(connection, pickle.dumps({"making": self.making_now}))
                return
            if isinstance(job, dict) and isinstance(job.get("forget"), str):
                gone = self.forget(job["forget"])  # held by the list alone, which `free` empties
                with contextlib.suppress(OSError):  # answered before their memory is freed: that waits for a
                    send_blob(connection, pickle.dumps({"forgotten": job["forget"]}))  # making in progress
                self.free(gone)
                return
            try:
                reply = self.references(job)
            except Exception as exc:  # noqa: BLE001 - the checker makes its own references instead
                reply = _unavailable(f"{type(exc).__name__}: {exc}")
                self.check_context(str(exc))
            if self.broken is not None:
                reply = _unavailable(self.broken)
            try:
                send_blob(connection, reply)
            except OSError:
                pass
            if self.broken is not None:
                os._exit(BROKEN_EXIT)  # the jobs in flight lose their connection and make their own references

    def references(self, job: dict[str, Any]) -> bytes:
        """The pickled references of the job's task: kept ones if intact, else made now; for a task whose
        references are more than this keeper keeps, lent to the job they were made for where its copy fits
        beside them (`copy_fits`), and "unavailable" to later jobs (each makes its own: kept, this keeper's
        share would be exceeded)."""
        key = job["task_key"]
        if key in self.too_large:
            return _unavailable(self.too_large[key])
        with self.lock:
            task_lock = self.locks.setdefault(key, threading.Lock())
        with task_lock:
            if key in self.too_large:  # found so by the job this one waited for
                return _unavailable(self.too_large[key])
            with self.lock:
                kept = self.kept.get(key)
                if kept is not None:
                    self.kept.move_to_end(key)
            from tritonsmith.evaluate.runtime import held_bytes
            with self.making:  # through the lending: a job whose references are ready never waits for another making
                intact = False
                if kept is not None:  # checksums allocate on the GPU: never while another task's are made from filled memory
                    with self.on_gpu(job), self.filling:
                        intact = checksum(kept[0]) == kept[1]
                if intact:
                    if kept[0].get("trusted_baseline") is None and not job.get("gold"):
                        with self.filling:  # made for a gold's job: the baseline alone is timed for this first other one
                            kept[0]["trusted_baseline"] = self.time_baseline(kept[0], job)
                    return self.lent({"state": kept[0], "made": "kept"})
                stopped = None
                try:
                    state, error = self.make(job)
                except TooLargeToKeep as exc:  # stopped making: nor kept nor copied, they would be for nothing
                    stopped = str(exc)
                if stopped is not None:  # (past the except block: its traceback held what was made)
                    return self.let_go(key, stopped)
                self.give_back()
                size = 0 if error else held_bytes(state)
                if size > self.limit_bytes:
                    why = (f"the task's references take {size / 2**30:.1f} GiB, more than this keeper keeps "
                           f"({self.limit_bytes / 2**30:.1f} GiB)")
                    if self.copy_fits(size):  # made already: this job need not make them again
                        self.too_large[key] = f"{why}: each job makes its own"
                        return self.lent({"state": state, "made": f"now, for this job only (not kept: {why})"})
                    state = None
                    return self.let_go(key, why)
                if error is not None:
                    self.check_context(error)
                    return lend({"error": error})
                with self.on_gpu(job), self.filling:
                    digest = checksum(state)
                made = "now" if kept is None else "again: changed"
                evicted = []
                with self.lock:  # within this keeper's share of the device's memory
                    self.kept[key] = (state, digest, size)
                    self.kept.move_to_end(key)  # (the newest, whatever was kept under its key before)
                    while self.kept and sum(k[2] for k in self.kept.values()) > self.limit_bytes:
                        evicted.append(self.kept.popitem(last=False))
                dropped = [module for old, _ in evicted for module in task_modules_dropped(old)]  # their modules too
                with self.filling:  # their memory freed as all CUDA work here is (and the changed copy's)
                    del evicted
                    kept = None
                self.free(dropped)
                return self.lent({"state": state, "made": made})

    def let_go(self, key: str, why: str) -> bytes:
        """The reply for a task whose references are more than this keeper keeps, nor fit to be copied: each job,
        this one too, makes its own. What the keeper made of them is let go, with the task's module and what
        it made at import (a harness's weights)."""
        self.too_large[key] = f"{why}: each job makes its own"
        self.free(task_modules_dropped(key))
        self.give_back()
        return _unavailable(self.too_large[key])

    def stop_when_too_large(self, size: int) -> None:
        """Called while references are made, once they are known to take `size` bytes at least: stop making them
        (TooLargeToKeep) where they will be neither kept nor copied by the job (`copy_fits`, with this keeper's
        cache given back first, as it is before the copy is judged), which makes its own. KernelBench's 19_ReLU
        was made twice so on an H100, by the keeper and by the job."""
        if size <= self.limit_bytes:
            return
        self.release_cached()  # (under `filling`, as the making is)
        if not self.copy_fits(size):
            raise TooLargeToKeep(f"the task's references take {size / 2**30:.1f} GiB at least, more than this keeper "
                                 f"keeps ({self.limit_bytes / 2**30:.1f} GiB), nor could the job copy them")

    def lent(self, reply: dict[str, Any]) -> bytes:
        """`lend(reply)` with nothing else of this process on the GPU: its tensors' IPC handles are taken from the
        caching allocator, and every other use of CUDA here (making, checksums, giving memory back) is under
        `filling` too, so that no two threads of a keeper meet in CUDA's or the allocator's locks (a keeper that
        held the GPU's lock shared stood still, its CPU idle, and with it every evaluation on that GPU)."""
        with self.filling:
            return lend(reply)

    def forget(self, key: str) -> list[Any]:
        """Let a task's kept references go (its jobs are done: a bench's finished task): a job that asks again
        has them made again. Returns them, and the task's module with what it made at import (a perf script's
        inputs, a KernelBench harness's weights, held by the module for good otherwise), in a list for `free`
        to give their memory back, so that later tasks have it."""
        with self.lock:
            gone = self.kept.pop(key, None)
            self.too_large.pop(key, None)
        return [gone, *task_modules_dropped(key)]

    def free(self, gone: list[Any]) -> None:
        """Free what `forget` (or `task_modules_dropped`) let go (the only holder of it: `gone`, emptied here) and
        give its memory back, as all CUDA work here is (under `filling`: after a making in progress)."""
        if not any(item is not None for item in gone):
            return
        import gc
        with self.filling:
            gone.clear()
            gc.collect()  # a module is a cycle (its functions' globals): what it holds goes only so
            self.release_cached()

    def copy_fits(self, size: int) -> bool:
        """Whether the job may copy references of `size` bytes, too large to keep, that this keeper holds while it
        does (lent once, then let go: torch keeps lent GPU memory until the borrower lets it go, and
        `release_cached` gives it back with the next task): with as much again free for the candidate's process
        (the same checks' inputs, and its outputs), which starts while the keeper still holds them. Else the
        keeper lets them go and the job makes its own: time, not memory. KernelBench's 19_ReLU on an H100: 36 GiB
        of references, copied beside the keeper's with 41 GiB free, left no room for the candidate's inputs.
        (The job could use the lent memory without a copy, but a job killed while it holds lent memory leaves
        it held in the keeper for good: torch frees it on the borrower's clean exit only.)"""
        if self.device == "cpu":
            return True
        import torch
        free, _ = torch.cuda.mem_get_info()
        return 2 * size < free

    def on_gpu(self, job: dict[str, Any]) -> contextlib.AbstractContextManager:
        """GPU work of this keeper's own that may overlap other evaluations', never a timing (GpuLock.shared)."""
        from tritonsmith.evaluate.gpu_lock import holding
        return holding(job.get("gpu_lock") if self.device != "cpu" else None)

    def make(self, job: dict[str, Any]) -> tuple[Any, str | None]:
        """The task's references, or why they cannot be made. One that runs out of GPU memory is made once
        more, after this keeper's cache is given back, while no other keeper of the device makes any (the
        device's keepers make side by side, each holding the GPU's making lock shared; the second try holds it
        alone): what the others were making may have been what was missing."""
        import faulthandler
        self.making_now = job["task_key"]
        if self.stacks_every_s and sys.stderr is not None:  # a making that stands still says where, in this keeper's log
            faulthandler.dump_traceback_later(self.stacks_every_s, repeat=True, file=sys.stderr)
        try:
            return self._make(job)
        finally:
            faulthandler.cancel_dump_traceback_later()
            self.making_now = None

    def _make(self, job: dict[str, Any]) -> tuple[Any, str | None]:
        error, short = None, False
        self.give_back()  # before waiting for the making lock: a keeper that waits (behind another's second
        # try alone) holding its cache keeps from that try the memory it waits for (an H200 pass stopped so)
        try:
            with self.making_lock(job, alone=False), self.filling:
                return self.attempt(job), None
        except TooLargeToKeep:
            raise
        except Exception as exc:  # noqa: BLE001 - the task's own code: say what it raised
            error, short = _failure(exc), out_of_memory(exc)
        # past the except block: its traceback held the first try's references and inputs alive; and the task's
        # module holds what it made at import (a KernelBench harness's model weights, a perf script's inputs)
        self.free(task_modules_dropped(job["task_key"]))
        if not short or self.device == "cpu":
            return None, error
        import gc
        gc.collect()
        self.check_context(error)
        if self.broken is not None:
            return None, error
        self.give_back()
        try:
            with self.making_lock(job, alone=True):
                self.settle()
                with self.filling:
                    return self.attempt(job), None
        except TooLargeToKeep:
            raise
        except Exception as exc:  # noqa: BLE001
            return None, _failure(exc) + " (also when made again with no other keeper of this GPU making references)"

    def settle(self, every_s: float = 1.25, longest_s: float = 6.0) -> None:
        """Before a second try alone: wait while the GPU's free memory still grows (every `every_s`, for
        `longest_s` at most), as the device's other keepers, their making done, give their caches back
        (`release_when_idle`, every second)."""
        if self.device == "cpu":
            return
        free, waited = self.free_memory(), 0.0
        while waited < longest_s:
            time.sleep(every_s)
            waited += every_s
            now = self.free_memory()
            if now <= free:
                return
            free = now

    def free_memory(self) -> int:
        import torch
        return torch.cuda.mem_get_info()[0]

    def making_lock(self, job: dict[str, Any], alone: bool) -> contextlib.AbstractContextManager:
        """The device's making lock (a GpuLock on a file beside its GPU lock, whose turnstile keeps a second try
        from being starved): shared while references are made, alone for a second try; nothing on the CPU."""
        from tritonsmith.evaluate.gpu_lock import holding, making_lock_path
        return holding(making_lock_path(job.get("gpu_lock")) if self.device != "cpu" else None, alone, slot="making")

    def attempt(self, job: dict[str, Any]) -> Any:
        from tritonsmith.evaluate.references import References
        from tritonsmith.evaluate.runtime import import_file
        evaluation = References(dict(job, device=self.device, keeper_keeps=self.limit_bytes))
        evaluation.stop_when_too_large = self.stop_when_too_large
        try:
            evaluation.task = import_file(job["task_path"], f"tritonsmith_task_{job['task_key'][:16]}")
            evaluation.configure_task()
            evaluation.on_gpu = self.device != "cpu"
            evaluation.compute_references()
        finally:
            evaluation.gpu_lock.close()
        return evaluation.reference_state()

    def time_baseline(self, state: dict[str, Any], job: dict[str, Any]) -> dict[str, Any] | None:
        """The task's baseline timed alone on kept references (References.time_baseline); the task's own code makes
        the inputs of after-timing checks left for later."""
        from tritonsmith.evaluate.references import References
        from tritonsmith.util.modules import load_once
        evaluation = References(dict(job, device=self.device))
        evaluation.use_reference_state(state)
        try:
            if any(check.get("later") for check in evaluation.after_timing_checks):  # as `attempt` named it
                evaluation.task = load_once(f"tritonsmith_task_{job['task_key'][:16]}", job["task_path"])
            evaluation.time_baseline()
        finally:
            evaluation.gpu_lock.close()
        return evaluation.trusted_baseline

    def release_when_idle(self, every_s: float = 1.0, stop: threading.Event | None = None) -> None:
        """Give the cache back every `every_s` while this keeper makes nothing (the pool's keepers run this in a
        thread of their own): the memory of references a job has copied and let go, or that a making freed, goes
        back to the GPU at once, not when this keeper next makes something (an H200 pass stood still for minutes
        while the keepers held 139 of 144 GB, one of them 52 GB making nothing)."""
        stop = stop or threading.Event()
        while not stop.wait(every_s):
            if not self.filling.acquire(blocking=False):  # never beside this process's own allocations: an
                continue  # allocation short of memory collects lent memory itself, holding the allocator's lock,
            try:  # and a collection here beside it (the limbo's lock, then the allocator's) would deadlock
                self.release_cached()
            except Exception:  # noqa: BLE001 - a broken CUDA context: the job that finds it says so (check_context)
                pass
            finally:
                self.filling.release()

    def give_back(self) -> None:
        """`release_cached` under `filling`, as all of this process's CUDA work is (`lent`)."""
        with self.filling:
            self.release_cached()

    def release_cached(self) -> None:
        """Give back the memory a task's making freed, and that of lent tensors the jobs have let go."""
        if self.device != "cpu":
            import torch
            torch.cuda.ipc_collect()
            torch.cuda.empty_cache()

    def check_context(self, error: str) -> None:
        """After a failure: is the CUDA context still usable? A sticky error (an illegal address in some
        task's kernel, here or in another thread) fails every later call, so this keeper must stop."""
        if self.device == "cpu":
            return
        import torch
        try:
            with self.filling:  # it allocates (`release_when_idle`)
                probe = torch.ones(16, device="cuda")
                if float((probe + probe).sum()) != 32.0:
                    raise RuntimeError("a probe computation gave a wrong sum")
                torch.cuda.synchronize()
        except Exception as exc:  # noqa: BLE001 - anything here means the context is gone
            self.broken = (f"the reference keeper's CUDA context failed ({type(exc).__name__}: {exc}; "
                           f"first seen as: {error})")


class TooLargeToKeep(Exception):
    """A keeper's making stopped: the references will be more than it keeps, and too large for the job to copy."""


def _failure(exc: BaseException) -> str:
    """Why a task's references could not be made, in one line."""
    from tritonsmith.evaluate.runtime import TaskFailure
    if isinstance(exc, TaskFailure):
        return str(exc)
    return f"the task's references could not be made: {type(exc).__name__}: {exc}"


def _unavailable(reason: str) -> bytes:
    return pickle.dumps({"unavailable": reason}, protocol=pickle.HIGHEST_PROTOCOL)


def _confined_peer(connection: socket.socket) -> bool:
    """Whether the connecting process runs with no_new_privs, as only a candidate's process does (or is gone)."""
    try:
        pid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
        with open(f"/proc/{pid}/status") as handle:
            return any(line.split() == ["NoNewPrivs:", "1"] for line in handle)
    except (OSError, struct.error):
        return True


def main(argv: list[str]) -> int:
    import faulthandler
    import signal
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: every thread's stack, in its log
    path, requested = argv[0], argv[1] if len(argv) > 1 else "cuda"
    share = max(1, int(argv[2])) if len(argv) > 2 else 1  # the device's keepers: each keeps its share
    if requested == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    import torch

    device = "cuda" if requested != "cpu" and torch.cuda.is_available() else "cpu"
    if device == "cpu":
        from tritonsmith.evaluate.autotuning import autotune_on_interpreter
        autotune_on_interpreter()
        limit = 4 << 30
    else:
        limit = int(torch.cuda.get_device_properties(0).total_memory * 0.25)
    keeper = Keeper(device, int(os.environ.get("TRITONSMITH_KEEPER_BYTES") or limit) // share)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    print("ready", flush=True)
    # Nothing reads our stdout after "ready": what a task's code prints (some golds print whole tensors on every
    # call) would fill the pipe, and the keeper would stand still in a write, holding the GPU's and the making
    # locks, with every other evaluation on the device waiting behind it (a TritonBench-G pass stood still so).
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.close(quiet)
    watcher = threading.Thread(target=_exit_with_parent, daemon=True)
    watcher.start()
    if device != "cpu":
        threading.Thread(target=keeper.release_when_idle, daemon=True).start()
    while True:
        connection, _ = server.accept()
        threading.Thread(target=keeper.serve, args=(connection,), daemon=True).start()


def _exit_with_parent() -> None:
    """The pool holds our stdin open; when it goes, so do we, with what we started: Triton's compilers (ptxas)
    compiled on for minutes after a bench was killed at once. The pool starts us in a group of our own, which
    is killed whole (never a group we did not start: a shell's)."""
    sys.stdin.buffer.read()
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
