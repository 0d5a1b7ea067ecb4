"""Suite metrics on six hand-built tasks, every expected value worked out by hand in the comments."""

from __future__ import annotations

import json
import math

import pytest

from tritonsmith.report.compare import compare, compare_metrics, compare_rows
from tritonsmith.report.metrics import suite_metrics, task_rows
from tritonsmith.runs.records import LineageOutcome, RoundPoint, TaskRecord
from tritonsmith.runs.store import ResultsStore

FAIL, RAN = (False, False), (True, False)  # (call_ok, exec_ok) of a point that did not pass


def ok(speedup):
    return (True, True, speedup)


def lineage(index: int, *points: tuple) -> LineageOutcome:
    """A lineage whose round r is points[r]; its final outcome is its last point (best so far)."""
    rounds = [RoundPoint(r, *point) for r, point in enumerate(points)]
    last = rounds[-1]
    return LineageOutcome(index, last.call_ok, last.exec_ok, last.speedup, rounds)


def task(name, status, call_ok, exec_ok, speedup, lineages, tokens, usd, wall_s, **extra) -> TaskRecord:
    return TaskRecord(f"builtin:{name}", "builtin", "agent", status, call_ok, exec_ok, speedup,
                      lineages=lineages, tokens=tokens, usd=usd, wall_s=wall_s, **extra)


def fixture_records() -> list[TaskRecord]:
    """Six tasks, 2-3 lineages of up to 3 rounds. Per lineage: round 0, round 1, round 2."""
    return [
        # add: 3 lineages, 2 pass; L2 stopped after round 0 (keeps its point); re-measured 1.2.
        task("add", "passed", True, True, 1.2, [
            lineage(0, FAIL, ok(1.0), ok(1.2)),
            lineage(1, RAN, RAN, RAN),
            lineage(2, ok(0.9)),
        ], tokens=3000, usd=0.03, wall_s=30.0),
        # softmax: only the second lineage passes, in round 2.
        task("softmax", "passed", True, True, 0.8, [
            lineage(0, FAIL, FAIL, FAIL),
            lineage(1, FAIL, RAN, ok(0.8)),
        ], tokens=2000, usd=0.02, wall_s=20.0),
        # matmul: both pass; the search measured 2.6, the final re-measurement says 2.5.
        task("matmul", "passed", True, True, 2.5, [
            lineage(0, ok(1.5), ok(2.0), ok(2.6)),
            lineage(1, RAN, ok(1.1), ok(1.1)),
        ], tokens=2500, usd=0.025, wall_s=25.0),
        # layernorm: runs but is wrong.
        task("layernorm", "wrong_output", True, False, None, [
            lineage(0, FAIL, RAN, RAN),
            lineage(1, FAIL, FAIL, FAIL),
        ], tokens=1500, usd=0.015, wall_s=15.0),
        # attention: never compiles.
        task("attention", "compile_error", False, False, None, [
            lineage(0, FAIL, FAIL, FAIL),
            lineage(1, FAIL, FAIL, FAIL),
        ], tokens=1000, usd=0.01, wall_s=10.0),
        # broken: could not be attempted (bad task); no lineages, no tokens.
        task("broken", "error", False, False, None, [], tokens=0, usd=0.0, wall_s=0.5,
             error="The task's reference raised ValueError."),
    ]


def test_headline_metrics():
    metrics = suite_metrics(fixture_records())
    assert metrics["tasks"] == 6
    assert metrics["statuses"] == {"compile_error": 1, "error": 1, "passed": 3, "wrong_output": 1}
    # call_ok: add, softmax, matmul, layernorm -> 4/6; exec_ok: add, softmax, matmul -> 3/6
    assert (metrics["call_ok"], metrics["exec_ok"]) == (4, 3)
    assert metrics["call_accuracy"] == pytest.approx(4 / 6)
    assert metrics["exec_accuracy"] == pytest.approx(3 / 6)
    speedup = metrics["speedup"]
    # geomean of the re-measured {1.2, 0.8, 2.5} = (1.2 * 0.8 * 2.5) ** (1/3) = 2.4 ** (1/3) = 1.3389
    assert speedup["geomean"] == pytest.approx(2.4 ** (1 / 3))
    assert speedup["geomean"] == pytest.approx(1.33887, abs=1e-5)
    # arithmetic mean (GEAK's "average speedup") = (1.2 + 0.8 + 2.5) / 3 = 4.5 / 3 = 1.5
    assert speedup["arithmetic_mean"] == pytest.approx(1.5)
    assert (speedup["tasks"], speedup["correct_tasks"], speedup["reason"]) == (3, 3, None)
    # fast_p over all 6 tasks: > 1.0: {1.2, 2.5} = 2/6; > 1.5: {2.5} = 1/6; > 2.0: {2.5} = 1/6
    assert metrics["fast_p"] == pytest.approx({"1.0": 2 / 6, "1.5": 1 / 6, "2.0": 1 / 6})


