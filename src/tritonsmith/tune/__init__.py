"""Searching the launch parameters of a verified kernel; never what it computes. See docs/tune.md."""

from tritonsmith.tune.discover import (
           Autotune,
           Discovery,
           DiscoveryError,
           KernelInfo,
           Knob,
           Span,
           Use,
           discover,
)
from tritonsmith.tune.measure import PoolMeasure, geometric_mean_ms
from tritonsmith.tune.rewrite import RewriteError, render
from tritonsmith.tune.search import Measure, Trial, TuneConfig, TuneResult, tune_kernel
from tritonsmith.tune.space import ConfigList, Limits, Scaled, Space, search_space

__all__ = ["Autotune", "ConfigList", "Discovery", "DiscoveryError", "KernelInfo", "Knob", "Limits", "Measure",
           "PoolMeasure", "RewriteError", "Scaled", "Space", "Span", "Trial", "TuneConfig", "TuneResult", "Use",
           "discover", "geometric_mean_ms", "render", "search_space", "tune_kernel"]
