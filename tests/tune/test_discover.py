"""Parameter discovery on kernels written in different styles, read with ast only."""

from __future__ import annotations

import time

import pytest

from tritonsmith.suites import load_suite, resolve_task
from tritonsmith.tune import DiscoveryError, discover


def tunable_summary(discovery):
    return sorted((k.param, k.origin, k.value) for k in discovery.tunable)


def test_wrapper_variable_and_launch_num_warps(kernel, knob):
    found = discover(kernel("wrapper_literal"))
    assert tunable_summary(found) == [("BLOCK", "literal", 1024), ("num_warps", "literal", 4)]
    block = knob(found, param="BLOCK")
    assert block.variable == "BLOCK" and block.role == "block" and block.power_of_two
    assert block.grid_dependent and block.expression == "1024" and len(block.spans) == 1
    warps = knob(found, param="num_warps")
    assert not warps.grid_dependent and warps.kernels == ("_add_kernel",)
    info = found.kernel("_add_kernel")
    assert info.block_params == ("BLOCK",) and not info.uses_dot and not info.has_loop and info.launches == (18,)


def test_inline_launch_literal_is_tied_to_the_grid_and_absent_num_warps_is_the_default(kernel, knob):
    source = kernel("launch_literal")
    found = discover(source)
    block = knob(found, param="BLOCK")
    assert block.origin == "literal" and block.value == 256 and block.grid_dependent
    launch, grid = block.spans
    lines = source.splitlines()
    assert lines[launch.line - 1][launch.col:launch.end_col] == "256"
    assert lines[grid.line - 1][grid.col:grid.end_col] == "256" and grid.col < launch.col  # cdiv(n, 256)
    warps = knob(found, param="num_warps")
    assert warps.origin == "default" and warps.value == 4 and warps.expression == "" and warps.tunable
    assert not any(k.param == "num_stages" for k in found.knobs)  # no loop: no num_stages knob to add


def test_module_constant_passed_positionally_and_conditional_num_warps(kernel, knob):
    found = discover(kernel("module_constant"))
    block = knob(found, param="BLOCK")
    assert block.variable == "BLOCK_SIZE" and block.value == 512 and block.line == 6
    assert block.grid_dependent  # grid = (triton.cdiv(n, BLOCK_SIZE),) through a local variable
    assert sorted(k.value for k in found.knobs if k.param == "num_warps") == [4, 8]  # each branch of the IfExp


def test_existing_autotune_configs(kernel, knob):
    found = discover(kernel("autotune_list"))
    autotune = found.kernel("_add_kernel").autotune
    assert autotune.configs == ({"BLOCK": 128, "num_warps": 4, "num_stages": 2},
                                {"BLOCK": 256, "num_warps": 4, "num_stages": 3},
                                {"BLOCK": 512, "num_warps": 8, "num_stages": 3})
    assert autotune.params == ("BLOCK", "num_warps", "num_stages") and not autotune.opaque
    block = knob(found, id="_add_kernel.BLOCK")
    assert block.origin == "autotune" and block.choices == (128, 256, 512) and block.grid_dependent  # META["BLOCK"]
    assert knob(found, id="_add_kernel.num_stages").tunable  # the kernel loops
    assert knob(found, id="_add_kernel.num_warps").choices == (4, 8)
    assert all(k.origin == "autotune" for k in found.knobs)  # the launch itself sets nothing


def test_autotune_configs_from_a_comprehension_under_a_module_name(kernel, knob):
    source = kernel("autotune_comprehension")
    found = discover(source)
    autotune = found.kernel("_add_kernel").autotune
    assert [(c["BLOCK"], c["num_warps"]) for c in autotune.configs] == [(256, 2), (256, 4), (1024, 2), (1024, 4)]
    assert source.splitlines()[autotune.span.line - 1].startswith("CONFIGS = [triton.Config(")
    stages = knob(found, id="_add_kernel.num_stages")
    assert not stages.tunable and "no loop" in stages.reason


def test_block_size_from_a_heuristic_function(kernel, knob):
    found = discover(kernel("heuristics"))
    block = knob(found, param="BLOCK")
    assert block.origin == "heuristic" and block.tunable and block.grid_dependent
    assert block.expression == 'min(2048, triton.next_power_of_2(args["n"]))'
    even = knob(found, param="EVEN")
    assert not even.tunable and even.reason == "a flag"
    assert knob(found, param="num_warps").value == 4
    assert found.kernel("_add_kernel").heuristics == ("BLOCK", "EVEN")


