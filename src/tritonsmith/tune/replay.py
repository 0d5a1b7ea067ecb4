"""Replaying searches offline on a table of measured times, to compare strategies at equal budgets.

The table is recorded once on a GPU by an exhaustive search (`TuneConfig(strategy="exhaustive")`, an
unlimited budget): each trial holds a configuration, its status, its time and how long measuring it took.
`TableMeasure` answers `measure(source, limit_s)` from that table and moves its own clock on by the recorded
duration, so `tune_kernel(task, source, table, budget_s, table.clock, space=space)` replays any strategy at
any budget, deterministically and without a GPU. Noise is not replayed: each configuration keeps the one time
it was recorded with, so a replay compares the strategies' choices, not their luck.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from tritonsmith.knowledge.hardware import HardwareProfile
from tritonsmith.task import Task
from tritonsmith.tune.discovery import discover
from tritonsmith.tune.label import config_label
from tritonsmith.tune.result import Trial, TuneResult
from tritonsmith.tune.rewrite import render
from tritonsmith.tune.search import tune_kernel
from tritonsmith.tune.settings import STRATEGIES, TuneConfig
from tritonsmith.tune.space import Config, ConfigList, Space, Value, search_space

NOT_RECORDED = "not_recorded"


@dataclass(frozen=True)
class Record:
    """One configuration's recorded measurement."""

    status: str
    ms: float | None
    duration_s: float


def table_from_trials(trials: Iterable[Trial | Mapping[str, Any]]) -> dict[str, Record]:
    """Configuration label -> its first search measurement; verifications are left out.

    Takes `TuneResult.trials` or their JSON form (`result.to_dict()["trials"]`).
    """
    table: dict[str, Record] = {}
    for trial in trials:
        trial = asdict(trial) if isinstance(trial, Trial) else trial
        if trial["phase"] == "verify":
            continue
        table.setdefault(config_label(trial["config"]), Record(trial["status"], trial["ms"], trial["duration_s"]))
    return table


def parse_label(label: str, space: Space) -> Config:
    """The configuration `config_label` wrote as `label`, with the values of `space` (ValueError if foreign)."""
    if label == config_label({}):
        return {}
    config = {}
    for item in _split(label, ", "):
        knob_id, _, text = item.partition("=")
        config[knob_id] = _value(space, knob_id, text)
    return config


