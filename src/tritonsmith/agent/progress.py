"""The live progress display: lineages, round, best speedup and spend, on stderr."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    def __init__(self, config: Any, quiet: bool = False, stream: Any = None):
        self.config = config
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self._width = 0

    def update(self, ledger: Any) -> None:
        if self.quiet:
            return
        line = self.line(ledger)
        if self.live:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def line(self, ledger: Any) -> str:
        lineages = []
        for lineage in ledger.lineages:
            latest = ledger.candidates.get(lineage.history[-1]) if lineage.history else None
            last = latest.status if latest is not None else "-"  # None: a step a queued request just undid
            mark = "done" if lineage.done else f"r{lineage.round}/{self.config.rounds}"
            lineages.append(f"L{lineage.index} {mark} {last}")
        best = ledger.best_candidate()
        best_text = "none" if best is None else (f"{best.score():.2f}x" if best.timed else "verified")
        spent = ledger.budget.snapshot()["spent"]
        cost = f"${spent['usd']:.3f}" + ("+?" if spent.get("unpriced_calls") else "")
        elapsed = int(time.monotonic() - self.started)
        return (f"[{' | '.join(lineages)}] best {best_text}  {cost}  {spent.get('tokens', 0)} tok  "
                f"{elapsed // 60:02d}:{elapsed % 60:02d}")

    def close(self) -> None:
        if self.live and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
