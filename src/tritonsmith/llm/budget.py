"""Budgets: rounds, tokens, dollars and wall time, each with an optional limit and each recorded."""

from __future__ import annotations

import threading
import time

from .errors import BudgetExceeded, LLMError
from .reply import Reply


class Budget:
    """What a run may spend and what it has spent. Thread-safe: lineages charge it concurrently.

    `charge` records a reply (a cached reply spends nothing and is only counted), `count_round`
    a round, `check` raises BudgetExceeded once any limit is reached. `reserve` checks and holds a
    call's worst-case price until `charge` or `release`, so calls in flight together never take
    the spend past the dollar limit. The wall clock runs from construction; `snapshot()` and
    `Budget.from_snapshot()` carry everything across a resume, and `restore_spending` takes what
    was spent from the run's ledger (the reply cache), which also knows the calls a kill cut off.
    """

    def __init__(self, max_rounds: int | None = None, max_tokens: int | None = None,
                 max_usd: float | None = None, max_wall_s: float | None = None):
        self.max_rounds = max_rounds
        self.max_tokens = max_tokens
        self.max_usd = max_usd
        self.max_wall_s = max_wall_s
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._wall_before = 0.0  # wall time spent before a resume
        self.rounds = 0
        self.calls = 0
        self.cached_calls = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.usd = 0.0
        self.unpriced_calls = 0  # calls whose price was unknown: `usd` is then a lower bound
        self.unpriced_models: set[str] = set()
        self.estimated_calls = 0  # replies whose tokens are estimates (written by hand into a queue)
        self.interrupted_calls = 0  # calls a kill cut off: tokens unknown, counted at their worst-case price
        self.reserved_usd = 0.0  # worst-case prices of the calls in flight

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    @property
    def wall_s(self) -> float:
        return self._wall_before + (time.monotonic() - self._started)

    def reserve(self, worst_case_usd: float | None, model: str = "the model") -> None:
        """`check`, then hold a call's worst-case price (None: unknown) until `charge` or `release`.
        Raises BudgetExceeded if the call could take the spend past the dollar limit."""
        with self._lock:
            if self.max_usd is not None:
                if worst_case_usd is None:
                    raise LLMError(unknown_price(model))
                if self.usd + self.reserved_usd + worst_case_usd > self.max_usd:
                    in_flight = f" (+${self.reserved_usd:.4f} in flight)" if self.reserved_usd else ""
                    raise BudgetExceeded(
                        f"dollar limit reached: ${self.usd:.4f} spent{in_flight}, and the next call could cost up "
                        f"to ${worst_case_usd:.4f}, which the limit of ${self.max_usd:.2f} does not leave",
                        limit="usd")
            self.reserved_usd += worst_case_usd or 0.0
        try:
            self.check()
        except LLMError:
            self.release(worst_case_usd)
            raise

    def release(self, worst_case_usd: float | None) -> None:
        """Give back a reservation whose call ended without a reply."""
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - (worst_case_usd or 0.0))

    def restore_spending(self, ledger: dict) -> None:
        """Take calls, tokens and dollars from the run's ledger (`ReplyCache.recorded_spend()`), which knows
        calls a snapshot taken before a kill does not: those recorded after it, and those cut off."""
        with self._lock:
            self.calls = ledger["calls"]
            self.tokens_in, self.tokens_out = ledger["tokens_in"], ledger["tokens_out"]
            self.usd = ledger["usd"]
            self.unpriced_calls = ledger["unpriced_calls"]
            self.unpriced_models = set(ledger["unpriced_models"])
            self.interrupted_calls = ledger.get("interrupted_calls", 0)
            self.estimated_calls = ledger.get("estimated_calls", 0)

    def charge(self, reply: Reply, reserved_usd: float | None = None) -> None:
        """Record one reply's tokens and cost, releasing its reservation; a cached reply costs nothing."""
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - (reserved_usd or 0.0))
            if reply.cached:
                self.cached_calls += 1
                return
            self.calls += 1
            self.tokens_in += reply.tokens_in
            self.tokens_out += reply.tokens_out
            self.estimated_calls += reply.estimate_reason is not None
            if reply.cost is None:
                self.unpriced_calls += 1
                self.unpriced_models.add(reply.model)
            else:
                self.usd += reply.cost

    def count_round(self) -> None:
        with self._lock:
            self.rounds += 1

    def check(self) -> None:
        """Raise BudgetExceeded naming the first limit reached, if any."""
        with self._lock:
            if self.max_rounds is not None and self.rounds >= self.max_rounds:
                raise BudgetExceeded(f"round limit reached: {self.rounds} of {self.max_rounds}", limit="rounds")
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                raise BudgetExceeded(f"token limit reached: {self.tokens:,} of {self.max_tokens:,}",
                                     limit="tokens")
            if self.max_usd is not None:
                if self.unpriced_calls:
                    raise LLMError(unknown_price(", ".join(sorted(self.unpriced_models))))
                if self.usd >= self.max_usd:
                    raise BudgetExceeded(f"dollar limit reached: ${self.usd:.4f} of ${self.max_usd:.2f}",
                                         limit="usd")
            wall_s = self.wall_s
            if self.max_wall_s is not None and wall_s >= self.max_wall_s:
                raise BudgetExceeded(f"wall-time limit reached: {wall_s:.1f} s of {self.max_wall_s:g} s",
                                     limit="wall_s")

    def snapshot(self) -> dict:
        """Limits and spending as plain data, for summaries and for resuming."""
        with self._lock:
            return {
                "limits": {"rounds": self.max_rounds, "tokens": self.max_tokens,
                           "usd": self.max_usd, "wall_s": self.max_wall_s},
                "spent": {"rounds": self.rounds, "calls": self.calls, "cached_calls": self.cached_calls,
                          "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "tokens": self.tokens,
                          "usd": self.usd, "unpriced_calls": self.unpriced_calls,
                          "unpriced_models": sorted(self.unpriced_models),
                          "estimated_calls": self.estimated_calls, "interrupted_calls": self.interrupted_calls,
                          "wall_s": self.wall_s},
            }

    @classmethod
    def from_snapshot(cls, snapshot: dict) -> Budget:
        """A budget that goes on from a snapshot: same limits, spending so far, wall clock running."""
        limits, spent = snapshot["limits"], snapshot["spent"]
        budget = cls(max_rounds=limits.get("rounds"), max_tokens=limits.get("tokens"),
                     max_usd=limits.get("usd"), max_wall_s=limits.get("wall_s"))
        budget.rounds = spent.get("rounds", 0)
        budget.calls = spent.get("calls", 0)
        budget.cached_calls = spent.get("cached_calls", 0)
        budget.tokens_in = spent.get("tokens_in", 0)
        budget.tokens_out = spent.get("tokens_out", 0)
        budget.usd = spent.get("usd", 0.0)
        budget.unpriced_calls = spent.get("unpriced_calls", 0)
        budget.unpriced_models = set(spent.get("unpriced_models", ()))
        budget.interrupted_calls = spent.get("interrupted_calls", 0)
        budget.estimated_calls = spent.get("estimated_calls", 0)
        budget._wall_before = spent.get("wall_s", 0.0)
        return budget


def unknown_price(model: str) -> str:
    """Why a dollar limit cannot be kept with `model`, and the two ways on (as a command line and a config
    file name them; make_llm's price_per_mtok and Budget's max_usd are the same settings)."""
    return (f"The dollar limit cannot be kept because the price of {model} is unknown: give it in USD per "
            "million input and output tokens (--price-per-mtok IN,OUT, or price_per_mtok: [IN, OUT] in a config), "
            "or drop the dollar limit (--budget-usd, budget_usd).")
