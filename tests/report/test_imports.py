"""Reading a report loads neither the evaluator, the tuner's measuring, the agent, torch nor triton."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import tritonsmith

HEAVY = ("tritonsmith.evaluate", "tritonsmith.tune.measure", "tritonsmith.agent", "tritonsmith.llm",
         "tritonsmith.suites", "torch", "triton", "numpy")


def loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(Path(tritonsmith.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_the_report_and_its_trajectory_viewer_load_nothing_heavy():
    modules = loaded_after("import tritonsmith.report.html, tritonsmith.report.trajectory, "
                           "tritonsmith.report.compare, tritonsmith.report.metrics")
    assert "tritonsmith.report.trajectory" in modules
    assert heavy(modules) == []
    assert {m for m in modules if m.startswith("tritonsmith.tune")} <= {"tritonsmith.tune", "tritonsmith.tune.label"}
