"""tune_kernel: a coarse-to-fine search over a verified kernel's launch parameters, within a time budget.

`measure(source, limit_s) -> (status, ms | None)` evaluates one rewritten source in at most `limit_s`
seconds (None: no limit; one cut off answers "timeout"). On a GPU it is the worker pool's full evaluation,
ms the geometric mean over the perf cases (tune/measure.py). Configurations that do not pass are skipped.
The phases (docs/tune.md says why):

1. the original, as given: the incumbent;
2. seeds: each existing @triton.autotune config alone;
3. coarse: one knob at a time, stepping outward from the incumbent in each direction while it gets faster;
4. fine: first-improvement hill climbing over pairs of one-step moves among the most sensitive knobs;
5. finish: the best few, fastest first, re-verified by `verify` (default: `measure`) until one passes.

Time is read from an injectable clock; a measurement starts only if it, and one verification after it,
fit in what is left of the budget (a measurement is assumed to last as long as the longest that passed so
far, the first left out once there are others: it pays for cold compile caches; a verification as long as
the longest so far or, before the first, `verify_factor` measurements when `verify` is not `measure`). Each
search measurement is limited to the time that leaves room for one verification, and a verification, always
tried, to what is left: a configuration that hangs is cut off, and the budget holds.

Two baselines replace phases 2-4 under the same budget and finish, to compare the search with
(`TuneConfig.strategy`, tune/replay.py): "random", uniformly random feasible points of the whole grid,
none twice; and "exhaustive", every feasible grid point in a fixed order.

This module runs the phases in order; the parts: settings.py (`TuneConfig`), budget.py (the time budget),
trials.py (each configuration measured once, the incumbent), coarse_to_fine.py (phases 2-4), baselines.py
(the grid, random, exhaustive), finish.py (phase 5 and the `TuneResult`, result.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tritonsmith.knowledge.hardware import HardwareProfile
from tritonsmith.task import Task
from tritonsmith.tune.baselines import GRID_LIMIT, exhaustive_search, random_search, too_large
from tritonsmith.tune.budget import Budget
from tritonsmith.tune.coarse_to_fine import CoarseToFine
from tritonsmith.tune.discovery import discover
from tritonsmith.tune.finish import Finish
from tritonsmith.tune.result import Trial, TuneResult
from tritonsmith.tune.settings import TuneConfig
from tritonsmith.tune.space import Space, search_space
from tritonsmith.tune.trials import Incumbent, Measure, Stop, Trials


def tune_kernel(task: Task, source: str, measure: Measure, budget_s: float,
                clock: Callable[[], float] = time.monotonic, *, verify: Measure | None = None,
                profile: HardwareProfile | None = None, config: TuneConfig | None = None,
                space: Space | None = None, on_trial: Callable[[Trial, float], None] | None = None) -> TuneResult:
    """Search `source`'s launch parameters for `task` within `budget_s` seconds of `clock`.
    `on_trial(trial, best_ms)` is called after each measurement (progress for a person watching)."""
    start = clock()  # the budget covers discovery too
    discovery = space.discovery if space is not None else discover(source)
    space = space or search_space(discovery, profile, task.kind, task.dtypes)
    config = config or TuneConfig()
    if config.strategy == "exhaustive" and space.size > GRID_LIMIT:  # refused before anything is measured
        raise ValueError(too_large(space.size, GRID_LIMIT))
    verify = verify or measure
    budget = Budget(budget_s, clock, start, 1.0 if verify is measure else config.verify_factor)
    trials = Trials(source, discovery, space, measure, budget, config.max_trials, on_trial)
    finish = Finish(trials, config, verify, task.id, profile.name if profile else None)
    dot = any(kernel.uses_dot for kernel in discovery.kernels)
    return _search(trials, finish, config, config.min_gain_compute if dot else config.min_gain)


def _search(trials: Trials, finish: Finish, config: TuneConfig, min_gain: float) -> TuneResult:
    """The original first; then the strategy, and the finish."""
    try:
        original = trials.attempt({}, "original")
    except Stop as stop:
        return finish.result({}, None, None, False, f"{stop.reason}: not even the original could be measured")
    if original.status == "timeout" and trials.budget.out_of_time():  # cut off by the budget, not its own timeout
        return finish.result({}, None, None, False, f"the original could not be measured within the "
                             f"{trials.budget.budget_s:g} s budget: give the tuner more time")
    if not original.passed:
        return finish.result({}, None, None, False, f"the original does not pass ({original.status}): "
                             "the tuner tunes verified kernels only")
    if original.ms is None:
        return finish.result({}, None, None, True, "no timings (CPU interpreter?): nothing to compare")
    incumbent = Incumbent({}, original.ms, min_gain)
    if not trials.space.knobs:
        return finish.result({}, original.ms, original.ms, True, "no tunable launch parameters")
    strategies = {"coarse-to-fine": lambda: CoarseToFine(trials, incumbent, config).run(),
                  "random": lambda: random_search(trials, incumbent, config.seed),
                  "exhaustive": lambda: exhaustive_search(trials, incumbent)}
    try:
        stop_reason, complete = strategies[config.strategy](), True
    except Stop as stop:
        stop_reason, complete = stop.reason, False
    return finish.run(incumbent, original, stop_reason, complete)
