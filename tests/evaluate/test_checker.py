"""The checker's side of timing: what the candidate's process claims is bounded by the checker's own clock."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from tritonsmith.evaluate.checker import Checker
from tritonsmith.evaluate.conversation import _Stop


def timed_case(tmp_path, times, wall_s=0.05, **reply):
    """Run Checker.time_case on a reply the candidate's process would send (`times`, and any other `reply`
    fields), after `wall_s` of wall time."""
    checker = Checker({"device": "cpu", "job_dir": str(tmp_path), "timing": {}})
    checker.task = SimpleNamespace(flops=lambda case: 2e9, bytes_moved=lambda case: 0)
    checker.baseline_present = True
    checker.all_checks = {1: {}}
    checker.verify = lambda *args: True

    def ask(command):
        checker.asked = command
        time.sleep(wall_s)
        return {"done": "time", "rounds": 5, "stopped": "converged", "times": times, **reply}
    checker.ask = ask
    speedups: list[float] = []
    check = {"index": 0, "case": {"shape": [4], "dtype": "float32"}, "seed": 7}
    checker.perf_checks = [check, dict(check, index=1)]
    checker.time_case(0, 1, check, False, "separate", speedups, [])
    return checker, speedups


def samples(values, calls=1):
    return {"samples": values, "calls_per_sample": calls, "timer": "per call"}


def test_speedup_is_computed_by_the_checker_from_raw_samples(tmp_path):
    checker, speedups = timed_case(tmp_path, {"candidate": samples([0.010, 0.011, 0.009]),
                                              "baseline": samples([0.020, 0.022, 0.018])})
    assert checker.violations == [] and speedups == [pytest.approx(2.0)]
    perf = checker.perf[0]
    assert perf["candidate_ms"] == pytest.approx(0.010) and perf["tflops"] == pytest.approx(200)
    assert perf["ratio_ci"] is not None
    assert checker.asked["settings"]["cases"] == 2  # the evaluation's timing total is shared by its perf cases


def test_timings_that_do_not_fit_in_the_wall_clock_are_rejected(tmp_path):
    checker, speedups = timed_case(tmp_path, {"candidate": samples([0.001] * 5),
                                              "baseline": samples([42.0] * 5, calls=20)})
    assert speedups == [] and checker.perf == []
    assert "more than the" in checker.violations[0] and "wall-clock time" in checker.violations[0]


@pytest.mark.parametrize("times", [None, {"candidate": samples([-1.0])}, {"candidate": samples(["0.1"])},
                                   {"baseline": samples([0.1])}, {"candidate": samples([0.1])}])
def test_unusable_timings_are_a_crash_not_a_speedup(tmp_path, times):
    with pytest.raises(_Stop):
        timed_case(tmp_path, times)


def test_a_time_beyond_the_devices_peak_is_rejected_by_the_caller():
    from tritonsmith.evaluate.job_result import check_physical
    from tritonsmith.evaluate.result import EvalResult, PerfResult

    def result(fraction, timer):
        perf = PerfResult(0, "shape=[4096]", 0.001, baseline_ms=1.0, speedup=1000.0, bandwidth_fraction=fraction,
                          timer=timer)
        return EvalResult("passed", True, True, perf=[perf], speedup=1000.0)
    forged = result(42.0, "per call")
    check_physical(forged)
    assert forged.status == "rejected" and forged.speedup is None and "datasheet peak bandwidth" in forged.message
    for honest in (result(0.9, "per call"), result(42.0, "batched")):  # batched: L2 stays warm between calls
        check_physical(honest)
        assert honest.status == "passed" and honest.speedup == 1000.0


def test_a_forged_time_split_is_left_out_not_a_crash(tmp_path):
    """The split of a perf case's time is the candidate's process's claim, kept as a diagnostic: numbers no
    clock gives (huge, negative, NaN, booleans, strings) are left out instead of breaking the evaluation."""
    forged = {"sampling": 10 ** 400, "prepare": float("nan"), "gpu_wait": True, "hand_over": "1", "x": -1.0,
              "fine": 0.25}
    checker, speedups = timed_case(tmp_path, {"candidate": samples([0.010, 0.011]),
                                              "baseline": samples([0.020, 0.021])}, spent_s=forged)
    split = checker.evidence["timing_split_s"][0]
    assert set(split) == {"fine", "verify"} and split["fine"] == 0.25
    assert speedups == [pytest.approx(2.0, rel=0.1)]