def test_pass_at_k_unbiased_estimator():
    # (n lineages, c passed): add (3, 2), softmax (2, 1), matmul (2, 2), layernorm (2, 0),
    # attention (2, 0), broken (1, 0): a task without lineages is one failed attempt.
    # pass@1 = 1 - C(n-c,1)/C(n,1):  add 1 - 1/3 = 2/3, softmax 1 - 1/2 = 1/2, matmul 1, others 0
    #        -> (2/3 + 1/2 + 1) / 6 = (13/6) / 6 = 13/36
    # pass@2 = 1 - C(n-c,2)/C(n,2):  add 1 - 0/3 = 1, softmax 1 - 0/1 = 1, matmul 1, others 0 -> 3/6;
    #          broken has n = 1 < 2 and counts with all its lineages (failed)
    # pass@3: add 1 - 0/1 = 1; every other task has n < 3 and counts as any-passed: softmax 1, matmul 1
    #        -> 3/6, with 5 tasks short of 3 lineages
    assert suite_metrics(fixture_records())["pass_at_k"] == [
        {"k": 1, "value": pytest.approx(13 / 36), "tasks_with_fewer_lineages": 0},
        {"k": 2, "value": pytest.approx(3 / 6), "tasks_with_fewer_lineages": 1},
        {"k": 3, "value": pytest.approx(3 / 6), "tasks_with_fewer_lineages": 5},
    ]


def test_sequential_scaling_takes_each_tasks_best_so_far_per_round():
    rounds = suite_metrics(fixture_records())["sequential"]
    assert [point["round"] for point in rounds] == [0, 1, 2]
    # round 0: add best of (FAIL, RAN, ok 0.9) = ok 0.9; matmul best of (ok 1.5, RAN) = ok 1.5;
    #          everything else fails -> call 2/6, exec 2/6, geomean sqrt(0.9 * 1.5) = sqrt(1.35), mean 1.2
    assert rounds[0] == {"round": 0, "call_accuracy": pytest.approx(2 / 6), "exec_accuracy": pytest.approx(2 / 6),
                         "speedup_geomean": pytest.approx(math.sqrt(1.35)),
                         "speedup_arithmetic_mean": pytest.approx(1.2), "speedup_tasks": 2}
    # round 1: add max(1.0, RAN, 0.9 kept from round 0) = 1.0; softmax RAN; matmul max(2.0, 1.1) = 2.0;
    #          layernorm RAN -> call 4/6, exec 2/6, geomean sqrt(1.0 * 2.0) = sqrt(2), mean 1.5
    assert rounds[1] == {"round": 1, "call_accuracy": pytest.approx(4 / 6), "exec_accuracy": pytest.approx(2 / 6),
                         "speedup_geomean": pytest.approx(math.sqrt(2)),
                         "speedup_arithmetic_mean": pytest.approx(1.5), "speedup_tasks": 2}
    # round 2: add 1.2, softmax 0.8, matmul 2.6 (the search's figure, not the re-measured 2.5)
    #          -> call 4/6, exec 3/6, geomean (1.2 * 0.8 * 2.6) ** (1/3) = 2.496 ** (1/3), mean 4.6 / 3
    assert rounds[2] == {"round": 2, "call_accuracy": pytest.approx(4 / 6), "exec_accuracy": pytest.approx(3 / 6),
                         "speedup_geomean": pytest.approx(2.496 ** (1 / 3)),
                         "speedup_arithmetic_mean": pytest.approx(4.6 / 3), "speedup_tasks": 3}


