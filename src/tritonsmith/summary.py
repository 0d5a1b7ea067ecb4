"""A run's outcome as one typed value: what `solve_task` returns, and what summary.json and summary.md hold.

It imports nothing of tritonsmith when run (the agent's Candidate is imported for type checkers only), so the
agent that writes it and the report that reads it back share it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tritonsmith.agent.lineage import Candidate

NOT_ON_DISK = {"on_disk": False}


@dataclass
class RunSummary:
    """One agent run, as it ended. Every field but `judged` is written to summary.json, in this order."""

    task: str
    """The task's name, SUITE:ID."""
    model: str
    """The model the run asked, as configured."""
    mode: str
    """generate or optimize."""
    device: str | None
    """The evaluator's device name (a GPU's name, or that of the CPU interpreter)."""
    solved: bool
    """Whether a verified kernel won (and, on a GPU, passed its final re-measurement)."""
    best_candidate: str | None
    """The winner's candidate id (L<lineage>-R<round>, or `start`); None when nothing won."""
    speedup: float | None
    """The winner's speedup vs the task's baseline, re-measured (after tuning, if tuning replaced it)."""
    speedup_vs_torch: float | None
    """The same, vs PyTorch."""
    speed_measured: bool
    """Whether the winner was re-measured on a GPU (speedup and speedup_vs_torch come from that)."""
    speed_reason: str | None
    """Why speed was not measured; None when it was."""
    search_speedup: float | None
    """The winner's speedup as the search measured it (shorter timing than the final one)."""
    rounds: dict[int, int]
    """Rounds each lineage ran, by lineage index."""
    lineage_end: dict[int, str | None]
    """Why each lineage stopped early, by lineage index; None where it ran its rounds (or the run stopped)."""
    restarts: int
    """Debugging-trap restarts over all lineages."""
    candidates: int
    """How many candidates the evaluator judged (the start kernel included)."""
    statuses: dict[str, int]
    """How many candidates ended with each EvalResult status."""
    stop_reason: str | None
    """Why the run stopped before its lineages finished (a budget, an LLM error, ...); None when they finished."""
    stop_kind: str | None
    """The kind of that stop: budget | llm | start | interrupted; None when the lineages finished."""
    budget: dict[str, Any]
    """The budget's limits and what was spent (Budget.snapshot())."""
    wall_s: float
    """Seconds the run took in this process (a resumed run counts only its own)."""
    last_failure: str | None
    """Why the last failed attempt failed, for a run that solved nothing; None when it solved the task."""
    agent_overhead_per_round_s: float | None
    """The agent's own seconds per round, LLM calls and evaluations excluded; None with no round run here."""
    final_result: dict[str, Any] | None
    """The winner's final EvalResult (re-measured, or the tuned kernel's), as a dict; None when not measured."""
    tuning: dict[str, Any] | None
    """The tuning stage's record; None when it did not run."""
    judged: list[Candidate] = field(default_factory=list, metadata=NOT_ON_DISK)
    """Every candidate judged, in the order judged (state.json has them; summary.json does not)."""

    def to_dict(self) -> dict[str, Any]:
        """summary.json's content (key for key as written before this type existed)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("on_disk", True)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], judged: list[Candidate] | None = None) -> RunSummary:
        """Read summary.json back: JSON's string keys of `rounds` and `lineage_end` become lineage indices."""
        data = dict(data)
        for key in ("rounds", "lineage_end"):
            data[key] = {int(index): value for index, value in (data.get(key) or {}).items()}
        known = {f.name for f in fields(cls) if f.metadata.get("on_disk", True)}
        return cls(**{key: data.get(key) for key in known}, judged=list(judged or []))

    @classmethod
    def from_json(cls, text: str) -> RunSummary:
        """summary.json's text read back (`judged` is empty: state.json has the candidates)."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> RunSummary:
        """A run folder's summary.json; raises OSError, or ValueError or TypeError for a file that is not one."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def text(self) -> str:
        """summary.md: the outcome in a few sentences."""
        lines = [f"# {self.task} with {self.model}", ""]
        if self.solved:
            lines.append(f"Best kernel: {self.best_candidate} (best.py).")
        elif self.last_failure:
            lines.append(f"No candidate passed the evaluator; the last attempt: {self.last_failure.rstrip('.')}.")
        else:
            lines.append("No candidate passed the evaluator.")
        if self.speed_measured:
            lines.append(f"Speedup vs baseline: {self.speedup:.3f}x; vs PyTorch: {self.speedup_vs_torch:.3f}x "
                         f"(re-measured on {self.device})." if self.speedup else "Speed measured vs PyTorch only.")
        else:
            lines.append(f"Speed not measured: {self.speed_reason}.")
        if self.tuning:
            before = self.tuning.get("speedup_before_tuning")
            lines.append(f"Tuning: {'applied' if self.tuning.get('tuned') else 'kept the untuned kernel'}"
                         + (f" (speedup before tuning {before:.3f}x)" if before else "")
                         + (f"; {self.tuning['reason']}" if self.tuning.get("reason") else "") + ".")
        tally = ", ".join(f"{k} {v}" for k, v in self.statuses.items())
        spent = self.budget["spent"]
        lines += ["", f"Candidates: {self.candidates}" + (f" ({tally})" if tally else "")
                  + f"; trap restarts: {self.restarts}.",
                  f"Spent: {spent.get('tokens', 0)} tokens, {_cost_text(spent)}, {self.wall_s} s.",
                  f"Stopped because: {(self.stop_reason or 'all lineages finished').rstrip('.')}."]
        return "\n".join(lines) + "\n"


def _cost_text(spent: dict[str, Any]) -> str:
    unpriced, estimated, interrupted = (spent.get(key) or 0 for key in
                                        ("unpriced_calls", "estimated_calls", "interrupted_calls"))
    cost = f"${spent['usd']:.4f}" + (f" (+{unpriced} {'call' if unpriced == 1 else 'calls'} of unknown price)"
                                     if unpriced else "")
    if estimated:
        cost += (f"; the tokens of {'1 reply' if estimated == 1 else f'{estimated} replies'} written by hand into the "
                 f"queue {'are estimates' if estimated != 1 else 'are an estimate'}")
    if interrupted:
        cost += (f"; {'1 call was' if interrupted == 1 else f'{interrupted} calls were'} cut off by a stop "
                 f"({'its' if interrupted == 1 else 'their'} tokens are unknown)")
    return cost
