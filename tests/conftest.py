"""Shared fixtures: one warm CPU worker pool per test process (Triton interpreter mode)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tritonsmith.evaluate import EvalConfig, EvalResult, WorkerPool
from tritonsmith.suites import resolve_task
from tritonsmith.task import Task

CANDIDATES = Path(__file__).parent / "candidates"


@pytest.fixture(scope="session")
def cpu_pool():
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        yield pool


@pytest.fixture(scope="session")
def run_candidate(cpu_pool):
    """Evaluate a candidate file (relative to tests/candidates) against a built-in task."""

    def run(task: str | Task, candidate: str, timeout_s: float | None = None) -> EvalResult:
        task = resolve_task(task) if isinstance(task, str) else task
        return cpu_pool.evaluate(task, (CANDIDATES / candidate).read_text(), timeout_s=timeout_s)

    return run


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
