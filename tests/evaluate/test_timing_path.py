"""The timing path end to end without a GPU: with TRITONSMITH_CLOCK_TIMING=1 the interpreter is timed by the host
clock on the correctness shapes, so that the `time` command, the hand-over of the last timed call and of the call
after timing, and the checks after timing run in CI (on a GPU they run for real; no speedup comes from a clock)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CANDIDATES

from tritonsmith.evaluate import EvalConfig, WorkerPool
from tritonsmith.task import load_task

from .test_references import pid_dependent_task, variant

BUILTIN = Path(__file__).parents[2] / "src/tritonsmith/suites/builtin"


@pytest.fixture(scope="module")
def clock_pool():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRITONSMITH_CLOCK_TIMING", "1")  # read by the host, checker and keeper as they start
        with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120, timing_rounds=3,
                                                                  timing_max_rounds=5)) as pool:
            yield pool


def evaluate(pool, task: str, candidate: str):
    return pool.evaluate(load_task(BUILTIN / f"{task}.py", suite="builtin"), (CANDIDATES / candidate).read_text(),
                         timeout_s=120)


def test_an_honest_candidate_is_timed_and_its_timed_calls_checked(clock_pool):
    result = evaluate(clock_pool, "vector_add", "honest/vector_add_fixed_block.py")
    assert result.status == "passed", result.summary()
    assert result.speedup is None and "no GPU" in result.speedup_reason and "speedup_ci" not in result.evidence
    perf = result.perf
    assert perf and all(p.candidate_ms > 0 and p.baseline_ms > 0 and p.ratio_ci is not None for p in perf)
    phases = {case.phase for case in result.cases}
    assert {"last_timed_call", "after_timing"} <= phases, phases
    assert len(result.evidence["timing_split_s"]) == len(perf)
    assert all({"sampling", "hand_over", "after_inputs", "fresh_call", "verify"} <= set(split)
               for split in result.evidence["timing_split_s"]), result.evidence["timing_split_s"]
    assert {"timing.first_calls", "timing.after_inputs", "timing.fresh_call"} <= set(result.evidence["phases_s"])
    correctness = sum(case.phase == "correctness" for case in result.cases)
    # unchanged arguments after every call, and each last timed output equal to its verified first one
    assert result.evidence["handed_over_by_digest"] == correctness + 4 * len(perf)
    # the correctness and kernels-off checks' inputs and references let go as timing began: 3 checks of two
    # float32 inputs and one output each, the smallest of 1,000 elements
    assert result.evidence["let_go_before_timing_bytes"] >= 3 * 3 * 4 * 1000, result.evidence


def test_a_candidate_wrong_only_while_timed_is_caught(clock_pool):
    result = evaluate(clock_pool, "vector_add", "adversarial/wrong_while_timed.py")
    assert result.status == "wrong_output", result.summary()
    wrong = [case for case in result.cases if not case.ok]
    assert wrong and wrong[0].phase == "last_timed_call", wrong


def test_a_baseline_slowed_while_timed_is_seen(clock_pool):
    result = evaluate(clock_pool, "vector_add", "adversarial/slow_baseline.py")
    assert result.status == "rejected", result.summary()
    assert any("replaced _add_kernel.run of the baseline" in v for v in result.guard_violations)


@pytest.mark.parametrize("candidate, phrase", [
    ("reuse_while_timed", "returned memory the previous call had returned"),
    ("copy_while_timed", "launched no Triton kernel"),
    ("triton_copy_while_timed", "reuses results between calls"),
    ("wait_out_spin", "reuses results between calls"),  # on a GPU: by its work past the spin it waited out
    ("work_then_sync", "reuses results between calls"),  # on a GPU: by its launches' own events
    # finds no command naming new inputs while it is timed or warmed up: they are named only after
    ("precompute_from_frames", "reuses results between calls; and so again on other new inputs"),
])
def test_results_reused_between_timed_calls_are_rejected(clock_pool, candidate, phrase):
    """Each computes right on inputs it has not seen, so every correctness check passes; called again on the
    same tensors, as only timing does, it returns its last output, a torch copy of it, or a Triton copy."""
    result = evaluate(clock_pool, "vector_add", f"adversarial/{candidate}.py")
    assert result.status == "rejected", result.summary()
    assert any(phrase in violation for violation in result.guard_violations), result.guard_violations
    assert all(case.ok for case in result.cases)


def test_an_honest_candidates_repeated_calls_are_as_fast_as_its_first(clock_pool):
    result = evaluate(clock_pool, "vector_add", "honest/vector_add_fixed_block.py")
    assert result.status == "passed", result.summary()
    assert all(p.fresh_call_ms and p.baseline_fresh_call_ms and p.repeat_vs_fresh > 0.05 for p in result.perf)


def test_a_baseline_slowed_where_no_guard_looks_is_caught_by_its_time_alone(clock_pool, tmp_path):
    """The baseline reads a plain global block size (not watched: real golds rebind theirs); the candidate sets
    it to 16. The keeper timed the baseline alone before any candidate code, so the slowdown shows."""
    task = variant(tmp_path, "vector_add_global_block", ("    BLOCK = 1024\n", "    BLOCK = BLOCK_SIZE\n"),
                   ("def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:\n    out",
                    "BLOCK_SIZE = 1024\n\n\ndef vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:\n    out"))
    source = (CANDIDATES / "adversarial/slow_baseline_global.py").read_text()
    slowed = clock_pool.evaluate(task, source, timeout_s=120)
    assert slowed.status == "rejected", slowed.summary()
    assert any("the candidate slowed what it is timed against" in v for v in slowed.guard_violations)
    honest = clock_pool.evaluate(task, (CANDIDATES / "honest/vector_add_fixed_block.py").read_text(), timeout_s=120)
    assert honest.status == "passed", honest.summary()
    assert all(p.baseline_alone_ms for p in honest.perf)


def test_the_last_timed_output_is_taken_before_more_candidate_code_runs(clock_pool):
    """Its timed calls compute nothing; its next call (the first on new inputs, after timing) fixes the last
    timed output. That output is handed over before that call."""
    result = evaluate(clock_pool, "vector_add", "adversarial/fix_last_output_later.py")
    assert result.status in ("wrong_output", "rejected"), result.summary()
    assert [case.phase for case in result.cases if not case.ok][:1] == ["last_timed_call"], result.cases


def test_a_trace_function_set_while_timed_is_refused(clock_pool):
    result = evaluate(clock_pool, "vector_add", "adversarial/trace_while_timed.py")
    assert result.status == "rejected", result.summary()
    assert any("trace or profile function" in v for v in result.guard_violations), result.guard_violations


def test_the_after_timing_inputs_are_unknown_to_the_candidate_until_timed(clock_pool):
    """They are named (with a seed drawn with the references) only in the `time` command, so a candidate cannot
    compute their outputs ahead and pass off a copy as its first call on them."""
    result = evaluate(clock_pool, "vector_add", "adversarial/precompute_after.py")
    assert result.status == "passed", result.summary()


def test_after_timing_inputs_made_otherwise_in_the_candidates_process_are_sent(clock_pool, tmp_path):
    task = pid_dependent_task(tmp_path)
    result = clock_pool.evaluate(task, (CANDIDATES / "honest/vector_add_fixed_block.py").read_text(), timeout_s=120)
    assert result.status == "passed", result.summary()
    assert result.evidence["after_inputs_sent"] and "shape=[1000]" in result.evidence["after_inputs_sent"][0]
    assert {"after_timing"} <= {case.phase for case in result.cases}


def test_a_golds_evaluation_does_not_time_the_baseline_alone_but_the_next_candidate_gets_it(clock_pool, tmp_path):
    """The gold against itself (qualifying a task) has nothing to be held against; a later candidate of the same
    task, lent the same references by the keeper, gets the baseline timed alone then."""
    task = variant(tmp_path, "vector_add_gold_first", ("    BLOCK = 1024\n", "    BLOCK = 1024  # a task of its own\n"))
    gold = clock_pool.evaluate(task, task.baseline, timeout_s=120, gold=True)
    assert gold.status == "passed", gold.summary()
    assert gold.perf and all(p.baseline_alone_ms is None for p in gold.perf)
    candidate = clock_pool.evaluate(task, (CANDIDATES / "honest/vector_add_fixed_block.py").read_text(), timeout_s=120)
    assert candidate.status == "passed", candidate.summary()
    assert "made for an earlier job" in candidate.evidence["references"]
    assert all(p.baseline_alone_ms for p in candidate.perf)


def test_a_bench_record_keeps_each_perf_cases_timing(clock_pool):
    """`bench --solver baseline` (and dir:) records each perf case's ratio, its interval, rounds, why timing
    stopped and the timer, so a gold pass can show which case moved a gold's speedup (benchmarks/gold_pass.py),
    and the baseline's time alone where it was timed so (a candidate's evaluation, not the gold's own)."""
    from tritonsmith.runs.bench import from_result
    from tritonsmith.runs.records import PERF_CASE_KEYS, TaskRecord

    task = load_task(BUILTIN / "vector_add.py", suite="builtin")
    result = clock_pool.evaluate(task, task.baseline, timeout_s=120)
    record = from_result(task, "baseline", result)
    assert record.perf_cases and len(record.perf_cases) == len(result.perf)
    assert [case["label"] for case in record.perf_cases] == [p.label for p in result.perf]
    kept = set(PERF_CASE_KEYS) - {"clock_gaps_ms"}  # (each sample's gap only where the clock rejected it)
    assert all(set(case) == kept and case["rounds"] >= 3 and case["ratio_ci"] is not None
               and case["baseline_alone_ms"] > 0 for case in record.perf_cases)  # (not a gold=True evaluation)
    assert TaskRecord.from_dict(record.to_dict()).perf_cases == record.perf_cases


