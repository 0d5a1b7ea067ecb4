"""The baseline strategies (random, exhaustive) and the offline replay that compares them with coarse-to-fine."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from tritonsmith.knowledge.hardware import profile_for
from tritonsmith.suites import resolve_task
from tritonsmith.tune import (
    GRID_LIMIT,
    Record,
    TableMeasure,
    TuneConfig,
    compare_strategies,
    config_label,
    discover,
    grid,
    grid_point,
    parse_label,
    rows_table,
    search_space,
    table_from_trials,
    tune_kernel,
)

from .test_search import best_at_4096_with_8_warps, timed, vector_add_launch

H100 = profile_for("NVIDIA H100 80GB HBM3")


def scripted(timing, clock, duration=lambda source: 10.0):
    """measure(source): passes, takes `timing(source)` ms, and `duration(source)` seconds of `clock`."""
    calls: list[str] = []

    def measure(source: str, limit_s: float | None = None):
        calls.append(source)
        clock.now += duration(source)
        return "passed", timing(source)

    measure.calls = calls
    return measure


def labels(result, phases=("original", "random", "exhaustive")) -> list[str]:
    return [config_label(t.config) for t in result.trials if t.phase in phases]


@pytest.fixture
def vector_add():
    task = resolve_task("vector_add")
    return task, search_space(discover(task.baseline), H100, task.kind)


def test_the_grid_holds_every_feasible_point_once(vector_add):
    _, space = vector_add
    points = grid(space)
    assert space.size == 45 and len(points.feasible) + len(points.pruned) == 45
    assert len(points.pruned) == 6  # 4+ warps for 64 elements, 8+ for 128, 16 for 256: threads replicate work
    assert all("extra warps only replicate work" in why for _, why in points.pruned)
    assert all(space.feasible(config) is None for config in points.feasible)
    assert len({config_label(c) for c in points.feasible}) == len(points.feasible) and {} in points.feasible
    in_order = [grid_point(space, index) for index in range(space.size)]
    assert [c for c in in_order if space.feasible(c) is None] == points.feasible


def test_a_grid_too_large_to_enumerate_is_refused(kernel):
    source = kernel("matmul_branches")
    space = search_space(discover(source), H100, "matmul", ["float16"])
    assert space.size > GRID_LIMIT
    with pytest.raises(ValueError, match="more than the limit"):
        grid(space)
    task = resolve_task("matmul")
    measure = scripted(lambda source: 1.0, lambda: 0.0)
    with pytest.raises(ValueError, match="coarse-to-fine or the random strategy"):
        tune_kernel(task, source, measure, math.inf, config=TuneConfig(strategy="exhaustive"), space=space)
    assert measure.calls == []  # refused before anything was measured


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown search strategy 'bayesian'"):
        TuneConfig(strategy="bayesian")


def test_exhaustive_measures_every_feasible_point_once(vector_add, clock):
    task, space = vector_add
    measure = scripted(best_at_4096_with_8_warps, clock)
    result = tune_kernel(task, task.baseline, measure, math.inf, clock, config=TuneConfig(strategy="exhaustive"),
                         space=space)
    points = grid(space)
    searched = labels(result)
    assert sorted(searched) == sorted(config_label(c) for c in points.feasible)  # each once, the original included
    assert len(set(measure.calls[:-1])) == len(measure.calls) - 1 == 39  # the last call verifies the winner
    assert result.pruned == points.pruned and result.stop_reason == "every feasible configuration measured"
    assert vector_add_launch(result.tuned_source) == (4096, 8) and result.tuned_ms == pytest.approx(1.0)


def test_exhaustive_is_stopped_by_the_budget(vector_add, clock):
    task, space = vector_add
    measure = scripted(best_at_4096_with_8_warps, clock)
    result = tune_kernel(task, task.baseline, measure, 105, clock, config=TuneConfig(strategy="exhaustive"),
                         space=space)
    # 10 s each: the original and eight grid points end at 90 s; a tenth would leave no room to verify
    assert len(labels(result)) == 9 and result.stop_reason.startswith("the time budget")
    assert result.elapsed_s == clock.now == 90
    searched = [vector_add_launch(source)[0] for source in measure.calls[1:]]
    assert searched == [64, 64, 128, 128, 128, 256, 256, 256]  # grid order: the smallest blocks first
    assert result.config == {} and "no configuration beat the original" in result.stop_reason


def test_random_never_repeats_and_keeps_to_the_budget(vector_add, clock):
    task, space = vector_add
    measure = scripted(best_at_4096_with_8_warps, clock, duration=lambda source: 7.0)
    result = tune_kernel(task, task.baseline, measure, 150, clock, config=TuneConfig(strategy="random", seed=3),
                         space=space)
    searched = labels(result)
    assert len(searched) == len(set(searched)) == 20  # 20 x 7 s, then no room for one more and the verification
    assert all(space.feasible(parse_label(label, space)) is None for label in searched)
    assert result.stop_reason.startswith("the time budget") and clock.now == result.elapsed_s <= 150
    assert result.verified and result.tuned_ms <= result.original_ms


def test_random_is_uniform_over_the_whole_grid_and_seeded(vector_add, clock):
    task, space = vector_add

    def search(seed: int, budget: float) -> list[str]:
        clock.now = 0.0
        measure = scripted(best_at_4096_with_8_warps, clock)
        return labels(tune_kernel(task, task.baseline, measure, budget, clock, space=space,
                                  config=TuneConfig(strategy="random", seed=seed)))

    assert search(1, 200) == search(1, 200) != search(2, 200)
    everything = search(1, math.inf)
    assert sorted(everything) == sorted(config_label(c) for c in grid(space).feasible)
    cut_short = search(1, 200)
    assert len(cut_short) == 19 and everything[:19] == cut_short  # a budget only cuts the same order short
    assert len({tuple(search(seed, 100)[1:3]) for seed in range(8)}) > 4  # different seeds, different points


def test_random_on_the_real_cpu_evaluator(cpu_pool, clock):
    task = resolve_task("vector_add")
    measure = timed(cpu_pool, task, best_at_4096_with_8_warps, clock)
    result = tune_kernel(task, task.baseline, measure, 60, clock, profile=H100,
                         config=TuneConfig(strategy="random", seed=0))
    assert [t.phase for t in result.trials] == ["original"] + ["random"] * 4 + ["verify"]
    assert all(t.passed for t in result.trials) and clock.now == 60
    assert cpu_pool.evaluate(task, result.tuned_source).passed


def recorded_table(task, space, clock):
    """An exhaustive run with scripted times and durations (larger blocks take longer to measure)."""
    measure = scripted(best_at_4096_with_8_warps, clock,
                       duration=lambda source: 5 + math.log2(vector_add_launch(source)[0]))
    return tune_kernel(task, task.baseline, measure, math.inf, clock, config=TuneConfig(strategy="exhaustive"),
                       space=space)


def test_replaying_a_recorded_table_reproduces_its_times_and_clock(vector_add, clock):
    task, space = vector_add
    recorded = recorded_table(task, space, clock)
    trials = json.loads(json.dumps(recorded.to_dict()))["trials"]  # as a benchmark would store it
    table = TableMeasure(task.baseline, space, table_from_trials(trials))
    assert len(table.records) == 39 and table.best_ms == pytest.approx(1.0)
    replayed = tune_kernel(task, task.baseline, table, math.inf, table.clock, config=TuneConfig(strategy="exhaustive"),
                           space=space)
    assert replayed.trials == recorded.trials and replayed.tuned_source == recorded.tuned_source
    assert table.clock.now == replayed.elapsed_s == recorded.elapsed_s and table.missing == []

    clock.now = 0.0  # coarse-to-fine live and replayed: the same search, step by step
    live = tune_kernel(task, task.baseline, scripted(best_at_4096_with_8_warps, clock,
                       duration=lambda source: 5 + math.log2(vector_add_launch(source)[0])), 120, clock, space=space)
    table.reset()
    replay = tune_kernel(task, task.baseline, table, 120, table.clock, space=space)
    assert replay.trials == live.trials and replay.stop_reason == live.stop_reason


def test_labels_of_rules_and_autotune_lists_are_read_back(kernel, clock):
    softmax = resolve_task("softmax")
    space = search_space(discover(softmax.baseline), H100, softmax.kind)
    for index in (0, 7, space.size - 1):
        config = grid_point(space, index)
        assert parse_label(config_label(config), space) == config  # Scaled values, capped for num_warps
    source = kernel("autotune_list")
    task = resolve_task("vector_add")
    space = search_space(discover(source), H100, task.kind)
    recorded = tune_kernel(task, source, scripted(lambda text: 1.0 + len(text) % 97 / 100, clock), math.inf, clock,
                           config=TuneConfig(strategy="exhaustive"), space=space)
    final = [t for t in recorded.trials if t.phase == "final"]
    assert final and "_add_kernel.configs" in final[0].config  # the pruned list, also in the table
    table = TableMeasure(source, space, table_from_trials(recorded.trials))
    assert len(table.labels) == len(table.records) == len(grid(space).feasible) + 2  # the original, the list
    table.reset()
    replayed = tune_kernel(task, source, table, math.inf, table.clock, config=TuneConfig(strategy="exhaustive"),
                           space=space)
    assert replayed.trials == recorded.trials and table.missing == []
    with pytest.raises(ValueError, match="no value of this search space"):
        TableMeasure(source, space, {"_add_kernel.BLOCK=rule*2": ("passed", 1.0, 1.0)})


def test_a_configuration_the_table_lacks_is_counted_not_invented(vector_add):
    task, space = vector_add
    only_two = {"the original": Record("passed", 2.0, 10.0), "BLOCK@19:12=2048": ("passed", 1.0, 10.0)}
    table = TableMeasure(task.baseline, space, only_two)
    result = tune_kernel(task, task.baseline, table, math.inf, table.clock, space=space)
    # BLOCK up to 2048 (recorded), 4096 and 512 (not), then 8 and 2 warps (not); 2048 verified
    statuses = [t.status for t in result.trials]
    assert statuses == ["passed", "passed"] + ["not_recorded"] * 4 + ["passed"] and len(table.missing) == 4
    assert result.config == {"BLOCK@19:12": "2048"} and result.tuned_ms == 1.0
    assert table.clock.now == 70.0  # a source not in the table costs the mean recorded duration


def test_a_recorded_measurement_longer_than_the_time_left_is_cut_off(vector_add):
    task, space = vector_add
    table = TableMeasure(task.baseline, space, {"the original": Record("passed", 2.0, 10.0),
                                                "BLOCK@19:12=2048": ("passed", 1.0, 300.0)})  # a stalled compile
    source = next(src for src, label in table.labels.items() if label != "the original")
    assert table(source, 25.0) == ("timeout", None) and table.clock.now == 25.0
    assert table(source) == ("passed", 1.0) and table.clock.now == 325.0  # no limit: as recorded
    table.reset()
    result = tune_kernel(task, task.baseline, table, 60, table.clock, space=space)
    assert result.trials[1].status == "timeout" and result.elapsed_s <= 60 and result.config == {}


def synthetic_table(space) -> dict[str, tuple[str, float | None, float]]:
    """Every feasible point timed by a known function, one failure: the optimum is BLOCK 4096, 8 warps."""
    table = {}
    for config in grid(space).feasible:
        block, warps = (space.value(config, knob) for knob in space.knobs)
        ms = 1.0 + 0.1 * abs(math.log2(block / 4096)) + 0.05 * abs(math.log2(warps / 8))
        table[config_label(config)] = ("passed", ms, 8.0) if block != 16384 else ("runtime_error", None, 3.0)
    return table


def test_compare_strategies_on_a_table_with_a_known_optimum(vector_add):
    task, space = vector_add
    budgets = (20, 100, 200, math.inf)
    rows = compare_strategies(task, task.baseline, synthetic_table(space), budgets, seeds=range(5), space=space)
    assert [(r.strategy, r.budget_s) for r in rows] == [(s, b) for s in ("coarse-to-fine", "random", "exhaustive")
                                                        for b in budgets]
    by = {(r.strategy, r.budget_s): r for r in rows}
    assert all(r.best_ms == pytest.approx(1.0) and r.not_recorded == 0 for r in rows)
    assert all(r.ratio_mean is None or r.ratio_mean >= 1.0 and r.ratio_max >= r.ratio_median >= 1.0 for r in rows)
    assert by["exhaustive", math.inf].ratio_mean == 1.0 and by["exhaustive", math.inf].measurements_mean == 39
    assert by["random", math.inf].ratio_max == 1.0 and by["random", math.inf].runs == 5
    assert by["coarse-to-fine", math.inf].ratio_mean == 1.0  # this function is separable: the sweeps find it
    assert by["coarse-to-fine", 200].measurements_mean < 39 and by["coarse-to-fine", 200].optimum_rate == 1.0
    small = by["random", 20]  # the original (8 s) and one verification fit, no search
    assert small.measurements_mean == 1 and small.ratio_mean == pytest.approx(1.25) and small.optimum_rate == 0
    assert by["exhaustive", 100].optimum_rate == 0.0  # grid order reaches BLOCK 4096 last
    text = rows_table(rows)
    assert text.count("\n") == len(rows) + 1 and "| coarse-to-fine | inf |" in text


def test_the_replay_does_not_depend_on_the_order_of_the_table(vector_add):
    task, space = vector_add
    table = synthetic_table(space)
    reordered = dict(reversed(list(table.items())))
    first = compare_strategies(task, task.baseline, table, (150,), seeds=(0, 1), space=space)
    second = compare_strategies(task, task.baseline, reordered, (150,), seeds=(0, 1), space=space)
    assert [dataclasses.asdict(r) for r in first] == [dataclasses.asdict(r) for r in second]
