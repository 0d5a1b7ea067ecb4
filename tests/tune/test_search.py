"""The search: real correctness from the CPU interpreter, scripted timings (the one thing a CPU cannot give)."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest

from tritonsmith.evaluate import EvalResult, PerfResult
from tritonsmith.knowledge.hardware import profile_for
from tritonsmith.suites import resolve_task
from tritonsmith.tune import (
    PoolMeasure,
    Scaled,
    TuneConfig,
    discover,
    geometric_mean_ms,
    relative_time,
    search_space,
    tune_kernel,
)

from .conftest import find

H100 = profile_for("NVIDIA H100 80GB HBM3")


def timed(pool, task, timing, clock, seconds: float = 10.0):
    """measure(source): the evaluator's real verdict on the CPU; the time from `timing`; the clock moves on."""
    calls: list[str] = []

    def measure(source: str, limit_s: float | None = None):
        result = pool.evaluate(task, source)
        clock.now += seconds
        calls.append(source)
        return result.status, timing(source) if result.passed else None

    measure.calls = calls
    return measure


def vector_add_launch(source: str) -> tuple[int, int]:
    return int(re.search(r"BLOCK = (\d+)", source).group(1)), int(re.search(r"num_warps=(\d+)", source).group(1))


def best_at_4096_with_8_warps(source: str) -> float:
    block, warps = vector_add_launch(source)
    return 1.0 + 0.1 * abs(math.log2(block / 4096)) + 0.05 * abs(math.log2(warps / 8))


def test_coarse_to_fine_finds_the_best_configuration(cpu_pool, clock):
    task = resolve_task("vector_add")
    measure = timed(cpu_pool, task, best_at_4096_with_8_warps, clock)
    result = tune_kernel(task, task.baseline, measure, budget_s=3600, clock=clock, profile=H100)
    found = discover(task.baseline)
    block, warps = find(found, param="BLOCK").id, find(found, param="num_warps").id
    assert result.config == {block: "4096", warps: "8"}
    assert result.original_ms == pytest.approx(1.25) and result.tuned_ms == pytest.approx(1.0)
    assert result.speedup == pytest.approx(1.25) and result.verified and result.stop_reason == "converged"
    phases = [t.phase for t in result.trials]
    assert phases[0] == "original" and phases[-1] == "verify" and "coarse" in phases
    assert len(result.trials) < 20 < 9 * 5  # far fewer measurements than the 45 configurations
    searched = measure.calls[:-1]
    assert len(set(searched)) == len(searched)  # no source measured twice in the search
    assert result.trials[-1].status == "passed" and measure.calls[-1] in result.tuned_source  # the verified source
    assert result.tuned_source.startswith("# tuned by tritonsmith for task vector_add")
    assert "# device: NVIDIA H100 SXM" in result.tuned_source and "1.250x" in result.tuned_source
    assert "    BLOCK = 4096\n" in result.tuned_source and "num_warps=8)" in result.tuned_source
    assert cpu_pool.evaluate(task, result.tuned_source).passed
    json.dumps(result.to_dict())


def test_a_configuration_that_fails_is_skipped(cpu_pool, clock):
    task = resolve_task("vector_add")
    found = discover(task.baseline)
    block = find(found, param="BLOCK")
    space = search_space(found, H100, task.kind)  # 1000 is no power of two: tl.arange rejects it
    space = dataclasses.replace(space, knobs=(block,), values={block.id: (512, 1000, 1024, 2048)})
    timing = {512: 1.2, 1000: 0.5, 1024: 1.0, 2048: 0.9}
    measure = timed(cpu_pool, task, lambda source: timing[vector_add_launch(source)[0]], clock)
    result = tune_kernel(task, task.baseline, measure, 3600, clock, space=space)
    failed = [t for t in result.trials if t.config == {block.id: "1000"}]
    assert len(failed) == 1 and failed[0].status == "runtime_error" and failed[0].ms is None
    assert result.config == {block.id: "2048"} and result.tuned_ms == pytest.approx(0.9)


