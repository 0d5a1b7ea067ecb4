"""The scale-aware comparison: what passes and what must not."""

from __future__ import annotations

import pytest
import torch

from tritonsmith.evaluate.compare import compare_outputs, nan_from_filler, undefined_elements


def test_exact_and_close_outputs_pass():
    ref = torch.randn(100, generator=torch.Generator().manual_seed(0))
    assert compare_outputs(ref.clone(), ref, {}) is None
    assert compare_outputs(ref + 1e-6, ref, {}) is None
    half = ref.half()
    assert compare_outputs((half.float() * (1 + 5e-4)).half(), half, {}) is None


def test_zeros_fail_even_when_true_values_are_tiny():
    ref = torch.randn(1000, generator=torch.Generator().manual_seed(1)) * 1e-6
    assert torch.allclose(torch.zeros_like(ref), ref, atol=1e-5)  # a fixed atol lets this through
    problem = compare_outputs(torch.zeros_like(ref), ref, {})
    assert problem is not None and problem["mismatched"] > 900
    assert "max abs err" in problem["message"] and "first bad index" in problem["message"]


def test_error_report_locates_the_bad_element():
    ref = torch.zeros(4, 5)
    got = ref.clone()
    got[2, 3] = 7.0
    problem = compare_outputs(got, ref, {})
    assert problem["first_bad_index"] == [2, 3] and problem["mismatched"] == 1
    assert problem["max_abs_err"] == 7.0


def test_nans_must_match_positions():
    ref = torch.tensor([1.0, float("nan"), 3.0])
    assert compare_outputs(ref.clone(), ref, {}) is None
    assert compare_outputs(torch.tensor([1.0, 2.0, 3.0]), ref, {}) is not None
    assert compare_outputs(torch.tensor([float("nan"), float("nan"), 3.0]), ref, {}) is not None
    inf = torch.tensor([float("inf"), -1.0])
    assert compare_outputs(inf.clone(), inf, {}) is None
    assert compare_outputs(torch.tensor([-float("inf"), -1.0]), inf, {}) is not None


def test_integers_exact_shape_dtype_and_count_checked():
    ref = torch.tensor([1, 2, 3])
    assert compare_outputs(ref.clone(), ref, {}) is None
    assert compare_outputs(torch.tensor([1, 2, 4]), ref, {}) is not None
    assert "shape" in compare_outputs(torch.zeros(2, 2), torch.zeros(4), {})["message"]
    assert "dtype" in compare_outputs(torch.zeros(4, dtype=torch.float16), torch.zeros(4), {})["message"]
    assert "2 outputs" in compare_outputs((ref, ref), ref, {})["message"]
    assert "output 1" in compare_outputs((ref, ref + 1), (ref, ref), {})["message"]


def test_python_floats_are_compared_as_float32_elements_not_exactly():
    """layer_norm_triton's test returns `bias.grad.norm().item()`: NaN in both runs of its gold, and it was found
    'not reproducible' (nan != nan); a candidate summing in another order failed on the last bit."""
    assert compare_outputs({"loss": 2.0 * (1 + 5e-5)}, {"loss": 2.0}, {}) is None
    assert compare_outputs({"norm": float("nan")}, {"norm": float("nan")}, {}) is None
    assert compare_outputs(3, 3.0, {}) is None  # an int where the reference has a float
    assert "a Python float" in compare_outputs({"loss": 2.0 * (1 + 1e-3)}, {"loss": 2.0}, {})["message"]
    assert compare_outputs({"loss": 2.0 * (1 + 1e-3)}, {"loss": 2.0}, {"float32": (0.0, 2e-3)}) is None
    assert compare_outputs(float("nan"), 1.0, {}) is not None and compare_outputs(1.0, float("nan"), {}) is not None
    assert compare_outputs(float("inf"), float("inf"), {}) is None
    assert compare_outputs(-float("inf"), float("inf"), {}) is not None
    assert compare_outputs(0.0, 0.0, {}) is None and compare_outputs(1e-3, 0.0, {}) is not None
    assert compare_outputs(7, 7, {}) is None and compare_outputs(8, 7, {}) is not None  # ints: exact, as before
    assert compare_outputs(torch.tensor(2.0), 2.0, {}) is not None  # a tensor where a float is expected


