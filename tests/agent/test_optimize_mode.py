"""Optimize mode: start from a verified kernel, ask the Optimizer first, then generate."""

from __future__ import annotations

from tritonsmith.agent.session import solve_task
from tritonsmith.agent.store import RunStore
from tritonsmith.suites import resolve_task

from .conftest import BROKEN, GOOD, fenced, run_config

TASK = resolve_task("vector_add")


def test_optimize_starts_from_the_baseline_and_asks_the_optimizer_first(scripted, tmp_path):
    server, model = scripted([fenced(GOOD)])
    summary = solve_task(TASK, run_config(server, mode="optimize", parallel=2), tmp_path / "run", quiet=True)
    trajectory = RunStore(tmp_path / "run").trajectory()
    assert trajectory[0]["type"] == "evaluate" and trajectory[0]["candidate"] == "start"
    assert trajectory[0]["result"]["status"] == "passed"
    optimizer = [e for e in trajectory if e["type"] == "optimize"]
    assert len(optimizer) == 2 and "## Current kernel (verified correct)" in optimizer[0]["messages"][1]["content"]
    generation = [e for e in trajectory if e["type"] == "generate"][0]["messages"][1]["content"]
    assert "## Your previous kernel" in generation and "Optimisation plan" in generation
    assert "PLAN-OPT-" in generation and "not timed" in generation
    assert summary.solved and model.count["generate"] == 2


def test_a_start_kernel_that_fails_stops_the_run_before_any_generation(scripted, tmp_path):
    server, model = scripted([fenced(GOOD)])
    start = tmp_path / "mine.py"
    start.write_text(BROKEN)
    summary = solve_task(TASK, run_config(server, mode="optimize", start_from=str(start)), tmp_path / "run",
                       quiet=True)
    assert summary.stop_kind == "start" and "does not pass the evaluator (compile_error)" in summary.stop_reason
    assert model.count["generate"] == 0 and not summary.solved
