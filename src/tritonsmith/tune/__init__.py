"""Searching the launch parameters of a verified kernel; never what it computes. See docs/tune.md.

The names below are imported on first use (PEP 562), so that importing one part (the report reads
tune/label.py) never loads the others: PoolMeasure's module imports the evaluator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "baselines": ("GRID_LIMIT", "Grid", "grid", "grid_point"),
    "discovery": ("discover",),
    "knobs": ("Autotune", "Discovery", "DiscoveryError", "KernelInfo", "Knob", "Span", "Use"),
    "label": ("config_label",),
    "measure": ("TUNE_TIMING", "VERIFY_TIMING", "PoolMeasure", "geometric_mean_ms", "relative_time"),
    "replay": ("Record", "StrategyRow", "TableMeasure", "compare_strategies", "parse_label", "rows_table",
               "table_from_trials"),
    "result": ("Trial", "TuneResult"),
    "rewrite": ("RewriteError", "render"),
    "search": ("tune_kernel",),
    "settings": ("STRATEGIES", "TuneConfig"),
    "space": ("ConfigList", "Limits", "Scaled", "Space", "search_space"),
    "trials": ("Measure",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = ["GRID_LIMIT", "STRATEGIES", "TUNE_TIMING", "VERIFY_TIMING", "Autotune", "ConfigList", "Discovery",
           "DiscoveryError", "Grid", "KernelInfo", "Knob", "Limits", "Measure", "PoolMeasure", "Record",
           "RewriteError", "Scaled", "Space", "Span", "StrategyRow", "TableMeasure", "Trial", "TuneConfig",
           "TuneResult", "Use", "compare_strategies", "config_label", "discover", "geometric_mean_ms", "grid",
           "grid_point", "parse_label", "relative_time", "render", "rows_table", "search_space",
           "table_from_trials", "tune_kernel"]

if TYPE_CHECKING:
    from tritonsmith.tune.baselines import GRID_LIMIT, Grid, grid, grid_point
    from tritonsmith.tune.discovery import discover
    from tritonsmith.tune.knobs import Autotune, Discovery, DiscoveryError, KernelInfo, Knob, Span, Use
    from tritonsmith.tune.label import config_label
    from tritonsmith.tune.measure import (
        TUNE_TIMING,
        VERIFY_TIMING,
        PoolMeasure,
        geometric_mean_ms,
        relative_time,
    )
    from tritonsmith.tune.replay import (
        Record,
        StrategyRow,
        TableMeasure,
        compare_strategies,
        parse_label,
        rows_table,
        table_from_trials,
    )
    from tritonsmith.tune.result import Trial, TuneResult
    from tritonsmith.tune.rewrite import RewriteError, render
    from tritonsmith.tune.search import tune_kernel
    from tritonsmith.tune.settings import STRATEGIES, TuneConfig
    from tritonsmith.tune.space import ConfigList, Limits, Scaled, Space, search_space
    from tritonsmith.tune.trials import Measure


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