def test_the_winner_is_verified_on_every_case(cpu_pool, clock):
    task = resolve_task("softmax")
    found = discover(task.baseline)
    whole_row = find(found, param="BLOCK_N")  # halving it is wrong once a row is longer than 8: forced into the space
    space = search_space(found, H100, task.kind)
    space = dataclasses.replace(space, knobs=(whole_row,), values={whole_row.id: (Scaled(-1), Scaled(0))})
    small_rows_only = dataclasses.replace(task, correctness_cases=task.correctness_cases[:2])  # N = 1 and 7
    assert max(case["shape"][1] for case in small_rows_only.correctness_cases) <= 8

    def halved_is_faster(source: str) -> float:
        return 0.5 if "// 2)" in source else 1.0

    search = timed(cpu_pool, small_rows_only, halved_is_faster, clock)
    verify = timed(cpu_pool, task, halved_is_faster, clock)
    result = tune_kernel(task, task.baseline, search, 3600, clock, verify=verify, space=space)
    halved = [t for t in result.trials if t.config == {whole_row.id: "rule/2"}]
    assert [(t.phase, t.status) for t in halved] == [("coarse", "passed"), ("verify", "wrong_output")]
    assert result.config == {} and result.tuned_ms == result.original_ms == 1.0 and result.verified
    assert "failed its verification (wrong_output)" in result.stop_reason
    assert result.tuned_source.endswith(task.baseline) and "configuration: the original" in result.tuned_source


def test_the_time_budget_is_respected(cpu_pool, clock):
    task = resolve_task("vector_add")

    def larger_is_faster(source: str) -> float:
        return 10 / math.log2(vector_add_launch(source)[0])

    measure = timed(cpu_pool, task, larger_is_faster, clock, seconds=10)
    result = tune_kernel(task, task.baseline, measure, budget_s=65, clock=clock, profile=H100,
                         config=TuneConfig(coarse_passes=5))
    # original 0-10 s, four searches to 50 s; a fifth would leave no room for the verification (50 + 2 x 10 > 65)
    assert [t.phase for t in result.trials] == ["original"] + ["coarse"] * 4 + ["verify"]
    assert clock.now == result.elapsed_s == 60 <= result.budget_s
    assert result.stop_reason.startswith("the time budget")
    assert list(result.config.values()) == ["16384"] and result.verified
    assert len(measure.calls) == 6


def test_a_budget_without_room_to_search_keeps_the_original(cpu_pool, clock):
    task = resolve_task("vector_add")
    measure = timed(cpu_pool, task, best_at_4096_with_8_warps, clock, seconds=10)
    result = tune_kernel(task, task.baseline, measure, budget_s=15, clock=clock)
    assert len(measure.calls) == 1 and result.config == {} and clock.now == 10
    assert result.stop_reason.startswith("the time budget") and result.tuned_source.endswith(task.baseline)


def test_max_trials_limits_the_search(cpu_pool, clock):
    task = resolve_task("vector_add")
    measure = timed(cpu_pool, task, best_at_4096_with_8_warps, clock)
    result = tune_kernel(task, task.baseline, measure, 3600, clock, config=TuneConfig(max_trials=3))
    assert sum(t.phase != "verify" for t in result.trials) == 3
    assert result.stop_reason.startswith("the limit of 3 measurements")


def autotune_time(source: str) -> float:
    """@triton.autotune picks the fastest of its configs; alone, each is best at BLOCK 256, 8 warps, 4 stages."""
    times = []
    for block, warps, stages in re.findall(r"Config\(\{['\"]BLOCK['\"]: (\d+)\}(?:, num_warps=(\d+))?"
                                           r"(?:, num_stages=(\d+))?", source):
        warps, stages = int(warps or 4), int(stages or 3)
        times.append(1 + 0.1 * abs(math.log2(int(block) / 256)) + 0.05 * abs(math.log2(warps / 8))
                     + 0.02 * abs(stages - 4))
    return min(times)


