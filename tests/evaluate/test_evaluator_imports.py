"""The processes beside candidate code load nothing of the caller's side: no pool, host, keeper client's
callers, LLM stack, agent, runs, report, tuner or knowledge (they must start fast, on a GPU node without
the LLM stack)."""

from __future__ import annotations

import pytest
from conftest import modules_loaded_after

CALLER_SIDE = ("tritonsmith.evaluate.pool", "tritonsmith.evaluate.processes", "tritonsmith.evaluate.job_result",
               "tritonsmith.evaluate.host", "tritonsmith.evaluate.peaks", "tritonsmith.llm", "tritonsmith.agent",
               "tritonsmith.runs", "tritonsmith.report", "tritonsmith.tune", "tritonsmith.knowledge",
               "tritonsmith.suites", "tritonsmith.config", "litellm", "yaml", "ray")


@pytest.mark.parametrize("module", ["tritonsmith.evaluate.worker", "tritonsmith.evaluate.checker",
                                    "tritonsmith.evaluate.references", "tritonsmith.evaluate.conversation",
                                    "tritonsmith.evaluate.candidate"])
def test_the_candidates_side_loads_nothing_of_the_callers(module):
    loaded = modules_loaded_after(f"import {module}")
    assert module in loaded
    assert sorted(m for m in loaded if any(m == c or m.startswith(c + ".") for c in CALLER_SIDE)) == []
