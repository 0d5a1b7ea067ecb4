"""The status rule, in one place, for the checker and the caller alike (no torch here).

A guard violation turns any status into `rejected` except a compile error (the candidate never ran) and a
timeout (the clock decided first); a rejected result has no speedup.
"""

from __future__ import annotations

from typing import Any

KEEPS_STATUS = ("compile_error", "timeout")


NO_LAUNCH = "no Triton kernel was launched"  # the launch-count guard's violation starts so (evaluate/worker.py)


def decide(status: str | None, message: str, violations: list[str], cause: str | None = None) -> tuple[str, str]:
    """(status, message) of an evaluation that ended with `status` (None: every check passed) and `violations`;
    `cause`, what the checker knows made the guards fire (a GPU-only task on the CPU), is said before them."""
    status = status or "passed"
    if violations and status not in KEEPS_STATUS:
        rejected = "rejected by the evaluator's guards: " + "; ".join(violations)
        return "rejected", f"{cause} ({rejected})" if cause else rejected
    return status, message


def finish(verdict: dict[str, Any], cause: str | None = None) -> dict[str, Any]:
    """Apply the rule to a verdict's fields in place: status, message, exec_ok and the speedups."""
    status, message = decide(verdict.get("status"), verdict.get("message", ""), verdict.get("guard_violations", []),
                             cause)
    verdict["status"], verdict["message"] = status, message
    verdict["exec_ok"] = status == "passed"
    verdict["call_ok"] = bool(verdict.get("call_ok")) and status not in ("compile_error", "runtime_error")
    if status != "passed":
        verdict["speedup"] = verdict["speedup_vs_torch"] = None
        verdict["speedup_reason"] = f"the status is {status}"
    return verdict


def reject(result: Any, violation: str) -> None:
    """Add a violation seen after the verdict (by the caller) to an EvalResult, by the same rule."""
    if violation not in result.guard_violations:
        result.guard_violations.append(violation)
    if result.status in KEEPS_STATUS:
        return
    result.status, result.message = decide("rejected" if result.status == "rejected" else None, "",
                                           result.guard_violations)
    result.exec_ok = False
    result.speedup = result.speedup_vs_torch = None
    result.speedup_reason = "the status is rejected"
