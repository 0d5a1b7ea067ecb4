"""The grid of a search space (the product of every knob's values) and the two strategies that walk it, to
compare coarse-to-fine with: "random" (uniformly random feasible points, none twice, in an order fixed by the
seed) and "exhaustive" (every feasible point in grid order)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import product
from typing import NamedTuple

from tritonsmith.tune.label import config_label
from tritonsmith.tune.space import Config, Space
from tritonsmith.tune.trials import Incumbent, Stop, Trials

GRID_LIMIT = 100_000
"""Most grid points enumerated at once: checking one costs about 30 us, so 3 s for the whole grid."""



class Grid(NamedTuple):
    feasible: list[Config]
    """Every feasible point, normalised, once each, in grid order (the last knob varies fastest)."""
    pruned: list[tuple[str, str]]
    """(configuration, why) for each point static pruning removes."""


def grid_point(space: Space, index: int) -> Config:
    """The grid's point number `index` (0 <= index < space.size), normalised; the order is `grid`'s."""
    point = {}
    for knob in reversed(space.knobs):
        values = space.values[knob.id]
        index, digit = divmod(index, len(values))
        point[knob.id] = values[digit]
    return space.normalise(point)


def grid(space: Space, limit: int = GRID_LIMIT) -> Grid:
    """Every point of the product of the knobs' values, split into feasible and pruned; ValueError over `limit`."""
    if space.size > limit:
        raise ValueError(too_large(space.size, limit))
    ids = [knob.id for knob in space.knobs]
    feasible, pruned, seen = [], [], set()
    for values in product(*(space.values[knob_id] for knob_id in ids)):
        config = space.normalise(dict(zip(ids, values)))
        key = tuple(sorted(config.items(), key=lambda item: item[0]))
        if key in seen:
            continue
        seen.add(key)
        reason = space.feasible(config) if config else None
        if reason:
            pruned.append((config_label(config), reason))
        else:
            feasible.append(config)
    return Grid(feasible, pruned)


def too_large(size: int, limit: int) -> str:
    return (f"the grid has {size} points, more than the limit of {limit} enumerated at once: "
            "search it with the coarse-to-fine or the random strategy")


def _shuffled(size: int, rng: random.Random) -> Iterator[int]:
    """0 .. size-1 in a uniformly random order: a permutation when small, draws without repetition when not."""
    if size <= GRID_LIMIT:
        yield from rng.sample(range(size), size)
        return
    drawn: set[int] = set()
    while len(drawn) < size:
        index = rng.randrange(size)
        if index not in drawn:
            drawn.add(index)
            yield index


def random_search(trials: Trials, incumbent: Incumbent, seed: int) -> str:
    """Random feasible grid points, none twice, until every one is measured or the budget ends."""
    for index in _shuffled(trials.space.size, random.Random(seed)):
        _grid_trial(trials, incumbent, grid_point(trials.space, index), "random")
    return "every feasible configuration measured"


def exhaustive_search(trials: Trials, incumbent: Incumbent) -> str:
    """Every feasible grid point in grid order, until the budget ends."""
    points = grid(trials.space)
    for entry in points.pruned:
        trials.record_pruned(entry)
    for config in points.feasible:
        _grid_trial(trials, incumbent, config, "exhaustive")
    return "every feasible configuration measured"


def _grid_trial(trials: Trials, incumbent: Incumbent, config: Config, phase: str) -> None:
    """Measure one grid point (unless pruned) and keep it as the incumbent if it is faster by the margin."""
    if not trials.budget.fits():  # also between pruned points: a huge grid can be mostly infeasible
        raise Stop("the time budget")
    reason = trials.space.feasible(config) if config else None
    if reason:
        trials.prune(config, reason)
        return
    trial = trials.attempt(config, phase)
    if incumbent.beaten_by(trial):
        incumbent.config, incumbent.ms = config, trial.ms
