"""Rewriting launch parameters: the text that changes, and rewritten kernels still pass the CPU evaluator."""

from __future__ import annotations

import pytest

from tritonsmith.suites import resolve_task
from tritonsmith.tune import ConfigList, RewriteError, Scaled, discover, render

from .conftest import KERNELS, find


def source_of(name: str) -> str:
    """A kernel file in kernels/, or a built-in task's baseline (builtin:ID)."""
    if name.startswith("builtin:"):
        return resolve_task(name.split(":", 1)[1]).baseline
    return (KERNELS / f"{name}.py").read_text()


def test_no_configuration_changes_nothing(kernel):
    source = kernel("matmul_branches")
    assert render(source, discover(source), {}) == source


def test_launch_literal_changes_with_its_grid_and_a_default_is_added(kernel, knob):
    source = kernel("launch_literal")
    found = discover(source)
    text = render(source, found, {knob(found, param="BLOCK").id: 64, knob(found, param="num_warps").id: 8})
    assert "_add_kernel[(triton.cdiv(n, 64),)](x, y, out, n, BLOCK=64, num_warps=8)" in text
    assert text.replace("64", "256").replace(", num_warps=8", "") == source  # nothing else moved


def test_absent_num_warps_and_num_stages_share_one_insertion_point(kernel, knob):
    source = kernel("matmul_branches").replace(",\n                         num_warps=warps, num_stages=stages)", ")")
    found = discover(source)
    warps, stages = knob(found, param="num_warps"), knob(found, param="num_stages")
    assert warps.origin == stages.origin == "default" and warps.spans == stages.spans
    text = render(source, found, {warps.id: 8, stages.id: 2})
    assert "EVEN_K=K % BLOCK_K == 0, num_stages=2, num_warps=8)" in text


def test_rules_are_scaled_in_place(knob):
    source = resolve_task("softmax").baseline
    found = discover(source)
    rows = knob(found, param="BLOCK_M").id
    rule = "min(max(1, 4096 // BLOCK_N), triton.next_power_of_2(M))"
    assert f"BLOCK_M = ({rule}) * 2\n" in render(source, found, {rows: Scaled(1)})
    assert f"BLOCK_M = max(1, ({rule}) // 4)\n" in render(source, found, {rows: Scaled(-2)})
    rmsnorm = resolve_task("rmsnorm").baseline
    warps = knob(discover(rmsnorm), param="num_warps").id
    assert "num_warps = min(16, (min(max(block // 256, 1), 16)) * 2)" in render(rmsnorm, discover(rmsnorm),
                                                                                {warps: Scaled(1, cap=16)})


def test_autotune_list_is_replaced_by_the_chosen_configs(kernel):
    source = kernel("autotune_list")
    found = discover(source)
    single = render(source, found, {"_add_kernel.BLOCK": 64, "_add_kernel.num_warps": 2, "_add_kernel.num_stages": 1})
    assert "@triton.autotune(\n    configs=[triton.Config({'BLOCK': 64}, num_warps=2, num_stages=1)],\n" \
           "    key=[\"n\"],\n)" in single
    pruned = render(source, found, {"_add_kernel.configs": ConfigList(((("BLOCK", 64), ("num_warps", 2)),
                                                                       (("BLOCK", 256), ("num_stages", 4))))})
    assert "triton.Config({'BLOCK': 64}, num_warps=2),\n    triton.Config({'BLOCK': 256}, num_stages=4),\n" in pruned
    comprehension = kernel("autotune_comprehension")
    text = render(comprehension, discover(comprehension), {"_add_kernel.BLOCK": 512, "_add_kernel.num_warps": 8})
    assert "CONFIGS = [triton.Config({'BLOCK': 512}, num_warps=8)]\n" in text


def test_header_and_errors(kernel, knob):
    source = kernel("wrapper_literal")
    found = discover(source)
    block = knob(found, param="BLOCK").id
    text = render(source, found, {block: 2048}, header=["tuned", "", "measured: 1 ms"])
    assert text.startswith("# tuned\n#\n# measured: 1 ms\n# block size") and "    BLOCK = 2048\n" in text
    with pytest.raises(RewriteError, match="is a literal"):
        render(source, found, {block: Scaled(1)})
    with pytest.raises(RewriteError, match="takes an integer"):
        render(source, found, {knob(found, param="num_warps").id: "8"})
    with pytest.raises(RewriteError, match="no autotune config list"):
        render(source, found, {"_add_kernel.configs": ConfigList(((("BLOCK", 64),),))})
    with pytest.raises(KeyError):
        render(source, found, {"nonexistent@1:0": 4})


VARIANTS = {  # name -> (kernel, task, configuration from the discovery)
    "baseline BLOCK=64 num_warps=2": ("builtin:vector_add", "vector_add", lambda d: {
        find(d, param="BLOCK").id: 64, find(d, param="num_warps").id: 2}),
    "baseline BLOCK=4096 num_warps=16": ("builtin:vector_add", "vector_add", lambda d: {
        find(d, param="BLOCK").id: 4096, find(d, param="num_warps").id: 16}),
    "softmax rows*2": ("builtin:softmax", "softmax", lambda d: {find(d, param="BLOCK_M").id: Scaled(1)}),
    "softmax rows/4, 2 warps": ("builtin:softmax", "softmax", lambda d: {
        find(d, param="BLOCK_M").id: Scaled(-2), **{k.id: 2 for k in d.tunable if k.param == "num_warps"}}),
    "launch literal tied to grid": ("launch_literal", "vector_add", lambda d: {
        find(d, param="BLOCK").id: 64, find(d, param="num_warps").id: 1}),
    "module constant": ("module_constant", "vector_add", lambda d: {
        find(d, param="BLOCK").id: 2048, find(d, param="num_warps", value=4).id: 1}),
    "autotune single": ("autotune_list", "vector_add", lambda d: {
        "_add_kernel.BLOCK": 64, "_add_kernel.num_warps": 2, "_add_kernel.num_stages": 1}),
    "autotune pruned list": ("autotune_list", "vector_add", lambda d: {
        "_add_kernel.configs": ConfigList(((("BLOCK", 32), ("num_warps", 1)), (("BLOCK", 1024), ("num_warps", 8))))}),
    "autotune comprehension": ("autotune_comprehension", "vector_add", lambda d: {
        "_add_kernel.BLOCK": 128, "_add_kernel.num_warps": 1}),
    "heuristic rule/4": ("heuristics", "vector_add", lambda d: {find(d, param="BLOCK").id: Scaled(-2)}),
    "two kernels": ("two_kernels", "vector_add", lambda d: {
        find(d, variable="block").id: 128, find(d, param="num_warps", origin="default").id: 2}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rewritten_kernels_still_pass(cpu_pool, variant):
    name, task_id, configure = VARIANTS[variant]
    source = source_of(name)
    found = discover(source)
    rewritten = render(source, found, configure(found), header=[f"variant: {variant}"])
    assert rewritten != source
    result = cpu_pool.evaluate(resolve_task(task_id), rewritten)
    assert result.passed, (variant, result.summary(), rewritten)


def test_changing_the_launch_without_its_grid_would_break_the_kernel(cpu_pool, kernel):
    """The control for the tied-literal variant above: the evaluator does see a grid left behind."""
    broken = kernel("launch_literal").replace("BLOCK=256", "BLOCK=64")
    result = cpu_pool.evaluate(resolve_task("vector_add"), broken)
    assert result.status == "wrong_output"
