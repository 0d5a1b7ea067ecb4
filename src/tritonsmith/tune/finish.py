"""The end of a search: an autotuned kernel's best few points as one list, then the finalists, fastest first,
re-verified until one passes and still beats the original by the margin; and the `TuneResult`, with the
tuned source and a header saying what was measured."""

from __future__ import annotations

from tritonsmith.tune.label import config_label
from tritonsmith.tune.result import Trial, TuneResult, ms_text
from tritonsmith.tune.rewrite import CONFIGS_SUFFIX, render
from tritonsmith.tune.settings import TuneConfig
from tritonsmith.tune.space import Config, ConfigList
from tritonsmith.tune.trials import Incumbent, Measure, Stop, Trials


class Finish:
    def __init__(self, trials: Trials, settings: TuneConfig, verify: Measure, task_id: str, device: str | None):
        self.trials, self.settings, self.verify, self.task_id, self.device = trials, settings, verify, task_id, device

    def run(self, incumbent: Incumbent, original: Trial, stop_reason: str, complete: bool) -> TuneResult:
        """Verify the finalists; the first that holds up is the result, else the original is kept."""
        if complete:
            try:
                self.pruned_lists(incumbent)
            except Stop as stop:
                stop_reason = stop.reason
        trials, min_gain = self.trials, incumbent.min_gain
        ranked = sorted(((t.ms, source) for source, t in trials.measured.items()
                         if t is not None and t.passed and t.ms is not None), key=lambda item: item[0])
        notes = []
        for ms, source in ranked[: self.settings.finalists]:
            config = trials.configs[source]
            if not config or ms >= original.ms * (1 - min_gain):
                break
            if trials.budget.out_of_time():
                notes.append("no time left to verify the best configuration")
                break
            check = trials.run(self.verify, source, config, "verify")
            if check.passed and check.ms is not None and check.ms < original.ms * (1 - min_gain):
                return self.result(config, original.ms, check.ms, True, stop_reason)
            if check.passed:
                notes.append(f"the best configuration's verified time {ms_text(check.ms)} does not beat the original's")
                break
            if check.status == "timeout" and trials.budget.out_of_time():
                notes.append(f"the budget ended during the verification of {config_label(config)}")
                break
            notes.append(f"{config_label(config)} failed its verification ({check.status})")
        if not notes:
            notes.append(f"no configuration beat the original by {min_gain:.0%}")
        reason = "; ".join([stop_reason, *notes])
        return self.result({}, original.ms, original.ms, True, reason)

    def pruned_lists(self, incumbent: Incumbent) -> None:
        """For each autotuned kernel: its best few points as one list, so @triton.autotune picks per shape."""
        trials = self.trials
        for kernel in trials.space.seeds:
            prefix = kernel + "."
            if not any(k.startswith(prefix) for k in incumbent.config):
                continue
            points: list[tuple[tuple[str, int], ...]] = []
            ranked = sorted((t.ms, source) for source, t in trials.measured.items()
                            if t is not None and t.passed and t.ms is not None)
            for _, source in ranked:
                config = trials.configs[source]
                point = tuple((k[len(prefix):], v) for k, v in sorted(config.items()) if k.startswith(prefix))
                if point and point not in points:
                    points.append(point)
            if len(points) < 2:
                continue
            kept = ConfigList(tuple(points[: self.settings.autotune_keep]))
            others = {k: v for k, v in incumbent.config.items() if not k.startswith(prefix)}
            trials.attempt({**others, kernel + CONFIGS_SUFFIX: kept}, "final")

    def result(self, config: Config, original_ms: float | None, tuned_ms: float | None, verified: bool,
               stop_reason: str) -> TuneResult:
        trials = self.trials
        speedup = original_ms / tuned_ms if original_ms and tuned_ms else None
        reason = None if speedup else "no timing of the original and the tuned source"
        elapsed = trials.budget.elapsed()
        measured = sum(1 for t in trials.trials if t.phase != "verify")
        failed = sum(1 for t in trials.trials if not t.passed)
        header = [
            f"tuned by tritonsmith for task {self.task_id}: launch parameters only; what the kernel computes is unchanged",
            f"device: {self.device or 'not stated'}",
            f"configuration: {config_label(config) if config else 'the original (no configuration beat it)'}",
            f"time (geometric mean over perf cases): original {ms_text(original_ms)}, tuned {ms_text(tuned_ms)}"
            + (f", {speedup:.3f}x" if speedup else ""),
            f"search: {measured} configurations measured ({failed} did not pass), {len(trials.pruned)} pruned "
            f"statically, {elapsed:.1f} s of a {trials.budget.budget_s:g} s budget; stopped: {stop_reason}",
        ]
        tuned_source = render(trials.source, trials.discovery, config, header)
        return TuneResult(self.task_id, tuned_source, {k: str(v) for k, v in config.items()}, original_ms, tuned_ms,
                          speedup, reason, verified, stop_reason, round(elapsed, 6), trials.budget.budget_s,
                          trials.trials, trials.pruned, trials.discovery.describe(), trials.space.describe(),
                          self.device)
