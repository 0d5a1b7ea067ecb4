"""What a search records and returns: one `Trial` per measurement, and the `TuneResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tritonsmith.tune.label import config_label


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
                 f"time: {ms_text(self.original_ms)} -> {ms_text(self.tuned_ms)}"
                 + (f" ({self.speedup:.3f}x)" if self.speedup else f" (speedup not measured: {self.speedup_reason})"),
                 f"{measured} configurations measured ({failed} did not pass), {len(self.pruned)} pruned statically, "
                 f"{self.elapsed_s:.1f} s of {self.budget_s:g} s; stopped: {self.stop_reason}"]
        return "\n".join(lines)


def ms_text(value: float | None) -> str:
    return f"{value:.4g} ms" if value is not None else "not measured"
