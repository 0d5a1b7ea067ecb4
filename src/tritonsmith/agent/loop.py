"""The agent loop: generate, evaluate, reflect or optimise, record; K lineages side by side.

Every way out of a lineage is explicit: rounds used up, the lineage finished early (verified with no
GPU to optimise on), the run stopped (a budget reached, an LLM call that cannot be made), or the lineage
paused on a queued request with no reply yet (ReplyPending: its step is undone, the other lineages go on).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tritonsmith.agent import prompts
from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.lineage import Candidate, Lineage
from tritonsmith.agent.parse import FormatError, extract_code
from tritonsmith.agent.store import RunStore
from tritonsmith.evaluate.result import EvalResult
from tritonsmith.interrupt import STOP
from tritonsmith.llm.errors import ReplyPending
from tritonsmith.task import Task

INTERRUPTED = "interrupted by Ctrl-C: the steps in flight were dropped and run again on resume"


class RunStopped(Exception):
    """The whole run stops here; finished work is saved and the run can resume.
    kind: budget | llm | start | interrupted."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


class Agent:
    def __init__(self, task: Task, config: RunConfig, llm: Any, budget: Any, evaluator: Any, store: RunStore,
                 context: prompts.Context, start_source: str | None = None, progress: Any = None,
                 error_guide: Any = None):
        self.task, self.config, self.llm, self.budget = task, config, llm, budget
        self.evaluator, self.store, self.context = evaluator, store, context
        self.start_source, self.progress = start_source, progress
        self.error_guide = error_guide or (lambda error: "")
        self.lineages: list[Lineage] = []
        self.candidates: dict[str, Candidate] = {}
        self.results: dict[str, EvalResult] = {}  # this process's evaluations; older ones are in the trajectory
        self.unsaved_results: dict[tuple[str, str], EvalResult] = {}  # of steps cut short: (id, source) -> result
        self.waiting: list[ReplyPending] = []  # the requests paused lineages wait on
        self.start: Candidate | None = None
        self.stop_reason: str | None = None
        self.stop_kind: str | None = None
        self.last_failure: str | None = None  # why the last failed attempt failed, for a run that solves nothing
        self.overhead_s = 0.0
        self.steps = 0
        self._stop = threading.Event()
        self._interrupted = threading.Event()
        self._lock = threading.Lock()

    # --- the loop --------------------------------------------------------------------------------

    def run(self) -> None:
        """The lineages, side by side, until each ends or the run stops. Ctrl-C (a KeyboardInterrupt here, or
        the command's handler setting STOP) stops it without waiting for the steps in flight."""
        self.restore()
        try:
            if self.start_source is not None and self.start is None:
                try:
                    self.start = self.evaluate_start()
                except RunStopped as stop:
                    self.stopped(stop)
                    return
            self.run_lineages()
        except KeyboardInterrupt:
            self._interrupted.set()
        if self.interrupted:
            self.stopped(RunStopped(INTERRUPTED, "interrupted"))
            return
        self.save()

    def run_lineages(self) -> None:
        errors: list[BaseException] = []

        def run(lineage: Lineage) -> None:
            try:
                self.run_lineage(lineage)
            except BaseException as err:  # noqa: BLE001 - handed to the caller below
                errors.append(err)

        # daemon threads: a stop leaves a step in flight (an LLM call, an evaluation) instead of waiting for it
        threads = [threading.Thread(target=run, args=(lineage,), name=f"lineage-{lineage.index}", daemon=True)
                   for lineage in self.lineages]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive() and not self.interrupted:
                thread.join(0.1)  # short waits, so that Ctrl-C is handled at once
        if errors and not self.interrupted:
            raise errors[0]

    def run_lineage(self, lineage: Lineage) -> None:
        try:
            while lineage.round < self.config.rounds and not lineage.done and not self._stop.is_set():
                before = self.checkpoint(lineage)
                try:
                    self.step(lineage)
                except ReplyPending as pending:
                    self.pause(lineage, before, pending)
                    return
                if self.interrupted:
                    return  # a step finished after Ctrl-C is not saved: the state stays as the stop left it
                self.save()
        except RunStopped as stop:
            self.stopped(stop)

    def checkpoint(self, lineage: Lineage) -> tuple[dict[str, Any], set[str], str | None]:
        with self._lock:
            return lineage.to_dict(), set(self.candidates), self.last_failure

    def pause(self, lineage: Lineage, before: tuple[dict[str, Any], set[str], str | None],
              pending: ReplyPending) -> None:
        """A queued request has no reply yet: the step is undone (run again on resume, its evaluation kept for
        it) and the lineage waits; the others go on."""
        saved, candidate_ids, last_failure = before
        with self._lock:
            vars(lineage).update(vars(Lineage.from_dict(saved)))
            for candidate_id in set(self.candidates) - candidate_ids:
                del self.candidates[candidate_id]
            self.last_failure = last_failure
            self.waiting.append(pending)

    def stopped(self, stop: RunStopped) -> None:
        """The first stop's reason is the run's; every lineage ends at its next step."""
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason, self.stop_kind = str(stop), stop.kind
        self._stop.set()
        self.save()

    def step(self, lineage: Lineage) -> None:
        started, waited = time.perf_counter(), 0.0
        if self.start is not None and lineage.previous is None:
            lineage.previous, lineage.best = self.store.candidate_source(self.start.id), self.start
        if lineage.previous is not None and lineage.feedback is None and lineage.best is not None:
            waited += self.optimize(lineage, lineage.previous, self.result_of(lineage.best.id))
        messages = prompts.generation(self.context, lineage.previous, lineage.feedback)
        reply, spent = self.ask(lineage, "generate", messages)
        waited += spent
        try:
            source = extract_code(reply.text, (self.task.required_names or (self.task.entry_point,))[0])
        except FormatError as err:
            self.last_failure = f"the model's reply had no usable code: {err}"
            self.record(lineage, "format_error", {"message": str(err)})
            lineage.feedback = f"FAILED: your reply could not be used. {err}"
            self.failed(lineage)
        else:
            candidate, result, spent = self.evaluate(lineage, source)
            waited += spent
            if result.passed:
                self.passed(lineage, candidate)
                if not candidate.timed:
                    lineage.done = "verified; speed cannot be measured without a GPU, so no optimisation rounds"
                else:
                    waited += self.optimize(lineage, source, result)
            else:
                first_line = result.message.strip().splitlines()[0] if result.message.strip() else "no message"
                self.last_failure = f"candidate {candidate.id}: {result.status}: {first_line}"
                lineage.previous = source
                waited += self.reflect(lineage, source, result)
                self.failed(lineage)
        lineage.round += 1
        self.budget.count_round()
        with self._lock:
            self.steps += 1
            self.overhead_s += time.perf_counter() - started - waited
        if self.progress:
            self.progress.update(self)

    # --- the roles -------------------------------------------------------------------------------

    def evaluate(self, lineage: Lineage, source: str) -> tuple[Candidate, EvalResult, float]:
        candidate_id = f"L{lineage.index}-R{lineage.round}"
        started = time.perf_counter()
        candidate, result = self.judge(candidate_id, lineage, source)
        spent = time.perf_counter() - started
        with self._lock:
            self.candidates[candidate_id] = candidate
        lineage.history.append(candidate_id)
        return candidate, result, spent

    def judge(self, candidate_id: str, lineage: Lineage | None, source: str) -> tuple[Candidate, EvalResult]:
        """Evaluate `source` as candidate `candidate_id` (of no lineage: the start kernel): its source saved,
        its result kept and recorded."""
        self.check_stop()
        result = self.unsaved_results.pop((candidate_id, source), None)  # a step cut short after its evaluation
        if result is None:
            result = self.evaluator.evaluate(self.task, source, timeout_s=self.config.eval_timeout_s)
        index, round_ = (lineage.index, lineage.round) if lineage else (-1, -1)
        candidate = Candidate(candidate_id, index, round_, result.status, result.speedup, result.speedup_vs_torch,
                              timed=bool(result.perf), call_ok=result.call_ok)
        self.store.save_candidate(candidate_id, source)
        with self._lock:
            self.results[candidate_id] = result
        self.record(lineage, "evaluate", {"candidate": candidate_id, "source": source, "result": result.to_dict()})
        return candidate, result

    def reflect(self, lineage: Lineage, source: str, result: EvalResult) -> float:
        messages = prompts.reflection(self.context, source, result, self.error_guide(result.message))
        reply, spent = self.ask(lineage, "reflect", messages)
        lineage.feedback = (f"FAILED ({result.status}).\n{prompts.failure_report(result)}\n\n"
                            f"{prompts.REFLECTION_HEADING}\n{reply.text}")
        return spent

    def optimize(self, lineage: Lineage, source: str, result: EvalResult) -> float:
        reply, spent = self.ask(lineage, "optimize", prompts.optimization(self.context, source, result))
        lineage.previous = source
        lineage.feedback = (f"PASSED. Measurements:\n{prompts.performance_report(result)}\n\n"
                            f"{prompts.OPTIMIZATION_HEADING}\n{reply.text}")
        return spent

    def ask(self, lineage: Lineage, role: str, messages: list[dict[str, str]]) -> tuple[Any, float]:
        from tritonsmith.llm import BudgetExceeded, LLMError
        self.check_stop()
        started = time.perf_counter()
        params = {"temperature": self.config.temperature, "max_tokens": self.config.max_reply_tokens,
                  "cache_salt": f"lineage={lineage.index};round={lineage.round};role={role}"}
        worst = self.llm.worst_case_usd(messages, **params) if hasattr(self.llm, "worst_case_usd") else None
        try:
            self.budget.reserve(worst, self.config.model)
            try:
                reply = self.llm.complete(messages, **params)
            except BaseException:
                self.budget.release(worst)
                raise
            self.budget.charge(reply, reserved_usd=worst)
        except BudgetExceeded as err:
            raise RunStopped(str(err), "budget") from None
        except LLMError as err:
            raise RunStopped(str(err), "llm") from None
        event = {"messages": messages, "reply": reply.text, "tokens_in": reply.tokens_in, "tokens_out": reply.tokens_out,
                 "cost": reply.cost, "cached": reply.cached, "latency_s": round(reply.latency_s, 3)}
        if getattr(reply, "estimate_reason", None):  # a reply written by hand into a queue
            event["estimate_reason"] = reply.estimate_reason
        self.record(lineage, role, event)
        return reply, time.perf_counter() - started

    @property
    def interrupted(self) -> bool:
        """Ctrl-C: this process's (the command's handler set STOP) or a KeyboardInterrupt this run caught."""
        return STOP.is_set() or self._interrupted.is_set()

    def check_stop(self) -> None:
        """Nothing new starts once the run is stopping."""
        if self.interrupted:
            raise RunStopped(INTERRUPTED, "interrupted")
        if self._stop.is_set():
            raise RunStopped(self.stop_reason or "stopped", self.stop_kind or "llm")

    # --- the trap and the books ------------------------------------------------------------------

    def passed(self, lineage: Lineage, candidate: Candidate) -> None:
        lineage.failures_in_a_row = 0
        self.offer_best(lineage, candidate)

    @staticmethod
    def offer_best(lineage: Lineage, candidate: Candidate) -> None:
        """The lineage's best becomes `candidate` only if that is strictly faster."""
        if lineage.best is None or candidate.score() > lineage.best.score():
            lineage.best = candidate

    def failed(self, lineage: Lineage) -> None:
        """Debugging trap: T failed fixes in a row and the lineage restarts from the best verified kernel."""
        lineage.failures_in_a_row += 1
        if lineage.failures_in_a_row < self.config.trap:
            return
        best = self.best_candidate()
        lineage.failures_in_a_row = 0
        lineage.restarts += 1
        if best is not None and not best.timed:
            lineage.done = "stopped: a verified kernel exists and without a GPU there is no speed to improve"
        elif best is not None:  # the next step asks the Optimizer about the best kernel first
            lineage.previous, lineage.feedback = self.store.candidate_source(best.id), None
            self.offer_best(lineage, best)
        else:
            lineage.previous, lineage.feedback = None, None
        self.record(lineage, "trap", {"restart_from": best.id if best else None})

    def best_candidate(self) -> Candidate | None:
        with self._lock:
            verified = [c for c in self.candidates.values() if c.passed]
        return max(verified, key=lambda c: (c.score(), -c.round)) if verified else None

    def result_of(self, candidate_id: str) -> EvalResult:
        if candidate_id in self.results:
            return self.results[candidate_id]
        for event in reversed(self.store.trajectory()):  # a candidate evaluated before a resume
            if event.get("type") == "evaluate" and event.get("candidate") == candidate_id:
                return EvalResult.from_dict(event["result"])
        raise KeyError(candidate_id)

    def evaluate_start(self) -> Candidate:
        candidate, result = self.judge("start", None, self.start_source)
        if not result.passed:
            raise RunStopped(f"the kernel to optimise does not pass the evaluator ({result.status}): "
                             f"{result.message.splitlines()[0] if result.message else ''}", "start")
        self.candidates["start"] = candidate
        return candidate

    def record(self, lineage: Lineage | None, kind: str, payload: dict[str, Any]) -> None:
        self.store.append({"type": kind, "lineage": lineage.index if lineage else None,
                           "round": lineage.round if lineage else None, **payload})

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
        with self._lock:
            state = {"task": self.task.name, "lineages": [lin.to_dict() for lin in self.lineages],
                     "candidates": {cid: c.__dict__ for cid, c in self.candidates.items()},
                     "budget": self.budget.snapshot(), "stop_reason": self.stop_reason,
                     "last_failure": self.last_failure,
                     "overhead_s": self.overhead_s, "steps": self.steps}
        self.store.save_state(state)
