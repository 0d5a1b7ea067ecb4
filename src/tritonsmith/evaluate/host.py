"""A warm worker host: imports torch and triton once, then forks two processes per job.

Run as `python -m tritonsmith.evaluate.host DEVICE`. It speaks JSON lines on stdin/stdout with the
pool (its handle on a host is processes.py). Per job it forks
- the checker (evaluate/checker.py), which makes the references, drives the candidate's process and
  decides the verdict, which it sends here on a pipe only it holds;
- the candidate's reaper (evaluate/candidate.py), which enters new PID, network and mount namespaces where it
  can and forks the candidate's process (PID 1 of its namespace), confined (evaluate/confine.py) before
  candidate code runs.
The host never initialises CUDA (a forked child of a CUDA process cannot use the GPU), never imports
candidate code, holds no secret, and is not dumpable; it is a child subreaper, so whatever a candidate
outside a PID namespace leaves behind is reparented to it and killed after the job.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import time
from typing import Any, NamedTuple

from tritonsmith.evaluate import confine
from tritonsmith.evaluate.candidate import NO_REPORT_EXIT, close_fds, reap_candidate

PR_SET_CHILD_SUBREAPER = 36
RESULT_LIMIT = 64 * 1024 * 1024
HOST_GRACE_S = 10  # the host kills a job this long after its timeout if the caller has not (the caller died)
CANDIDATE_GRACE_S = 1.0  # how long the candidate's process has to end on its own after the verdict


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
    confine.not_dumpable()  # nor, by inheritance, the checker: no candidate may read their memory

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

    from tritonsmith.evaluate import checker, runtime, worker  # noqa: F401 - pre-import both sides' modules
    sandbox = confine.detect()
    send({"event": "ready", **info, "pid": os.getpid(), "sandbox": sandbox})

    for line in proto_in:
        if not line.strip():
            continue
        job = json.loads(line)
        if job.get("event") == "shutdown":
            break
        job["device"] = info["device"]
        send(_run(job, send, (proto_in, proto_out), sandbox))
    return 0


def _run(job: dict[str, Any], send, protocol_files, sandbox: dict[str, Any]) -> dict[str, Any]:
    """One job: the checker and the candidate's process forked side by side, joined by two pipes."""
    to_host_r, to_host_w = os.pipe()  # checker -> host: phases, then the verdict
    commands_r, commands_w = os.pipe()  # checker -> candidate: what to do next
    events_r, events_w = os.pipe()  # candidate -> checker: replies, claims; outputs go through files
    exit_r, exit_w = os.pipe()  # host -> checker: the candidate's process ended, with this status
    protocol = [handle.fileno() for handle in protocol_files]
    started = time.perf_counter()
    checker_pid = _fork_checker(job, protocol + [to_host_r, commands_r, events_w, exit_w],
                                to_host_w, commands_w, events_r, exit_r)
    reaper_pid = _fork_reaper(job, protocol + [to_host_r, to_host_w, commands_w, events_r, exit_r, exit_w],
                              commands_r, events_w, checker_pid, sandbox)
    close_fds([to_host_w, commands_r, commands_w, events_r, events_w, exit_r])
    send({"event": "started", "pid": checker_pid})
    end = _wait(job, started, checker_pid, reaper_pid, to_host_r, exit_w, protocol_files[0])
    if end.candidate_status is None:
        _end_candidate(reaper_pid, checker_pid)
    leftovers = _kill_leftovers()
    result, phase = _checker_messages(end.output)
    exit_code = os.waitstatus_to_exitcode(end.checker_status)
    if end.orphaned:
        sys.exit(0)  # nobody to answer: the job is killed, and so is this host
    return {"event": "finished", "pid": checker_pid, "exit_code": exit_code, "result": result, "phase": phase,
            "killed_by_host": end.killed_by_host, "leftover_processes": leftovers,
            "elapsed_s": round(time.perf_counter() - started, 3)}


def _fork_checker(job: dict[str, Any], inherited: list[int], to_host_w: int, commands_w: int, events_r: int,
                  exit_r: int) -> int:
    """The checker, forked as the leader of the job's process group; it closes `inherited` (the ends and files
    that are not its own) first."""
    pid = os.fork()
    if pid == 0:  # the checker: never returns
        try:
            close_fds(inherited)
            confine.die_with_parent()
            os.setpgid(0, 0)
            _quiet(job)
            from tritonsmith.evaluate import runtime
            from tritonsmith.evaluate.checker import run_checker

            def connect(checker) -> None:
                checker.connect(commands_w, runtime.LineReader(events_r), exit_r)
            run_checker(job, lambda message: runtime.write_message(to_host_w, message), connect)
        finally:
            os._exit(0)
    _setpgid(pid, pid)
    return pid


def _fork_reaper(job: dict[str, Any], inherited: list[int], commands_r: int, events_w: int, checker_pid: int,
                 sandbox: dict[str, Any]) -> int:
    """The candidate's reaper, forked into the checker's process group; it closes `inherited` first."""
    pid = os.fork()
    if pid == 0:  # the candidate's side: never returns
        try:
            close_fds(inherited)
            confine.die_with_parent()
            _setpgid(0, checker_pid)
            reap_candidate(job, commands_r, events_w, sandbox)
        finally:
            os._exit(NO_REPORT_EXIT)
    _setpgid(pid, checker_pid)
    return pid


