"""How a GEAK-eval perf script's inputs are made (suites/runtime/geak_perf.py): on the evaluation's GPU directly, else on
the CPU as GEAK-eval makes them; each handed out once and not kept twice. On a machine without a GPU, torch's
"meta" device stands in for the GPU: get_input_tensors runs under it as under "cuda", and a script that needs
real values (NumPy, .item()) fails there as it would for a CPU-only op on the GPU."""

from __future__ import annotations

import gc
import pickle
import weakref

import pytest
import torch

from tritonsmith.suites.runtime import geak_perf, perf_call, seed_all

SCRIPT = """
import torch
from geak_eval.perf.performance_utils import Performance_Metrics

MADE = []  # one entry per get_input_tensors() run


class performance_metrics(Performance_Metrics):
    def __init__(self):
        super().__init__("double")

    def get_input_tensors(self):
        MADE.append(1)
        self.input_tensors = []
        for exponent in (4, 6, 8):
            x = torch.rand(2 ** exponent, dtype=torch.float16)
            {extra}
            self.input_tensors.append((x, 3))

    def to_cuda(self, input_tensor):
        return input_tensor  # as five of GEAK-eval's scripts: the inputs are where get_input_tensors made them

    def call_op(self, input_tensor):
        return input_tensor[0] * 2

    def get_gbps(self, input_tensor, runtime):
        x = input_tensor[0]
        return 2 * x.numel() * x.element_size() / (runtime / 1000) / 1e9

    def get_tflops(self, input_tensor, runtime):
        return input_tensor[0].numel() / (runtime / 1000) / 1e12
"""
PLAIN = SCRIPT.format(extra="pass")
NEEDS_VALUES = SCRIPT.format(extra="assert float(x.numpy().max()) < 1  # NumPy on a tensor: only where it has values")


def script_of(source: str, tmp_path, name: str = "double") -> geak_perf.PerfScript:
    path = tmp_path / f"{name}_perf.py"
    path.write_text(source)  # a real file: its path keys what the inputs' makers noted
    return geak_perf.PerfScript(geak_perf.PerfSpec(source, str(path), "performance_metrics", name, {}), {})


def test_inputs_are_made_on_the_evaluation_device_where_the_script_allows(tmp_path):
    script = script_of(PLAIN, tmp_path)
    marker, perf_input = script.make_inputs(1, 7, "meta", expected_count=3)
    x, scale = perf_input.value
    assert x.device.type == "meta" and x.shape == (64,) and x.dtype == torch.float16 and scale == 3
    assert marker.tolist() == [1]
    assert perf_input.facts == {"flops": 64, "bytes": 2 * 64 * 2,
                                "inputs": "on meta, by get_input_tensors() with torch's default device set to meta"}
    assert script.evidence(1) == {"inputs": perf_input.facts["inputs"]}
    assert script.flops(1) == 64 and script.bytes_moved(1) == 256
    assert torch.rand(1).device.type == "cpu"  # the default device is the CPU again afterwards


def test_a_script_that_fails_on_the_device_makes_its_inputs_on_the_cpu_as_geak_eval_does(tmp_path):
    script = script_of(NEEDS_VALUES, tmp_path)
    _, perf_input = script.make_inputs(2, 7, "meta", expected_count=3)
    x, _ = perf_input.value
    assert x.device.type == "cpu"
    made = perf_input.facts["inputs"]
    assert made.startswith("on the CPU by get_input_tensors(), as GEAK-eval makes them (with the default device "
                           "meta it raised TypeError: can't convert meta device type tensor to numpy")
    # seeded as GEAK-eval's CPU way: the values are what the same seed gives with no device set
    seed_all(7)
    expected = [torch.rand(2 ** e, dtype=torch.float16) for e in (4, 6, 8)]
    assert torch.equal(x, expected[2])
    # two failed runs under the device (stopped at entry 2, then the whole way, as for a script that reads back
    # an earlier entry), one on the CPU
    assert script.namespace["MADE"] == [1, 1, 1]
    _, after = script.make_inputs(1, 12345, "meta")  # an after-timing input: made the way the perf checks' were,
    assert script.namespace["MADE"] == [1, 1, 1, 1] and after.value[0].device.type == "cpu"  # not tried again there
    assert after.facts["inputs"] == made
    cpu = script_of(NEEDS_VALUES, tmp_path, "double_cpu")
    _, on_cpu = cpu.make_inputs(2, 7, "cpu")  # the CPU evaluation: the CPU way, tried once
    assert torch.equal(on_cpu.value[0], expected[2]) and cpu.namespace["MADE"] == [1]
    assert on_cpu.facts["inputs"] == "on the CPU by get_input_tensors(), as GEAK-eval makes them"