def test_task_tolerances_override_defaults():
    ref = torch.ones(10)
    got = ref * 1.01
    assert compare_outputs(got, ref, {}) is not None
    assert compare_outputs(got, ref, {"float32": (0.0, 0.02)}) is None


def test_dicts_of_results_are_compared_key_by_key():
    ref = {"small": torch.ones(3), "meta": 7, "pair": (torch.zeros(2), torch.arange(3))}
    same = {"small": torch.ones(3), "meta": 7, "pair": (torch.zeros(2), torch.arange(3))}
    assert compare_outputs(same, ref, {}) is None
    assert "'meta'" in compare_outputs({**same, "meta": 8}, ref, {})["message"]
    assert "missing ['small']" in compare_outputs({"meta": 7, "pair": same["pair"]}, ref, {})["message"]
    bad = {**same, "pair": (torch.zeros(2), torch.arange(3) + 1)}
    assert "['pair'][1]" in compare_outputs(bad, ref, {})["message"]


def test_numpy_results_are_compared_as_tensors():
    import numpy

    expected = {"a": numpy.arange(4, dtype=numpy.float32)}
    assert compare_outputs({"a": numpy.arange(4, dtype=numpy.float32)}, expected, {}) is None
    wrong = compare_outputs({"a": numpy.arange(4, dtype=numpy.float32) + 1}, expected, {})
    assert wrong is not None and "differs" in wrong["message"]
    assert "dtype" in compare_outputs({"a": numpy.arange(4)}, expected, {})["message"]


def _filled(byte: int, dtype: torch.dtype, n: int) -> torch.Tensor:
    """What a reference's `torch.empty` output holds where it never writes, from memory filled with `byte`."""
    return torch.full((n * torch.empty((), dtype=dtype).element_size(),), byte, dtype=torch.uint8).view(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.uint8,
                                   torch.bool, torch.float8_e4m3fnuz])
def test_only_elements_that_read_as_each_filler_are_unwritten(dtype):
    """A reference that writes 2048 of 4097 elements, run from zero-filled and then 0xFF-filled memory: the
    other 2049 (more than half) are its unwritten elements, whatever its dtype; a reference whose results
    differ anywhere else is not reproducible, even where the second run has NaN (it computed from memory
    it never wrote)."""
    written = (torch.arange(4097) % 5).to(dtype)
    first, second = _filled(0, dtype, 4097), _filled(0xFF, dtype, 4097)
    first[:2048], second[:2048] = written[:2048], written[:2048]
    masks, notes = undefined_elements({"out": first}, {"out": second}, {})
    assert notes == ["output['out']: 2049 of 4097 elements"]
    assert masks["output['out']"].tolist() == [False] * 2048 + [True] * 2049
    assert compare_outputs({"out": written}, {"out": first}, {}, masks) is None  # judged on the rest
    if dtype != torch.bool:
        raced = second.clone()
        raced[7] = 3  # another value in one written element
        assert undefined_elements(first, raced, {}) is None
    if dtype.is_floating_point:
        garbage = first.clone()
        garbage[3000:] = 0.5  # computed from memory it never wrote: finite in one run, NaN in the other
        assert undefined_elements(garbage, second, {}) is None


def test_nan_where_the_first_run_had_numbers_is_the_sign_of_a_reference_reading_unwritten_memory():
    """The second run of the reference is from memory of 0xFF bytes (NaN): NaN where the first, from zeroed
    memory, had a number means it computed from memory it never wrote (TritonBench-G's chunk_* golds)."""
    first = {"out": torch.tensor([1.0, 2.0, float("nan")]), "n": 3}
    assert nan_from_filler(first, {"out": torch.tensor([1.0, float("nan"), float("nan")]), "n": 3})
    assert not nan_from_filler(first, {"out": torch.tensor([1.5, 2.0, float("nan")]), "n": 3})  # other numbers
    assert not nan_from_filler(first, {"out": torch.tensor([1, 2]), "n": 3})  # not the same structure
    assert not nan_from_filler(torch.zeros(2, dtype=torch.int32), torch.full((2,), -1, dtype=torch.int32))