class _JobEnd(NamedTuple):
    checker_status: int
    candidate_status: int | None  # None: the candidate's reaper had not exited when the checker did
    killed_by_host: bool
    orphaned: bool  # the caller hung up
    output: bytes  # what the checker wrote to the host, up to about RESULT_LIMIT


def _wait(job: dict[str, Any], started: float, checker_pid: int, reaper_pid: int, to_host_r: int, exit_w: int,
          caller_in) -> _JobEnd:
    """Until the checker exits: read what it writes, reap the job's two processes (telling the checker the
    candidate's status), and kill the job past its timeout plus grace or once the caller is gone. Then read
    what is left on the pipe and close it, the exit pipe and the pidfds."""
    grace = job.get("host_grace_s", HOST_GRACE_S)
    deadline = started + job["timeout_s"] + grace if job.get("timeout_s") else None
    caller = select.poll()
    caller.register(caller_in.fileno(), 0)  # no events asked: only a hang-up (the caller died) is reported
    chunks, size, checker_status, candidate_status, killed_by_host, orphaned = [], 0, None, None, False, False
    exits = _pidfds([checker_pid, reaper_pid])  # woken by an exit at once where pidfds exist, else by polling
    while checker_status is None:
        ready, _, _ = select.select([to_host_r, *exits], [], [], 0.5 if exits else 0.05)
        if to_host_r in ready:
            chunk = os.read(to_host_r, 1 << 20)
            if chunk and size < RESULT_LIMIT:
                chunks.append(chunk)
                size += len(chunk)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == checker_pid:
                checker_status = status
            elif pid == reaper_pid:
                candidate_status = status
                _tell_exit(exit_w, status)
        if checker_status is None and not killed_by_host and (
                (deadline and time.perf_counter() > deadline) or caller.poll(0)):
            orphaned = bool(caller.poll(0))
            killed_by_host = True  # the caller is gone or did not enforce the timeout: nobody else will
            kill_group(checker_pid)
    os.set_blocking(to_host_r, False)
    try:
        while size < RESULT_LIMIT and (chunk := os.read(to_host_r, 1 << 20)):
            chunks.append(chunk)
            size += len(chunk)
    except BlockingIOError:
        pass
    close_fds([to_host_r, exit_w, *exits])
    return _JobEnd(checker_status, candidate_status, killed_by_host, orphaned, b"".join(chunks))


def _checker_messages(output: bytes) -> tuple[Any, str | None]:
    """The verdict (or the task's error) and the last phase, from the checker's JSON lines; junk lines skipped."""
    result, phase = None, None
    for text in output.decode(errors="replace").splitlines():
        try:
            message = json.loads(text)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        if "phase" in message:
            phase = message["phase"]
        elif "result" in message:
            result = message["result"]
        elif "task_error" in message or "sandbox_error" in message:
            result = {key: message[key] for key in ("task_error", "sandbox_error") if key in message}
    return result, phase


def _end_candidate(reaper_pid: int, checker_pid: int) -> None:
    """The verdict is in (or the checker died): the candidate's process ends on its own once its commands pipe
    closes, or is killed after a second, with its reaper; it is reaped here, so it is never counted a leftover."""
    deadline = time.perf_counter() + CANDIDATE_GRACE_S
    while time.perf_counter() < deadline:
        if os.waitpid(reaper_pid, os.WNOHANG)[0]:
            return
        time.sleep(0.005)
    candidate = _children(reaper_pid)
    for pid in [reaper_pid, *candidate]:
        kill_group(pid)
    kill_group(checker_pid)
    os.waitpid(reaper_pid, 0)
    for pid in candidate:  # reparented to us (the subreaper) when its reaper died
        for _ in range(200):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            time.sleep(0.005)


def _pidfds(pids: list[int]) -> list[int]:
    """A file descriptor per process that becomes readable when it exits (Linux 5.3; not under every sandbox)."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except (OSError, AttributeError):
            close_fds(fds)
            return []
    return fds


def _tell_exit(fd: int, status: int) -> None:
    code = os.waitstatus_to_exitcode(status)
    try:
        os.write(fd, f"{code if code >= 0 else 128 - code}\n".encode())
    except OSError:
        pass


def _setpgid(pid: int, group: int) -> None:
    try:
        os.setpgid(pid, group)
    except OSError:  # the child has done it itself, or already exited
        pass


def _quiet(job: dict[str, Any]) -> None:
    """The checker's stray output goes nowhere near the protocol."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)


def kill_group(pid: int) -> None:
    """SIGKILL a job's (or host's) process group and the process itself."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _kill_leftovers() -> int:
    """Kill everything reparented to us (what a candidate outside a PID namespace left); return how many were
    still running."""
    running = len(_children(os.getpid(), live_only=True))  # the job's own processes are reaped: these outlived it
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
