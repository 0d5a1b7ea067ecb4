"""The agent loop: generate, evaluate, reflect or optimise, record; K lineages side by side.

Every way out of a lineage is explicit: rounds used up, the lineage finished early (verified with no
GPU to optimise on), the run stopped (RunStopped: a budget reached, an LLM call that cannot be made), or the
lineage paused on a queued request with no reply yet (ReplyPending: its step is undone, the others go on).
The parts live elsewhere: the model's roles in roles.py, the books and resume in ledger.py, the trap in trap.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tritonsmith.agent import prompts
from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.ledger import Ledger
from tritonsmith.agent.lineage import Candidate, Lineage
from tritonsmith.agent.parse import FormatError, extract_code
from tritonsmith.agent.roles import Roles
from tritonsmith.agent.stops import INTERRUPTED, RunStopped
from tritonsmith.agent.store import RunStore
from tritonsmith.agent.trap import after_failure
from tritonsmith.evaluate.result import EvalResult
from tritonsmith.interrupt import STOP
from tritonsmith.llm.errors import ReplyPending
from tritonsmith.task import Task

UNTIMED = "verified; speed cannot be measured without a GPU, so no optimisation rounds"


class Agent:
    def __init__(self, task: Task, config: RunConfig, llm: Any, budget: Any, evaluator: Any, store: RunStore,
                 context: prompts.Context, start_source: str | None = None, progress: Any = None,
                 error_guide: Callable[[str], str] | None = None):
        self.task, self.config, self.start_source, self.progress = task, config, start_source, progress
        self.ledger = Ledger(task, config, evaluator, store, budget)
        self.roles = Roles(config, llm, budget, context, error_guide or (lambda error: ""), self.ledger.record,
                           self.check_stop)
        self._stop = threading.Event()
        self._interrupted = threading.Event()

    def search(self) -> None:
        """The lineages, side by side, until each ends or the run stops. Ctrl-C (a KeyboardInterrupt here, or
        the command's handler setting STOP) stops it without waiting for the steps in flight."""
        self.ledger.restore()
        try:
            if self.start_source is not None and self.ledger.start is None:
                try:
                    self.ledger.start = self.evaluate_start()
                except RunStopped as stop:
                    self.stopped(stop)
                    return
            self.follow_all()
        except KeyboardInterrupt:
            self._interrupted.set()
        if self.interrupted:
            self.stopped(RunStopped(INTERRUPTED, "interrupted"))
            return
        self.ledger.save()

    def follow_all(self) -> None:
        errors: list[BaseException] = []

        def follow(lineage: Lineage) -> None:
            try:
                self.follow(lineage)
            except BaseException as err:  # noqa: BLE001 - handed to the caller below
                errors.append(err)

        # daemon threads: a stop leaves a step in flight (an LLM call, an evaluation) instead of waiting for it
        threads = [threading.Thread(target=follow, args=(lineage,), name=f"lineage-{lineage.index}", daemon=True)
                   for lineage in self.ledger.lineages]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive() and not self.interrupted:
                thread.join(0.1)  # short waits, so that Ctrl-C is handled at once
        if errors and not self.interrupted:
            raise errors[0]

    def follow(self, lineage: Lineage) -> None:
        """One lineage's steps, each saved, until its rounds are used up, it ends, or the run stops."""
        try:
            while lineage.round < self.config.rounds and not lineage.done and not self._stop.is_set():
                before = self.ledger.checkpoint(lineage)
                try:
                    self.step(lineage)
                except ReplyPending as pending:
                    self.ledger.undo(lineage, before, pending)
                    return
                if self.interrupted:
                    return  # a step finished after Ctrl-C is not saved: the state stays as the stop left it
                self.ledger.save()
        except RunStopped as stop:
            self.stopped(stop)

    def step(self, lineage: Lineage) -> None:
        """One round: generate, then evaluate and reflect or optimise; the seconds the model and the evaluator
        took are not the agent's overhead."""
        started = time.perf_counter()
        waited = self.optimize_best(lineage)
        reply, spent = self.roles.generate(lineage)
        waited += spent + self.execute(lineage, reply.text)
        self.ledger.count_step(lineage, time.perf_counter() - started - waited)
        if self.progress:
            self.progress.update(self.ledger)

    def optimize_best(self, lineage: Lineage) -> float:
        """A lineage that starts from a kernel (the start kernel, or the best after a trap restart) first asks
        the Optimizer about it."""
        ledger = self.ledger
        if ledger.start is not None and lineage.previous is None:
            lineage.previous, lineage.best = ledger.store.candidate_source(ledger.start.id), ledger.start
        if lineage.previous is not None and lineage.feedback is None and lineage.best is not None:
            return self.roles.optimize(lineage, lineage.previous, ledger.result_of(lineage.best.id))
        return 0.0

    def execute(self, lineage: Lineage, reply: str) -> float:
        """The reply's kernel evaluated, then the Reflector (failed) or the Optimizer (passed, timed)."""
        try:
            source = extract_code(reply, (self.task.required_names or (self.task.entry_point,))[0])
        except FormatError as err:
            self.ledger.note_failure(lineage, f"the model's reply had no usable code: {err}")
            self.ledger.record(lineage, "format_error", {"message": str(err)})
            lineage.feedback = f"FAILED: your reply could not be used. {err}"
            after_failure(lineage, self.ledger, self.config.trap)
            return 0.0
        candidate, result, waited = self.evaluate(lineage, source)
        if result.passed:
            lineage.failures_in_a_row = 0
            lineage.offer(candidate)
            if not candidate.timed:
                lineage.stop_reason = UNTIMED
                return waited
            return waited + self.roles.optimize(lineage, source, result)
        first_line = result.message.strip().splitlines()[0] if result.message.strip() else "no message"
        self.ledger.note_failure(lineage, f"candidate {candidate.id}: {result.status}: {first_line}")
        lineage.previous = source
        waited += self.roles.reflect(lineage, source, result)
        after_failure(lineage, self.ledger, self.config.trap)
        return waited

    def evaluate(self, lineage: Lineage, source: str) -> tuple[Candidate, EvalResult, float]:
        self.check_stop()
        started = time.perf_counter()
        candidate, result = self.ledger.judge(f"L{lineage.index}-R{lineage.round}", lineage, source)
        spent = time.perf_counter() - started
        self.ledger.add(candidate)
        lineage.history.append(candidate.id)
        return candidate, result, spent

    def evaluate_start(self) -> Candidate:
        self.check_stop()
        candidate, result = self.ledger.judge("start", None, self.start_source)
        if not result.passed:
            raise RunStopped(f"the kernel to optimise does not pass the evaluator ({result.status}): "
                             f"{result.message.splitlines()[0] if result.message else ''}", "start")
        self.ledger.add(candidate)
        return candidate

    def stopped(self, stop: RunStopped) -> None:
        """The first stop's reason is the run's; every lineage ends at its next step."""
        self.ledger.note_stop(str(stop), stop.kind)
        self._stop.set()
        self.ledger.save()

    @property
    def interrupted(self) -> bool:
        """Ctrl-C: this process's (the command's handler set STOP) or a KeyboardInterrupt this run caught."""
        return STOP.is_set() or self._interrupted.is_set()

    def check_stop(self) -> None:
        """Nothing new starts once the run is stopping."""
        if self.interrupted:
            raise RunStopped(INTERRUPTED, "interrupted")
        if self._stop.is_set():
            raise RunStopped(self.ledger.stop_reason or "stopped", self.ledger.stop_kind or "llm")
