"""One lineage: a chain of attempts, each built on the last one's feedback."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Candidate:
    """A kernel the agent wrote and the evaluator judged."""

    id: str
    lineage: int
    round: int
    status: str
    speedup: float | None = None
    speedup_vs_torch: float | None = None
    timed: bool = False
    call_ok: bool = False

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def score(self) -> float:
        return speed_score(self.speedup, self.speedup_vs_torch)


def speed_score(speedup: float | None, speedup_vs_torch: float | None) -> float:
    """What 'faster' means when choosing: speedup vs baseline, else vs PyTorch, else verified at all."""
    if speedup is not None:
        return speedup
    if speedup_vs_torch is not None:
        return speedup_vs_torch
    return 0.0


@dataclass
class Lineage:
    """One chain of attempts: where it stands, what the next generation builds on, and its best kernel."""

    index: int
    round: int = 0
    previous: str | None = None
    feedback: str | None = None
    failures_in_a_row: int = 0
    restarts: int = 0
    best: Candidate | None = None
    stop_reason: str | None = None  # why this lineage stopped early, if it did
    history: list[str] = field(default_factory=list)  # candidate ids, in order

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    def offer(self, candidate: Candidate) -> None:
        """The lineage's best becomes `candidate` only if that is strictly faster."""
        if self.best is None or candidate.score() > self.best.score():
            self.best = candidate

    def to_dict(self) -> dict[str, Any]:
        """As state.json holds it: the stop reason under its old key, `done`."""
        return {("done" if key == "stop_reason" else key): value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lineage:
        data = dict(data)
        data["stop_reason"] = data.pop("done", None)
        if data.get("best"):
            data["best"] = Candidate(**data["best"])
        return cls(**data)
