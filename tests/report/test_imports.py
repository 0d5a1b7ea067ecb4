"""Reading a report loads neither the evaluator, the tuner's measuring, the agent, torch nor triton."""

from __future__ import annotations

from conftest import modules_loaded_after

HEAVY = ("tritonsmith.evaluate", "tritonsmith.tune.measure", "tritonsmith.agent", "tritonsmith.llm",
         "tritonsmith.suites", "torch", "triton", "numpy")


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_the_report_and_its_trajectory_viewer_load_nothing_heavy():
    modules = modules_loaded_after("import tritonsmith.report.html, tritonsmith.report.trajectory, "
                           "tritonsmith.report.compare, tritonsmith.report.metrics")
    assert "tritonsmith.report.trajectory" in modules
    assert heavy(modules) == []
    assert {m for m in modules if m.startswith("tritonsmith.tune")} <= {"tritonsmith.tune", "tritonsmith.tune.label"}
