"""The candidate's process, from its fork in the host to the checker's first command: its reaper enters new
PID, mount and network namespaces where it can and forks it (PID 1 of its namespace); it closes what it
inherited, takes its own session and limits, mounts its own /proc before CUDA starts, is confined
(evaluate/confine.py), and then serves the checker (evaluate/worker.py). A failure on the way is written to
its job folder's stderr.log and ends it with NO_REPORT_EXIT.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from tritonsmith.evaluate import confine

NO_REPORT_EXIT = 3  # the candidate's process's exit code when it failed outside candidate code


def reap_candidate(job: dict[str, Any], commands: int, events: int, sandbox: dict[str, Any]) -> None:
    """The candidate's reaper: puts itself in new namespaces (its child is PID 1 of its own PID namespace, so
    everything the candidate starts dies with it), forks the candidate's process, and exits with its status
    (128 + N for a signal N)."""
    from tritonsmith.evaluate.gpu_lock import GpuLock
    # opened before the namespaces: a file open for writing through the new mounts would keep them writable
    gpu_lock = GpuLock(job.get("gpu_lock") if job["device"] != "cpu" else None)
    namespace_error = confine.enter_namespaces(sandbox["namespace_flags"]) if sandbox.get("namespaces") else (
        sandbox.get("namespaces_error") or "not available")
    pid = os.fork()
    if pid == 0:
        code = NO_REPORT_EXIT
        try:
            confine.die_with_parent()
            code = _candidate(job, commands, events, sandbox, namespace_error, gpu_lock)
        finally:
            os._exit(code)
    close_fds([commands, events])
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def _candidate(job: dict[str, Any], commands: int, events: int, sandbox: dict[str, Any],
               namespace_error: str | None, gpu_lock: Any) -> int:
    """The candidate's process: isolated and confined before it reads the checker's first command."""
    keep = {0, 1, 2, commands, events, *(gpu_lock.fds or ())}  # nothing else inherited stays open
    close_fds([int(fd) for fd in os.listdir("/proc/self/fd") if fd.isdigit() and int(fd) not in keep])
    _isolate(job)
    logs = False
    try:
        mounts, mount_error = [], None
        if namespace_error is None:
            try:
                mounts = confine.private_proc()  # before CUDA, which needs its own PID namespace's /proc
            except OSError as exc:
                mount_error = exc.strerror
        from tritonsmith.evaluate.triton_cache import use_job_cache
        caches = use_job_cache(job["job_dir"])  # before CUDA starts: it reads where its own cache is then
        if job["device"] != "cpu":
            import torch
            torch.cuda.init()  # the device files are opened before the filesystem is confined
        confinement = confine.confine_candidate(job["job_dir"], sandbox, namespace_error, mounts, mount_error)
        confinement["filesystem"] += "; " + caches
        _own_folder(job)  # after the mounts: a file open for writing keeps its mount from going read-only
        logs = True
        from tritonsmith.evaluate.worker import run_candidate_process
        run_candidate_process(job, commands, events, gpu_lock, confinement)
    except BaseException:  # noqa: B036 - the checker is told the status; the traceback goes to stderr.log
        import traceback
        if not logs:  # it failed while being confined: said in stderr.log all the same
            try:
                _own_folder(job)
            except OSError:
                pass
        traceback.print_exc()
        return NO_REPORT_EXIT
    return 0


def close_fds(fds: list[int]) -> None:
    """Close each of `fds` that is open."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _own_folder(job: dict[str, Any]) -> None:
    """Into the job folder (as the confinement mounted it), output to files there."""
    os.chdir(job["job_dir"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, name in ((1, "stdout.log"), (2, "stderr.log")):
        out = os.open(os.path.join(job["job_dir"], name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, fd)
        os.close(out)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)


def _isolate(job: dict[str, Any]) -> None:
    """Own session and process group, resource limits."""
    import resource
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    limits = job.get("limits", {})
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the file-size limit is the worker's, set before candidate code
    memory = limits.get("memory_bytes")
    if memory and job["device"] == "cpu":  # a GPU process needs a huge virtual address space
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    nproc = limits.get("processes")
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    os.environ["TMPDIR"] = job["job_dir"]
    import tempfile
    tempfile.tempdir = None  # the host may have asked already: Triton's ptxas files go to /tmp, which it may not write