def test_two_kernels_share_a_variable_through_a_helper(kernel, knob):
    found = discover(kernel("two_kernels"))
    block = knob(found, variable="block")
    assert {(u.kernel, u.param) for u in block.uses} == {("_copy_kernel", "BLOCK"), ("_accumulate_kernel", "TILE")}
    assert found.kernel("_accumulate_kernel").block_params == ("TILE",)  # its tl.arange is in _block_offsets
    assert block.tunable and block.grid_dependent and block.power_of_two
    alpha = knob(found, param="ALPHA")
    assert not alpha.tunable and "could change what the kernel computes" in alpha.reason
    copy_warps = knob(found, param="num_warps", origin="literal")
    accumulate_warps = knob(found, param="num_warps", origin="default")
    assert copy_warps.kernels == ("_copy_kernel",) and accumulate_warps.kernels == ("_accumulate_kernel",)


def test_dot_kernel_with_tiles_per_branch(kernel, knob):
    found = discover(kernel("matmul_branches"))
    info = found.kernel("_matmul_kernel")
    assert info.uses_dot and info.has_loop and info.block_params == ("BLOCK_M", "BLOCK_N", "BLOCK_K")
    small = {k.param: k.value for k in found.tunable if k.branch and k.branch.endswith(":body")}
    large = {k.param: k.value for k in found.tunable if k.branch and k.branch.endswith(":else")}
    assert small == {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 4, "num_stages": 4}
    assert large == {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "num_warps": 8, "num_stages": 3}
    assert knob(found, param="GROUP_M").role == "group"
    assert knob(found, param="BLOCK_M", value=128).grid_dependent
    assert not knob(found, param="BLOCK_K", value=64).grid_dependent
    assert all(k.dot and k.loop for k in found.tunable)
    k_dim = knob(found, param="K")
    assert not k_dim.tunable and k_dim.origin == "input" and "inputs" in k_dim.reason
    assert knob(found, param="EVEN_K").reason == "a flag"
    assert [k.role for k in found.tunable][:6] == ["block"] * 6  # block sizes are searched first


def test_every_builtin_baseline_is_understood():
    for task in load_suite("builtin"):
        found = discover(task.baseline)
        assert found.kernels and found.tunable, task.id
        for knob in found.knobs:
            assert knob.spans and (knob.tunable or knob.reason), (task.id, knob)


def test_softmax_baseline_whole_row_block_is_left_alone(knob):
    found = discover(resolve_task("softmax").baseline)
    whole_row = knob(found, param="BLOCK_N")
    assert not whole_row.tunable and "cover a whole dimension" in whole_row.reason
    rows = knob(found, param="BLOCK_M")
    assert rows.tunable and rows.origin == "rule" and rows.value is None
    assert sorted(k.value for k in found.knobs if k.param == "num_warps") == [4, 8, 16]


def test_describe_and_errors(kernel):
    text = discover(kernel("two_kernels")).describe()
    assert "kernel _accumulate_kernel" in text and "not tuned: ALPHA" in text and "grid reads it" in text
    with pytest.raises(DiscoveryError, match="not valid Python"):
        discover("def broken(:\n")


@pytest.mark.parametrize("configs", ["[triton.Config({'BLOCK': 2 ** 10 ** 10})]",
                                     "[triton.Config({'BLOCK': b}) for b in range(10 ** 60)]",
                                     "[triton.Config({'BLOCK': b}) for b in range(1.5)]"])
def test_autotune_configs_too_big_or_odd_to_read_are_opaque_at_once(kernel, configs):
    """The configs are candidate code read without running it: arithmetic and ranges are bounded, so a huge
    one is reported as unreadable instead of hanging the tuner."""
    source = kernel("autotune_comprehension")
    old = source[source.index("CONFIGS = ["):source.index("\n", source.index("CONFIGS = ["))]
    source = source.replace(old, f"CONFIGS = {configs}")
    started = time.monotonic()
    found = discover(source)
    assert time.monotonic() - started < 10
    assert found.kernel("_add_kernel").autotune.opaque
