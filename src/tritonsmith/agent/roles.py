"""The roles the model plays: Generator, Reflector, Optimizer. Each call is reserved against the budget,
recorded in the trajectory, and returns the seconds it waited (which are not the agent's own overhead)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tritonsmith.agent import prompts
from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.lineage import Lineage
from tritonsmith.agent.stops import RunStopped
from tritonsmith.evaluate.result import EvalResult


class Roles:
    def __init__(self, config: RunConfig, llm: Any, budget: Any, context: prompts.Context,
                 error_guide: Callable[[str], str], record: Callable[..., None], check_stop: Callable[[], None]):
        self.config, self.llm, self.budget, self.context = config, llm, budget, context
        self.error_guide, self.record, self.check_stop = error_guide, record, check_stop

    def generate(self, lineage: Lineage) -> tuple[Any, float]:
        """The Generator: a kernel built on the lineage's previous one and its feedback (none: from scratch)."""
        return self.ask(lineage, "generate", prompts.generation(self.context, lineage.previous, lineage.feedback))

    def reflect(self, lineage: Lineage, source: str, result: EvalResult) -> float:
        """The Reflector: why `source` failed and what to fix, as the lineage's next feedback."""
        messages = prompts.reflection(self.context, source, result, self.error_guide(result.message))
        reply, spent = self.ask(lineage, "reflect", messages)
        lineage.feedback = (f"FAILED ({result.status}).\n{prompts.failure_report(result)}\n\n"
                            f"{prompts.REFLECTION_HEADING}\n{reply.text}")
        return spent

    def optimize(self, lineage: Lineage, source: str, result: EvalResult) -> float:
        """The Optimizer: how to make the verified `source` faster, as the lineage's next feedback."""
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
