"""A run killed with SIGKILL resumes from its folder without repeating a finished LLM call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tritonsmith.agent.session import solve_task
from tritonsmith.agent.store import RunStore
from tritonsmith.suites import resolve_task

from .conftest import WRONG, fenced, run_config


def cache_keys(folder) -> list[str]:
    path = folder / "llm_cache.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    keys = []
    for line in lines:
        try:
            keys.append(json.loads(line)["key"])
        except ValueError:
            pass  # a torn last line from the kill
    return keys


def test_sigkill_then_rerun_resumes_without_repeating_calls(scripted, tmp_path):
    server, _ = scripted([fenced(WRONG)], delay_s=0.2)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "tritonsmith", "run", "vector_add", "--model", "openai/scripted-model",
               "--api-base", server.url, "--device", "cpu", "--rounds", "6", "--parallel", "1", "--trap", "10",
               "--no-hardware", "--no-guide", "--no-one-shot", "--out", str(out), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while server.calls < 5 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert server.calls >= 5, process.stderr.read().decode()
    killed_state = RunStore(out).load_state()
    assert killed_state is not None and killed_state["lineages"][0]["round"] < 6

    calls_before = server.calls
    recorded_before = len(cache_keys(out))
    assert calls_before - recorded_before <= 1, "only the call in flight at the kill may be lost"
    summary = solve_task(resolve_task("vector_add"), run_config(server, rounds=6, trap=10), out, quiet=True)
    assert summary.rounds == {0: 6}
    keys = cache_keys(out)
    assert len(keys) == len(set(keys)), "a request was sent to the model twice"
    assert server.calls - calls_before == len(keys) - recorded_before, "the resumed run repeated a call"
    rounds = sorted(e["round"] for e in RunStore(out).trajectory() if e["type"] == "evaluate")
    assert set(rounds) == set(range(6))


def test_events_after_a_torn_trajectory_line_are_kept(tmp_path):
    store = RunStore(tmp_path)
    store.append({"type": "evaluate", "candidate": "L0-R0"})
    with open(tmp_path / "trajectory.jsonl", "a") as file:
        file.write('{"type": "evaluate", "candidate": "L0-R1", "sour')  # killed mid-write
    resumed = RunStore(tmp_path)
    resumed.append({"type": "evaluate", "candidate": "L0-R1"})  # the resumed run evaluates it again
    lines = (tmp_path / "trajectory.jsonl").read_text().splitlines()
    assert len(lines) == 3 and lines[1].endswith('"sour')  # the torn line stays, alone on its line
    assert [e["candidate"] for e in resumed.trajectory()] == ["L0-R0", "L0-R1"]


def recorded_tokens(folder) -> int:
    total = 0
    for line in (folder / "llm_cache.jsonl").read_text().splitlines():
        reply = json.loads(line)["reply"]
        total += reply["tokens_in"] + reply["tokens_out"]
    return total


def test_a_resume_after_a_kill_counts_the_spend_and_records_the_interrupted_round_once(scripted, tmp_path):
    server, _ = scripted([fenced(WRONG)])
    out = tmp_path / "run"
    command = [sys.executable, "-m", "tritonsmith", "run", "vector_add", "--model", "openai/scripted-model",
               "--api-base", server.url, "--device", "cpu", "--rounds", "2", "--parallel", "1", "--no-hardware",
               "--no-guide", "--no-one-shot", "--out", str(out), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while not cache_keys(out) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the generation is recorded; its evaluation is running, unsaved
    process.wait()
    assert len(cache_keys(out)) == 1 and (RunStore(out).load_state() or {}).get("steps", 0) == 0
    summary = solve_task(resolve_task("vector_add"), run_config(server, rounds=2), out, quiet=True)
    spent = summary.budget["spent"]
    assert spent["tokens"] == recorded_tokens(out) and spent["calls"] == len(cache_keys(out)) == server.calls
    steps = [(e["lineage"], e["round"], e["type"]) for e in RunStore(out).trajectory()]
    assert len(steps) == len(set(steps)) and steps[:2] == [(0, 0, "generate"), (0, 0, "evaluate")], steps


def test_a_dollar_budget_is_never_overrun_by_lineages_calling_at_once(scripted, tmp_path):
    server, _ = scripted([fenced(WRONG)], delay_s=0.3)
    config = run_config(server, rounds=10, parallel=2, trap=20, budget_usd=0.2, price_per_mtok=[20.0, 20.0],
                        max_reply_tokens=2000)
    summary = solve_task(resolve_task("vector_add"), config, tmp_path, quiet=True)
    assert summary.stop_kind == "budget" and "the next call could cost up to" in summary.stop_reason, summary
    assert summary.budget["spent"]["calls"] >= 2 and 0 < summary.budget["spent"]["usd"] <= 0.2, summary.budget
