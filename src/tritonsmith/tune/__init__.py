"""Searching the launch parameters of a verified kernel; never what it computes. See docs/tune.md."""

from tritonsmith.tune.baselines import GRID_LIMIT, Grid, grid, grid_point
from tritonsmith.tune.discovery import discover
from tritonsmith.tune.knobs import Autotune, Discovery, DiscoveryError, KernelInfo, Knob, Span, Use
from tritonsmith.tune.measure import TUNE_TIMING, VERIFY_TIMING, PoolMeasure, geometric_mean_ms, relative_time
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

__all__ = ["GRID_LIMIT", "STRATEGIES", "TUNE_TIMING", "VERIFY_TIMING", "Autotune", "ConfigList", "Discovery", "DiscoveryError", "Grid",
           "KernelInfo", "Knob", "Limits", "Measure", "PoolMeasure", "Record", "RewriteError", "Scaled", "Space",
           "Span", "StrategyRow", "TableMeasure", "Trial", "TuneConfig", "TuneResult", "Use", "compare_strategies",
           "discover", "geometric_mean_ms", "grid", "grid_point", "parse_label", "relative_time", "render",
           "rows_table", "search_space", "table_from_trials", "tune_kernel"]
