"""tritonsmith.tune imports its parts on first use: searching and discovering load no evaluator."""

from __future__ import annotations

import importlib

from conftest import modules_loaded_after

import tritonsmith.tune as tune


def test_importing_the_tuner_loads_none_of_its_parts():
    modules = modules_loaded_after("import tritonsmith.tune")
    assert {m for m in modules if m.startswith("tritonsmith.")} == {"tritonsmith.tune"}


def test_the_search_loads_no_evaluator_until_pool_measure_is_asked_for():
    modules = modules_loaded_after("from tritonsmith.tune import TuneConfig, compare_strategies, discover, tune_kernel")
    assert not {m for m in modules if m.startswith(("tritonsmith.evaluate", "tritonsmith.tune.measure", "torch",
                                                     "triton."))}
    assert "tritonsmith.evaluate.pool" in modules_loaded_after("from tritonsmith.tune import PoolMeasure")


def test_every_exported_name_resolves_to_its_home():
    for name in tune.__all__:
        home = importlib.import_module(f"tritonsmith.tune.{tune._MODULE_OF[name]}")
        assert getattr(tune, name) is getattr(home, name)
    assert tune.discover is tune.discovery.discover  # the function, not a module of the same name
    assert set(dir(tune)) >= set(tune.__all__)
