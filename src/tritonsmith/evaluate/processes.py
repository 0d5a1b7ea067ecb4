"""The caller's handles on its warm processes: a worker host (evaluate/host.py) and a device's reference
keeper (evaluate/keeper.py), each started, watched and stopped as a process group (runs in the caller; no
torch).

A host speaks JSON lines on its stdin and stdout: one job in, a `started` line, then the job's `finished`
message; `HostProcess.run` enforces the job's timeout and kills the job's process group when it runs out or
the pool is cancelled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tritonsmith.evaluate.host import kill_group

log = logging.getLogger("tritonsmith.evaluate")
_told: set[str] = set()  # what this process has already said about the sandbox


class DeviceError(RuntimeError):
    """The requested device cannot be used; the message says why and what to do."""


class EvaluationCancelled(RuntimeError):
    """The pool was cancelled (`WorkerPool.cancel`, e.g. on Ctrl-C) while this evaluation ran or waited."""


TAIL_BYTES = 4096


def log_tail(path: Path) -> str:
    """The last TAIL_BYTES of a log (a candidate's stdout, a worker's stderr), saying how much came before;
    "" where it cannot be read."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            text = handle.read().decode(errors="replace")
        return (f"[{size - TAIL_BYTES} earlier bytes not shown]\n" if size > TAIL_BYTES else "") + text
    except OSError:
        return ""


def last_line(text: str) -> str:
    """The last non-empty line of `text` (a process's own account of why it stopped), at most 300 characters."""
    return next((line.strip()[:300] for line in reversed(text.splitlines()) if line.strip()), "")


class HostProcess:
    """One warm `tritonsmith.evaluate.host` process bound to one device."""

    def __init__(self, device: str, env: dict[str, str], log_path: Path, start_timeout_s: float = 300):
        self.device_request = device
        self.closed, self._closing = False, threading.Lock()
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tritonsmith.evaluate.host", device],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env, start_new_session=True)
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.busy = False  # a job is in flight (`run`)
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._next(start_timeout_s)
        if ready is None or ready.get("event") != "ready":
            self.close()
            last = last_line(log_tail(log_path))
            raise DeviceError(f"the evaluator's worker failed to start{': ' + last if last else ''} (its log: {log_path})")
        if ready.get("error"):
            self.close()
            raise DeviceError(ready["error"])
        self.info = ready
        _tell_sandbox(ready.get("sandbox") or {})

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                continue
        self.lines.put({"event": "eof"})

    def _next(self, timeout: float | None) -> dict[str, Any] | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, job: dict[str, Any], timeout_s: float,
            cancelled: threading.Event | None = None) -> tuple[dict[str, Any] | None, bool]:
        """(the host's 'finished' message or None if the host died, whether the job timed out). Raises
        EvaluationCancelled, having killed the job, when `cancelled` is set meanwhile."""
        job = dict(job, timeout_s=timeout_s)  # the host enforces it too, should this process die or hang
        self.busy = True
        try:
            outcome = self._run(job, timeout_s, cancelled)
        except EvaluationCancelled:  # its job killed, and the host's account of it read
            self.busy = False
            raise
        self.busy = False  # (not where the wait was left by another exception, a Ctrl-C's: the job may run on,
        # and the host reads no shutdown till it ends: `eval` stopped by SIGTERM waited out close's 5 s, killed)
        return outcome

    def _run(self, job: dict[str, Any], timeout_s: float,
             cancelled: threading.Event | None) -> tuple[dict[str, Any] | None, bool]:
        try:
            self.process.stdin.write((json.dumps(job) + "\n").encode())
            self.process.stdin.flush()
        except OSError:
            return None, False
        started = self._next(60)
        if started is None or started.get("event") != "started":
            return None, False
        deadline = time.monotonic() + timeout_s
        timed_out = False
        while True:
            wait = 30 if timed_out else max(deadline - time.monotonic(), 0.0)
            message = self._next(min(wait, 0.25) if cancelled is not None else wait)
            if message is None and cancelled is not None and cancelled.is_set():
                kill_group(started["pid"])
                self._next(30)  # the host's account of the killed job
                raise EvaluationCancelled("the evaluation was cancelled")
            if message is None and not timed_out and time.monotonic() < deadline:
                continue
            if message is not None and message.get("event") != "eof":
                return message, timed_out
            if message is not None or timed_out:  # the host died, or did not answer after the kill
                kill_group(started["pid"])
                return None, timed_out
            timed_out = True
            kill_group(started["pid"])

    def close(self) -> None:
        """Asked to shut down and given 5 s when idle; killed at once with its job when busy (a host reads its
        stdin only between jobs: a pool closed at Ctrl-C would wait out every busy host in turn). A second close
        does nothing: the pid, reaped by the first, may be another process's by then."""
        with self._closing:  # (the pool's close, and a job's thread that found the host dead, may meet)
            if self.closed:
                return
            self.closed = True
        if self.process.poll() is None and not self.busy:
            try:
                self.process.stdin.write(b'{"event": "shutdown"}\n')
                self.process.stdin.flush()
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        kill_group(self.process.pid)
        self.process.wait()
        self.log.close()