def test_a_first_call_slow_once_is_made_again_on_other_inputs_and_passes(clock_pool):
    """A first call on new inputs much slower than the timed calls is made once more, on other new inputs made
    and verified by the checker: a one-off stall (the machine busy beside it) does not repeat."""
    result = evaluate(clock_pool, "vector_add", "honest/vector_add_one_stall.py")
    assert result.status == "passed", result.summary()
    made = result.evidence.get("fresh_call_made_again")
    assert made and len(made) == 1 and "not slow on other new inputs" in made[0], made
    assert sum(case.phase == "after_timing" for case in result.cases) == len(result.perf) + 1  # verified too


def test_a_first_call_slow_on_every_new_input_is_rejected(clock_pool):
    result = evaluate(clock_pool, "vector_add", "adversarial/work_once_per_input.py")
    assert result.status == "rejected", result.summary()
    assert any("reuses results between calls; and so again on other new inputs" in v
               for v in result.guard_violations), result.guard_violations
    assert all("as slow on other new inputs" in made for made in result.evidence["fresh_call_made_again"])


def test_a_first_calls_figures_leave_before_the_evaluator_touches_its_output(clock_pool):
    """A candidate whose output's hooks run in the hand-over after its first call on new inputs, and rewrite that
    call's figures to its repeated calls', is judged on the figures as they were: they are sent to the checker
    before any evaluator code touches the output (and with the garbage collector off, so no finaliser of the
    candidate's runs between)."""
    result = evaluate(clock_pool, "vector_add", "adversarial/forge_fresh_figures.py")
    assert result.status == "rejected", result.summary()
    assert any("reuses results between calls" in v for v in result.guard_violations), result.guard_violations