def test_on_the_device_inputs_are_made_in_windows_and_one_short_of_memory_is_not_sent_the_cpu_way(tmp_path):
    """chunk_retention's 13 GB list, made whole on the GPU beside three other keepers' references, ran short
    of memory; the CPU way it then fell back to drew those GBs again for every check, and stalled a pass. Made
    one entry at a time instead, each entry made those before it again: matmul_dequant_int4, whose inputs are
    packed by Python loops, stood minutes in its perf checks. A window of the list is made and kept at once."""
    script = script_of(SCRIPT.format(extra="MADE.append(x.numel())"), tmp_path)
    script.window_bytes = 200  # (float16 entries of 32, 128 and 512 bytes)
    values = [script.make_inputs(i, 7, "meta", expected_count=3)[1] for i in range(3)]
    assert [v.value[0].shape[0] for v in values] == [16, 64, 256]
    # entries 0 and 1 (160 bytes) in one run, stopped at entry 2, which did not fit (not kept); entry 2 in the next
    assert script.namespace["MADE"] == [1, 16, 64, 256, 1, 16, 64, 256] and script._inputs[2] == [None] * 3
    assert values[1].facts["inputs"] == "on meta, by get_input_tensors() with torch's default device set to meta"
    whole = script_of(SCRIPT.format(extra="MADE.append(x.numel())"), tmp_path, "double_window")
    firsts = [whole.make_inputs(i, 7, "meta", expected_count=3)[1] for i in range(3)]  # the default window
    assert whole.namespace["MADE"] == [1, 16, 64, 256] and len(firsts) == 3  # holds them all: made once
    _, again = whole.make_inputs(1, 7, "meta")  # held by its PerfInput: the same, not made again
    assert again is firsts[1] and whole.namespace["MADE"] == [1, 16, 64, 256]
    del firsts, again
    gc.collect()
    _, remade = whole.make_inputs(1, 7, "meta")  # let go since: made again, from its entry on
    assert remade.value[0].shape == (64,) and whole.namespace["MADE"] == [1, 16, 64, 256, 1, 16, 64, 256]
    with pytest.raises(RuntimeError, match="the adapter read 4 from the script"):
        script_of(SCRIPT.format(extra=""), tmp_path, "double_count").make_inputs(0, 7, "meta", expected_count=4)
    last = script_of(SCRIPT.format(extra=""), tmp_path, "double_last")
    last.window_bytes = 200  # the last entry alone fills its window: still seen to end the list, and counted
    with pytest.raises(RuntimeError, match="the adapter read 4 from the script"):
        last.make_inputs(2, 7, "meta", expected_count=4)
    with pytest.raises(RuntimeError, match="fewer than perf case 5 needs"):
        script_of(SCRIPT.format(extra=""), tmp_path, "double_few").make_inputs(5, 7, "meta")
    short = script_of(SCRIPT.format(extra="MADE.append(x.numel())\n            if x.numel() == 64:\n"
                                          "                raise torch.OutOfMemoryError('CUDA out of memory.')"),
                      tmp_path, "double_short")
    with pytest.raises(torch.OutOfMemoryError):
        short.make_inputs(1, 7, "meta", expected_count=3)
    assert short.namespace["MADE"] == [1, 16, 64]  # raised as it was: not the whole list tried next, nor the CPU
    _, before = short.make_inputs(0, 7, "meta", expected_count=3)  # short of memory past the entry wanted: that
    assert before.value[0].shape == (16,) and short._inputs[2] == [None]  # entry, and the window ends there
    assert short._device_problem is None  # tried on the device again when asked again, not the CPU way for good