def test_parallel_scaling_uses_the_first_k_lineages():
    points = suite_metrics(fixture_records())["parallel"]
    # k=1: add L0 ok 1.2, softmax L0 FAIL, matmul L0 ok 2.6, layernorm L0 RAN
    #      -> call 3/6, exec 2/6, geomean sqrt(1.2 * 2.6) = sqrt(3.12), mean 3.8 / 2 = 1.9
    assert points[0] == {"k": 1, "call_accuracy": pytest.approx(3 / 6), "exec_accuracy": pytest.approx(2 / 6),
                         "speedup_geomean": pytest.approx(math.sqrt(3.12)),
                         "speedup_arithmetic_mean": pytest.approx(1.9), "speedup_tasks": 2}
    # k=2: softmax's L1 passes at 0.8; add max(1.2, RAN) = 1.2; matmul max(2.6, 1.1) = 2.6
    #      -> call 4/6, exec 3/6, geomean 2.496 ** (1/3), mean 4.6 / 3
    # k=3: only add has a third lineage (0.9 < 1.2): the same as k=2
    for k in (2, 3):
        assert points[k - 1] == {"k": k, "call_accuracy": pytest.approx(4 / 6),
                                 "exec_accuracy": pytest.approx(3 / 6),
                                 "speedup_geomean": pytest.approx(2.496 ** (1 / 3)),
                                 "speedup_arithmetic_mean": pytest.approx(4.6 / 3), "speedup_tasks": 3}
    assert len(points) == 3


def test_cost_totals_per_task_and_per_solved_task():
    cost = suite_metrics(fixture_records())["cost"]
    # tokens 3000 + 2000 + 2500 + 1500 + 1000 + 0 = 10000; per task / 6; per solved task / 3
    assert cost["tokens"] == pytest.approx({"total": 10000, "per_task": 10000 / 6, "per_solved_task": 10000 / 3})
    # dollars 0.03 + 0.02 + 0.025 + 0.015 + 0.01 + 0 = 0.1
    assert cost["usd"] == pytest.approx({"total": 0.1, "per_task": 0.1 / 6, "per_solved_task": 0.1 / 3,
                                         "reason": None})
    # task wall time 30 + 20 + 25 + 15 + 10 + 0.5 = 100.5
    assert cost["wall_s"] == pytest.approx({"total": 100.5, "per_task": 100.5 / 6, "per_solved_task": 100.5 / 3})
    assert cost["solved_tasks"] == 3


def test_one_unpriced_task_makes_the_dollars_unknown():
    records = fixture_records()
    records[3].usd = None
    usd = suite_metrics(records)["cost"]["usd"]
    assert (usd["total"], usd["per_task"], usd["per_solved_task"]) == (None, None, None)
    assert usd["reason"].startswith("unknown: 1 task")


def test_an_error_record_never_counts_as_run_even_if_its_flags_say_so():
    records = fixture_records()
    records[5].call_ok = records[5].exec_ok = True
    records[5].speedup = 9.0
    metrics = suite_metrics(records)
    assert (metrics["call_ok"], metrics["exec_ok"], metrics["speedup"]["tasks"]) == (4, 3, 3)
    assert task_rows(records)[5]["call_ok"] is False


def test_no_measured_speedup_is_none_with_the_reason_never_zero_or_one():
    cpu = [task("add", "passed", True, True, None, [lineage(0, ok(None))], 10, 0.0, 1.0,
                speed_reason="Timings need a GPU; this ran on Triton's CPU interpreter."),
           task("mul", "wrong_output", True, False, None, [lineage(0, RAN)], 10, 0.0, 1.0)]
    metrics = suite_metrics(cpu)
    assert metrics["exec_accuracy"] == 0.5
    assert metrics["speedup"] == {"geomean": None, "arithmetic_mean": None, "tasks": 0, "correct_tasks": 1,
                                  "reason": "none of the 1 correct tasks has a measured speedup: "
                                            "Timings need a GPU; this ran on Triton's CPU interpreter."}
    assert metrics["fast_p"] == {"1.0": None, "1.5": None, "2.0": None}  # nothing timed: n/a, not 0%
    assert metrics["fast_p_reason"] == metrics["speedup"]["reason"]
    assert metrics["sequential"][0]["speedup_geomean"] is None
    nothing = suite_metrics([task("mul", "wrong_output", True, False, None, [], 10, 0.0, 1.0)])
    assert nothing["speedup"]["reason"].startswith("no task passed")


