"""What each perf input's maker noted about it (its flops, bytes, where it was made), shared by GEAK-eval's
perf scripts (geak_perf.py) and GEAK's ROCm perf tests (rocm_perf.py); and their calls on a working copy of
the inputs, which live in util/copied_calls.py (the evaluator times their first calls, and the evaluator's
processes beside candidate code load nothing of suites/). Runs in the evaluator's worker and its reference
keeper.
"""

from __future__ import annotations

from typing import Any

# (where the perf inputs come from, which input) -> what their maker noted: "flops", "bytes", "inputs". Filled
# where an input is made and where one arrives from the reference keeper (PerfInput.__setstate__), read by
# the task's flops, bytes_moved and perf_evidence, which the worker calls with the case alone.
_FACTS: dict[tuple[str, Any], dict[str, Any]] = {}


def note_facts(source: str, key: Any, facts: dict[str, Any]) -> None:
    _FACTS[(source, key)] = dict(facts)


def facts_of(source: str, key: Any) -> dict[str, Any] | None:
    return _FACTS.get((source, key))
