"""The checker's side of timing: what the candidate's process claims is bounded by the checker's own clock, and
what it hands over after timing is taken by digest only where the checker has verified the same already."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest
import torch

from tritonsmith.evaluate.checker import Checker
from tritonsmith.evaluate.conversation import _Stop
from tritonsmith.evaluate.gpu_lock import GpuLock
from tritonsmith.evaluate.runtime import (
    TaskFailure,
    hand_over,
    hand_over_unless_same,
    input_digest,
    value_digest,
)
from tritonsmith.evaluate.worker import CandidateRun


def timed_case(tmp_path, times, wall_s=0.05, checks=None, first_calls_ok=(), setup=None, forged_ms=(), **reply):
    """Run Checker.time_case on a reply the candidate's process would send (`times`, and any other `reply`
    fields), after `wall_s` of wall time. `checks`: (the perf check, its after-timing check), verified for real
    from the files under tmp_path/out, where `first_calls_ok` names the perf keys whose first call was verified
    right; without them nothing is verified. `setup(checker)` runs before the case. `forged_ms`: per `time`
    command in turn, milliseconds each candidate sample takes beyond what it reports; `times` may be a list, one
    per `time` command in turn (the last for any after). `checker.timings` counts the `time` commands."""
    checker = Checker({"device": "cpu", "job_dir": str(tmp_path), "timing": {"rounds": 2}})
    checker.task = SimpleNamespace(flops=lambda case: 2e9, bytes_moved=lambda case: 0)
    checker.baseline_present = True
    check = {"index": 0, "case": {"shape": [4], "dtype": "float32"}, "seed": 7}
    if checks is None:
        checker.all_checks = {1: {}}
        checker.verify = lambda *args: True
    else:
        check, checker.all_checks = checks[0], {1: checks[1]}
    checker.checker, checker.tolerances, checker.first_calls_ok = None, {}, set(first_calls_ok)
    checker.pytorch_gold = False

    reply.setdefault("fresh", {"ms": 0.0105, "host_ms": 0.02, "repeat_host_ms": 0.02})  # as fast as a timed call

    def ask(command):  # `time`, then `warm` and `fresh` (the first call on new inputs), each answered so
        if command["do"] == "fresh":  # the first call's figures come in a message of their own, before the reply
            checker.note({"figures": command["id"], "fresh": reply["fresh"]})
        if command["do"] != "time":
            return {"done": command["do"], "after_handed": True,
                    **{k: v for k, v in reply.items() if k not in ("spent_s", "fresh")}}
        checker.asked = command
        checker.timings += 1
        sent = times[min(checker.timings, len(times)) - 1] if isinstance(times, list) else times
        send_samples(checker, command["id"], sent,
                     forged_ms[checker.timings - 1] if checker.timings <= len(forged_ms) else 0.0)
        time.sleep(wall_s)
        return {"done": "time", "rounds": 5, "stopped": "converged", "times": sent, **reply}
    checker.ask, checker.timings = ask, 0
    checker.after_inputs = lambda key: {"key": key}  # what the command names: made from the checks, not needed here
    speedups: list[float] = []
    checker.perf_checks = [check, dict(check, index=1)]
    if setup is not None:
        setup(checker)
    checker.time_case(0, 1, check, False, "separate", speedups, [])
    return checker, speedups


def send_samples(checker, key, times, forged_ms=0.0):
    """Each sample as the worker sends it while it times (one message as each is taken, in turns), each after
    the time it says it took (the candidate's, `forged_ms` more)."""
    entries = {name: t for name, t in (times or {}).items() if isinstance(t, dict) and isinstance(t.get("samples"), list)}
    for index in range(max((len(t["samples"]) for t in entries.values()), default=0)):
        for name, timed in entries.items():
            if index < len(timed["samples"]) and type(timed["samples"][index]) in (int, float):
                calls = timed.get("calls_per_sample", 1)
                time.sleep((max(0.0, min(timed["samples"][index] * calls, 50.0))
                            + (forged_ms if name == "candidate" else 0.0)) / 1000)
                checker.note({"sample": key, "name": name, "ms": timed["samples"][index], "calls": calls})


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


def test_compute_is_held_to_the_devices_highest_peak_not_its_cases_dtype():
    """A float32 matmul on tf32 tensor cores, or an int8 one whose case says float32 (TritonBench-G's
    int8_matmul_kernel, its gold rejected on an H100 at 419% of float32's peak), runs above float32's peak:
    only a time beyond what any of the device's units reach (int8's 1979 TFLOP/s on an H100) is not measured."""
    from tritonsmith.evaluate.job_result import add_roofline, check_physical
    from tritonsmith.evaluate.result import EvalResult, PerfResult
    task = SimpleNamespace(perf_cases=[{"dtype": "float32"}])  # (add_roofline reads only these)

    def result(tflops):
        perf = PerfResult(0, "dtype=float32", 0.1, baseline_ms=0.1, speedup=1.0, tflops=tflops, timer="per call")
        return EvalResult("passed", True, True, perf=[perf], speedup=1.0, evidence={"device": "NVIDIA H100 80GB HBM3"})
    honest, forged = result(280.0), result(7000.0)
    for each in (honest, forged):
        add_roofline(each, task, None)
        check_physical(each)
    assert honest.perf[0].compute_fraction > 4  # of float32's peak, as reported
    assert honest.status == "passed" and honest.speedup == 1.0
    assert forged.status == "rejected" and "highest, of any type" in forged.message


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


def handed_over_after_timing(tmp_path, first_output, last_output):
    """What the candidate's process hands over after timing vector_add's perf case 0 (after-timing case 1),
    by its own code (CandidateRun.hand_over_last: the time command itself needs a GPU): the files under
    tmp_path/out, and the claims of its reply. Returns the two checks and the claims."""
    x, y = torch.arange(8.0), torch.ones(8)
    check = {"index": 0, "case": {"shape": [8], "dtype": "float32"}, "seed": 7, "phase": "perf_shape",
             "args": (x, y), "expected": x + y}
    after = dict(check, seed=8, phase="after_timing")
    run = CandidateRun({"device": "cpu", "job_dir": str(tmp_path)}, None, 0, GpuLock(None))
    os.makedirs(run.out_dir)
    run.digests = [input_digest(check["args"]), input_digest(after["args"])]  # as the start command sends them
    run.first_outputs[0] = value_digest(first_output)  # as the perf case's first call remembers it
    claims = run.hand_over_last(0, last_output, (x.clone(), y.clone()))
    hand_over(os.path.join(run.out_dir, "after-1.pt"), x + y)
    claims["after_args_same"] = hand_over_unless_same(os.path.join(run.out_dir, "after-1-args.pt"), (x.clone(), y),
                                                      run.digests[1])
    return (check, after), claims


TIMES = {"candidate": samples([0.010, 0.011]), "baseline": samples([0.020, 0.021])}


def test_the_last_timed_output_by_digest_is_taken_only_where_the_first_call_was_verified(tmp_path):
    """A last timed call whose output equals the first call's (by digest) is not handed over: the checker
    takes it as right because that first call was verified right, and otherwise reads the file, which is
    missing: no output."""
    checks, claims = handed_over_after_timing(tmp_path / "a", torch.arange(8.0) + 1, torch.arange(8.0) + 1)
    assert claims == {"last_output_same": True, "last_args_same": True, "after_args_same": True}
    assert sorted(os.listdir(tmp_path / "a" / "out")) == ["after-1.pt"]
    checker, speedups = timed_case(tmp_path / "a", TIMES, checks=checks, first_calls_ok={0}, **claims)
    assert checker.status is None and checker.violations == [], checker.message
    assert [(c["phase"], c["ok"]) for c in checker.cases] == [("last_timed_call", True), ("after_timing", True)]
    assert checker.evidence["handed_over_by_digest"] == 3  # the last output and arguments, the after arguments
    assert 0 < checker.evidence["handed_over_mb"] < 0.01  # after-1.pt alone
    assert speedups == [pytest.approx(2.0, rel=0.1)]

    checks, claims = handed_over_after_timing(tmp_path / "b", torch.arange(8.0) + 1, torch.arange(8.0) + 1)
    checker, _ = timed_case(tmp_path / "b", TIMES, checks=checks, first_calls_ok=set(), **claims)
    assert checker.status == "wrong_output" and "no output was handed over" in checker.message
    assert checker.cases[0]["phase"] == "last_timed_call" and not checker.cases[0]["ok"]


@pytest.mark.parametrize("last, ok", [(torch.arange(8.0) + 1, True), (torch.zeros(8), False)])
def test_a_last_timed_output_unlike_the_first_is_handed_over_and_verified(tmp_path, last, ok):
    """A first output within tolerance and a last one that differs from it (a non-deterministic kernel), or a
    wrong last one: the file is sent, read and compared with the reference as before."""
    checks, claims = handed_over_after_timing(tmp_path, torch.arange(8.0) + 1 + 1e-7, last)
    assert claims["last_output_same"] is False and (tmp_path / "out" / "last-0.pt").exists()
    checker, _ = timed_case(tmp_path, TIMES, checks=checks, first_calls_ok={0}, **claims)
    assert checker.cases[0]["phase"] == "last_timed_call" and checker.cases[0]["ok"] is ok
    assert checker.evidence["handed_over_by_digest"] == 2  # the arguments only
    assert not (tmp_path / "out" / "last-0.pt").exists()  # read (and removed)
    assert (checker.status is None) is ok and ("differs from the reference" in checker.message) is not ok



ALONE = {"per call": 0.021, "batched": 0.004, "host_ms": 0.01, "fresh": 0.021}  # the baseline, alone: as fast
# on new inputs as on repeated ones


@pytest.mark.parametrize("fresh, alone, flagged", [
    ({"ms": 0.0105}, ALONE, False),  # about as fast on new inputs as on repeated ones, as the baseline
    ({"ms": 0.2}, ALONE, True),  # 20x slower on new inputs: what it computed is reused
    ({"ms": 0.025}, ALONE, False),  # 2.4x: within what warm caches give a batched loop
    ({"ms": 0.2}, dict(ALONE, fresh=0.4), False),  # the baseline too (20x): nothing to hold against it
    ({"ms": 0.2}, dict(ALONE, fresh="0.4"), False),  # a baseline time that is no number: not compared
    ({"ms": 0.2}, None, False),  # no baseline timed alone (a tuner's, say): not compared
    ({"ms": None, "host_ms": 30.0, "spin_ms": 2.0, "repeat_host_ms": 0.02}, ALONE, True),  # host work on new inputs
    ({"ms": None, "host_ms": 12.5, "spin_ms": 10.0, "repeat_host_ms": 3.0}, ALONE, False),  # it waits for the GPU
    # a new specialization on new inputs (Triton compiled or autotuned for 27 of the 30 ms) is not reuse
    ({"ms": None, "host_ms": 30.0, "spin_ms": 2.0, "repeat_host_ms": 0.02, "compile_ms": 27.0}, ALONE, False),
    ({"ms": None, "host_ms": 30.0, "spin_ms": 2.0, "repeat_host_ms": 0.02, "compile_ms": "27"}, ALONE, True),
    # 8 of its 11 ms waiting for a CPU: said, not excused (a candidate can make its own thread wait so)
    ({"ms": None, "host_ms": 11.0, "spin_ms": 2.0, "repeat_host_ms": 0.526, "run_delay_ms": 8.0}, ALONE, True),
    ({}, ALONE, True),  # no time at all (its process sends none only if something took them away): doubted
])
def test_a_candidate_much_faster_on_repeated_inputs_than_on_new_ones_is_rejected(tmp_path, fresh, alone, flagged):
    def setup(checker):
        checker.trusted_baseline = {"0": alone} if alone is not None else {}
        checker.on_gpu = True  # the margins of a GPU (the host clock's are wider)
    checker, _ = timed_case(tmp_path, {"candidate": samples([0.010, 0.011, 0.0105]),
                                       "baseline": samples([0.020, 0.022, 0.021])}, setup=setup,
                            fresh=dict(fresh, repeat_host_ms=fresh.get("repeat_host_ms", 0.01)) if fresh else {})
    reused = [v for v in checker.violations
              if "reused between calls" in v or "reuses results" in v or "came back with no time" in v]
    assert bool(reused) == flagged, checker.violations
    if fresh.get("run_delay_ms"):
        assert "waiting for a CPU (ms) 8.0" in reused[0] and checker.perf[0]["fresh_call_run_delay_ms"] == 8.0
    if fresh.get("ms") == 0.2 and alone is ALONE:
        assert checker.perf[0]["repeat_vs_fresh"] == pytest.approx((0.0105 / 0.2) / (0.021 / 0.021), rel=0.01)


@pytest.mark.parametrize("past, compile_ms, flagged", [
    (0.2, 0.0, True),  # it slept the spin out on the host, then did the work it reuses between timed calls
    (0.2, 40.0, True),
    (0.08, 0.0, False),  # its kernels met an idle GPU (launch latency; after a compile, a cold clock): 0.1 ms allowed
    (0.08, 40.0, False),
    (0.011, 0.0, False),  # held up on the host (a compile, a synchronising op), then as fast as its timed calls
    (0.025, 0.0, False),  # 2.4x: what a flushed L2 and a launch give a first call
    (0.0, 0.0, False),  # its work all done before it returned (judged by its host time)
    (None, 0.0, False),  # no GPU time past the wait (no spin: the host clock)
])
def test_a_candidate_that_sleeps_past_the_spin_on_new_inputs_is_still_caught(tmp_path, past, compile_ms, flagged):
    """A first call on new inputs that keeps the host past the spin is not timed (the time would hold host
    time) and shows no host work past the spin; the GPU work it launched after the spin ended
    (`past_wait_ms`) still shows what it does once per input (session 12's review: cache, sleep ~3 ms)."""
    def setup(checker):
        checker.trusted_baseline, checker.on_gpu = {"0": ALONE}, True
    fresh = {"ms": None, "host_ms": 2.2 + compile_ms, "spin_ms": 2.0, "repeat_host_ms": 0.01, "past_wait_ms": past,
             "compile_ms": compile_ms}
    checker, _ = timed_case(tmp_path, {"candidate": samples([0.010, 0.011, 0.0105]),
                                       "baseline": samples([0.020, 0.022, 0.021])}, setup=setup, fresh=fresh)
    reused = [v for v in checker.violations if "reuses results" in v]
    assert bool(reused) == flagged, checker.violations
    if flagged and not compile_ms:
        assert "kept the host 2.2 ms" in reused[0] and f"{past:.4f} ms" in reused[0]
    assert checker.perf[0].get("fresh_call_past_wait_ms") == past


@pytest.mark.parametrize("fresh, flagged", [
    # waits the spin out, launches its work and waits for it before returning: no GPU time past the wait,
    # but its launches' own events show the work
    ({"past_wait_ms": 0.0, "launches_gpu_ms": 0.2, "hooked_launches": 1, "launches": 1}, True),
    ({"past_wait_ms": 0.0, "launches_gpu_ms": 0.012, "hooked_launches": 1, "launches": 1}, False),  # honest
    ({"past_wait_ms": 0.2, "launches_gpu_ms": 0.0, "hooked_launches": 0, "launches": 0}, True),  # torch's work
    ({"past_wait_ms": 0.0, "launches_gpu_ms": 0.0, "hooked_launches": 0, "launches": 2}, "hooks"),  # taken away
])
def test_a_first_call_that_waits_for_its_own_work_is_held_to_its_launches_gpu_time(tmp_path, fresh, flagged):
    def setup(checker):
        checker.trusted_baseline, checker.on_gpu = {"0": ALONE}, True
    fresh = dict(fresh, ms=None, host_ms=2.3, spin_ms=2.0, repeat_host_ms=0.01)
    checker, _ = timed_case(tmp_path, {"candidate": samples([0.010, 0.011, 0.0105]),
                                       "baseline": samples([0.020, 0.022, 0.021])}, setup=setup, fresh=fresh)
    reused = [v for v in checker.violations if "reuses results" in v]
    hooks = [v for v in checker.violations if "launch hooks saw 0 of the 2 launches" in v]
    assert (bool(reused), bool(hooks)) == ((flagged is True), flagged == "hooks"), checker.violations


@pytest.mark.parametrize("elapsed, host, ahead, past", [
    (0.5, 1.0, 2.06, 0.5),  # the host within the spin and flush: all of it
    (1.3, 3.06, 2.06, 0.3),  # 1 ms of host time past the GPU's start, during which the GPU may have waited
    (0.4, 3.0, 2.0, 0.0),  # never below nothing
])
def test_the_gpu_time_past_a_first_calls_wait(elapsed, host, ahead, past):
    from tritonsmith.evaluate.timing import gpu_past_wait
    assert gpu_past_wait(elapsed, host, ahead) == pytest.approx(past)


def test_timed_calls_that_launch_nothing_or_return_old_memory_are_rejected(tmp_path):
    times = {"candidate": samples([0.010, 0.011]), "baseline": samples([0.020, 0.021])}
    checker, _ = timed_case(tmp_path, times, timed_calls_without_launch=3, timed_calls_reusing_output=2)
    assert any("3 timed call(s) launched no Triton kernel" in v for v in checker.violations)
    assert any("2 timed call(s) returned memory the previous call had returned" in v for v in checker.violations)
    checker, _ = timed_case(tmp_path, times, timed_calls_without_launch=True, timed_calls_reusing_output="2")
    assert checker.violations == []  # only counts are counted


@pytest.mark.parametrize("alone, untrusted, flagged", [
    ({"per call": 0.020, "batched": 0.002}, False, False),  # beside the candidate as fast as alone
    ({"per call": 0.010, "batched": 0.020}, False, True),  # 2.1x its time alone, in the timer the case used
    ({"per call": 0.015, "batched": 0.002}, False, False),  # 1.4x: within the margin
    ({"per call": 0.010}, True, False),  # a tuner's baseline (generated code) is not the one timed alone
    ({"per call": "0.01"}, False, False),  # no number: nothing to compare
    # a baseline that synchronises (its samples needed the longest spin): its GPU time holds host time
    ({"per call": 0.010, "batched": 0.020, "host_bound": ["per call"]}, False, False),
    ({"per call": 0.010, "batched": 0.020, "host_bound": ["batched"]}, False, True),  # not in the case's timer
    ({"per call": 0.010, "batched": 0.020, "host_bound": "per call"}, False, True),  # not a list: compared
])
def test_a_baseline_slower_beside_the_candidate_than_alone_is_caught(tmp_path, alone, untrusted, flagged):
    def setup(checker):
        checker.trusted_baseline, checker.on_gpu = {"0": dict(alone, fresh=alone.get("per call"))}, True
        checker.job["baseline_untrusted"] = untrusted
    times = {"candidate": samples([0.010, 0.011, 0.0105]), "baseline": samples([0.020, 0.022, 0.021])}
    checker, _ = timed_case(tmp_path, times, setup=setup)
    slowed = [v for v in checker.violations if "slowed what it is timed against" in v]
    assert bool(slowed) == flagged, checker.violations
    if alone.get("host_bound") == ["per call"]:
        assert "synchronises" in checker.evidence["baseline_alone_not_compared"][0]
        assert "baseline_alone_ms" not in checker.perf[0]  # (kept only where compared: gold_pass.py's calibration)
    if flagged:
        assert checker.perf[0]["baseline_alone_ms"] > 0


def test_a_suite_whose_golds_use_torch_freely_may_launch_no_kernel_in_a_timed_call(tmp_path):
    def setup(checker):
        checker.job["allowed_ops"] = ["*"]
    times = {"candidate": samples([0.010, 0.011]), "baseline": samples([0.020, 0.021])}
    checker, _ = timed_case(tmp_path, times, setup=setup, timed_calls_without_launch=3)
    assert checker.violations == []


@pytest.mark.parametrize("again, flagged", [
    ({"ms": None, "host_ms": 2.3, "spin_ms": 2.0, "repeat_host_ms": 0.526}, False),  # a stall that did not repeat
    ({"ms": None, "host_ms": 10.5, "spin_ms": 2.0, "repeat_host_ms": 0.526}, True),  # work once per input
    (None, True),  # other inputs could not be made (memory): the first call decides
])
def test_a_first_call_slow_on_the_host_is_made_again_before_it_counts(tmp_path, again, flagged):
    """bmm_chunk_bwd's gold at four workers on an H200: 11.0 ms on the host for a first call on new inputs, against
    0.526 ms a timed call. The checker makes other new inputs (a seed drawn then) and has that call made again;
    only a second as slow is held against the candidate, and the evidence says what each showed."""
    seeds: list[int] = []

    def setup(checker):
        checker.trusted_baseline, checker.on_gpu = {"0": ALONE}, True
        if again is None:
            def make_check(*args):
                raise TaskFailure("the task's make_inputs/reference failed on perf case 0: CUDA out of memory")
        else:
            def make_check(case, index, seed, phase):
                seeds.append(seed)
                return {"case": case, "index": index, "seed": seed, "phase": phase, "args": ()}
        checker.make_check = make_check
        checker.all_checks = [{}, {}]
        checker.inputs_file = lambda keys, name: str(tmp_path / name)
        first_ask = checker.ask

        def ask(command):
            if command["do"] == "fresh" and command["id"] != 1:  # the first call's check is 1; another's, new
                checker.fresh_command = command
                checker.note({"figures": command["id"], "fresh": dict(again)})
                return {"done": "fresh", "after_handed": True, "after_args_same": True}
            return first_ask(command)
        checker.ask = ask
        checker.after_inputs = lambda key: ({"key": key, "meta": checker.meta_of(checker.all_checks[key])} if key > 1
                                            else {"key": key})
    fresh = {"ms": None, "host_ms": 11.0, "spin_ms": 2.0, "repeat_host_ms": 0.526}
    checker, _ = timed_case(tmp_path, {"candidate": samples([0.594, 0.595, 0.594]),
                                       "baseline": samples([0.595, 0.594, 0.596])}, setup=setup, fresh=fresh)
    reused = [v for v in checker.violations if "work done once per input" in v]
    assert bool(reused) == flagged, checker.violations
    if again is None:
        assert "CUDA out of memory" in checker.evidence["fresh_call_not_made_again"][0]
        assert "again on other new inputs" not in reused[0]
        return
    assert checker.fresh_command["id"] == 2  # a check of its own, named only in its own command
    meta = checker.fresh_command["after"]["meta"]
    assert meta["seed"] == seeds[0] and meta["phase"] == "after_timing" and checker.all_checks[2] == meta
    made = checker.evidence["fresh_call_made_again"][0]
    assert ("as slow" if flagged else "not slow") in made and "11.0 ms on the host" in made, made
    if flagged:
        assert "and so again on other new inputs (not timed, 10.5 ms on the host)" in reused[0]


def test_the_checker_copies_handed_over_tensors_and_inputs_only_within_the_gpu_lock(tmp_path, monkeypatch):
    """A copy of GBs on the GPU beside another evaluation's timing takes its memory bandwidth: on an H200, with
    six evaluations at once, an honest candidate's first call on new inputs (timed once) came out 8x slower than
    its repeated calls and was rejected. The checker's take-over of a handed-over file and its copy of a check's
    inputs run within the GPU lock (shared), which no timing overlaps."""
    import fcntl
    import functools

    import tritonsmith.evaluate.checker as checker_module
    import tritonsmith.evaluate.references as references_module

    held = []
    stand_in = SimpleNamespace(job={"job_dir": str(tmp_path)}, handed_over_bytes=0, checker=object(),
                               evidence={"handed_over_by_digest": 0},
                               gpu_lock=GpuLock(str(tmp_path / "gpu0.lock")), device="cpu")
    stand_in.copied = functools.partial(Checker.copied, stand_in)
    stand_in.take = functools.partial(Checker.take, stand_in)
    monkeypatch.setattr(checker_module, "take_over", lambda path: (held.append(stand_in.gpu_lock.held), (True, 1))[1])
    stand_in.args_here = functools.partial(Checker.args_here, stand_in)
    monkeypatch.setattr(references_module, "clone",
                        lambda args, device=None: (held.append(stand_in.gpu_lock.held), args)[1])
    assert Checker.take(stand_in, "call-0.pt") == (True, 1)
    check = {"args": (torch.zeros(2),)}
    assert Checker.taken(stand_in, "call", 0, check, claims=("args",)) == (1, check["args"])  # its own copy
    assert held == [fcntl.LOCK_SH] * 3
    assert stand_in.gpu_lock.held is None  # let go after


def test_a_first_calls_figures_are_the_first_sent_for_its_check(tmp_path):
    """The figures of a first call on new inputs are taken from the message sent as soon as the call returned;
    any sent for that check later (after candidate code ran again: the hand-over) are not."""
    checker = Checker({"device": "cpu", "job_dir": str(tmp_path), "timing": {}})
    checker.note({"figures": 3, "fresh": {"ms": 2.5, "host_ms": 0.1}})
    checker.note({"figures": 3, "fresh": {"ms": 0.04, "host_ms": 0.1}})
    checker.note({"figures": True, "fresh": {"ms": 0.04}})  # not a check key
    checker.note({"figures": 4, "fresh": "0.04"})  # not figures
    assert checker.figures == {3: {"ms": 2.5, "host_ms": 0.1}}


def test_samples_are_held_to_the_checkers_clock_as_they_arrive():
    """On a GPU: each sample's wall-clock time, between its arrival and the previous one's, less the time it
    reports, is alike for the candidate and the baseline timed in turns (spins, flushes, the loop); a candidate
    whose samples take more than they report (the medians), by half a sample and 0.5 ms at least, is found. A
    few stalls of the checker do not make an honest one so, nor does a spin whose length drifts."""
    import random

    def log_of(candidate_extra_ms, stalls=(), forged=range(20), spin_ms=2.0, rounds=20):
        rng, log, now = random.Random(3), [], 100.0
        for index in range(rounds):
            for name, ms, calls in (("candidate", 0.1, 10), ("baseline", 0.1, 10))[::1 if index % 2 else -1]:
                extra = candidate_extra_ms if name == "candidate" and index in forged else 0.0
                spin = spin_ms(len(log)) if callable(spin_ms) else spin_ms
                now += (spin + ms * calls + extra + rng.uniform(0, 0.05) + (5.0 if len(log) in stalls else 0.0)
                        ) / 1000
                log.append((now, name, ms, calls))
        return log

    def violations(log):
        checker = Checker({"device": "cuda", "job_dir": "/nonexistent", "timing": {}})
        checker.on_gpu, perf = True, {}
        found = checker.check_sample_clock({"index": 0, "case": {"shape": [4], "dtype": "float32"}, "seed": 7,
                                            "phase": "perf_shape"}, log, perf)
        return [found] if found else [], perf

    found, perf = violations(log_of(0.0, stalls=(5, 17, 30)))
    assert found == [] and abs(perf["clock_gap_ms"]["candidate"] - perf["clock_gap_ms"]["baseline"]) < 0.05, perf
    found, _ = violations(log_of(0.4))  # reports 1 ms a sample, takes 1.4: within half a sample
    assert found == []
    found, perf = violations(log_of(0.7))  # takes 1.7 ms for the 1 ms it reports
    assert len(found) == 1 and "the candidate's time was not measured as its calls ran" in found[0], found
    gaps = perf["clock_gaps_ms"]  # each sample's gap kept where it is rejected, to tell a forgery from a clock
    assert [len(gaps["candidate"]), len(gaps["baseline"])] == [20, 19] and all(
        gap > 2.6 for gap in gaps["candidate"]), gaps
    assert violations(log_of(5.0)[:5])[0] == []  # too few samples to say
    # forged in just over half its samples (enough to move their median): found; in a quarter: not held against it
    assert violations(log_of(0.7, forged=range(0, 11)))[0]
    assert violations(log_of(0.7, forged=range(0, 5)))[0] == []
    # a 50 ms spin whose length follows the GPU's clock: 2% longer after the candidate's samples is not forging
    assert violations(log_of(1.0, spin_ms=50.0))[0] == []
    # the spin 10 ms for seven samples and 5 ms after (the clock up): in six rounds the candidate had four long
    # ones, the baseline two, and their medians apart differ by 5 ms (a gold rejected against itself on an H100:
    # 13.09 against 8.19 ms); each sample against the one next to it does not
    step = log_of(0.0, spin_ms=lambda position: 10.0 if position < 7 else 5.0, rounds=6)
    found, perf = violations(step)
    assert found == [] and perf["clock_gap_ms"]["candidate"] - perf["clock_gap_ms"]["baseline"] > 4.5, perf
    found, _ = violations(log_of(0.7, spin_ms=lambda position: 10.0 if position < 7 else 5.0))  # forged, too
    assert len(found) == 1, found
    # the reverse (a layernorm gold against itself on an H100): medians alike, but the baseline's samples next to
    # the candidate's short ones, as a draw of five can fall; the differences alone (3.9 ms) said forged
    honest = [(0.0, "", 0.0, 0)]
    for candidate_gap, baseline_gap in ((16.0, 12.0), (16.0, 12.0), (16.0, 16.0), (20.0, 16.0), (20.0, 16.0)):
        for name, gap in (("candidate", candidate_gap), ("baseline", baseline_gap)):
            honest.append((honest[-1][0] + (gap + 1.0) / 1000, name, 0.1, 10))
    found, perf = violations(honest)
    assert found == [] and perf["clock_gap_ms"] == {"candidate": 16.0, "baseline": 16.0}, (found, perf)


@pytest.mark.parametrize("forged_ms, timings, rejected", [((), 1, False), ((25.0,), 2, False), ((25.0, 25.0), 2, True)])
def test_a_case_the_checkers_clock_finds_slow_is_timed_again_and_held_against_it_only_if_found_again(
        tmp_path, forged_ms, timings, rejected):
    """A busy host's scheduler can put more of its 4 ms ticks on five candidate samples than on the baseline's
    five (a ROCm gold against itself): the case is timed again, the second timing's figures are the ones kept,
    and the candidate is rejected only where the second timing is found so too."""
    times = {"candidate": samples([0.5] * 5), "baseline": samples([0.5] * 5)}
    checker, speedups = timed_case(tmp_path, times, forged_ms=forged_ms)
    assert checker.timings == timings
    retimed = checker.evidence.get("clock_retimed", [])
    assert len(retimed) == (timings - 1) and all("timed again, as the checker's clock saw" in r for r in retimed)
    if rejected:
        assert len(checker.violations) == 1 and "and in a first timing of the case: the checker's clock saw" in \
            checker.violations[0], checker.violations
        assert checker.perf == [] or "clock_gaps_ms" in checker.perf[0]
    else:
        assert checker.violations == [] and speedups == [pytest.approx(1.0)] and len(checker.perf) == 1
        assert "clock_gaps_ms" not in checker.perf[0]  # the kept timing's gaps were alike
    # one entry per perf case, the two timings' seconds together
    assert len(checker.evidence["timing_wall_ms"]) == len(checker.evidence["timing_split_s"]) == 1


@pytest.mark.parametrize("first_ms, kept", [(0.4, 1.0), (0.6, 0.5 / 0.6)])
def test_of_a_case_timed_again_the_timing_less_favourable_to_the_candidate_is_kept(tmp_path, first_ms, kept):
    """A candidate that adds time to its samples when a first timing goes badly for it must not get a better
    second draw: of the two timings the one with the lesser speedup counts (a forger's first figures,
    under-reported, are the more favourable, and so are dropped)."""
    first = {"candidate": samples([first_ms] * 5), "baseline": samples([0.5] * 5)}
    second = {"candidate": samples([0.5] * 5), "baseline": samples([0.5] * 5)}
    checker, speedups = timed_case(tmp_path, [first, second], forged_ms=(25.0,))
    assert checker.timings == 2 and checker.violations == []
    assert speedups == [pytest.approx(kept)] and checker.perf[0]["speedup"] == pytest.approx(kept)
    assert "clock_gaps_ms" not in checker.perf[0]


def test_sampling_cut_short_of_the_rounds_the_timer_always_takes_is_found(tmp_path):
    """The timer samples each function `rounds` times at least (the job's setting); fewer samples sent mean its
    loop was stopped early (from the candidate's stack), where the checker's clock has too few to judge."""
    def setup(checker):
        checker.job["timing"] = {"rounds": 3}
    checker, _ = timed_case(tmp_path, TIMES, setup=setup)
    assert any("sampled 2 times, fewer than the 3 rounds the timer always takes" in v for v in checker.violations), \
        checker.violations
    checker, _ = timed_case(tmp_path, TIMES)  # the job's two rounds
    assert checker.violations == []


def test_samples_count_only_while_their_time_command_is_in_flight(tmp_path):
    """A sample line sent outside the `time` command of its perf case (after its reply, in a later command's
    candidate code) is not taken as one of its samples."""
    checker = Checker({"device": "cpu", "job_dir": str(tmp_path), "timing": {}})
    checker.note({"sample": 3, "name": "candidate", "ms": 0.1, "calls": 1})
    checker.timing_key = 3
    checker.note({"sample": 3, "name": "candidate", "ms": 0.2, "calls": 1})
    checker.note({"sample": 4, "name": "candidate", "ms": 0.3, "calls": 1})
    checker.timing_key = None
    checker.note({"sample": 3, "name": "candidate", "ms": 0.4, "calls": 1})
    assert [entry[1:] for entry in checker.sample_log[3]] == [("candidate", 0.2, 1)] and 4 not in checker.sample_log


def test_a_check_after_timing_that_cannot_be_made_beside_the_candidate_is_the_candidates_failure(tmp_path):
    """Made when its perf case is timed, beside the candidate's process: the task's code made that case before,
    so a failure now (a candidate holding the GPU's memory: cuBLAS cannot allocate its handle) is the candidate's
    runtime error, never a task error; one that says memory is made again alone by the pool."""
    from tritonsmith.evaluate.pool import short_of_memory
    from tritonsmith.evaluate.runtime import TaskFailure

    checker = Checker({"device": "cpu", "job_dir": str(tmp_path), "timing": {}})
    stages = []
    checker.progress = stages.append

    def make_check(case, index, seed, phase):
        raise TaskFailure("the task's make_inputs/reference failed on perf case 0: RuntimeError: CUDA error: "
                          "CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`")
    checker.make_check = make_check
    entry = {"case": {"shape": [4], "dtype": "float32"}, "index": 0, "seed": 5, "phase": "after_timing",
             "later": True}
    with pytest.raises(_Stop):
        checker.made_when_needed(entry)
    assert checker.status == "runtime_error" and "could not be made beside the candidate's process" in checker.message
    assert short_of_memory(checker.message)
    assert stages == ["timing.references", "timing"]  # a job killed meanwhile is the task's (job_result)
