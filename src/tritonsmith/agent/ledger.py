"""The books of one run: the lineages, every candidate judged and its result, why the run stopped, and the
state saved after every step and restored on resume (a step a kill or a pause cut short runs again)."""

from __future__ import annotations

import threading
from typing import Any

from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.lineage import Candidate, Lineage
from tritonsmith.agent.store import RunStore
from tritonsmith.evaluate.result import EvalResult
from tritonsmith.llm.errors import ReplyPending
from tritonsmith.task import Task

Checkpoint = tuple[dict[str, Any], set[str], str | None]  # a lineage, the candidate ids and the last failure


class Ledger:
    def __init__(self, task: Task, config: RunConfig, evaluator: Any, store: RunStore, budget: Any):
        self.task, self.config, self.evaluator, self.store, self.budget = task, config, evaluator, store, budget
        self.lineages: list[Lineage] = []
        self.candidates: dict[str, Candidate] = {}
        self.results: dict[str, EvalResult] = {}  # this process's evaluations; older ones are in the trajectory
        self.unsaved_results: dict[tuple[str, str], EvalResult] = {}  # of steps cut short: (id, source) -> result
        self.waiting: list[ReplyPending] = []  # the requests paused lineages wait on
        self.start: Candidate | None = None
        self.stop_reason: str | None = None
        self.stop_kind: str | None = None
        self.last_failure: str | None = None  # why the last failed attempt failed, for a run that solves nothing
        self.last_failure_of: int | None = None  # ... and whose it was (a lineage's index)
        self.overhead_s = 0.0
        self.steps = 0
        self.lock = threading.Lock()

    def record(self, lineage: Lineage | None, kind: str, payload: dict[str, Any]) -> None:
        self.store.append({"type": kind, "lineage": lineage.index if lineage else None,
                           "round": lineage.round if lineage else None, **payload})

    def judge(self, candidate_id: str, lineage: Lineage | None, source: str) -> tuple[Candidate, EvalResult]:
        """Evaluate `source` as candidate `candidate_id` (of no lineage: the start kernel): its source saved,
        its result kept and recorded."""
        result = self.unsaved_results.pop((candidate_id, source), None)  # a step cut short after its evaluation
        if result is None:
            result = self.evaluator.evaluate(self.task, source, timeout_s=self.config.eval_timeout_s)
        index, round_ = (lineage.index, lineage.round) if lineage else (-1, -1)
        candidate = Candidate(candidate_id, index, round_, result.status, result.speedup, result.speedup_vs_torch,
                              timed=bool(result.perf), call_ok=result.call_ok)
        self.store.save_candidate(candidate_id, source)
        with self.lock:
            self.results[candidate_id] = result
        self.record(lineage, "evaluate", {"candidate": candidate_id, "source": source, "result": result.to_dict()})
        return candidate, result

    def add(self, candidate: Candidate) -> None:
        with self.lock:
            self.candidates[candidate.id] = candidate

    def best_candidate(self) -> Candidate | None:
        with self.lock:
            verified = [c for c in self.candidates.values() if c.passed]
        return max(verified, key=lambda c: (c.score(), -c.round)) if verified else None

    def result_of(self, candidate_id: str) -> EvalResult:
        if candidate_id in self.results:
            return self.results[candidate_id]
        for event in reversed(self.store.trajectory()):  # a candidate evaluated before a resume
            if event.get("type") == "evaluate" and event.get("candidate") == candidate_id:
                return EvalResult.from_dict(event["result"])
        raise KeyError(candidate_id)

    def count_step(self, lineage: Lineage, overhead_s: float) -> None:
        lineage.round += 1
        self.budget.count_round()
        with self.lock:
            self.steps += 1
            self.overhead_s += overhead_s

    def checkpoint(self, lineage: Lineage) -> Checkpoint:
        with self.lock:
            return lineage.to_dict(), set(self.candidates), self.last_failure

    def undo(self, lineage: Lineage, before: Checkpoint, pending: ReplyPending) -> None:
        """A queued request has no reply yet: the step is undone (run again on resume, its evaluation kept for
        it) and the lineage waits; the others go on. Only this lineage's candidates since the checkpoint are
        taken back: the other lineages step meanwhile, and theirs stay."""
        saved, candidate_ids, last_failure = before
        with self.lock:
            vars(lineage).update(vars(Lineage.from_dict(saved)))
            for candidate_id in set(self.candidates) - candidate_ids:
                if self.candidates[candidate_id].lineage == lineage.index:
                    del self.candidates[candidate_id]
            if self.last_failure_of == lineage.index:  # why this step's attempt failed: another's stays
                self.last_failure, self.last_failure_of = last_failure, None
            self.waiting.append(pending)

    def note_failure(self, lineage: Lineage, why: str) -> None:
        """Why `lineage`'s last attempt failed: the run's last failure, until another's."""
        with self.lock:
            self.last_failure, self.last_failure_of = why, lineage.index

    def note_stop(self, reason: str, kind: str) -> None:
        """The first stop's reason is the run's."""
        with self.lock:
            if self.stop_reason is None:
                self.stop_reason, self.stop_kind = reason, kind

    def restore(self) -> None:
        state = self.store.load_state() or {"lineages": [], "candidates": {}}
        self.lineages = [Lineage.from_dict(data) for data in state["lineages"]]
        self.lineages += [Lineage(index) for index in range(len(self.lineages), self.config.parallel)]
        self.candidates = {cid: Candidate(**data) for cid, data in state["candidates"].items()}
        self.start = self.candidates.get("start")
        self.overhead_s, self.steps = state.get("overhead_s", 0.0), state.get("steps", 0)
        self.last_failure = state.get("last_failure")
        for event in self.store.trajectory():  # a step cut short after its evaluation does not evaluate again
            if event.get("type") == "evaluate" and not self.saved(event) and "source" in event:
                self.unsaved_results[(event["candidate"], event["source"])] = EvalResult.from_dict(event["result"])
        self.store.keep_events(self.saved)  # the steps a kill or a pause interrupted run again: record them once

    def saved(self, event: dict[str, Any]) -> bool:
        """Whether a trajectory event belongs to a step the state saved (a step the kill interrupted did not)."""
        if event.get("lineage") is None:
            return event.get("candidate") != "start" or self.start is not None
        saved_rounds = {lineage.index: lineage.round for lineage in self.lineages}
        return event.get("round", 0) < saved_rounds.get(event["lineage"], 0)

    def save(self) -> None:
        with self.lock:
            state = {"task": self.task.name, "lineages": [lin.to_dict() for lin in self.lineages],
                     "candidates": {cid: c.__dict__ for cid, c in self.candidates.items()},
                     "budget": self.budget.snapshot(), "stop_reason": self.stop_reason,
                     "last_failure": self.last_failure,
                     "overhead_s": self.overhead_s, "steps": self.steps}
        self.store.save_state(state)