def test_autotune_configs_are_seeds_and_the_result_is_a_pruned_list(cpu_pool, clock, kernel):
    task = resolve_task("vector_add")
    source = kernel("autotune_list")
    measure = timed(cpu_pool, task, autotune_time, clock)
    result = tune_kernel(task, source, measure, 3600, clock, profile=H100)
    seeds = [t for t in result.trials if t.phase == "seed"]
    assert [t.config["_add_kernel.BLOCK"] for t in seeds] == ["128", "256", "512"]
    assert result.original_ms == pytest.approx(1.07) and result.tuned_ms == pytest.approx(1.0)
    assert any("_add_kernel.configs" in t.config for t in result.trials if t.phase == "final")
    assert result.verified and result.trials[-1].phase == "verify" and result.trials[-1].status == "passed"
    assert "triton.Config({'BLOCK': 256}, num_warps=8, num_stages=4)" in result.tuned_source
    assert cpu_pool.evaluate(task, result.tuned_source).passed


def test_without_timings_nothing_is_changed(cpu_pool, clock):
    task = resolve_task("vector_add")
    measure = PoolMeasure(cpu_pool, task)  # the real evaluator: on the CPU every timing is null
    result = tune_kernel(task, task.baseline, measure, 3600, clock)
    assert result.stop_reason.startswith("no timings") and result.config == {}
    assert result.tuned_ms is None and result.speedup is None and result.speedup_reason
    assert len(result.trials) == 1 and list(measure.results.values())[0].passed
    assert result.tuned_source.endswith(task.baseline)


def test_a_kernel_that_does_not_pass_is_not_tuned(cpu_pool, clock, kernel):
    task = resolve_task("vector_add")
    broken = kernel("launch_literal").replace("BLOCK=256", "BLOCK=64")
    measure = timed(cpu_pool, task, best_at_4096_with_8_warps, clock)
    result = tune_kernel(task, broken, measure, 3600, clock)
    assert result.stop_reason.startswith("the original does not pass (wrong_output)")
    assert len(result.trials) == 1 and result.config == {} and not result.verified


def test_the_pool_measure_is_the_geometric_mean_over_perf_cases():
    timed_cases = EvalResult("passed", True, True, perf=[PerfResult(0, "a", 1.0), PerfResult(1, "b", 4.0)])
    assert geometric_mean_ms(timed_cases) == pytest.approx(2.0)
    one_missing = EvalResult("passed", True, True, perf=[PerfResult(0, "a", 1.0), PerfResult(1, "b", None)])
    assert geometric_mean_ms(one_missing) is None and geometric_mean_ms(EvalResult("passed", True, True)) is None


def test_configurations_are_compared_with_the_original_timed_in_the_same_rounds():
    # candidate / original per perf case, in the same interleaved rounds: 0.5 and 2.0 -> geometric mean 1.0
    both = EvalResult("passed", True, True, perf=[PerfResult(0, "a", 1.0, baseline_ms=2.0),
                                                    PerfResult(1, "b", 4.0, baseline_ms=2.0)])
    assert relative_time(both) == pytest.approx(1.0)
    faster = EvalResult("passed", True, True, perf=[PerfResult(0, "a", 0.9, baseline_ms=1.0)])
    assert relative_time(faster) == pytest.approx(0.9)
    assert relative_time(EvalResult("passed", True, True, perf=[PerfResult(0, "a", 0.9)])) is None


def test_the_kernel_being_tuned_stands_in_for_the_baseline(cpu_pool, tmp_path):
    task = resolve_task("vector_add")
    kernel = task.baseline.replace("BLOCK = 1024", "BLOCK = 512")
    measure = PoolMeasure(cpu_pool, task, original=kernel)
    assert measure(kernel) == ("passed", None)  # the CPU gives no timings
    # the job times the candidate against the original, which is generated code: imported under the guards
    job = cpu_pool._job(task, kernel, tmp_path, baseline_source=kernel)
    assert job["baseline_untrusted"] is True and (tmp_path / "baseline.py").read_text().endswith(kernel)
    assert cpu_pool._job(task, kernel, tmp_path)["baseline_untrusted"] is False


