"""Search spaces from the hardware profile, and static pruning of configurations that cannot work."""

from __future__ import annotations

from tritonsmith.knowledge.hardware import profile_for
from tritonsmith.suites import resolve_task
from tritonsmith.tune import Limits, Scaled, discover, search_space

H100 = profile_for("NVIDIA H100 80GB HBM3")
MI300X = profile_for("AMD Instinct MI300X")


def is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def test_launch_options_follow_the_vendor(kernel, knob):
    found = discover(kernel("matmul_branches"))
    nvidia, amd = search_space(found, H100, "matmul"), search_space(found, MI300X, "matmul")
    warps = knob(found, param="num_warps", value=8).id
    stages = knob(found, param="num_stages", value=3).id
    assert nvidia.values[warps] == (1, 2, 4, 8, 16) and amd.values[warps] == (1, 2, 4, 8)
    assert nvidia.values[stages] == (1, 2, 3, 4, 5) and amd.values[stages] == (1, 2, 3)  # 3: the source's own
    assert Limits.for_profile(MI300X).warp_size == 64 and Limits.for_profile(MI300X).default_stages == 2
    assert Limits.for_profile(None) == Limits()  # no profile: NVIDIA's ranges, no shared-memory bound


def test_block_sizes_are_powers_of_two_around_the_current_value(kernel, knob):
    found = discover(kernel("matmul_branches"))
    space = search_space(found, H100, "matmul")
    for block in (k for k in space.knobs if k.role == "block"):
        values = space.values[block.id]
        assert all(is_power_of_two(v) and 16 <= v <= 256 for v in values), values  # tl.dot tiles
        assert block.value in values
    assert space.values[knob(found, param="BLOCK_K", value=32).id] == (16, 32, 64, 128)
    elementwise = search_space(discover(kernel("wrapper_literal")), H100, "elementwise")
    assert elementwise.values[knob(elementwise.discovery, param="BLOCK").id] == tuple(2 ** i for i in range(6, 15))


def test_rules_are_scaled_and_untuned_knobs_stay_out(knob):
    found = discover(resolve_task("softmax").baseline)
    space = search_space(found, H100, "softmax")
    rows = knob(found, param="BLOCK_M")
    assert space.values[rows.id] == tuple(Scaled(s) for s in (-2, -1, 0, 1, 2)) and space.current[rows.id] == Scaled(0)
    assert knob(found, param="BLOCK_N").id not in space.values  # covers the row: not tuned
    rmsnorm = discover(resolve_task("rmsnorm").baseline)
    warps_rule = knob(rmsnorm, param="num_warps")
    assert search_space(rmsnorm, H100).values[warps_rule.id] == (Scaled(-1), Scaled(0), Scaled(1, cap=16))


def test_num_stages_only_where_the_kernel_loops(kernel):
    loopless = search_space(discover(kernel("launch_literal")), H100)
    assert not any(k.role == "num_stages" for k in loopless.knobs)
    looping = search_space(discover(kernel("autotune_list")), H100)
    assert looping.values["_add_kernel.num_stages"] == (1, 2, 3, 4, 5)


def test_dot_tiles_are_pruned_by_shared_memory(kernel, knob):
    found = discover(kernel("matmul_branches"))
    large_k = knob(found, param="BLOCK_K", value=64).id  # the M > 64 branch: 128 x 128 tiles, 3 stages
    h100, mi300x = search_space(found, H100, "matmul", ["float16"]), search_space(found, MI300X, "matmul", ["float16"])
    assert h100.feasible({}) is None and mi300x.feasible({}) is None
    assert h100.feasible({large_k: 128}) is None  # 2 x (128x128 + 128x128) x 2 B = 128 KB of 227 KB
    reason = mi300x.feasible({large_k: 128})
    assert "shared memory" in reason and "the device has 64 KB" in reason
    assert "256x128x256" in h100.feasible({large_k: 256, knob(found, param="BLOCK_M", value=128).id: 256})
    small_k = knob(found, param="BLOCK_K", value=32).id  # the other branch is judged on its own tiles and stages
    assert mi300x.feasible({small_k: 64}) is None
    assert "tiles 64x64x128 at 4 stages need at least 96 KB" in mi300x.feasible({small_k: 128})


def test_more_threads_than_elements_is_pruned(kernel, knob):
    found = discover(kernel("wrapper_literal"))
    space = search_space(found, H100, "elementwise")
    block, warps = knob(found, param="BLOCK").id, knob(found, param="num_warps").id
    assert "replicate work" in space.feasible({block: 64})  # 4 warps = 128 threads for 64 elements
    assert space.feasible({block: 128}) is None
    assert space.feasible({block: 64, warps: 2}) is None


def test_autotune_seeds_and_normalising(kernel):
    found = discover(kernel("autotune_list"))
    space = search_space(found, H100)
    assert space.seeds["_add_kernel"][0] == {"_add_kernel.BLOCK": 128, "_add_kernel.num_warps": 4,
                                             "_add_kernel.num_stages": 2}
    assert space.values["_add_kernel.BLOCK"][0] == 16 and 512 in space.values["_add_kernel.BLOCK"]
    literal = discover(kernel("wrapper_literal"))
    literal_space = search_space(literal, H100)
    block = literal_space.knobs[0].id
    assert literal_space.normalise({block: 1024}) == {} and literal_space.normalise({block: 2048}) == {block: 2048}
    assert "2 knobs" in literal_space.describe()