def test_a_task_run_again_counts_once_with_its_last_record():
    records = fixture_records()
    retry = task("attention", "passed", True, True, 3.0, [lineage(0, ok(3.0))], 100, 0.001, 1.0)
    metrics = suite_metrics(records + [retry])
    assert metrics["tasks"] == 6 and metrics["exec_ok"] == 4
    assert [row["task"] for row in task_rows(records + [retry])] == [r.task for r in records]


def test_empty_bench_and_json():
    empty = suite_metrics([])
    assert (empty["tasks"], empty["call_accuracy"], empty["pass_at_k"], empty["sequential"]) == (0, None, [], [])
    json.dumps(suite_metrics(fixture_records()))  # plain JSON, no dataclasses or infinities


def test_task_rows():
    rows = {row["task"]: row for row in task_rows(fixture_records())}
    assert rows["builtin:add"] == {
        "task": "builtin:add", "suite": "builtin", "solver": "agent", "status": "passed", "call_ok": True,
        "exec_ok": True, "speedup": 1.2, "speedup_vs_torch": None, "speed_reason": None, "lineages": 3,
        "lineages_passed": 2, "tokens": 3000, "usd": 0.03, "wall_s": 30.0, "error": None,
        "speedup_before_tuning": None, "tuned": None}
    assert (rows["builtin:broken"]["status"], rows["builtin:broken"]["lineages"]) == ("error", 0)


def tuned_records() -> list[TaskRecord]:
    """The six tasks after a tuning stage: add tuned, softmax kept its untuned kernel, matmul not tuned."""
    records = fixture_records()
    # add: re-measured 1.0 before tuning, 1.2 after; the tuner itself measured 1.25x
    records[0].speedup_before_tuning = 1.0
    records[0].tuning = {"tuned": True, "config": {"add_kernel.BLOCK": "1024"}, "speedup_from_tuning": 1.25,
                         "elapsed_s": 30.5, "trials": 12, "stop_reason": "budget spent"}
    # softmax: the tuner's choice (1.1x in its own timings) was not faster when re-measured: before = after = 0.8
    records[1].speedup_before_tuning = 0.8
    records[1].tuning = {"tuned": False, "config": {"softmax_kernel.BLOCK": "256"}, "speedup_from_tuning": 1.1,
                         "elapsed_s": 20.0, "trials": 9, "stop_reason": "budget spent",
                         "reason": "re-measured with full timing, the tuned kernel was not faster (0.790x vs 0.800x)"}
    # layernorm is wrong: its tuning record (which a real run never writes) must not count
    records[3].tuning = {"tuned": True, "speedup_from_tuning": 3.0}
    return records


def test_tuning_metrics_before_and_after():
    metrics = suite_metrics(tuned_records())
    tuning = metrics["tuning"]
    # after tuning (the headline, unchanged): {1.2, 0.8, 2.5} -> 2.4 ** (1/3)
    assert metrics["speedup"]["geomean"] == pytest.approx(2.4 ** (1 / 3))
    # before tuning, the same three tasks: add 1.0, softmax 0.8 (kept), matmul 2.5 (never tuned: its final)
    #   geomean (1.0 * 0.8 * 2.5) ** (1/3) = 2 ** (1/3) = 1.2599; mean 4.3 / 3
    before = tuning["speedup_before"]
    assert before["geomean"] == pytest.approx(2 ** (1 / 3))
    assert before["geomean"] == pytest.approx(1.25992, abs=1e-5)
    assert before["arithmetic_mean"] == pytest.approx(4.3 / 3)
    assert (before["tasks"], before["correct_tasks"], before["reason"]) == (3, 3, None)
    # tuning ran on the correct add and softmax, and was applied to add only
    assert (tuning["attempted_tasks"], tuning["tuned_tasks"]) == (2, 1)
    # gain: add 1.25 (the tuner's figure), softmax 1 (its untuned kernel stands, whatever the tuner measured)
    #   -> sqrt(1.25) = 1.1180
    assert tuning["gain"] == {"geomean": pytest.approx(math.sqrt(1.25)), "tasks": 2}
    rows = {row["task"]: row for row in task_rows(tuned_records())}
    assert (rows["builtin:add"]["speedup_before_tuning"], rows["builtin:add"]["tuned"]) == (1.0, True)
    assert (rows["builtin:softmax"]["speedup_before_tuning"], rows["builtin:softmax"]["tuned"]) == (0.8, False)
    assert (rows["builtin:matmul"]["speedup_before_tuning"], rows["builtin:matmul"]["tuned"]) == (None, None)
    assert rows["builtin:layernorm"]["speedup_before_tuning"] is None
    json.dumps(metrics)


