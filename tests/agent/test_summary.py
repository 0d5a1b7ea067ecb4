"""RunSummary: what solve_task returns is what summary.json holds, and summary files of older versions load."""

from __future__ import annotations

import json
from pathlib import Path

from tritonsmith.agent.lineage import Candidate, Lineage
from tritonsmith.agent.session import solve_task
from tritonsmith.suites import resolve_task
from tritonsmith.summary import RunSummary

from .conftest import GOOD, WRONG, fenced, run_config

OLD_SUMMARY = Path(__file__).parents[2] / "docs" / "data" / "agent_smoke_softmax_h200_2026-11-26.json"


def test_the_returned_summary_is_the_one_on_disk(scripted, tmp_path):
    server, _ = scripted([fenced(WRONG), fenced(GOOD)])
    summary = solve_task(resolve_task("vector_add"), run_config(server), tmp_path, quiet=True)
    on_disk = (tmp_path / "summary.json").read_text()
    assert summary.to_json() == on_disk and "judged" not in json.loads(on_disk)
    assert (tmp_path / "summary.md").read_text() == summary.text()
    assert RunSummary.from_dict(json.loads(on_disk), judged=summary.judged) == summary
    assert summary.rounds == {0: 2} and summary.lineage_end[0].startswith("verified; speed cannot be measured")
    assert [c.id for c in summary.judged] == ["L0-R0", "L0-R1"] and isinstance(summary.judged[0], Candidate)


def test_a_summary_written_before_the_type_existed_still_loads():
    data = json.loads(OLD_SUMMARY.read_text())
    assert "last_failure" not in data  # older still: a key added since is simply None
    summary = RunSummary.from_dict(data)
    assert summary.solved and summary.best_candidate == "L0-R0"
    assert summary.rounds == {0: 2, 1: 2} and summary.lineage_end == {0: None, 1: None}
    assert summary.last_failure is None and summary.judged == []
    assert json.loads(summary.to_json()) == {**data, "last_failure": None}
    assert summary.text().startswith("# builtin:softmax with scripted\n\nBest kernel: L0-R0 (best.py).\n"
                                     "Speedup vs baseline: 0.999x; vs PyTorch: 1.847x (re-measured on NVIDIA H200).")


def test_a_lineage_keeps_its_stop_reason_under_the_old_key_in_state_json():
    lineage = Lineage(1, round=3, stop_reason="verified")
    assert lineage.done and not Lineage(0).done
    saved = lineage.to_dict()
    assert saved["done"] == "verified" and "stop_reason" not in saved
    assert Lineage.from_dict(saved) == lineage
    assert Lineage.from_dict(json.loads(json.dumps(saved))).stop_reason == "verified"