class TableClock:
    """The replay's clock: time passes only as the table's measurements take it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TableMeasure:
    """`measure(source, limit_s)` from a recorded table: its status and time, after its recorded duration on
    `clock` (a duration over `limit_s`: "timeout" after `limit_s`, as a live measurement is cut off).

    A source the table lacks (a configuration the recording never measured, such as another pruned autotune
    list) answers "not_recorded" with no time, after the mean recorded duration, and is counted in `missing`.
    """

    def __init__(self, source: str, space: Space, table: Mapping[str, Record | tuple[str, float | None, float]]):
        if not table:
            raise ValueError("an empty table: record one with an exhaustive search first")
        self.records = {label: record if isinstance(record, Record) else Record(*record)
                        for label, record in table.items()}
        self.labels: dict[str, str] = {}  # rendered source -> configuration label
        for label in self.records:
            rendered = render(source, space.discovery, space.normalise(parse_label(label, space)))
            self.labels.setdefault(rendered, label)
        self.missing_duration_s = statistics.fmean(r.duration_s for r in self.records.values())
        self.clock = TableClock()
        self.missing: list[str] = []

    @property
    def best_ms(self) -> float | None:
        """The fastest passing time in the table."""
        return min((r.ms for r in self.records.values() if r.status == "passed" and r.ms is not None), default=None)

    def reset(self) -> None:
        """Back to time zero for the next replay."""
        self.clock.now = 0.0
        self.missing = []

    def __call__(self, source: str, limit_s: float | None = None) -> tuple[str, float | None]:
        label = self.labels.get(source)
        if label is None:
            self.missing.append(source)
            self.clock.now += self.missing_duration_s
            return NOT_RECORDED, None
        record = self.records[label]
        if limit_s is not None and record.duration_s > limit_s:  # cut off, as the live measure would be
            self.clock.now += limit_s
            return "timeout", None
        self.clock.now += record.duration_s
        return record.status, record.ms


@dataclass
class StrategyRow:
    """One strategy at one budget, replayed on a table (over several seeds for the random strategy)."""

    strategy: str
    budget_s: float
    runs: int
    best_ms: float
    """The table's fastest passing time: what an unlimited exhaustive search finds."""
    ratio_mean: float | None
    """The chosen configuration's time over best_ms (1.0: the optimum), mean over runs that timed the original."""
    ratio_median: float | None
    ratio_max: float | None
    """The worst run."""
    optimum_rate: float
    """Fraction of runs that chose a configuration as fast as the table's best."""
    measurements_mean: float
    """Search measurements per run (the original included, verifications not)."""
    winner_at_mean: float | None
    """How many measurements into the search the chosen configuration was first measured, mean over runs."""
    elapsed_mean_s: float
    not_recorded: int
    """Measurements the table could not answer, over all runs (0 for a table from an exhaustive search)."""
    no_result: int
    """Runs whose budget did not even cover the original."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_strategies(task: Task, source: str, table: TableMeasure | Mapping[str, Record | tuple],
                       budgets: Sequence[float], seeds: Sequence[int] = range(10), *, space: Space | None = None,
                       profile: HardwareProfile | None = None, config: TuneConfig | None = None,
                       strategies: Sequence[str] = STRATEGIES) -> list[StrategyRow]:
    """Each strategy replayed at each budget on `table`: the time it finds relative to the table's best.

    `space` (or `profile`) must be the one the table was recorded with. The deterministic strategies run once
    per budget; the random one once per seed. `config` sets everything but the strategy and seed.
    """
    space = space or search_space(discover(source), profile, task.kind, task.dtypes)
    measure = table if isinstance(table, TableMeasure) else TableMeasure(source, space, table)
    best = measure.best_ms
    if best is None:
        raise ValueError("the table has no passing configuration to compare with")
    if not seeds:
        raise ValueError("no seeds for the random strategy")
    base = config or TuneConfig()
    rows = []
    for strategy in strategies:
        for budget in budgets:
            results, missing = [], 0
            for seed in (seeds if strategy == "random" else (base.seed,)):
                measure.reset()
                results.append(tune_kernel(task, source, measure, budget, measure.clock, profile=profile,
                                           config=replace(base, strategy=strategy, seed=seed), space=space))
                missing += len(measure.missing)
            rows.append(_row(strategy, budget, results, best, missing))
    return rows


def rows_table(rows: Iterable[StrategyRow]) -> str:
    """The rows as a Markdown table."""
    lines = ["| strategy | budget (s) | runs | found / best: mean | median | worst | optimum found | measurements "
             "| winner at | not recorded |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row.strategy} | {row.budget_s:g} | {row.runs} | {_number(row.ratio_mean)} | "
                     f"{_number(row.ratio_median)} | {_number(row.ratio_max)} | {row.optimum_rate:.0%} | "
                     f"{row.measurements_mean:.1f} | {_number(row.winner_at_mean, '.1f')} | {row.not_recorded} |")
    return "\n".join(lines)


def _row(strategy: str, budget: float, results: list[TuneResult], best: float, missing: int) -> StrategyRow:
    ratios = [r.tuned_ms / best for r in results if r.tuned_ms is not None]
    winners = [w for w in (_winner_at(r) for r in results) if w is not None]
    return StrategyRow(
        strategy, budget, len(results), best,
        statistics.fmean(ratios) if ratios else None, statistics.median(ratios) if ratios else None,
        max(ratios, default=None), sum(ratio <= 1.0 for ratio in ratios) / len(results),
        statistics.fmean(sum(t.phase != "verify" for t in r.trials) for r in results),
        statistics.fmean(winners) if winners else None, statistics.fmean(r.elapsed_s for r in results),
        missing, len(results) - len(ratios))


def _winner_at(result: TuneResult) -> int | None:
    searched = [t for t in result.trials if t.phase != "verify"]
    for number, trial in enumerate(searched, 1):
        if trial.config == result.config:
            return number
    return None


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside brackets (a ConfigList's label holds commas)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            start = index + len(separator)
    parts.append(text[start:])
    return parts


def _value(space: Space, knob_id: str, text: str) -> Value:
    known = {str(v): v for v in (*space.values.get(knob_id, ()), space.current.get(knob_id)) if v is not None}
    if text in known:
        return known[text]
    if text.startswith("[") and text.endswith("]"):
        points = []
        for point in _split(text[1:-1], "; "):
            pairs = [pair.partition("=") for pair in _split(point, ", ")]
            points.append(tuple((name, int(value)) for name, _, value in pairs))
        return ConfigList(tuple(points))
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{knob_id}={text} is no value of this search space: was the table recorded with "
                         "another space or device?") from None


def _number(value: float | None, spec: str = ".3f") -> str:
    return format(value, spec) if value is not None else "-"
