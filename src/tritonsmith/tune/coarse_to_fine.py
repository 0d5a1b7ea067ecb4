"""The default strategy: seeds (each existing @triton.autotune config alone), coarse sweeps (one knob at a
time, stepping outward from the incumbent while it gets faster), then fine moves (first-improvement hill
climbing over pairs of one-step moves among the knobs whose sweeps moved the time most). docs/tune.md says
why this shape."""

from __future__ import annotations

from itertools import combinations

from tritonsmith.tune.knobs import Knob
from tritonsmith.tune.settings import TuneConfig
from tritonsmith.tune.space import Config, Space
from tritonsmith.tune.trials import Incumbent, Trials


class CoarseToFine:
    def __init__(self, trials: Trials, incumbent: Incumbent, settings: TuneConfig):
        self.trials, self.incumbent, self.settings = trials, incumbent, settings
        self.space: Space = trials.space
        self.spread: dict[str, float] = {}  # knob id -> slowest / fastest time its sweep saw
        self.frozen: set[str] = set()  # knobs of autotuned kernels none of whose configs passed alone

    def run(self) -> str:
        self.seed()
        self.coarse()
        self.fine()
        return "converged"

    def seed(self) -> None:
        incumbent = self.incumbent
        for kernel, points in self.space.seeds.items():
            best: tuple[float, Config] | None = None
            for point in points:
                trial = self.trials.attempt({**incumbent.config, **point}, "seed")
                if trial is not None and trial.passed and trial.ms is not None and (best is None or trial.ms < best[0]):
                    best = (trial.ms, point)
            if best is None:  # no config of it passed alone: leave its list as it is
                self.frozen |= {k.id for k in self.space.knobs if k.id.startswith(kernel + ".")}
                continue
            incumbent.config = self.space.normalise({**incumbent.config, **best[1]})
            incumbent.ms = best[0]

    def coarse(self) -> None:
        for _ in range(self.settings.coarse_passes):
            moved = False
            for knob in self.space.knobs:
                if knob.id not in self.frozen:
                    moved |= self.sweep(knob)
            if not moved:
                return

    def sweep(self, knob: Knob) -> bool:
        """Step outward from the incumbent's value, each way, while it gets faster; keep the best."""
        incumbent = self.incumbent
        values = self.space.values[knob.id]
        now = self.space.value(incumbent.config, knob)
        if now not in values:
            return False
        center = values.index(now)
        best_value, best_ms = now, incumbent.ms
        times = [incumbent.ms]
        for direction in (1, -1):
            index = center + direction
            while 0 <= index < len(values):
                trial = self.trials.attempt({**incumbent.config, knob.id: values[index]}, "coarse")
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
        if best_value != now and best_ms < incumbent.ms * (1 - incumbent.min_gain):
            incumbent.config = self.space.normalise({**incumbent.config, knob.id: best_value})
            incumbent.ms = best_ms
            return True
        return False

    def fine(self) -> None:
        # knobs whose sweep moved the time by less than the noise margin are left out
        ranked = sorted((k for k in self.space.knobs if k.id not in self.frozen
                         and self.spread.get(k.id, 1.0) > 1 + self.incumbent.min_gain), key=lambda k: -self.spread[k.id])
        chosen = ranked[: self.settings.fine_knobs]
        for _ in range(self.settings.fine_moves):
            if not self._first_improvement(chosen):
                return

    def _first_improvement(self, chosen: list[Knob]) -> bool:
        """Try pairs of one-step moves (both up, both down, one each way); take the first that beats the
        incumbent by the margin. Whether one did."""
        incumbent = self.incumbent
        for first, second in combinations(chosen, 2):
            for step_a in (1, -1):
                for step_b in (1, -1):
                    candidate = self.step(self.step(incumbent.config, first, step_a), second, step_b)
                    if candidate is None:
                        continue
                    trial = self.trials.attempt(candidate, "fine")
                    if incumbent.beaten_by(trial):
                        incumbent.config, incumbent.ms = self.space.normalise(candidate), trial.ms
                        return True
        return False

    def step(self, config: Config | None, knob: Knob, direction: int) -> Config | None:
        if config is None:
            return None
        values = self.space.values[knob.id]
        now = self.space.value(config, knob)
        if now not in values:
            return None
        index = values.index(now) + direction
        return {**config, knob.id: values[index]} if 0 <= index < len(values) else None