def test_a_method_of_the_evaluators_own_set_on_its_object_is_found(clock_pool):
    """The snapshot of what the evaluator relies on holds its classes' methods; a candidate that sets the timer's
    `once` on the timer object itself (reporting its repeated calls' time for a first call) is found."""
    result = evaluate(clock_pool, "vector_add", "adversarial/forge_timer_once.py")
    assert result.status == "rejected", result.summary()
    assert "the candidate replaced the timer.once, which the evaluator relies on" in result.guard_violations, \
        result.guard_violations


def test_a_timer_given_to_the_worker_before_it_times_is_found(clock_pool):
    result = evaluate(clock_pool, "vector_add", "adversarial/replace_timer.py")
    assert result.status == "rejected", result.summary()
    assert "the candidate replaced the worker's timer, which the evaluator relies on" in result.guard_violations, \
        result.guard_violations


def test_samples_rewritten_after_they_were_taken_are_found(clock_pool):
    """A candidate that reaches the timer's list of samples through its stack and scales its own down (5x) is
    found: each sample leaves for the checker as it is taken, before the next call of candidate code, and the
    samples reported at the end must be those."""
    result = evaluate(clock_pool, "vector_add", "adversarial/forge_samples.py")
    assert result.status == "rejected", result.summary()
    assert any("samples that the candidate's process reported after timing are not those it sent as each was "
               "taken" in v for v in result.guard_violations), result.guard_violations


def test_a_sample_started_late_is_found_by_the_checkers_clock(clock_pool):
    """A candidate that has each of its samples start late (the sample's start time set again, from its stack,
    after two thirds of its call) reports a third of its time: too little to be seen as results reused against
    its first call on new inputs, but the checker's own clock, between samples as they arrive, sees its samples
    take far longer than they say, where the baseline's do not."""
    result = evaluate(clock_pool, "vector_add", "adversarial/forge_sample_start.py")
    assert result.status == "rejected", result.summary()
    assert any("the candidate's time was not measured as its calls ran" in v for v in result.guard_violations), \
        result.guard_violations
    honest = evaluate(clock_pool, "vector_add", "honest/vector_add_fixed_block.py")
    assert honest.status == "passed", honest.summary()
    gaps = [perf.clock_gap_ms for perf in honest.perf]
    assert all(gap and set(gap) == {"candidate", "baseline"} for gap in gaps), gaps


