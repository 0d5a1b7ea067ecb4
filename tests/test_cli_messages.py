"""What the `tritonsmith` command says to a newcomer's mistakes and results: the words, not only the exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import CANDIDATES

from tritonsmith.suites import resolve_task

FIXTURES = Path(__file__).parent / "fixtures"


def tritonsmith(*args: str, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tritonsmith", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def test_eval_with_its_arguments_swapped_says_the_order(tmp_path):
    candidate = tmp_path / "wrong.py"
    candidate.write_text((CANDIDATES / "wrong/vector_add_off_by_one.py").read_text())
    done = tritonsmith("eval", "wrong.py", "softmax", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == (
        "tritonsmith: error: wrong.py is not a task file, and softmax names a task: the order is "
        "`tritonsmith eval TASK CANDIDATE` (tritonsmith eval softmax wrong.py).")
    # a second argument that names no task: the file's own problem, as before
    done = tritonsmith("eval", "wrong.py", "no_such_task", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == "tritonsmith: error: wrong.py: field ID is missing."


def test_eval_names_the_users_file_and_says_not_measured_once(tmp_path):
    (tmp_path / "syntax.py").write_text((CANDIDATES / "wrong/vector_add_syntax.py").read_text())
    (tmp_path / "raises.py").write_text("import triton\n\n\ndef vector_add(x, y):\n    return undefined_name(x)\n")
    done = tritonsmith("eval", "vector_add", "syntax.py", "--device", "cpu", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "SyntaxError at syntax.py line 5: expected ':'" in done.stdout and "candidate.py" not in done.stdout
    assert "speedup: not measured (the status is compile_error)" in done.stdout
    done = tritonsmith("eval", "vector_add", "raises.py", "--device", "cpu", "--json", cwd=tmp_path)
    result = json.loads(done.stdout)
    assert "  raises.py, line 5, in vector_add\n    return undefined_name(x)" in result["message"]
    assert "candidate.py" not in done.stdout and result["speedup_reason"] == "the status is runtime_error"


def test_the_report_says_why_speed_was_not_measured_once(tmp_path):
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    (candidates / "vector_add.py").write_text((CANDIDATES / "wrong/vector_add_syntax.py").read_text())
    bench = tmp_path / "bench"
    done = tritonsmith("bench", "--solver", f"dir:{candidates}", "--tasks", "vector_add", "--device", "cpu", "--out",
                       str(bench))
    assert done.returncode == 0, done.stderr
    assert tritonsmith("report", str(bench)).returncode == 0
    page = (bench / "report.html").read_text()
    assert "Speed not measured: the status is compile_error" in page and "not measured: not measured" not in page


def test_tasks_with_a_task_id_for_an_action_says_how_to_show_it():
    done = tritonsmith("tasks", "softmax")
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
        "tritonsmith tasks: error: argument action: 'softmax' is neither list nor show; to show a task: "
        "tritonsmith tasks show softmax")


def test_the_tasks_table_keeps_its_columns_and_kernelbench_shows_its_level(tmp_path):
    level = tmp_path / "level2"
    level.mkdir()
    relu = (FIXTURES / "kernelbench/level1/1_ReLU.py").read_text()
    (level / "1_ReLU.py").write_text(relu)
    (level / "2_ConvTranspose2d_BiasAdd_Clamp_Scaling_Clamp_Divide.py").write_text(relu)
    done = tritonsmith("tasks", "--suite", f"kernelbench:{level}")
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert rows[-1] == f"2 tasks in suite kernelbench:{level}"
    kind_at = rows[0].index("kind")
    assert all(row[kind_at - 1] == " " and row[kind_at:].split()[:3] == ["other", "2", "float32"] for row in rows[1:3])
    single = tmp_path / "single"
    single.mkdir()
    (single / "vector_add.py").write_text(resolve_task("vector_add").source())
    done = tritonsmith("tasks", "--suite", f"dir:{single}")
    assert done.stdout.splitlines()[-1] == f"1 task in suite dir:{single}"


def test_report_and_compare_explain_their_arguments():
    assert "the bench folder (bench --out)" in tritonsmith("report", "--help").stdout
    compare = tritonsmith("compare", "--help").stdout
    assert "the first bench folder" in compare and "the second bench folder" in compare


def test_counts_of_one_are_singular():
    from tritonsmith.llm.errors import RepliesPending, ReplyPending
    from tritonsmith.summary import _cost_text

    waiting = ReplyPending("waits", key="k", folder="queue")
    assert str(RepliesPending([waiting])) == "1 request waits for a reply in queue"
    assert str(RepliesPending([waiting, waiting])) == "2 requests wait for replies in queue"
    assert _cost_text({"usd": 0.0, "unpriced_calls": 1, "estimated_calls": 1, "interrupted_calls": 1}) == (
        "$0.0000 (+1 call of unknown price); the tokens of 1 reply written by hand into the queue are an estimate; "
        "1 call was cut off by a stop (its tokens are unknown)")
    assert _cost_text({"usd": 0.0, "unpriced_calls": 2, "estimated_calls": 2, "interrupted_calls": 2}) == (
        "$0.0000 (+2 calls of unknown price); the tokens of 2 replies written by hand into the queue are estimates; "
        "2 calls were cut off by a stop (their tokens are unknown)")
