"""The agent loop end to end: a scripted model on loopback, real evaluations on the CPU interpreter."""

from __future__ import annotations

import json
import shutil

import pytest

from tritonsmith.agent.session import solve_task
from tritonsmith.agent.store import RunStore
from tritonsmith.suites import resolve_task

from .conftest import BROKEN, GOOD, WRONG, fenced, run_config

TASK = resolve_task("vector_add")


def events(folder, kind=None):
    return [e for e in RunStore(folder).trajectory() if kind is None or e["type"] == kind]


def statuses(folder):
    return [e["result"]["status"] for e in events(folder, "evaluate")]


def test_compile_error_then_wrong_output_then_fix(scripted, tmp_path):
    server, model = scripted([fenced(BROKEN), fenced(WRONG), fenced(GOOD)])
    summary = solve_task(TASK, run_config(server), tmp_path, quiet=True)
    assert statuses(tmp_path) == ["compile_error", "wrong_output", "passed"]
    assert summary.solved and summary.best_candidate == "L0-R2"
    assert not summary.speed_measured and "no GPU" in summary.speed_reason
    generations = [e["messages"][1]["content"] for e in events(tmp_path, "generate")]
    assert "## Your previous kernel" not in generations[0]
    assert "compile_error" in generations[1] and "PLAN-1" in generations[1] and "line" in generations[1]
    assert "wrong_output" in generations[2] and "PLAN-2" in generations[2] and "max abs err" in generations[2]
    assert (tmp_path / "best.py").read_text().endswith(GOOD.strip() + "\n")
    assert model.count == {"generate": 3, "reflect": 2, "optimize": 0}
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["statuses"] == {"compile_error": 1, "wrong_output": 1, "passed": 1}
    assert saved["agent_overhead_per_round_s"] is not None  # measured, not asserted: see docs/benchmarks.md
    assert "Best kernel: L0-R2" in (tmp_path / "summary.md").read_text()
    assert [(c.id, c.status) for c in summary.judged] == [
        ("L0-R0", "compile_error"), ("L0-R1", "wrong_output"), ("L0-R2", "passed")]


@pytest.mark.parametrize("prose", ["I would use a Triton kernel with a mask.", "the " * 2000])
def test_a_reply_without_code_is_fed_back_as_a_format_error(scripted, tmp_path, prose):
    server, _ = scripted([prose, fenced(GOOD)])
    summary = solve_task(TASK, run_config(server), tmp_path, quiet=True)
    assert summary.solved
    assert [e["type"] for e in events(tmp_path) if e["type"] in ("format_error", "evaluate")] == [
        "format_error", "evaluate"]
    second = events(tmp_path, "generate")[1]["messages"][1]["content"]
    assert "no code block" in second


def test_the_debugging_trap_restarts_a_lineage_after_t_failures(scripted, tmp_path):
    server, _ = scripted([fenced(WRONG)])
    summary = solve_task(TASK, run_config(server, rounds=5, trap=2), tmp_path, quiet=True)
    assert not summary.solved and summary.restarts == 2
    traps = events(tmp_path, "trap")
    assert [t["round"] for t in traps] == [1, 3] and traps[0]["restart_from"] is None
    prompts = [e["messages"][1]["content"] for e in events(tmp_path, "generate")]
    assert "## Your previous kernel" in prompts[1]
    assert "## Your previous kernel" not in prompts[2]  # restarted from scratch: nothing was verified


def test_lineages_run_concurrently(scripted, tmp_path):
    server, model = scripted([fenced(GOOD)], delay_s=0.5)
    summary = solve_task(TASK, run_config(server, parallel=3), tmp_path, quiet=True)
    assert summary.solved and set(summary.rounds) == {0, 1, 2}
    assert {e["lineage"] for e in events(tmp_path, "evaluate")} == {0, 1, 2}
    assert model.max_in_flight >= 2


def test_a_token_budget_stops_the_run_and_keeps_its_work(scripted, tmp_path):
    server, _ = scripted([fenced(WRONG)])
    summary = solve_task(TASK, run_config(server, rounds=10, budget_tokens=1), tmp_path, quiet=True)
    assert summary.stop_kind == "budget" and "token limit reached" in summary.stop_reason
    assert len(events(tmp_path, "generate")) == 1
    assert RunStore(tmp_path).load_state()["stop_reason"] == summary.stop_reason


def test_replay_of_a_recorded_run_reproduces_it_offline(scripted, tmp_path, closed_port):
    server, _ = scripted([fenced(BROKEN), fenced(WRONG), fenced(GOOD)])
    recorded = tmp_path / "recorded"
    solve_task(TASK, run_config(server, parallel=2), recorded, quiet=True)
    replayed = tmp_path / "replayed"
    replayed.mkdir()
    shutil.copy(recorded / "llm_cache.jsonl", replayed / "llm_cache.jsonl")
    offline = run_config(server, parallel=2, replay=True, api_base=f"http://127.0.0.1:{closed_port}/v1")
    solve_task(TASK, offline, replayed, quiet=True)

    def per_lineage(folder):
        return sorted((e["lineage"], e["round"], e["candidate"], e["result"]["status"], e["source"])
                      for e in events(folder, "evaluate"))
    assert per_lineage(replayed) == per_lineage(recorded)
    assert all(e["cached"] for e in events(replayed) if e["type"] in ("generate", "reflect"))


def test_an_unsolved_run_says_why_in_its_summary(scripted, tmp_path):
    server, _ = scripted(["I would use a Triton kernel with a mask."])
    summary = solve_task(TASK, run_config(server, rounds=2, trap=5), tmp_path, quiet=True)
    assert not summary.solved and summary.last_failure.startswith(
        "the model's reply had no usable code: Your reply contained no code block.")
    assert ("No candidate passed the evaluator; the last attempt: the model's reply had no usable code: Your reply "
            "contained no code block.") in (tmp_path / "summary.md").read_text()