def test_the_channel_to_the_checker_cannot_be_swapped_for_an_object_of_the_candidates(clock_pool):
    """A candidate that sets the worker's `events` to an object whose `__index__` (which os.write calls) rewrites
    each message as it is sent, holding its samples back and replaying them scaled down and spaced to fit the
    checker's clock, passed (a review, session 16). The worker sends through a channel that holds the descriptor
    itself, and the attribute set is reported."""
    result = evaluate(clock_pool, "vector_add", "adversarial/forge_via_events_fd.py")
    assert result.status == "rejected", result.summary()
    assert "the candidate replaced the worker.events, which the evaluator relies on" in result.guard_violations, \
        result.guard_violations
    assert not any("samples that the candidate's process reported" in v for v in result.guard_violations)


def test_the_garbage_collector_turned_on_while_timed_is_found(clock_pool):
    result = evaluate(clock_pool, "vector_add", "adversarial/collector_while_timed.py")
    assert result.status == "rejected", result.summary()
    assert any("turned the garbage collector on, or gave it a callback, while it was timed" in v
               for v in result.guard_violations), result.guard_violations


def test_each_perf_case_has_its_own_after_timing_seed(clock_pool):
    """A candidate that met one perf case's new inputs (their seed is in the command that names them) cannot make
    the next case's: each case's are drawn apart."""
    result = evaluate(clock_pool, "vector_add", "honest/vector_add_fixed_block.py")
    seeds = [case.seed for case in result.cases if case.phase == "after_timing"]
    assert len(seeds) == len(result.perf) > 1 and len(set(seeds)) == len(seeds), seeds
    assert "after_timing_checks" not in result.evidence  # kept by the keeper: made ahead, with the rest


def test_inputs_that_fail_to_be_made_in_the_candidates_process_are_sent_and_the_call_still_timed(clock_pool):
    """A candidate that breaks the task's make_inputs while it is warmed up gets the checker's inputs in a file:
    the first call on them is timed all the same (before, it was made untimed and never compared)."""
    result = evaluate(clock_pool, "vector_add", "adversarial/break_make_inputs.py")
    assert result.status == "rejected", result.summary()
    assert any("and so again on other new inputs" in v for v in result.guard_violations), result.guard_violations
    assert all("making them there failed: RuntimeError: broken" in sent for sent in result.evidence["after_inputs_sent"])



@pytest.fixture(scope="module")
def later_pool():
    """A clock-timed pool whose keeper keeps almost nothing: every task's perf checks are more than half of it,
    so each after-timing check is made only when its perf case is timed (References.after_timing_later)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRITONSMITH_CLOCK_TIMING", "1")
        patch.setenv("TRITONSMITH_KEEPER_BYTES", "64")
        with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120, timing_rounds=3,
                                                                  timing_max_rounds=5)) as pool:
            yield pool


@pytest.mark.parametrize("candidate, status, phrase", [
    ("honest/vector_add_fixed_block.py", "passed", None),
    ("adversarial/work_once_per_input.py", "rejected", "reuses results between calls; and so again on other new inputs"),
    ("adversarial/precompute_from_frames.py", "rejected", "reuses results between calls"),
    ("adversarial/break_make_inputs.py", "rejected", "and so again on other new inputs"),
])
def test_after_timing_checks_made_only_when_needed_decide_as_those_made_ahead(later_pool, candidate, status, phrase):
    """A task whose perf checks would be doubled by their after-timing checks beyond what the keeper keeps (a
    TritonBench-G perf script's 13 GB) has each made in the checker when its perf case is timed, and let go
    after: verified as ever, each with its own seed, and the candidates that reuse results are caught as when
    they are made ahead."""
    for _ in range(2):  # the job they were made for (lent once by the keeper), then one that makes its own
        result = evaluate(later_pool, "vector_add", candidate)
        assert result.status == status, result.summary()
        assert phrase is None or any(phrase in v for v in result.guard_violations), result.guard_violations
        assert "made when each perf case is timed" in result.evidence["after_timing_checks"]
        after = [case for case in result.cases if case.phase == "after_timing"]
        assert after and all(case.ok for case in after)
        assert len({case.seed for case in after}) == len(after)
        if status == "passed":
            assert len(after) == len(result.perf) > 1
            assert all("references" in split for split in result.evidence["timing_split_s"])  # made there
