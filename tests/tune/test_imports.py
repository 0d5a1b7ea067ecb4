"""tritonsmith.tune imports its parts on first use: searching and discovering load no evaluator."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import tritonsmith
import tritonsmith.tune as tune


def loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(Path(tritonsmith.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_tuner_loads_none_of_its_parts():
    modules = loaded_after("import tritonsmith.tune")
    assert {m for m in modules if m.startswith("tritonsmith.")} == {"tritonsmith.tune"}


def test_the_search_loads_no_evaluator_until_pool_measure_is_asked_for():
    modules = loaded_after("from tritonsmith.tune import TuneConfig, compare_strategies, discover, tune_kernel")
    assert not {m for m in modules if m.startswith(("tritonsmith.evaluate", "tritonsmith.tune.measure", "torch",
                                                     "triton."))}
    assert "tritonsmith.evaluate.pool" in loaded_after("from tritonsmith.tune import PoolMeasure")


def test_every_exported_name_resolves_to_its_home():
    for name in tune.__all__:
        home = importlib.import_module(f"tritonsmith.tune.{tune._MODULE_OF[name]}")
        assert getattr(tune, name) is getattr(home, name)
    assert tune.discover is tune.discovery.discover  # the function, not a module of the same name
    assert set(dir(tune)) >= set(tune.__all__)
