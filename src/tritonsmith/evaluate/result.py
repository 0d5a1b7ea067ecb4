"""EvalResult: the typed record of one candidate evaluated against one task.

A measurement that was not made is None with a reason beside it, never 0 or 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

STATUSES = ("compile_error", "runtime_error", "timeout", "crashed", "wrong_output", "rejected", "passed")


@dataclass
class CaseResult:
    """One correctness check: a case at one seed."""

    index: int
    label: str
    seed: int
    ok: bool
    phase: str = "correctness"  # correctness | perf_shape | after_timing | reuse
    message: str | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    first_bad_index: list[int] | None = None
    mismatched: int | None = None
    elements: int | None = None


@dataclass
class PerfResult:
    """Timings of one perf case, in milliseconds (median of the interleaved samples, evaluate/timing.py)."""

    index: int
    label: str
    candidate_ms: float | None
    baseline_ms: float | None = None
    reference_ms: float | None = None
    speedup: float | None = None
    speedup_vs_torch: float | None = None
    gbps: float | None = None
    tflops: float | None = None
    bandwidth_fraction: float | None = None
    """Of the datasheet peak (knowledge/hardware.py); the measured_* ones are of this device's measured peaks."""
    compute_fraction: float | None = None
    measured_bandwidth_fraction: float | None = None
    measured_compute_fraction: float | None = None
    candidate_spread: float | None = None
    compiled_ms: float | None = None
    speedup_vs_compile: float | None = None
    rounds: int | None = None
    """Interleaved rounds timed (one sample of each function per round)."""
    ratio_ci: float | None = None
    """Relative half-width of the 95% interval of the speedup on this case (0.01: ±1%)."""
    timing_stopped: str | None = None
    """Why timing stopped: converged (within the target interval), max_rounds or budget."""
    calls_per_sample: int | None = None
    """Calls of the candidate averaged in each sample."""
    evidence: dict | None = None
    """What the task says of this case's inputs (a suite's perf_evidence: where they were made)."""
    timer: str | None = None
    """"per call" (an event pair around each call, L2 flushed) or "batched" (one pair around back-to-back
    calls, L2 warm after the first): launch-bound kernels are timed in batches (evaluate/timing.py)."""
    baseline_alone_ms: float | None = None
    """The baseline timed alone in the same way, where no candidate code had run (the reference keeper)."""
    fresh_call_ms: float | None = None
    """The candidate's first call on inputs it had not seen (after timing), timed once, L2 flushed; None where
    its host time outlasted the spin it was queued behind (the time would hold host time)."""
    fresh_call_past_wait_ms: float | None = None
    """Where that call was not timed so: a floor on its GPU time, the larger of its work after the host's wait
    (timing.gpu_past_wait) and its Triton launches' own time (timing.LaunchTimes), held against its timed
    calls: a call that waits out the spin, then does (and perhaps waits for) the work it reuses, shows here."""
    baseline_fresh_call_ms: float | None = None
    """The baseline's call on those inputs, timed alike."""
    repeat_vs_fresh: float | None = None
    """(candidate_ms / fresh_call_ms) / (baseline_ms / baseline_fresh_call_ms): how much faster the candidate got
    on repeated calls than on a new input, against the baseline; below 0.25 it reuses results (rejected)."""
    clock_gap_ms: dict | None = None
    """The checker's own clock between samples as they arrived, less the time each sample reported (medians, ms),
    for the candidate and the function timed in turns with it: alike where both were timed honestly
    (Measuring.check_sample_clock)."""
    clock_gaps_ms: dict | None = None
    """Where those medians rejected the candidate: each sample's gap, in the order they came, by function (to
    tell a forged time from the GPU's clock changing between samples)."""


@dataclass
class EvalResult:
    status: str
    call_ok: bool
    exec_ok: bool
    message: str = ""
    cases: list[CaseResult] = field(default_factory=list)
    perf: list[PerfResult] = field(default_factory=list)
    speedup: float | None = None
    speedup_vs_torch: float | None = None
    speedup_reason: str | None = None
    bandwidth_fraction: float | None = None
    compute_fraction: float | None = None
    measured_bandwidth_fraction: float | None = None
    measured_compute_fraction: float | None = None
    guard_violations: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    stdout_tail: str = ""
    stderr_tail: str = ""
    task_id: str | None = None
    wall_s: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResult:
        data = dict(data)
        data["cases"] = [CaseResult(**c) for c in data.get("cases", [])]
        perf_fields = {f.name for f in fields(PerfResult)}  # tolerate records written by other versions
        data["perf"] = [PerfResult(**{k: v for k, v in p.items() if k in perf_fields}) for p in data.get("perf", [])]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """A few lines for a person or an LLM."""
        lines = [f"status: {self.status}  (call_ok={self.call_ok}, exec_ok={self.exec_ok})"]
        if self.message:
            lines.append(self.message)
        bad = [c for c in self.cases if not c.ok]
        checked = len(self.cases)
        if checked:
            lines.append(f"correctness: {checked - len(bad)}/{checked} checks passed")
        if self.speedup is not None:
            ci = self.evidence.get("speedup_ci")
            within = f", sampling noise ±{ci:.1%} at 95%" if isinstance(ci, (int, float)) else ""
            lines.append(f"speedup vs baseline: {self.speedup:.3f}x (geometric mean over {len(self.perf)} perf "
                         f"cases{within})")
        elif self.speedup_reason:
            lines.append(f"speedup: not measured ({self.speedup_reason})")
        if self.speedup_vs_torch is not None:
            lines.append(f"speedup vs PyTorch: {self.speedup_vs_torch:.3f}x")
        for p in self.perf:
            parts = [f"  {p.label}: {_ms(p.candidate_ms)}"]
            if p.baseline_ms is not None:
                parts.append(f"baseline {_ms(p.baseline_ms)}")
            if p.reference_ms is not None:
                parts.append(f"torch {_ms(p.reference_ms)}")
            if p.gbps is not None:
                parts.append(f"{p.gbps:.0f} GB/s" + _of_peaks(p.measured_bandwidth_fraction, p.bandwidth_fraction))
            if p.tflops is not None and p.tflops >= 0.01:
                parts.append(f"{p.tflops:.1f} TFLOP/s" + _of_peaks(p.measured_compute_fraction, p.compute_fraction))
            lines.append(", ".join(parts))
        for dropped in self.evidence.get("unreproducible_cases", []):
            lines.append(f"dropped: {dropped}")
        skipped = self.evidence.get("skipped_cases")
        if skipped:
            lines.append(f"not checked: cases {skipped['cases']} ({skipped['reason']})")
        if self.evidence.get("perf_shapes_checked") is False:
            lines.append(f"not checked: perf shapes ({self.evidence.get('perf_shapes_reason')})")
        device = self.evidence.get("device")
        if device:
            lines.append(f"device: {device}")
        return "\n".join(lines)


def _of_peaks(measured: float | None, datasheet: float | None) -> str:
    shown = [f"{100 * v:.0f}% of {name} peak" for v, name in ((measured, "measured"), (datasheet, "datasheet"))
             if v is not None]
    return f" ({', '.join(shown)})" if shown else ""


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} us" if value < 1 else f"{value:.3f} ms"


