"""Measuring configurations for a search: each rendered into the source, pruned or measured once per distinct
source, within the budget, and recorded as a `Trial`; and the incumbent the strategies try to beat."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tritonsmith.tune.budget import Budget
from tritonsmith.tune.knobs import Discovery
from tritonsmith.tune.label import config_label
from tritonsmith.tune.result import Trial
from tritonsmith.tune.rewrite import RewriteError, render
from tritonsmith.tune.space import Config, Space

Measure = Callable[[str, float | None], tuple[str, float | None]]


class Stop(Exception):
    """The search ends here (the budget, or the most measurements allowed); the message says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Incumbent:
    """The configuration to beat and its time; a challenger must be faster by the margin `min_gain`."""

    config: Config
    ms: float
    min_gain: float

    def beaten_by(self, trial: Trial | None) -> bool:
        return trial is not None and trial.passed and trial.ms is not None and trial.ms < self.ms * (1 - self.min_gain)


class Trials:
    """Every measurement of one search, by rendered source: a source is measured at most once."""

    def __init__(self, source: str, discovery: Discovery, space: Space, measure: Measure, budget: Budget,
                 max_trials: int | None, on_trial: Callable[[Trial, float], None] | None):
        self.source, self.discovery, self.space, self.measure, self.budget = source, discovery, space, measure, budget
        self.max_trials = max_trials
        self.on_trial = on_trial
        self.trials: list[Trial] = []
        self.configs: dict[str, Config] = {}  # rendered source -> its configuration
        self.measured: dict[str, Trial | None] = {}  # rendered source -> its search trial (None: pruned)
        self.pruned: list[tuple[str, str]] = []
        self.pruned_seen: set[tuple[str, str]] = set()  # a grid can prune thousands: no scan of the list

    def attempt(self, config: Config, phase: str) -> Trial | None:
        """The trial of `config` (measured now, or earlier for the same source), or None if pruned."""
        config = self.space.normalise(config)
        try:
            source = render(self.source, self.discovery, config)
        except RewriteError as err:
            self.prune(config, f"cannot be written: {err}")
            return None
        if source in self.measured:
            return self.measured[source]
        reason = self.space.feasible(config) if config else None
        if reason:
            self.prune(config, reason)
            self.measured[source] = None
            return None
        if self.max_trials is not None and len(self.trials) >= self.max_trials:
            raise Stop(f"the limit of {self.max_trials} measurements")
        if not self.budget.fits():
            raise Stop("the time budget")
        trial = self.run(self.measure, source, config, phase)
        self.measured[source] = trial
        self.configs[source] = config
        return trial

    def prune(self, config: Config, reason: str) -> None:
        self.record_pruned((config_label(config), reason))

    def record_pruned(self, entry: tuple[str, str]) -> None:
        if entry not in self.pruned_seen:
            self.pruned_seen.add(entry)
            self.pruned.append(entry)

    def run(self, measure: Measure, source: str, config: Config, phase: str) -> Trial:
        """Measure `source` now with `measure` (the search's, or a verification) and record the trial."""
        clock = self.budget.clock
        started = clock()
        status, ms = measure(source, self.budget.limit(phase))
        duration = clock() - started
        self.budget.record(phase, status, duration)
        note = "" if status != "passed" or ms is not None else "no timing"
        trial = Trial({k: str(v) for k, v in config.items()}, phase, status, ms if status == "passed" else None,
                      round(started - self.budget.start, 6), round(duration, 6), note)
        self.trials.append(trial)
        if self.on_trial is not None:
            best = min([t.ms for t in self.trials if t.passed and t.ms is not None], default=math.inf)
            self.on_trial(trial, best)
        return trial