def test_a_configuration_that_runs_far_longer_than_the_original_is_cut_off(cpu_pool):
    task = resolve_task("vector_add")
    measure = PoolMeasure(cpu_pool, task, timeout_factor=2.0, min_timeout_s=3.0)
    assert measure.current_timeout() is None  # the first: the pool's own limit
    assert measure(task.baseline)[0] == "passed" and measure.first_wall_s
    assert measure.current_timeout() == pytest.approx(max(3.0, 2 * measure.first_wall_s))
    stalls = "import time\ntime.sleep(600)\n" + task.baseline  # e.g. a compile that runs for minutes
    status, ms = measure(stalls)
    assert status == "timeout" and ms is None
    assert measure.results[stalls].wall_s < measure.current_timeout() + 30


def test_each_measurement_is_reported_as_it_happens(cpu_pool, clock):
    task = resolve_task("vector_add")
    seen = []
    result = tune_kernel(task, task.baseline, timed(cpu_pool, task, best_at_4096_with_8_warps, clock), 3600, clock,
                         profile=H100, on_trial=lambda trial, best: seen.append((trial, best)))
    assert [trial for trial, _ in seen] == result.trials
    bests = [best for _, best in seen]
    assert bests == sorted(bests, reverse=True) and bests[-1] == pytest.approx(1.0)  # the best so far, never worse


def hangs_at_block_512(clock, verify_s: float | None = None):
    """measure(source, limit_s): 4 s a configuration, BLOCK = 512's compile never ends (cut off at `limit_s`);
    with `verify_s`, also a verify(source, limit_s) that takes that long. Each records the limits it was given."""
    def make(seconds):
        def measure(source: str, limit_s: float | None = None):
            measure.limits.append(limit_s)
            takes = 600.0 if vector_add_launch(source)[0] == 512 else seconds
            if limit_s is not None and takes > limit_s:
                clock.now += limit_s
                return "timeout", None
            clock.now += takes
            return "passed", best_at_4096_with_8_warps(source)
        measure.limits = []
        return measure
    return make(4.0), (make(verify_s) if verify_s else None)


def test_a_configuration_that_hangs_is_cut_off_and_the_budget_holds(clock):
    task = resolve_task("vector_add")
    measure, _ = hangs_at_block_512(clock)
    result = tune_kernel(task, task.baseline, measure, budget_s=40, clock=clock, profile=H100)
    # original, BLOCK 2048, 4096, 8192 (slower): 16 s; 512 may take what leaves one verification (4 s): 20 s
    hung = [t for t in result.trials if t.status == "timeout"]
    assert len(hung) == 1 and hung[0].started_s == 16 and hung[0].duration_s == 20
    assert measure.limits[:5] == [40, 32, 28, 24, 20]  # the time left less one verification
    assert [t.phase for t in result.trials][-1] == "verify" and measure.limits[-1] == 4  # what was left
    assert clock.now == result.elapsed_s == 40 <= result.budget_s
    assert list(result.config.values()) == ["4096"] and result.verified and result.speedup > 1


def test_a_longer_verification_is_reserved_for(clock):
    task = resolve_task("vector_add")
    measure, verify = hangs_at_block_512(clock, verify_s=6.0)
    config = TuneConfig(coarse_passes=1, verify_factor=1.5)
    result = tune_kernel(task, task.baseline, measure, budget_s=30, clock=clock, verify=verify, profile=H100,
                         config=config)
    # before any verification has run it is expected to take verify_factor (1.5) measurements: 6 s is kept
    # free, so BLOCK 512, started at 16 s, is cut off at 24 s, and the verification has the 6 s it needs
    assert [t.phase for t in result.trials] == ["original", "coarse", "coarse", "coarse", "coarse", "verify"]
    assert [t.duration_s for t in result.trials if t.status == "timeout"] == [8]
    assert verify.limits == [6] and clock.now == result.elapsed_s == 30 <= result.budget_s
    assert result.trials[-1].status == "passed" and result.verified and result.changed


