"""What a search is asked to do: its margins, phases, finalists, limits and strategy (`TuneConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

STRATEGIES = ("coarse-to-fine", "random", "exhaustive")


@dataclass
class TuneConfig:
    min_gain: float = 0.01
    """A configuration replaces the incumbent only if it is this much faster: the evaluator's per-task
    self-speedup stayed within 0.990-1.007 on an H100 (docs/benchmarks.md)."""
    min_gain_compute: float = 0.03
    """The same for sources with a tl.dot kernel: compute-bound timings spread more (docs/benchmarks.md)."""
    coarse_passes: int = 2
    """Sweeps over the knobs one at a time; another sweep runs only if the last one moved the incumbent."""
    fine_knobs: int = 4
    """The fine phase pairs moves among this many knobs, those whose sweep changed the time most
    (by more than the gain margin)."""
    fine_moves: int = 4
    """Most moves of the hill climb in the fine phase."""
    finalists: int = 3
    """Best configurations re-verified, fastest first, until one passes."""
    verify_factor: float = 1.75
    """A verification's expected duration, in search measurements (the longest so far), until one has run,
    when `verify` is a longer evaluation than `measure`: with VERIFY_TIMING, 0.93-1.63x on the whole built-in
    suite on an H200, and 1.5 cut off rmsnorm_backward's verification (docs/benchmarks.md). Too low, and a
    verification the budget cuts off loses the search's find; too high, and the search stops early."""
    autotune_keep: int = 3
    """Best points of an autotuned kernel kept in a pruned config list, tried as one more finalist."""
    max_trials: int | None = None
    """Most measurements in the search (None: the time budget alone decides)."""
    strategy: str = "coarse-to-fine"
    """How the space is searched: "coarse-to-fine" (seeds, sweeps, pairwise moves), or a baseline to compare
    it with: "random" (uniformly random feasible grid points, none twice) or "exhaustive" (every feasible grid
    point in order; at most GRID_LIMIT points)."""
    seed: int = 0
    """The random strategy's seed: the same seed gives the same order."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown search strategy {self.strategy!r}: one of {', '.join(STRATEGIES)}")