def test_tuning_metrics_only_with_tuning_and_a_failed_tuning_gains_nothing():
    assert suite_metrics(fixture_records())["tuning"] is None
    records = tuned_records()
    records[0].speedup_before_tuning = None  # tuned, but its speedup before tuning was not recorded
    records[2].tuning = {"tuned": False, "reason": "tuning failed: DiscoveryError: no launch to tune"}
    records[2].speedup_before_tuning = 2.5
    tuning = suite_metrics(records)["tuning"]
    # before: softmax 0.8 and matmul 2.5 only -> sqrt(2.0); add is left out rather than guessed
    assert (tuning["speedup_before"]["geomean"], tuning["speedup_before"]["tasks"]) == (
        pytest.approx(math.sqrt(2.0)), 2)
    # gain: add 1.25, softmax 1, matmul 1 (its tuning failed, the winner stands) -> 1.25 ** (1/3)
    assert tuning["gain"] == {"geomean": pytest.approx(1.25 ** (1 / 3)), "tasks": 3}
    assert (tuning["attempted_tasks"], tuning["tuned_tasks"]) == (3, 1)


def bench_folder(path, records, **settings):
    store = ResultsStore(path)
    store.save_settings({"suite": "builtin", "solver": "agent", "rounds": 3, "parallel": 3, **settings})
    for record in records:
        store.append(record)
    return path


def test_compare_two_bench_folders(tmp_path):
    a = bench_folder(tmp_path / "a", fixture_records(), model="openai/model-a")
    better = fixture_records()
    better[3] = task("layernorm", "passed", True, True, 1.6, [lineage(0, ok(1.6))], 800, 0.008, 5.0)
    b = bench_folder(tmp_path / "b", better[:5], model="openai/model-b")  # no "broken" in B

    rows = {row["task"]: row for row in compare_rows(ResultsStore(a).records(), ResultsStore(b).records())}
    assert rows["builtin:layernorm"] == {
        "task": "builtin:layernorm", "status_a": "wrong_output", "status_b": "passed", "speedup_a": None,
        "speedup_b": 1.6, "speedup_b_over_a": None, "speedup_before_tuning_a": None,
        "speedup_before_tuning_b": None, "tokens_a": 1500, "tokens_b": 800, "usd_a": 0.015, "usd_b": 0.008}
    assert rows["builtin:broken"]["status_b"] is None
    assert rows["builtin:add"]["speedup_b_over_a"] == pytest.approx(1.0)

    text = compare(a, b)
    print(text)
    lines = text.splitlines()
    assert lines[0] == f"A: {a} (suite builtin, solver agent, model openai/model-a, rounds 3, parallel 3)"
    assert lines[1].startswith(f"B: {b} (") and "model openai/model-b" in lines[1]
    for name in ("add", "softmax", "matmul", "layernorm", "attention", "broken"):
        assert any(line.startswith(f"builtin:{name} ") for line in lines)
    assert any(line.split() == ["builtin:layernorm", "wrong_output", "passed", "-", "1.60x", "-",
                                "1,500", "800", "$0.0150", "$0.0080"] for line in lines)
    assert any(line.split() == ["builtin:broken", "error", "-", "-", "-", "-", "0", "-", "$0.0000", "-"]
               for line in lines)
    assert "1 task(s) only in A, 0 only in B" in text
    # exec accuracy: A 3/6 = 50.0%, B 4/5 = 80.0%, delta +30.0 pt
    assert any(line.split() == ["exec", "accuracy", "50.0%", "80.0%", "+30.0", "pt"] for line in lines)
    # fast_1.5: A {2.5} = 1/6 = 16.7%; B {2.5, 1.6} = 2/5 = 40.0%
    assert any(line.split() == ["fast_1.5", "16.7%", "40.0%", "+23.3", "pt"] for line in lines)
    # GEAK's arithmetic mean: A 1.5; B (1.2 + 0.8 + 2.5 + 1.6) / 4 = 1.525
    assert any(line.split()[-3:] == ["1.500x", "1.525x", "+0.025"] and "(GEAK)" in line for line in lines)
    # columns line up: every row of the per-task table is as wide as its header's columns allow
    header = next(i for i, line in enumerate(lines) if line.startswith("task "))
    assert lines[header + 1].startswith("-" * len("builtin:layernorm") + "  ")
    assert "untuned" not in text and "before tuning" not in text  # neither bench tuned


