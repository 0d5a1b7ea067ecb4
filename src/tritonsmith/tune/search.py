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
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import combinations, product
from typing import Any, NamedTuple

from tritonsmith.knowledge.hardware import HardwareProfile
from tritonsmith.task import Task
from tritonsmith.tune.discovery import discover
from tritonsmith.tune.knobs import Discovery, Knob
from tritonsmith.tune.rewrite import CONFIGS_SUFFIX, RewriteError, render
from tritonsmith.tune.space import Config, ConfigList, Space, config_label, search_space

Measure = Callable[[str, float | None], tuple[str, float | None]]
STRATEGIES = ("coarse-to-fine", "random", "exhaustive")
GRID_LIMIT = 100_000
"""Most grid points enumerated at once: checking one costs about 30 us, so 3 s for the whole grid."""


@dataclass
class TuneConfig:
    min_gain: float = 0.01
    """A configuration replaces the incumbent only if it is this much faster: the evaluator's per-task
    self-speedup stayed within 0.990-1.007 on an H100 (docs/benchmarks.md)."""
    min_gain_compute: float = 0.03
    """The same for sources with a tl.dot kernel: compute-bound timings spread more (docs/benchmarks.md)."""
    coarse_passes: int = 2
    """Sweeps over the knobs one at a time; another sweep runs only if the last one moved the incumbent."""
    fine_knobs: int = 4
    """The fine phase pairs moves among this many knobs, those whose sweep changed the time most
    (by more than the gain margin)."""
    fine_moves: int = 4
    """Most moves of the hill climb in the fine phase."""
    finalists: int = 3
    """Best configurations re-verified, fastest first, until one passes."""
    verify_factor: float = 1.75
    """A verification's expected duration, in search measurements (the longest so far), until one has run,
    when `verify` is a longer evaluation than `measure`: with VERIFY_TIMING, 0.93-1.63x on the whole built-in
    suite on an H200, and 1.5 cut off rmsnorm_backward's verification (docs/benchmarks.md). Too low, and a
    verification the budget cuts off loses the search's find; too high, and the search stops early."""
    autotune_keep: int = 3
    """Best points of an autotuned kernel kept in a pruned config list, tried as one more finalist."""
    max_trials: int | None = None
    """Most measurements in the search (None: the time budget alone decides)."""
    strategy: str = "coarse-to-fine"
    """How the space is searched: "coarse-to-fine" (seeds, sweeps, pairwise moves), or a baseline to compare
    it with: "random" (uniformly random feasible grid points, none twice) or "exhaustive" (every feasible grid
    point in order; at most GRID_LIMIT points)."""
    seed: int = 0
    """The random strategy's seed: the same seed gives the same order."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown search strategy {self.strategy!r}: one of {', '.join(STRATEGIES)}")


@dataclass
class Trial:
    """One measurement."""

    config: dict[str, str]
    phase: str
    status: str
    ms: float | None
    started_s: float
    duration_s: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class TuneResult:
    task_id: str
    tuned_source: str
    """The kernel source to use: the chosen configuration baked in, with a comment header of what was measured."""
    config: dict[str, str]
    """The knobs the chosen configuration changes ({}: the original was kept)."""
    original_ms: float | None
    tuned_ms: float | None
    """The chosen source's time in its verification (the original's own time when it was kept)."""
    speedup: float | None
    speedup_reason: str | None
    verified: bool
    """The chosen source passed a full evaluation after the search (the original passed its own)."""
    stop_reason: str
    elapsed_s: float
    budget_s: float
    trials: list[Trial] = field(default_factory=list)
    pruned: list[tuple[str, str]] = field(default_factory=list)
    """(configuration, why) for each configuration skipped without measuring it."""
    discovery: str = ""
    space: str = ""
    device: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.config)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        measured = sum(1 for t in self.trials if t.phase != "verify")
        failed = sum(1 for t in self.trials if not t.passed)
        lines = [f"tuned {self.task_id}: {config_label(self.config)}",
                 f"time: {_ms(self.original_ms)} -> {_ms(self.tuned_ms)}"
                 + (f" ({self.speedup:.3f}x)" if self.speedup else f" (speedup not measured: {self.speedup_reason})"),
                 f"{measured} configurations measured ({failed} did not pass), {len(self.pruned)} pruned statically, "
                 f"{self.elapsed_s:.1f} s of {self.budget_s:g} s; stopped: {self.stop_reason}"]
        return "\n".join(lines)


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
        raise ValueError(_too_large(space.size, limit))
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


def _too_large(size: int, limit: int) -> str:
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


class _Stop(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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
        raise ValueError(_too_large(space.size, GRID_LIMIT))
    search = _Search(task, source, discovery, space, measure, verify or measure, budget_s, clock, config, profile,
                     start)
    search.on_trial = on_trial
    return search.run()


class _Search:
    def __init__(self, task: Task, source: str, discovery: Discovery, space: Space, measure: Measure,
                 verify: Measure, budget_s: float, clock: Callable[[], float], config: TuneConfig,
                 profile: HardwareProfile | None, start: float):
        self.task, self.source, self.discovery, self.space = task, source, discovery, space
        self.measure, self.verify, self.budget_s, self.clock, self.config = measure, verify, budget_s, clock, config
        self.device = profile.name if profile else None
        dot = any(kernel.uses_dot for kernel in discovery.kernels)
        self.min_gain = config.min_gain_compute if dot else config.min_gain
        self.start = start
        self.trials: list[Trial] = []
        self.configs: dict[str, Config] = {}  # rendered source -> its configuration
        self.measured: dict[str, Trial | None] = {}  # rendered source -> its search trial (None: pruned)
        self.pruned: list[tuple[str, str]] = []
        self.pruned_seen: set[tuple[str, str]] = set()  # a grid can prune thousands: no scan of the list
        self.durations: list[float] = []  # of search measurements that passed
        self.verify_durations: list[float] = []
        self.incumbent: Config = {}
        self.incumbent_ms = math.inf
        self.spread: dict[str, float] = {}
        self.frozen: set[str] = set()
        self.on_trial: Callable[[Trial, float], None] | None = None

    # -- measuring -------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.clock() - self.start

    def expected_measure(self) -> float:
        return max(self.durations[1:] or self.durations, default=0.0)

    def expected_verify(self) -> float:
        factor = 1.0 if self.verify is self.measure else self.config.verify_factor
        return max(self.verify_durations, default=factor * self.expected_measure())

    def fits(self) -> bool:
        """Whether one more search measurement and one verification after it end within the budget."""
        return self.elapsed() + self.expected_measure() + self.expected_verify() <= self.budget_s

    def limit(self, phase: str) -> float | None:
        """The most a measurement in `phase` may take (None: no budget): a search measurement leaves room
        for one verification; a verification may take what is left."""
        if math.isinf(self.budget_s):
            return None
        reserve = 0.0 if phase == "verify" else self.expected_verify()
        return max(0.0, self.budget_s - self.elapsed() - reserve)

    def out_of_time(self) -> bool:
        left = self.limit("verify")
        return left is not None and left < 1.0

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
        if self.config.max_trials is not None and len(self.trials) >= self.config.max_trials:
            raise _Stop(f"the limit of {self.config.max_trials} measurements")
        if not self.fits():
            raise _Stop("the time budget")
        trial = self._run(self.measure, source, config, phase)
        self.measured[source] = trial
        self.configs[source] = config
        return trial

    def prune(self, config: Config, reason: str) -> None:
        self.record_pruned((config_label(config), reason))

    def record_pruned(self, entry: tuple[str, str]) -> None:
        if entry not in self.pruned_seen:
            self.pruned_seen.add(entry)
            self.pruned.append(entry)

    def _run(self, measure: Measure, source: str, config: Config, phase: str) -> Trial:
        started = self.clock()
        status, ms = measure(source, self.limit(phase))
        duration = self.clock() - started
        if phase == "verify":
            self.verify_durations.append(duration)
        elif status == "passed":  # a cut-off or failed one says nothing of how long the next will take
            self.durations.append(duration)
        note = "" if status != "passed" or ms is not None else "no timing"
        trial = Trial({k: str(v) for k, v in config.items()}, phase, status, ms if status == "passed" else None,
                      round(started - self.start, 6), round(duration, 6), note)
        self.trials.append(trial)
        if self.on_trial is not None:
            best = min([t.ms for t in self.trials if t.passed and t.ms is not None], default=math.inf)
            self.on_trial(trial, best)
        return trial

    def better(self, trial: Trial | None, than_ms: float) -> bool:
        return trial is not None and trial.passed and trial.ms is not None and trial.ms < than_ms * (1 - self.min_gain)

    # -- phases ----------------------------------------------------------------------------------

    def run(self) -> TuneResult:
        try:
            original = self.attempt({}, "original")
        except _Stop as stop:
            return self.result({}, None, None, False, f"{stop.reason}: not even the original could be measured")
        if original.status == "timeout" and self.out_of_time():  # cut off by the budget, not its own timeout
            return self.result({}, None, None, False, f"the original could not be measured within the "
                               f"{self.budget_s:g} s budget: give the tuner more time")
        if not original.passed:
            return self.result({}, None, None, False, f"the original does not pass ({original.status}): "
                               "the tuner tunes verified kernels only")
        if original.ms is None:
            return self.result({}, None, None, True, "no timings (CPU interpreter?): nothing to compare")
        self.incumbent_ms = original.ms
        if not self.space.knobs:
            return self.result({}, original.ms, original.ms, True, "no tunable launch parameters")
        strategies = {"coarse-to-fine": self.coarse_to_fine, "random": self.random, "exhaustive": self.exhaustive}
        try:
            stop_reason, complete = strategies[self.config.strategy](), True
        except _Stop as stop:
            stop_reason, complete = stop.reason, False
        return self.finish(original, stop_reason, complete)

    def coarse_to_fine(self) -> str:
        self.seed()
        self.coarse()
        self.fine()
        return "converged"

    def random(self) -> str:
        for index in _shuffled(self.space.size, random.Random(self.config.seed)):
            self.grid_trial(grid_point(self.space, index), "random")
        return "every feasible configuration measured"

    def exhaustive(self) -> str:
        points = grid(self.space)
        for entry in points.pruned:
            self.record_pruned(entry)
        for config in points.feasible:
            self.grid_trial(config, "exhaustive")
        return "every feasible configuration measured"

    def grid_trial(self, config: Config, phase: str) -> None:
        """Measure one grid point (unless pruned) and keep it as the incumbent if it is faster by the margin."""
        if not self.fits():  # also between pruned points: a huge grid can be mostly infeasible
            raise _Stop("the time budget")
        reason = self.space.feasible(config) if config else None
        if reason:
            self.prune(config, reason)
            return
        trial = self.attempt(config, phase)
        if self.better(trial, self.incumbent_ms):
            self.incumbent, self.incumbent_ms = config, trial.ms

    def seed(self) -> None:
        for kernel, points in self.space.seeds.items():
            best: tuple[float, Config] | None = None
            for point in points:
                trial = self.attempt({**self.incumbent, **point}, "seed")
                if trial is not None and trial.passed and trial.ms is not None and (best is None or trial.ms < best[0]):
                    best = (trial.ms, point)
            if best is None:  # no config of it passed alone: leave its list as it is
                self.frozen |= {k.id for k in self.space.knobs if k.id.startswith(kernel + ".")}
                continue
            self.incumbent = self.space.normalise({**self.incumbent, **best[1]})
            self.incumbent_ms = best[0]

    def coarse(self) -> None:
        for _ in range(self.config.coarse_passes):
            moved = False
            for knob in self.space.knobs:
                if knob.id not in self.frozen:
                    moved |= self.sweep(knob)
            if not moved:
                return

    def sweep(self, knob: Knob) -> bool:
        """Step outward from the incumbent's value, each way, while it gets faster; keep the best."""
        values = self.space.values[knob.id]
        now = self.space.value(self.incumbent, knob)
        if now not in values:
            return False
        center = values.index(now)
        best_value, best_ms = now, self.incumbent_ms
        times = [self.incumbent_ms]
        for direction in (1, -1):
            index = center + direction
            while 0 <= index < len(values):
                trial = self.attempt({**self.incumbent, knob.id: values[index]}, "coarse")
                if trial is None:  # pruned: the next one may still work
                    index += direction
                    continue
                if not trial.passed or trial.ms is None:  # fails to build or run: further out will too
                    break
                times.append(trial.ms)
                if trial.ms >= best_ms:
                    break
                best_value, best_ms = values[index], trial.ms
                index += direction
        self.spread[knob.id] = max(times) / min(times)
        if best_value != now and best_ms < self.incumbent_ms * (1 - self.min_gain):
            self.incumbent = self.space.normalise({**self.incumbent, knob.id: best_value})
            self.incumbent_ms = best_ms
            return True
        return False

    def fine(self) -> None:
        # knobs whose sweep moved the time by less than the noise margin are left out
        ranked = sorted((k for k in self.space.knobs if k.id not in self.frozen
                         and self.spread.get(k.id, 1.0) > 1 + self.min_gain), key=lambda k: -self.spread[k.id])
        chosen = ranked[: self.config.fine_knobs]
        for _ in range(self.config.fine_moves):
            moved = False
            for first, second in combinations(chosen, 2):
                for step_a in (1, -1):
                    for step_b in (1, -1):
                        candidate = self.step(self.step(self.incumbent, first, step_a), second, step_b)
                        if candidate is None:
                            continue
                        trial = self.attempt(candidate, "fine")
                        if self.better(trial, self.incumbent_ms):
                            self.incumbent, self.incumbent_ms = self.space.normalise(candidate), trial.ms
                            moved = True
                            break
                    if moved:
                        break
                if moved:
                    break
            if not moved:
                return

    def step(self, config: Config | None, knob: Knob, direction: int) -> Config | None:
        if config is None:
            return None
        values = self.space.values[knob.id]
        now = self.space.value(config, knob)
        if now not in values:
            return None
        index = values.index(now) + direction
        return {**config, knob.id: values[index]} if 0 <= index < len(values) else None

    def finish(self, original: Trial, stop_reason: str, complete: bool) -> TuneResult:
        if complete:
            try:
                self.pruned_lists()
            except _Stop as stop:
                stop_reason = stop.reason
        ranked = sorted(((t.ms, source) for source, t in self.measured.items()
                         if t is not None and t.passed and t.ms is not None), key=lambda item: item[0])
        notes = []
        for ms, source in ranked[: self.config.finalists]:
            config = self.configs[source]
            if not config or ms >= original.ms * (1 - self.min_gain):
                break
            if self.out_of_time():
                notes.append("no time left to verify the best configuration")
                break
            check = self._run(self.verify, source, config, "verify")
            if check.passed and check.ms is not None and check.ms < original.ms * (1 - self.min_gain):
                return self.result(config, original.ms, check.ms, True, stop_reason)
            if check.passed:
                notes.append(f"the best configuration's verified time {_ms(check.ms)} does not beat the original's")
                break
            if check.status == "timeout" and self.out_of_time():
                notes.append(f"the budget ended during the verification of {config_label(config)}")
                break
            notes.append(f"{config_label(config)} failed its verification ({check.status})")
        if not notes:
            notes.append(f"no configuration beat the original by {self.min_gain:.0%}")
        reason = "; ".join([stop_reason, *notes])
        return self.result({}, original.ms, original.ms, True, reason)

    def pruned_lists(self) -> None:
        """For each autotuned kernel: its best few points as one list, so @triton.autotune picks per shape."""
        for kernel in self.space.seeds:
            prefix = kernel + "."
            if not any(k.startswith(prefix) for k in self.incumbent):
                continue
            points: list[tuple[tuple[str, int], ...]] = []
            ranked = sorted((t.ms, source) for source, t in self.measured.items()
                            if t is not None and t.passed and t.ms is not None)
            for _, source in ranked:
                config = self.configs[source]
                point = tuple((k[len(prefix):], v) for k, v in sorted(config.items()) if k.startswith(prefix))
                if point and point not in points:
                    points.append(point)
            if len(points) < 2:
                continue
            kept = ConfigList(tuple(points[: self.config.autotune_keep]))
            others = {k: v for k, v in self.incumbent.items() if not k.startswith(prefix)}
            self.attempt({**others, kernel + CONFIGS_SUFFIX: kept}, "final")

    def result(self, config: Config, original_ms: float | None, tuned_ms: float | None, verified: bool,
               stop_reason: str) -> TuneResult:
        speedup = original_ms / tuned_ms if original_ms and tuned_ms else None
        reason = None if speedup else "no timing of the original and the tuned source"
        elapsed = self.elapsed()
        measured = sum(1 for t in self.trials if t.phase != "verify")
        failed = sum(1 for t in self.trials if not t.passed)
        header = [
            f"tuned by tritonsmith for task {self.task.id}: launch parameters only; what the kernel computes is unchanged",
            f"device: {self.device or 'not stated'}",
            f"configuration: {config_label(config) if config else 'the original (no configuration beat it)'}",
            f"time (geometric mean over perf cases): original {_ms(original_ms)}, tuned {_ms(tuned_ms)}"
            + (f", {speedup:.3f}x" if speedup else ""),
            f"search: {measured} configurations measured ({failed} did not pass), {len(self.pruned)} pruned "
            f"statically, {elapsed:.1f} s of a {self.budget_s:g} s budget; stopped: {stop_reason}",
        ]
        tuned_source = render(self.source, self.discovery, config, header)
        return TuneResult(self.task.id, tuned_source, {k: str(v) for k, v in config.items()}, original_ms, tuned_ms,
                          speedup, reason, verified, stop_reason, round(elapsed, 6), self.budget_s, self.trials,
                          self.pruned, self.discovery.describe(), self.space.describe(), self.device)


def _ms(value: float | None) -> str:
    return f"{value:.4g} ms" if value is not None else "not measured"
