"""Interleaved GPU timing of candidate, baseline and PyTorch reference (runs in the worker).

Timer: triton.testing.do_bench (CUDA events around each call, L2 flushed by zeroing a 256 MB buffer
before every call, warm-up discarded, median of the reps). The three functions are timed in
rotating order for several rounds in one process, and each one's time is the median of its round
medians, so clock and thermal drift hit all three alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import triton.testing

TIMER = "triton.testing.do_bench(return_mode='median'), L2 flushed, interleaved rounds, median of round medians"
_do_bench = triton.testing.do_bench


def time_interleaved(functions: dict[str, Callable[[], object]], rounds: int = 5, warmup_ms: int = 25,
                     rep_ms: int = 100) -> dict[str, tuple[float, float]]:
    """name -> (median ms, relative spread of the round medians)."""
    names = list(functions)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(float(_do_bench(functions[name], warmup=warmup_ms, rep=rep_ms,
                                                 return_mode="median")))
    result = {}
    for name, values in samples.items():
        median = statistics.median(values)
        spread = (max(values) - min(values)) / median if median > 0 else 0.0
        result[name] = (median, spread)
    return result
