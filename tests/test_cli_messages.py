"""What the `tritonsmith` command says to a newcomer's mistakes and results: the words, not only the exit code."""

from __future__ import annotations

import subprocess
import sys

from conftest import CANDIDATES


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
