"""The report reads each task's summary.json, as a real agent run wrote it, as the typed RunSummary."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import modules_loaded_after
from fakellm import FakeLLMServer

from tritonsmith.report.html import write_report
from tritonsmith.report.run_files import read_summary
from tritonsmith.runs.store import ResultsStore
from tritonsmith.suites import resolve_task
from tritonsmith.summary import RunSummary

GOOD_ADD = resolve_task("vector_add").baseline


def answer(messages):
    """The task's own kernel from the generator; a plan from the other roles."""
    if "expert GPU kernel engineer" not in messages[0]["content"]:
        return "PLAN: keep it."
    return f"```python\n{GOOD_ADD}\n```"


def test_a_real_runs_summary_reads_back_typed_and_the_report_shows_it(tmp_path):
    out = tmp_path / "bench"
    with FakeLLMServer(answer) as server:
        done = subprocess.run([sys.executable, "-m", "tritonsmith", "bench", "--suite", "builtin", "--tasks",
                               "vector_add", "--solver", "agent", "--model", "openai/scripted-model", "--api-base",
                               server.url, "--device", "cpu", "--rounds", "1", "--parallel", "1", "--out", str(out)],
                              capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (record,) = ResultsStore(out).records()
    path = out / record.run_dir / "summary.json"
    summary = read_summary(path)
    assert isinstance(summary, RunSummary) and summary == RunSummary.load(path)
    assert summary.to_json() == path.read_text()  # nothing on disk is lost in the reading
    assert summary.task == record.task == "builtin:vector_add" and summary.solved
    assert summary.best_candidate == "L0-R0" and summary.candidates == 1 and summary.restarts == 0
    assert summary.rounds == {0: 1}  # JSON's string key, back as the lineage's index
    assert summary.device == "cpu (Triton interpreter)" and summary.judged == []

    page = write_report(out).read_text()
    assert "<dt>device</dt><dd>cpu (Triton interpreter)</dd>" in page.split("<main>")[0]
    facts = page.split('id="task-vector_add"')[1].split("</dl>")[0]
    assert "<dt>best candidate</dt><dd>L0-R0</dd>" in facts and "<dt>candidates</dt><dd>1</dd>" in facts


def test_a_summary_that_cannot_be_read_is_none(tmp_path):
    for name, text in (("torn", '{"task": "builtin:x", "sol'), ("list", "[1, 2]"),
                       ("rounds", json.dumps({"task": "builtin:x", "rounds": [1]}))):
        (tmp_path / f"{name}.json").write_text(text)
        assert read_summary(tmp_path / f"{name}.json") is None
    assert read_summary(tmp_path / "missing.json") is None


def test_the_summary_loads_nothing_else_of_tritonsmith():
    loaded = modules_loaded_after("import tritonsmith.summary")
    assert {m for m in loaded if m.startswith("tritonsmith")} == {"tritonsmith", "tritonsmith.summary"}