def test_compare_shows_the_speedups_before_tuning(tmp_path):
    a = bench_folder(tmp_path / "a", fixture_records())
    b = bench_folder(tmp_path / "b", tuned_records())
    lines = compare(a, b).splitlines()
    header = next(line for line in lines if line.startswith("task "))
    assert header.split()[10:14] == ["untuned", "A", "untuned", "B"]
    # add: A 1.2 untuned (A never tuned), B 1.2 after tuning and 1.0 before
    assert any(line.split()[:8] == ["builtin:add", "passed", "passed", "1.20x", "1.20x", "1.00x", "-", "1.00x"]
               for line in lines)
    # before tuning: A has no tuning; B 2 ** (1/3) = 1.260
    assert any(line.split() == ["speedup", "before", "tuning,", "geometric", "mean", "-", "1.260x", "-"]
               for line in lines)
    assert any(line.split() == ["tasks", "tuned", "-", "1", "-"] for line in lines)
    # from tuning: B sqrt(1.25) = 1.118
    assert any(line.split()[-3:] == ["-", "1.118x", "-"] and "from tuning" in line for line in lines)


def test_compare_rows_data_of_metrics_and_unknown_dollars(tmp_path):
    unpriced = fixture_records()
    unpriced[0].usd = None
    rows = {row["metric"]: row for row in compare_metrics(suite_metrics(fixture_records()),
                                                          suite_metrics(unpriced))}
    assert rows["call accuracy"]["delta"] == 0
    assert rows["$"]["b"] is None and rows["$"]["b_unknown"] and not rows["$"]["a_unknown"]
    assert rows["pass@1"]["a"] == pytest.approx(13 / 36)
    a = bench_folder(tmp_path / "a", fixture_records())
    b = bench_folder(tmp_path / "b", unpriced)
    assert any(line.split()[:3] == ["$", "$0.1000", "unknown"] for line in compare(a, b).splitlines())
    with pytest.raises(FileNotFoundError, match="not a bench folder"):
        compare(a, tmp_path / "nowhere")


def test_fast_p_counts_a_speedup_only_beyond_the_timing_noise():
    from tritonsmith.runs.records import timing_noise

    def timed(name, speedup, noise):
        record = task(name, "passed", True, True, speedup, [lineage(0, ok(speedup))], 10, 0.0, 1.0)
        record.speedup_noise = noise
        return record

    itself = [timed(f"t{i}", s, 0.004) for i, s in enumerate((1.001, 0.999, 1.004, 1.009, 0.996))]
    assert suite_metrics(itself)["fast_p"]["1.0"] == 0.0  # a baseline against itself is not faster
    mixed = [timed("a", 1.05, 0.02), timed("b", 1.015, 0.02), timed("c", 1.015, None), timed("d", 1.6, 0.2)]
    # margins: a 2% (1.05 > 1.02), b 2% (1.015 is not), c the 1% floor (1.015 > 1.01), d 20% (1.6 > 1.2, not > 1.8)
    assert suite_metrics(mixed)["fast_p"] == pytest.approx({"1.0": 3 / 4, "1.5": 0.0, "2.0": 0.0})
    result = {"perf": [{"candidate_spread": 0.03}, {"candidate_spread": 0.01}, {"candidate_spread": 0.2}]}
    assert timing_noise(result) == 0.03 and timing_noise({"perf": []}) is None and timing_noise(None) is None