def _verdicts(got, expected, undefined=None):
    """What compare_outputs and undefined_elements say of two outputs."""
    problem = compare_outputs(got, expected, {}, undefined)
    found = undefined_elements(expected, got, {})
    return problem, None if found is None else ({k: v.tolist() for k, v in found[0].items()}, found[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int32])
def test_a_comparison_made_in_chunks_says_what_one_made_whole_says(monkeypatch, dtype):
    """Large outputs are compared CHUNK elements at a time (a KernelBench output of 6 GiB in float32 took 12 GiB
    a float64 temporary whole): the verdict, its counts, the worst and the first bad element, the scale (here
    a chunk of large values beside small ones) and the unwritten elements are the same as in one piece, where
    the chunk boundaries fall between, on and beside the elements that differ."""
    from tritonsmith.evaluate import compare
    generator = torch.Generator().manual_seed(3)
    expected = (torch.randn(7, 11, generator=generator) * 100).to(dtype)
    expected[0, :4] = (expected[0, :4] * 1000) if dtype.is_floating_point else expected[0, :4]
    got = expected.clone()
    got[1, 2] += 9  # two bad elements in different chunks (of 5 elements: the 14th and 68th), the later one worse
    got[6, 2] += 50
    if dtype.is_floating_point:
        expected[3, 3], got[3, 3] = float("nan"), float("nan")  # NaN for NaN matches, and is out of the scale
        expected[4, 4] = got[4, 4] = float("inf")
    undefined = torch.zeros(7, 11, dtype=torch.bool)
    undefined[1, 2] = True  # not compared: the first bad element goes
    unwritten = torch.zeros_like(expected)
    unwritten[2:] = expected[2:]
    filled = torch.full_like(expected, float("nan")) if dtype.is_floating_point else torch.full_like(expected, -1)
    filled[2:] = expected[2:]
    cases = [(got, expected, None), (got, expected, {"output": undefined}), (expected.clone(), expected, None),
             (filled, unwritten, None)]
    whole = [_verdicts(*case) for case in cases]
    monkeypatch.setattr(compare, "CHUNK", 5)
    chunked = [_verdicts(*case) for case in cases]
    assert whole[0][0]["mismatched"] == 2 and whole[0][0]["first_bad_index"] == [1, 2]
    assert whole[1][0]["mismatched"] == 1 and whole[1][0]["first_bad_index"] == [6, 2]
    assert whole[2] == (None, ({}, [])) and whole[3][1][1] == ["output: 22 of 77 elements"]
    for one, parts in zip(whole, chunked, strict=True):
        if one[0] is not None:
            assert parts[0].pop("max_rel_err") == pytest.approx(one[0].pop("max_rel_err"), rel=1e-12)
        assert parts == one


def test_expected_outputs_held_in_host_memory_are_compared_as_if_on_their_device():
    """References too large for the GPU keep their expected outputs in host memory (`held_for` names the device
    they belong on): an output on that device is compared with them a chunk at a time, as any other; one on
    another device is wrong, as it would be beside expected outputs on the GPU."""
    import torch

    from tritonsmith.evaluate.compare import compare_outputs
    expected = torch.linspace(-3, 3, 1000)
    assert compare_outputs(expected.clone(), expected, {}, held_for="cpu") is None
    wrong = expected.clone()
    wrong[7] += 1
    problem = compare_outputs(wrong, expected, {}, held_for="cpu")
    assert problem["mismatched"] == 1 and problem["first_bad_index"] == [7]
    assert compare_outputs(expected.clone(), expected, {}, held_for="cuda")["message"] == \
        "output is on cpu, expected cuda"