def test_a_verification_the_budget_cuts_off_keeps_the_original(clock):
    task = resolve_task("vector_add")
    measure, verify = hangs_at_block_512(clock, verify_s=8.0)  # longer than the 6 s expected
    result = tune_kernel(task, task.baseline, measure, budget_s=30, clock=clock, verify=verify, profile=H100,
                         config=TuneConfig(coarse_passes=1, verify_factor=1.5))
    assert [(t.phase, t.status) for t in result.trials][-1] == ("verify", "timeout") and verify.limits == [6]
    assert clock.now == result.elapsed_s == 30 and result.config == {} and result.verified
    assert "the budget ended during the verification of" in result.stop_reason


def test_an_original_that_cannot_be_measured_within_the_budget_says_so(clock):
    task = resolve_task("vector_add")
    measure, _ = hangs_at_block_512(clock)
    slow = task.baseline.replace("BLOCK = 1024", "BLOCK = 512")
    result = tune_kernel(task, slow, measure, budget_s=30, clock=clock, profile=H100)
    assert measure.limits == [30] and clock.now == 30 and not result.verified and result.config == {}
    assert result.stop_reason == "the original could not be measured within the 30 s budget: give the tuner more time"


class GpuAnswers:
    """A pool's `evaluate` as a GPU answers it (a CPU gives no timings): each source's time and the
    original's, measured in the same rounds, are given in advance; every call's timeout and timing are kept."""

    def __init__(self, times: dict[str, tuple[float, float]]):
        self.times = times
        self.calls: list[tuple[str, float | None, dict | None]] = []

    def evaluate(self, task, source, timeout_s=None, timing=None, baseline=None):
        self.calls.append((source, timeout_s, timing))
        candidate, original = self.times[source]
        return EvalResult("passed", True, True, perf=[PerfResult(0, "a", candidate, baseline_ms=original)],
                          wall_s=10.0)


def test_the_verifier_times_longer_on_the_search_scale():
    from tritonsmith.tune import TUNE_TIMING, VERIFY_TIMING
    task = resolve_task("vector_add")
    # the original first (2.0 ms, the anchor), then a configuration 0.75x the original in a slower moment,
    # then the same configuration verified at 0.8x in a faster one
    pool = GpuAnswers({"original": (2.0, 2.0), "config": (3.0, 4.0), "again": (1.6, 2.0)})
    measure = PoolMeasure(pool, task, original="original", timeout_factor=5.0, min_timeout_s=20.0)
    verify = measure.verifier()
    assert measure("original") == ("passed", 2.0)
    assert measure("config", 30.0) == ("passed", pytest.approx(1.5))
    assert verify("again", 100.0) == ("passed", pytest.approx(1.6))  # 0.8 of the search's original
    assert [(timeout, timing) for _, timeout, timing in pool.calls] == [
        (None, TUNE_TIMING), (30.0, TUNE_TIMING), (50.0, VERIFY_TIMING)]  # 5 x the first 10 s, under the limit
    assert set(measure.results) == {"original", "config", "again"} and verify.results is measure.results
    assert VERIFY_TIMING["rounds"] % 2 == 0  # rotating order with two functions: each first equally often


def test_the_time_left_cuts_off_a_measurement_on_the_real_evaluator(cpu_pool):
    task = resolve_task("vector_add")
    measure = PoolMeasure(cpu_pool, task)
    stalls = "import time\ntime.sleep(600)\n" + task.baseline
    status, ms = measure(stalls, 3.0)
    assert status == "timeout" and ms is None and measure.results[stalls].wall_s < 3.0 + 30
