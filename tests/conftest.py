"""Shared fixtures: one warm CPU worker pool per test process (Triton interpreter mode).

`TRITONSMITH_TEST_DEVICE=cuda` runs the candidate files (adversarial, honest, wrong: the `run_candidate`
fixture) on the GPU instead, with timing, as they would be judged there."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tritonsmith.evaluate import EvalConfig, EvalResult, WorkerPool
from tritonsmith.suites import resolve_task
from tritonsmith.task import Task

CANDIDATES = Path(__file__).parent / "candidates"
TEST_DEVICE = os.environ.get("TRITONSMITH_TEST_DEVICE", "cpu")


def running_since(pid: int) -> str | None:
    """The start time of the process `pid` while it runs (not a zombie), else None. A test that looks a process
    up again compares it: pids wrap (at 32768 on the CI machine) and a test run starts thousands of processes,
    so a pid seen gone may be another process's seconds later."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if fields[0] not in "ZX" else None


def still_running(born: dict[int, str | None]) -> list[int]:
    """Those of the processes `born` ({pid: running_since(pid)}, taken while they ran) that still run."""
    return [pid for pid, since in born.items() if since is not None and running_since(pid) == since]


def modules_loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement` (what an import drags in)."""
    import tritonsmith

    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(Path(tritonsmith.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.fixture(scope="session")
def cpu_pool():
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        yield pool


@pytest.fixture(scope="session")
def candidate_pool(cpu_pool):
    """The pool the candidate files run in: the CPU one, or a GPU one (TRITONSMITH_TEST_DEVICE=cuda)."""
    if TEST_DEVICE == "cpu":
        yield cpu_pool
        return
    with WorkerPool(device=TEST_DEVICE, workers=1, config=EvalConfig(timeout_s=300)) as pool:
        yield pool


@pytest.fixture(scope="session")
def run_candidate(candidate_pool):
    """Evaluate a candidate file (relative to tests/candidates) against a built-in task."""

    def run(task: str | Task, candidate: str, timeout_s: float | None = None) -> EvalResult:
        task = resolve_task(task) if isinstance(task, str) else task
        return candidate_pool.evaluate(task, (CANDIDATES / candidate).read_text(), timeout_s=timeout_s)

    return run


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
