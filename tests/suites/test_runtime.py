"""The runtime's module loading (suites/runtime, over util/modules.py): what the generated task files call to load
the gold code and KernelBench's problems."""

from __future__ import annotations

import sys

import pytest

from tritonsmith.suites.runtime import load_gold, load_module


def test_a_module_is_registered_while_it_runs_and_taken_out_if_it_fails(tmp_path):
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text("import sys\nSEEN = __name__ in sys.modules\n")
    bad.write_text("raise RuntimeError('broken gold')\n")
    try:
        assert load_module("tritonsmith_test_good", str(good)).SEEN is True
        assert load_module("tritonsmith_test_quiet", str(good), register=False).SEEN is False
        assert "tritonsmith_test_quiet" not in sys.modules
        with pytest.raises(RuntimeError, match="broken gold"):
            load_module("tritonsmith_test_bad", str(bad))
        assert "tritonsmith_test_bad" not in sys.modules
    finally:
        sys.modules.pop("tritonsmith_test_good", None)


def test_the_gold_code_is_loaded_once_per_process_and_each_load_module_is_fresh(tmp_path):
    path = tmp_path / "gold.py"
    path.write_text("VALUE = object()\n")
    try:
        first = load_gold("tritonsmith_test_gold", str(path))
        assert load_gold("tritonsmith_test_gold", str(path)) is first
        assert load_module("tritonsmith_test_gold", str(path)).VALUE is not first.VALUE
    finally:
        sys.modules.pop("tritonsmith_test_gold", None)
