"""The time budget of a search on an injected clock: what a measurement and a verification are expected to
take, whether one more fits, and the most each may take (a search measurement leaves room for one
verification; a verification may take what is left)."""

from __future__ import annotations

import math
from collections.abc import Callable


class Budget:
    def __init__(self, budget_s: float, clock: Callable[[], float], start: float, verify_factor: float):
        self.budget_s, self.clock, self.start = budget_s, clock, start
        self.verify_factor = verify_factor
        """A verification's expected duration in search measurements until one has run (1: the same evaluation)."""
        self.durations: list[float] = []  # of search measurements that passed
        self.verify_durations: list[float] = []

    def elapsed(self) -> float:
        return self.clock() - self.start

    def expected_measure(self) -> float:
        return max(self.durations[1:] or self.durations, default=0.0)

    def expected_verify(self) -> float:
        return max(self.verify_durations, default=self.verify_factor * self.expected_measure())

    def fits(self) -> bool:
        """Whether one more search measurement and one verification after it end within the budget."""
        return self.elapsed() + self.expected_measure() + self.expected_verify() <= self.budget_s

    def limit(self, phase: str) -> float | None:
        """The most a measurement in `phase` may take (None: no budget): a search measurement leaves room
        for one verification; a verification may take what is left."""
        if math.isinf(self.budget_s):
            return None
        reserve = 0.0 if phase == "verify" else self.expected_verify()
        return max(0.0, self.budget_s - self.elapsed() - reserve)

    def out_of_time(self) -> bool:
        left = self.limit("verify")
        return left is not None and left < 1.0

    def record(self, phase: str, status: str, duration: float) -> None:
        if phase == "verify":
            self.verify_durations.append(duration)
        elif status == "passed":  # a cut-off or failed one says nothing of how long the next will take
            self.durations.append(duration)
