"""The geometric mean every speedup summary uses (per task over perf cases, per suite over tasks)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def geometric_mean(values: Iterable[float | None]) -> float | None:
    """Of the positive, finite values (others are not measurements); None when there are none."""
    kept = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not kept:
        return None
    return math.exp(math.fsum(math.log(v) for v in kept) / len(kept))
