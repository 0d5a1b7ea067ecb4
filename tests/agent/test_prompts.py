"""What the Optimizer is told about measurements: times, speedups, and which roof binds."""

from __future__ import annotations

from tritonsmith.agent.prompts import performance_report, roofline_verdict
from tritonsmith.evaluate.result import EvalResult, PerfResult


def test_the_binding_roof_and_the_headroom_are_stated():
    assert roofline_verdict(0.85, 0.01) == "memory-bound: at 85% of the bandwidth roof, 15% headroom"
    assert roofline_verdict(0.12, 0.45) == "compute-bound: at 45% of the compute roof, 55% headroom"
    assert roofline_verdict(None, None) == ""
    assert roofline_verdict(None, 0.3).startswith("compute-bound")


def test_performance_report_lists_every_perf_case():
    result = EvalResult("passed", True, True, speedup=1.25, perf=[
        PerfResult(0, "shape=[4096, 4096] dtype=float16", 0.2, baseline_ms=0.25, reference_ms=0.3, speedup=1.25,
                   gbps=2800.0, tflops=1.0, bandwidth_fraction=0.84, compute_fraction=0.001)])
    text = performance_report(result)
    assert "200.0 us" in text and "baseline 250.0 us (speedup 1.25x)" in text and "PyTorch 300.0 us" in text
    assert "memory-bound: at 84% of the bandwidth roof" in text and "1.250x (geometric mean)" in text
    assert "not timed" in performance_report(EvalResult("passed", True, True, speedup_reason="no GPU"))