class KeeperProcess:
    """The reference keeper of one device (evaluate/keeper.py): started beside the hosts, asked by their
    workers. If it cannot start, jobs make their own references; if it exits (its CUDA context failed on
    some task's kernel), another is started, at most `MAX_RESTARTS` times."""

    MAX_RESTARTS = 3

    def __init__(self, socket_path: Path, device: str, env: dict[str, str], log_path: Path, share: int = 1):
        """`share`: how many keepers the device has; each keeps that share of the references' memory."""
        self.socket_path, self.device, self.env, self.share = socket_path, device, env, share
        self.log = open(log_path, "ab")
        self.restarts = 0
        self.closed = False  # (then never started again: `path`, `restart`)
        self.lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen([sys.executable, "-m", "tritonsmith.evaluate.keeper", str(self.socket_path),
                                         self.device, str(self.share)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log, env=self.env, start_new_session=True)
        self.ready = threading.Event()
        threading.Thread(target=self._await_ready, args=(self.process, self.ready), daemon=True).start()

    @staticmethod
    def _await_ready(process: subprocess.Popen, ready: threading.Event) -> None:
        for line in process.stdout:
            if line.strip() == b"ready":
                ready.set()
                break
        while process.stdout.read1(1 << 16):  # (the keeper sends its stdout away once ready; should a write come,
            pass  # it must not block it: a full pipe stood a keeper still with the GPU's lock held)

    def path(self, wait_s: float = 300) -> str | None:
        """The socket to ask, once the keeper is ready; None if it died or never became ready."""
        with self.lock:
            if self.closed:
                return None
            if self.process.poll() is not None and self.ready.is_set() and self.restarts < self.MAX_RESTARTS:
                self.restarts += 1
                self.log.write(f"tritonsmith: the reference keeper exited with status {self.process.returncode}; "
                               f"starting another ({self.restarts} of {self.MAX_RESTARTS})\n".encode())
                self.log.flush()
                self._start()
            process, ready = self.process, self.ready
        deadline = time.monotonic() + wait_s
        while process.poll() is None and not ready.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:  # (a keeper that exits before it is ready is not waited for)
                return None
        return str(self.socket_path) if ready.is_set() and process.poll() is None else None

    def forget(self, task_key: str, timeout_s: float = 30.0) -> bool:
        """Ask the keeper to let a task's references go (Keeper.forget); False if it could not be asked."""
        from tritonsmith.evaluate.keeper import receive_blob, send_blob
        path = self.path(wait_s=0)
        if path is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(timeout_s)
                connection.connect(path)
                send_blob(connection, json.dumps({"forget": task_key}).encode())
                receive_blob(connection)
        except (OSError, ConnectionError):
            return False
        return True

    def making(self, timeout_s: float = 10.0) -> tuple[int, str | None, bool] | None:
        """(the keeper's pid, the task key whose references it is making now or None, whether it answered at
        all: one that does not within `timeout_s` is stuck); None when no keeper is running to ask."""
        from tritonsmith.evaluate.keeper import receive_blob, send_blob
        path = self.path(wait_s=0)
        if path is None:
            return None
        with self.lock:
            pid = self.process.pid
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(timeout_s)
                connection.connect(path)
                send_blob(connection, json.dumps({"making": True}).encode())
                reply = pickle.loads(receive_blob(connection))
        except TimeoutError:  # connected, asked, and no answer: stuck
            return pid, None, False
        except (OSError, ConnectionError, pickle.UnpicklingError, EOFError):  # gone, replaced, or refusing this
            return pid, None, True  # process (a pool run with no_new_privs): nothing says it is stuck
        return pid, reply.get("making") if isinstance(reply, dict) else None, True

    def restart(self, pid: int, why: str) -> None:
        """Stop the keeper `pid` and start another now (not counted among the restarts after a crash), unless it
        was replaced meanwhile: its making of a task's references outlasted the job that asked, or it stopped
        answering, and it would go on holding the device's making lock (alone, for a second try) and the
        keeper's share of memory for the tasks after it. The jobs it was lending to lose their connection and
        make their own references."""
        with self.lock:
            if self.closed or self.process.pid != pid:  # (closed meanwhile: a keeper started now would outlive
                return  # its pool)
            old = self.process
            kill_group(old.pid)
            self.log.write(f"tritonsmith: the reference keeper was stopped: {why}; starting another\n".encode())
            self.log.flush()
            self._start()
        with contextlib.suppress(subprocess.TimeoutExpired):  # reaped outside the lock: one stuck in the driver
            old.wait(timeout=30)  # may be slow to go, and the next jobs' `path` need not wait for it

    def usable(self) -> bool:
        """Running, or to be started again when next asked (`path`: one that was ready once)."""
        return not self.closed and (self.process.poll() is None
                                    or (self.ready.is_set() and self.restarts < self.MAX_RESTARTS))

    def close(self) -> None:
        """Killed with its process group, once: after it, nothing starts another (a `restart` racing it would
        leave a keeper no one closes)."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            process = self.process
        kill_group(process.pid)
        process.wait()
        self.log.close()


class Keepers:
    """The reference keepers of one device, and which of them keeps each task's references. A keeper makes
    one task's references at a time (a task's compiling and autotuning can take a minute), so a device with
    several workers has several keepers, one process each, making several tasks' references at once. Every
    job of a task asks the keeper that made its references (they are made once and lent after); a task not
    seen yet goes to the keeper with the fewest jobs in flight, then the fewest tasks."""

    REMEMBERED = 4096
    """Tasks whose keeper is remembered (the least recently asked for are forgotten first)."""

    def __init__(self, members: list[Any]):
        self.members = members
        self.owner: OrderedDict[str, int] = OrderedDict()  # task key -> the index of its keeper
        self.in_flight = [0] * len(members)
        self.lock = threading.Lock()

    @classmethod
    def start(cls, count: int, folder: Path, name: str, device: str, env: dict[str, str]) -> Keepers:
        members: list[KeeperProcess] = []
        try:
            for i in range(count):
                members.append(KeeperProcess(folder / f"keeper-{name}-{i}.sock", device, env,
                                             folder / f"keeper-{name}-{i}.log", share=count))
        except BaseException:
            for keeper in members:
                keeper.close()
            raise
        return cls(members)

    def forget(self, task_key: str) -> None:
        """The task's keeper lets its references go (a finished task of a bench); the task is no one's then."""
        with self.lock:
            index = self.owner.pop(task_key, None)
        if index is not None:
            self.members[index].forget(task_key)

    @contextlib.contextmanager
    def lend(self, task_key: str) -> Iterator[Any]:
        """The keeper of this task, counted busy while the job that asks it runs."""
        with self.lock:
            index = self.owner.get(task_key)
            if index is None or not self.members[index].usable():  # a keeper gone for good hands its tasks on
                owned = [0] * len(self.members)
                for i in self.owner.values():
                    owned[i] += 1
                usable = [i for i, keeper in enumerate(self.members) if keeper.usable()] or list(range(len(self.members)))
                index = min(usable, key=lambda i: (self.in_flight[i], owned[i], i))
            self.owner[task_key] = index
            self.owner.move_to_end(task_key)
            while len(self.owner) > self.REMEMBERED:
                self.owner.popitem(last=False)
            self.in_flight[index] += 1
        try:
            yield self.members[index]
        finally:
            with self.lock:
                self.in_flight[index] -= 1

    def close(self) -> None:
        for keeper in self.members:
            keeper.close()


def _tell_sandbox(sandbox: dict[str, Any]) -> None:
    """Say once per process what confinement this machine cannot give candidates (it is in every result too)."""
    missing = []
    if not sandbox.get("landlock_abi"):
        missing.append("no Landlock (filesystem writes confined only by a mount namespace, if any)")
    if not sandbox.get("namespaces"):
        missing.append(f"no namespaces ({sandbox.get('namespaces_error')}): candidates keep the network, and a "
                       "process one detaches can outlive its job if it kills its host")
    elif not sandbox.get("network_namespace"):
        missing.append(f"no network namespace ({sandbox.get('namespaces_error')}): candidates keep UDP")
    text = "; ".join(missing)
    if missing and text not in _told:
        _told.add(text)
        log.warning("the evaluator's sandbox is partial on this machine: %s", text)