def test_each_input_is_handed_out_once_and_held_only_by_its_perf_input(tmp_path):
    script = script_of(PLAIN, tmp_path)  # on the CPU, where a script's whole list is made at once
    _, first = script.make_inputs(0, 7, "cpu", expected_count=3)
    _, again = script.make_inputs(0, 7, "cpu", expected_count=3)  # the reproducibility check asks again
    assert again is first and script.namespace["MADE"] == [1]
    watched = weakref.ref(first.value[0])
    assert script._inputs[2][0] is None  # the list no longer holds what it handed out
    del first, again
    gc.collect()
    assert watched() is None  # ... so the input goes with the last check that held it
    _, other = script.make_inputs(1, 7, "cpu")
    _, last = script.make_inputs(2, 7, "cpu")
    assert script._inputs[2] == [None] * 3 and script.namespace["MADE"] == [1]  # all handed out: none held
    _, remade = script.make_inputs(0, 7, "cpu")  # asked again after it was let go: made again, same seed, alone
    assert remade.value[0].shape == (16,) and script.namespace["MADE"] == [1, 1] and script._inputs[2] == [None] * 3
    _, next_seed = script.make_inputs(0, 8, "cpu")  # another seed: its own list
    assert next_seed is not remade and script.namespace["MADE"] == [1, 1, 1]


def test_an_after_timing_seed_makes_its_one_input_and_nothing_after_it_or_kept(tmp_path):
    counted = SCRIPT.format(extra="MADE.append(x.numel())")
    script = script_of(counted, tmp_path)
    _, alone = script.make_inputs(1, 12345, "cpu")  # a seed other than PERF_SEED: one input wanted
    assert script.namespace["MADE"] == [1, 16, 64]  # the run stopped at entry 1: entry 2 was never made
    assert script._inputs is None  # and nothing of that seed is kept
    seed_all(12345)
    expected = [torch.rand(2 ** e, dtype=torch.float16) for e in (4, 6, 8)]
    assert torch.equal(alone.value[0], expected[1])  # the entry the whole list holds at that seed
    assert alone.facts["inputs"] == "on the CPU by get_input_tensors(), as GEAK-eval makes them"
    whole = script_of(counted, tmp_path, "double_whole")
    _, perf = whole.make_inputs(1, geak_perf.PERF_SEED, "cpu")  # the perf checks' seed: every input, kept
    assert whole.namespace["MADE"] == [1, 16, 64, 256] and whole._inputs[2][2] is not None
    # a script that reads back its last entry while appending makes them all (read so, without running it)
    reads_back = SCRIPT.format(extra="assert not self.input_tensors or self.input_tensors[-1][1] == 3")
    careful = script_of(reads_back, tmp_path, "double_reads")
    _, again = careful.make_inputs(2, 12345, "meta")
    assert not careful.stops_early and careful.namespace["MADE"] == [1] and again.value[0].shape == (256,)
    careful.stops_early = True  # ... and were it misread, the None left in an earlier entry's place shows,
    _, misread = careful.make_inputs(1, 12345, "meta")  # and the whole list is made after all
    assert careful.namespace["MADE"] == [1, 1, 1] and misread.value[0].shape == (64,)
    # the stop is no Exception: a script's own `except Exception` around its append cannot swallow it
    catching = script_of(SCRIPT.replace("            self.input_tensors.append((x, 3))",
                                        "            try:\n                self.input_tensors.append((x, 3))\n"
                                        "            except Exception:\n                pass").format(
                                            extra="MADE.append(x.numel())"), tmp_path, "double_catching")
    assert not catching.stops_early  # (read as one that may not stop cleanly)
    catching.stops_early = True
    _, caught = catching.make_inputs(1, 12345, "cpu")
    assert catching.namespace["MADE"] == [1, 16, 64] and torch.equal(caught.value[0], expected[1])
    # one that builds its list at once: every entry made, the wanted one handed out
    built = script_of(PLAIN.replace("self.input_tensors.append((x, 3))", "pass").replace(
        "        self.input_tensors = []\n", "").replace(
        "MADE.append(1)", "MADE.append(1)\n        self.input_tensors = [(torch.rand(2 ** e, dtype=torch.float16), 3) "
        "for e in (4, 6, 8)]"), tmp_path, "double_built")
    _, third = built.make_inputs(2, 12345, "cpu")
    assert torch.equal(third.value[0], expected[2]) and built._inputs is None


