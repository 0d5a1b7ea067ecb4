"""A warm worker host: imports torch and triton once, then forks one isolated child per candidate.

Run as `python -m tritonsmith.evaluate.host DEVICE`. It speaks JSON lines on stdin/stdout with the
pool (pool.py). The host itself never initialises CUDA (a forked child of a CUDA process cannot use
the GPU) and never imports candidate code; it is a child subreaper, so anything a candidate leaves
behind is reparented to it and killed after the job.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import select
import signal
import sys
import time
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
RESULT_LIMIT = 64 * 1024 * 1024
HOST_GRACE_S = 10  # the host kills a job this long after its timeout if the caller has not (the caller died)
NO_REPORT_EXIT = 3  # the worker's exit code when the evaluation ended without writing its result


def main(argv: list[str]) -> int:
    requested = argv[0] if argv else "auto"
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray prints from imports go to the host's log, never into the protocol
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass

    def send(message: dict[str, Any]) -> None:
        proto_out.write(json.dumps(message).encode() + b"\n")

    import torch  # noqa: F401 - imported once here so that every forked child starts warm

    info = _probe(requested)
    if info.get("error"):
        send({"event": "ready", **info})
        return 1
    if info["device"] == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    import torch._dynamo  # noqa: F401 - the guards' dispatch mode imports it (~1 s): pay once, not per job
    import triton  # noqa: F401

    from tritonsmith.evaluate import worker  # noqa: F401 - pre-import the worker's own modules
    send({"event": "ready", **info, "pid": os.getpid()})

    for line in proto_in:
        if not line.strip():
            continue
        job = json.loads(line)
        if job.get("event") == "shutdown":
            break
        job["device"] = info["device"]
        send(_run(job, send, (proto_in, proto_out)))
    return 0


def _run(job: dict[str, Any], send, protocol_files) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    nonce = secrets.token_hex(16)
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        reported = []
        try:
            os.close(read_end)
            for handle in protocol_files:
                os.close(handle.fileno())
            _die_with_parent()
            _isolate(job)
            from tritonsmith.evaluate.worker import run_job

            def write_line(message: dict[str, Any], dumps=json.dumps, write=os.write) -> None:  # bound before candidate code
                data = (nonce + dumps(message, default=_jsonable) + "\n").encode()
                view = memoryview(data)
                while view:
                    view = view[write(write_end, view):]

            def report(result: dict[str, Any], append=reported.append) -> None:
                write_line(result)
                append(True)
            run_job(job, report, lambda phase: write_line({"phase": phase}))
        finally:
            os._exit(0 if reported else NO_REPORT_EXIT)
    os.close(write_end)
    send({"event": "started", "pid": pid})
    grace = job.get("host_grace_s", HOST_GRACE_S)
    deadline = started + job["timeout_s"] + grace if job.get("timeout_s") else None
    caller = select.poll()
    caller.register(protocol_files[0].fileno(), 0)  # no events asked: only a hang-up (the caller died) is reported
    chunks, size, status, killed_by_host, orphaned = [], 0, None, False, False
    while status is None:
        ready, _, _ = select.select([read_end], [], [], 0.05)
        if ready:
            chunk = os.read(read_end, 1 << 20)
            if chunk and size < RESULT_LIMIT:
                chunks.append(chunk)
                size += len(chunk)
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            status = wait_status
        elif not killed_by_host and ((deadline and time.perf_counter() > deadline) or caller.poll(0)):
            orphaned = bool(caller.poll(0))
            killed_by_host = True  # the caller is gone or did not enforce the timeout: nobody else will
            kill_group(pid)
    os.set_blocking(read_end, False)
    try:
        while size < RESULT_LIMIT and (chunk := os.read(read_end, 1 << 20)):
            chunks.append(chunk)
            size += len(chunk)
    except BlockingIOError:
        pass
    os.close(read_end)
    leftovers = _kill_leftovers(pid)
    result, reports, phase = None, 0, None
    for text in b"".join(chunks).decode(errors="replace").splitlines():
        if text.startswith(nonce):
            try:
                message = json.loads(text[len(nonce):])
            except ValueError:
                reports += 1
                continue
            if isinstance(message, dict) and set(message) == {"phase"}:
                phase = message["phase"]
            else:
                reports += 1
                result = message
    exit_code = os.waitstatus_to_exitcode(status)
    if orphaned:
        sys.exit(0)  # nobody to answer: the job is killed, and so is this host
    return {"event": "finished", "pid": pid, "exit_code": exit_code, "result": result, "reports": reports,
            "phase": phase, "killed_by_host": killed_by_host, "leftover_processes": leftovers,
            "elapsed_s": round(time.perf_counter() - started, 3)}


def _die_with_parent() -> None:
    """The job is killed when its host dies, whoever killed the host (the host is single-threaded)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def kill_group(pid: int) -> None:
    """SIGKILL a job's (or host's) process group and the process itself."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _isolate(job: dict[str, Any]) -> None:
    """Own session and process group, own folder, output to files, resource limits."""
    import resource
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(job["job_dir"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, name in ((1, "stdout.log"), (2, "stderr.log")):
        out = os.open(os.path.join(job["job_dir"], name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, fd)
        os.close(out)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    limits = job.get("limits", {})
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the file-size limit is the worker's, set before candidate code
    memory = limits.get("memory_bytes")
    if memory and job["device"] == "cpu":  # a GPU process needs a huge virtual address space
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    nproc = limits.get("processes")
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    os.environ["TMPDIR"] = job["job_dir"]


def _kill_leftovers(pid: int) -> int:
    """Kill the job's process group and everything reparented to us; return how many were still running."""
    running = len(_children(os.getpid(), live_only=True))  # the job's own process is reaped: these outlived it
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for _ in range(50):
        orphans = _children(os.getpid())
        if not orphans:
            return running
        for child in orphans:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
        for child in orphans:
            try:
                os.waitpid(child, 0)
            except ChildProcessError:
                pass
    return running


def _children(pid: int, live_only: bool = False) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and not (live_only and fields[0] in "ZX"):
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def _probe(requested: str) -> dict[str, Any]:
    """Ask a throwaway forked child what device is there, so the host itself never touches CUDA."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(_device_info(requested)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    try:
        return json.loads(data)
    except ValueError:
        return {"error": "probing the device crashed the worker"}


def _device_info(requested: str) -> dict[str, Any]:
    import torch
    gpu = False
    try:
        gpu = torch.cuda.is_available() and torch.cuda.device_count() > 0
    except Exception:  # noqa: BLE001 - a broken driver is the same as no GPU here
        gpu = False
    if requested.startswith("cuda") and not gpu:
        return {"error": "no GPU is visible to PyTorch (torch.cuda.is_available() is False): "
                         "use --device cpu, or run on a machine with a GPU and a CUDA or ROCm build of torch"}
    if requested == "cpu" or not gpu:
        return {"device": "cpu", "name": "cpu (Triton interpreter)"}
    props = torch.cuda.get_device_properties(0)
    return {"device": "cuda", "name": props.name, "memory_gb": round(props.total_memory / 2**30, 1),
            "compute_capability": f"{props.major}.{props.minor}"}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
