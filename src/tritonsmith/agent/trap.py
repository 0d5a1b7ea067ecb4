"""The debugging trap: a lineage that fails to fix its kernel T times in a row restarts from the best
verified kernel of any lineage, or from scratch when there is none."""

from __future__ import annotations

from tritonsmith.agent.ledger import Ledger
from tritonsmith.agent.lineage import Lineage

NOTHING_TO_IMPROVE = "stopped: a verified kernel exists and without a GPU there is no speed to improve"


def after_failure(lineage: Lineage, ledger: Ledger, trap: int) -> None:
    """Count a failed attempt; at `trap` in a row, restart the lineage (recorded as a `trap` event)."""
    lineage.failures_in_a_row += 1
    if lineage.failures_in_a_row < trap:
        return
    best = ledger.best_candidate()
    lineage.failures_in_a_row = 0
    lineage.restarts += 1
    if best is not None and not best.timed:
        lineage.stop_reason = NOTHING_TO_IMPROVE
    elif best is not None:  # the next step asks the Optimizer about the best kernel first
        lineage.previous, lineage.feedback = ledger.store.candidate_source(best.id), None
        lineage.offer(best)
    else:
        lineage.previous, lineage.feedback = None, None
    ledger.record(lineage, "trap", {"restart_from": best.id if best else None})