@pytest.mark.parametrize(("body", "stops"), [
    ("self.input_tensors = []\nfor i in range(3):\n    x = torch.rand(i)\n    self.input_tensors.append(x)", True),
    ("self.input_tensors = []\nfor i in range(3):\n    for j in range(2):\n        self.input_tensors.append(i)\n"
     "return", True),
    ("self.input_tensors.append(torch.rand(4))", True),
    ("self.input_tensors = []\nfor i in range(3):\n    self.input_tensors.append(torch.rand(i))\n"
     "self.input_tensors = [x.half() for x in self.input_tensors]", False),  # a cast after the loop
    ("for i in range(3):\n    self.input_tensors.append(i)\n    self.input_tensors[-1] = i + 1", False),
    ("for i in range(3):\n    self.input_tensors.append(i)\nfor i in range(3):\n    self.input_tensors.append(i)",
     False),
    ("self.input_tensors = [torch.rand(i) for i in range(3)]", False),
    ("for i in range(3):\n    self.input_tensors.append(i)\nelse:\n    pass", False),
])
def test_which_scripts_can_stop_at_an_input_is_read_from_their_code(body, stops):
    from tritonsmith.suites.perf_scripts import appends_one_by_one

    source = "class performance_metrics(Performance_Metrics):\n    def get_input_tensors(self):\n" + "".join(
        f"        {line}\n" for line in body.splitlines())
    assert appends_one_by_one(source, "performance_metrics") is stops


def test_what_an_inputs_maker_noted_travels_with_it_through_the_reference_keeper(tmp_path):
    script = script_of(PLAIN, tmp_path)
    _, perf_input = script.make_inputs(2, 7, "cpu")
    path = script.spec.path
    lent = pickle.dumps(perf_input)  # the keeper pickles its references; the worker unpickles them
    perf_call._FACTS.clear()  # a worker that made no inputs itself
    assert script.evidence(2) == {}
    borrowed = pickle.loads(lent)
    assert perf_call.facts_of(path, 2) == perf_input.facts and script.evidence(2) == {"inputs": perf_input.facts["inputs"]}
    assert script.flops(2) == 256 and script.bytes_moved(2) == 1024 and borrowed.index == 2
    perf_call._FACTS.clear()
    assert script.flops(2) == 256  # noted nowhere in this process: made on the CPU again to read it


def test_a_script_that_fails_on_the_cpu_too_says_so(tmp_path):
    script = script_of(SCRIPT.format(extra="raise ValueError('no inputs today')"), tmp_path)
    with pytest.raises(ValueError, match="no inputs today"):
        script.make_inputs(0, 7, "meta")


def test_every_call_of_an_op_that_draws_its_own_inputs_is_seeded_alike(tmp_path):
    """batched_vecmat_mult's call_op makes its matrices with torch.randn: the timed calls (one marker, one
    working copy) must draw what the checked call drew, or the last timed call cannot match the reference."""
    source = PLAIN.replace("return input_tensor[0] * 2", "return input_tensor[0] * 2 + torch.randn(input_tensor[0].shape)")
    assert source != PLAIN
    script = script_of(source, tmp_path)
    marker, perf_input = script.make_inputs(0, 7, "cpu", expected_count=3)
    first = script.call(marker, perf_input)["returned"]
    torch.randn(100)  # whatever else draws from the generator between the calls
    again = script.call(marker, perf_input)["returned"]
    fresh = script.call(marker.clone(), perf_input)["returned"]
    assert torch.equal(first, again) and torch.equal(first, fresh)
