"""GEAK's ROCm perf tests as perf cases (suites/runtime/rocm_perf.py, suites/parametrize.py), on fixture files written in
GEAK's format (tests/fixtures/geak_rocm/perf). GEAK's own files create their tensors on "cuda"; these create them
on the GPU when there is one and on the CPU otherwise, so the whole path runs here on the Triton interpreter."""

from __future__ import annotations

import ast
import os
import pickle
import shutil
import time
import types
from pathlib import Path

import pytest
import torch

from suites.test_geak_rocm import FORMS, STALE_GOLD, TRICKY_IDS, collected_by_pytest
from tritonsmith.evaluate import EvalConfig, WorkerPool
from tritonsmith.evaluate.compare import compare_outputs
from tritonsmith.evaluate.runtime import HarnessTampered, time_first_call
from tritonsmith.evaluate.timing import ClockTimer
from tritonsmith.suites import load_suite, resolve_task
from tritonsmith.suites.geak_rocm import MAX_PERF_CASES
from tritonsmith.suites.parametrize import Unreadable, parametrisations
from tritonsmith.suites.parts import split_parts
from tritonsmith.suites.runtime import rocm_perf
from tritonsmith.task import CaseSkipped, TaskError, load_task
from tritonsmith.util import copied_calls
from tritonsmith.util.modules import load_module
from tritonsmith.util.tensors import same

FIXTURES = Path(__file__).parents[1] / "fixtures" / "geak_rocm"
PERF = FIXTURES / "perf"
SUITE = f"geak-rocm:{PERF}"
ADD_GOLD = split_parts(PERF / "vector_add.py").kernel
ADD_WRONG_WHEN_LARGE = ADD_GOLD.replace("x + y, mask=mask", "tl.where(offsets < 2048, x + y, x), mask=mask")
SCALE_GOLD = split_parts(PERF / "row_scale.py").kernel
SCALE_WRONG_ROW = SCALE_GOLD.replace("x * scale, mask=mask", "tl.where(row == 6, x, x * scale), mask=mask")
ADD_CASES = ["test_performance[cfg0-float32]", "test_performance[cfg1-float32]", "test_performance[cfg2-float32]",
             "test_performance[cfg3-float32]", "test_performance[cfg4-float32]"]


@pytest.fixture(autouse=True)
def interpreted(private_cache, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # the kernels of the modules these tests import run on the CPU


def tasks() -> dict:
    return {t.id: t for t in load_suite(SUITE)}


def generated(task, name: str):
    return next(ast.literal_eval(node.value) for node in ast.parse(task.source()).body
                if isinstance(node, ast.Assign) and node.targets[0].id == name)


# --- reading the parametrisations when the suite is loaded -----------------------------------------------------

def test_each_call_of_a_perf_test_is_a_perf_case_named_by_pytests_id(tmp_path):
    loaded = tasks()
    add, scale = loaded["vector_add"], loaded["row_scale"]
    assert [c["test"] for c in add.perf_cases] == ADD_CASES  # 5 configs after duplicates go; float16 is skipped
    assert [c["test"] for c in scale.perf_cases] == [f"test_performance[{r}-{c}]" for r in (1, 7) for c in (16, 100)]
    assert {c["dtype"] for c in add.perf_cases + scale.perf_cases} == {"float32"}
    assert generated(add, "REFERENCE_TIMING") == "none"
    # pytest's own collection of the same files (GEAK's helpers stubbed) gives the same ids, in the same order
    for name in ("vector_add.py", "row_scale.py"):
        shutil.copy(PERF / name, tmp_path / name)
    helpers = tmp_path / "geak_eval" / "perf" / "ROCm"
    helpers.mkdir(parents=True)
    (helpers / "performance_utils_pytest.py").write_text("PytestBenchmarker = do_bench_config = None\n"
                                                         "save_all_benchmark_results = None\n")
    collected = collected_by_pytest(tmp_path, "vector_add.py", "row_scale.py")
    perf = [name for name in collected if name.startswith("test_performance")]
    assert [n for n in perf if not n.endswith("float16]")] == ADD_CASES + [c["test"] for c in scale.perf_cases]
    assert len(perf) == len(ADD_CASES) * 2 + 4  # the float16 calls, which their mark skips, are not perf cases
    # the prompt says how the op is timed; the harness imports tritonsmith's stand-ins for GEAK-eval's helpers
    assert "How your code is timed: each call of test_performance()" in add.reference_source
    assert ("from tritonsmith.suites.runtime.rocm_perf import PytestBenchmarker, do_bench_config, save_all_benchmark_results"
            in add.harness)
    assert "def tritonsmith_run_tests(seed, perf_input=None):" in add.harness


def test_geak_evals_helpers_are_the_stand_ins_and_the_rest_of_geak_eval_is_optional():
    from tritonsmith.suites.geak_rocm import _optional_imports
    test = ("import torch\nfrom geak_eval.perf.ROCm.performance_utils_pytest import (PytestBenchmarker as PB,\n"
            "    do_bench_config, plot_results)\nimport geak_eval.utils\n")
    namespace: dict = {}
    exec(_optional_imports(test), namespace)  # no geak_eval here
    assert namespace["PB"] is rocm_perf.PytestBenchmarker and namespace["do_bench_config"] is rocm_perf.do_bench_config
    assert namespace["plot_results"] is None and namespace["geak_eval"] is None


def test_a_perf_test_that_times_nothing_leaves_its_task_correctness_only():
    row_sum = resolve_task(f"geak-rocm:{FIXTURES / 'tasks'}:row_sum")  # its test_performance only raises
    assert row_sum.perf_cases == () and "perf_input" not in row_sum.harness
    assert "How your code is timed" not in row_sum.reference_source


@pytest.mark.parametrize("change, words", [
    (("PERF_CONFIGS.append({\"SIZE\": 64, \"BLOCK\": 64})",
      "if torch.cuda.is_available():\n    PERF_CONFIGS.append({\"SIZE\": 64, \"BLOCK\": 64})"),
     "line 82: the parameters of test_performance() are known only when the file runs (line 67: "
     "torch.cuda.is_available(...) is known only when the file runs)"),
    (("for size in [64, 1000, 4096]:", "for size in [64, 1000, 4096] if hasattr(torch, 'float8') else []:"),
     "(line 63: NameError: name 'hasattr' is not defined)"),
    (("@pytest.mark.parametrize(\"cfg\", PERF_CONFIGS)", "@pytest.mark.parametrize(\"cfg\", [torch.relu])"),
     "pytest's ids of test_performance() are known only when the file runs (they name cfg=torch.relu by what it is)"),
    (("    benchmarker.run_benchmark(", "    for _ in range(2):\n        benchmarker.run_benchmark("),
     "test_performance() calls run_benchmark 1 times in a loop; tritonsmith times one op per call of a test"),
])
def test_parameters_known_only_when_the_file_runs_leave_the_task_correctness_only(tmp_path, change, words):
    folder = tmp_path / "suite"
    shutil.copytree(PERF, folder)
    text = (folder / "vector_add.py").read_text()
    assert change[0] in text
    (folder / "vector_add.py").write_text(text.replace(*change))
    add = {t.id: t for t in load_suite(f"geak-rocm:{folder}")}["vector_add"]
    assert add.perf_cases == ()
    line = next(line for line in add.path.read_text().splitlines() if line.startswith("PERF_CASES = "))
    assert words in line and line.endswith(": correctness only"), line


def test_the_parameters_are_read_without_importing_anything(tmp_path):
    def calls(test_part: str, test: str = "test_it"):
        return [name for name, _ in parametrisations("t.py", [("import torch\nimport pytest\n", 0),
                                                             (test_part, 2)], test)]
    head = "@pytest.mark.parametrize('n', {})\ndef test_it(n):\n    pass\n"
    assert calls(head.format("[2 ** i for i in range(3)]")) == ["test_it[1]", "test_it[2]", "test_it[4]"]
    assert calls("def sizes():\n    return [(1, 'fp16'), (2, 'bf16')]\n\n\n@pytest.mark.parametrize('n, d', sizes())\n"
                 "def test_it(n, d):\n    pass\n") == ["test_it[1-fp16]", "test_it[2-bf16]"]
    assert calls(head.format("[torch.float16, torch.bfloat16]")) == ["test_it[n0]", "test_it[n1]"]
    assert calls("import itertools\nSIZES = list(itertools.product([1, 2], 'ab'))\n" + head.format("SIZES")) == [
        "test_it[n0]", "test_it[n1]", "test_it[n2]", "test_it[n3]"]
    assert calls(head.format("[1, pytest.param(2, marks=pytest.mark.skip), pytest.param(3, id='three')]")) == [
        "test_it[1]", "test_it[three]"]
    # a skipif on the device is decided when the test runs: every call is a perf case until then
    assert calls("@pytest.mark.skipif(not torch.cuda.is_available(), reason='gpu')\n" + head.format("[1]")) == [
        "test_it[1]"]
    with pytest.raises(Unreadable, match=r"line 6: .* known only when the file runs \(line 4: it ran more than "
                                         r"1000000 lines\)"):
        calls("N = [1]\nwhile True:\n    N.append(1)\n" + head.format("N"))
    with pytest.raises(Unreadable, match=r"line 5: .*\(line 4: \(\)\.__class__ is not evaluated here\)"):
        calls("X = []\nY = [().__class__, X.append(1)]\n" + head.format("X"))
    never = tmp_path / "never"  # nothing the file would do runs here: its imports, its I/O
    assert calls(f"PATHS = []\nopen({str(never)!r}, 'w')\nimport os\nos.remove('/')\nPATHS.append(1)\n"
                 + head.format("PATHS")) == ["test_it[1]"]
    assert not never.exists()


def test_ids_are_pytests_own_for_tricky_values(tmp_path):
    (tmp_path / "tricky.py").write_text(TRICKY_IDS)
    collected = collected_by_pytest(tmp_path, "tricky.py")
    expected = [name for name in collected if name.startswith("test_values[first-")]  # the rest skip by marks
    assert len(expected) == 15 and "test_values[first-a13]" in expected  # torch.float16: argname and index
    assert [name for name, _ in parametrisations("tricky.py", [(TRICKY_IDS, 0)], "test_values")] == expected


# --- capturing the op, and running it on other code -------------------------------------------------------------

def perf_args(task, test: str, seed: int = 7):
    module = load_module(f"task_{task.id}_{seed}", str(task.path), register=False)
    return module, module.make_inputs({"dtype": "float32", "test": test}, torch.Generator().manual_seed(seed), "cpu")


def test_the_op_is_captured_from_the_gold_code_and_run_on_any_code():
    add = tasks()["vector_add"]
    module, (marker, op) = perf_args(add, ADD_CASES[4])
    assert isinstance(op, rocm_perf.PerfOp) and op.test == ADD_CASES[4] and marker.tolist() == [7]
    frozen = op.op
    assert isinstance(frozen, rocm_perf.Function) and frozen.owner == "test_performance"
    assert sorted(frozen.closure) == ["BLOCK_SIZE_ARG", "grid", "kernel_args"] and frozen.closure["BLOCK_SIZE_ARG"] == 256
    assert isinstance(frozen.closure["grid"], rocm_perf.Function)  # the grid lambda: rebuilt too
    x, y, out, size = frozen.closure["kernel_args"]
    before = out.clone()  # torch.empty's memory, as the test made it
    torch.manual_seed(42)
    assert torch.equal(x, torch.randn(4096)) and size == 4096  # the test's own set_seed(), its inputs
    # what the gold code's run noted: GEAK's calculators at 1 ms, and how the inputs were made
    assert (module.flops({"test": ADD_CASES[4]}), module.bytes_moved({"test": ADD_CASES[4]})) == (4096, 3 * 4096 * 4)
    assert module.perf_evidence({"test": ADD_CASES[4]}) == {
        "inputs": f"made by {ADD_CASES[4]} on the gold code, before any candidate code"}
    expected = module.reference(marker.clone(), op)
    assert expected["returned"] is None  # the launch handle, which is not compared
    assert torch.allclose(expected["written"]["kernel_args[2]"], x + y)

    wrong = load_module("wrong_add", str(_gold_file_with(add, ADD_WRONG_WHEN_LARGE)), register=False)
    got = wrong.tritonsmith_run_tests(marker.clone(), pickle.loads(pickle.dumps(op)))  # as lent by the keeper
    problem = compare_outputs(got, expected, {})
    assert problem and problem["message"].startswith("output['written']['kernel_args[2]'] differs"), problem
    assert same(out, before)  # the captured inputs themselves are never changed


def test_a_call_pytest_would_skip_is_a_skipped_case_and_a_test_that_never_times_fails():
    add = tasks()["vector_add"]
    with pytest.raises(CaseSkipped, match=r"cfg3-float32\] skipped itself: too many programs for this block"):
        perf_args(add, ADD_CASES[3])
    with pytest.raises(CaseSkipped, match=r"cfg0-float16\] is skipped by its marks"):
        perf_args(add, "test_performance[cfg0-float16]")
    with pytest.raises(RuntimeError, match="has no call test_performance\\[cfg9-float32\\]: it changed since"):
        perf_args(add, "test_performance[cfg9-float32]")
    module = load_module("task_row_scale_quiet", str(tasks()["row_scale"].path), register=False)
    gold = module._gold_module()  # a benchmarker that returns, as GEAK-eval's does, instead of the stand-in
    gold.PytestBenchmarker = lambda **kwargs: type("Quiet", (), {"run_benchmark": lambda self, *a: None})()
    with pytest.raises(RuntimeError, match=r"\[1-16\] ran to its end without timing anything: it never called "
                                           r"PytestBenchmarker\(...\).run_benchmark\(\)"):
        module.make_inputs({"dtype": "float32", "test": "test_performance[1-16]"}, torch.Generator(), "cpu")


def test_timed_calls_reuse_one_copy_and_checked_calls_get_their_own():
    scale = tasks()["row_scale"]
    module, (marker, op) = perf_args(scale, "test_performance[7-16]")
    candidate = load_module("scale_candidate", str(_gold_file_with(scale, SCALE_GOLD)), register=False)
    first = candidate.tritonsmith_run_tests(marker, op)
    x = op.op.closure["x"]
    config = op.op.closure["config"]
    assert isinstance(config, rocm_perf.Instance) and config.cls == "RowConfig"
    assert list(first["written"]) == ["x"] and torch.allclose(first["returned"], x * config.state["scales"][:, None])
    for _ in range(3):  # the timed calls: the same marker, so the same copy, which the op keeps scaling
        again = candidate.tritonsmith_run_tests(marker, op)
    state = getattr(marker, f"_tritonsmith_perf_op_{id(vars(candidate))}")
    assert torch.allclose(state.work.__closure__[1].cell_contents, x * config.state["scales"][:, None] ** 4)
    assert torch.equal(again["returned"], first["returned"])  # ... and what is checked is the first call's
    assert type(state.work.__closure__[0].cell_contents) is candidate.RowConfig  # the candidate's own class
    fresh = candidate.tritonsmith_run_tests(marker.clone(), op)  # a checked call: a new marker, a fresh copy
    assert torch.equal(fresh["written"]["x"], first["written"]["x"])
    assert compare_outputs(fresh, module.reference(marker.clone(), op), {}) is None
    wrong = load_module("scale_wrong", str(_gold_file_with(scale, SCALE_WRONG_ROW)), register=False)
    problem = compare_outputs(wrong.tritonsmith_run_tests(marker.clone(), op), module.reference(marker.clone(), op), {})
    assert problem["message"].startswith("output['returned'] differs"), problem


def test_a_primed_first_call_runs_the_op_alone_and_is_recorded_after():
    """How the evaluator times a first call through the harness (evaluate/runtime.py, time_first_call): the copy
    of the inputs is made untimed (priming), the call runs the op alone, its record is made after."""
    scale = tasks()["row_scale"]
    module, (marker, op) = perf_args(scale, "test_performance[7-16]")
    candidate = load_module("scale_primed", str(_gold_file_with(scale, SCALE_GOLD)), register=False)
    plain = candidate.tritonsmith_run_tests(marker.clone(), op)
    assert copied_calls.copies_inputs((marker, op)) and not copied_calls.copies_inputs((marker, 3))
    primed = marker.clone()
    with copied_calls.priming():
        assert candidate.tritonsmith_run_tests(primed, op) is None
    (state,) = [v for v in vars(primed).values() if isinstance(v, copied_calls.CallState)]
    assert state.inputs and all(same(copy, original) for _, original, copy in state.inputs)  # the op did not run
    unrecorded = candidate.tritonsmith_run_tests(primed, op)
    assert isinstance(unrecorded, copied_calls.Unrecorded) and not state.written
    first = copied_calls.recorded(unrecorded)
    assert list(first["written"]) == ["x"] and compare_outputs(first, plain, {}) is None
    again = candidate.tritonsmith_run_tests(primed, op)  # a later call returns the first call's record
    assert again["written"]["x"] is first["written"]["x"] and again["returned"] is state.returned
    assert torch.equal(again["returned"], first["returned"])
    assert copied_calls.snapshot_storages((primed, op)) == {t.untyped_storage().data_ptr() for t in state.held()}
    assert first["written"]["x"].untyped_storage().data_ptr() in copied_calls.snapshot_storages((primed, op))
    assert copied_calls.snapshot_storages((marker.clone(), op)) == set()


def test_an_op_run_while_the_harness_copies_its_inputs_is_refused():
    """Candidate code that runs the op on the working copy while the harness makes it (untimed), so that the
    timed first call has nothing left to do, is refused (an op that writes its inputs shows it)."""
    scale = tasks()["row_scale"]
    module, (marker, op) = perf_args(scale, "test_performance[7-16]")
    candidate = load_module("scale_early", str(_gold_file_with(scale, SCALE_GOLD)), register=False)

    def call(primed, early):
        result = candidate.tritonsmith_run_tests(primed, op)
        if result is None and early:  # the priming call: what a hook of the candidate's would do there
            (state,) = [v for v in vars(primed).values() if isinstance(v, copied_calls.CallState)]
            state.work()
        return result

    honest = marker.clone()
    found, output = time_first_call(ClockTimer(), lambda: call(honest, False), (honest, op), 0.0)
    assert found["ms"] > 0 and list(output["written"]) == ["x"]
    early = marker.clone()
    with pytest.raises(HarnessTampered, match="while the harness was copying them"):
        time_first_call(ClockTimer(), lambda: call(early, True), (early, op), 0.0)


def test_what_an_op_that_updates_its_input_returns_is_its_first_calls_on_every_later_call():
    """A fused add and scale that updates its residual in place and returns a new tensor computed from it:
    on the drifting copy, a later call's new tensor differs from the first's, and only the first call can
    match the reference's single call."""
    inputs = {"residual": torch.ones(4), "x": torch.arange(4.0)}

    def prepare():
        work = {name: tensor.clone() for name, tensor in inputs.items()}
        return work, [(f"input[{name!r}]", inputs[name], work[name]) for name in inputs]

    def run(work):
        work["residual"].add_(work["x"])
        return work["residual"] * 2

    marker = torch.tensor([0])
    first = copied_calls.call_on_copy(marker, "state", prepare, run)
    assert list(first["written"]) == ["input['residual']"] and first["returned"].tolist() == [2, 4, 6, 8]
    for _ in range(3):
        later = copied_calls.call_on_copy(marker, "state", prepare, run)
        assert torch.equal(later["returned"], first["returned"]), later["returned"]
        assert torch.equal(later["written"]["input['residual']"], first["written"]["input['residual']"])
    assert marker.state.work["residual"].tolist() == [1, 5, 9, 13]  # the copy drifted: the op ran each time


def test_ops_are_rebuilt_on_the_code_they_run_on():
    namespace: dict = {}
    exec(compile("def kernel(x):\n    return x + 1\n\n\nclass Box:\n    def __init__(self, v):\n        self.v = v\n\n\n"
                 "def make(t):\n    alias = kernel\n    box = Box(t)\n\n    def again(n):\n        return again(n - 1) "
                 "if n else alias(box.v)\n    return lambda: again(2)\n", "gold.py", "exec"), namespace)
    op = namespace["make"](torch.ones(2))
    frozen = rocm_perf.freeze(op, namespace)
    other: dict = {}
    exec(compile("def kernel(x):\n    return x * 10\n\n\nclass Box:\n    def __init__(self, v):\n        self.v = v\n\n\n"
                 "def make(t):\n    alias = kernel\n    box = Box(t)\n\n    def again(n):\n        return again(n - 1) "
                 "if n else alias(box.v)\n    return lambda: again(2)\n", "candidate.py", "exec"), other)
    memo: dict = {}
    rebuilt = rocm_perf.thaw(pickle.loads(pickle.dumps(frozen)), other, memo)
    assert torch.equal(rebuilt(), torch.full((2,), 10.0))  # the candidate's kernel, reached through an alias
    assert torch.equal(rocm_perf.thaw(frozen, namespace, {})(), torch.full((2,), 2.0))
    del other["kernel"]
    with pytest.raises(NameError, match="the perf op uses 'kernel', which this code does not define"):
        rocm_perf.thaw(frozen, other, {})


class Kernel:
    """Stands in for a Triton kernel: kernel[grid] is a lambda of this module closing over the kernel and grid."""

    def __init__(self, factor):
        self.factor = factor

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.run(*args, grid=grid, **kwargs)

    def run(self, x, grid):
        return x * self.factor + grid[0]


class Executor:  # holds a function of the module it was made from, as the interpreter's kernel[grid] does
    def __init__(self, fn):
        self.fn = fn


def test_a_launcher_held_as_a_value_is_rebuilt_and_anything_else_of_the_gold_code_is_refused():
    source = "def make(t):\n    launch = kernel[(3,)]\n    return lambda: launch(t)\n"
    gold = {"kernel": Kernel(2)}
    exec(compile(source, "gold.py", "exec"), gold)
    frozen = rocm_perf.freeze(gold["make"](torch.ones(2)), gold)
    assert isinstance(frozen.closure["launch"], rocm_perf.Launcher)
    other = {"kernel": Kernel(10)}
    exec(compile(source, "candidate.py", "exec"), other)
    assert torch.equal(rocm_perf.thaw(frozen, other, {})(), torch.full((2,), 13.0))  # the candidate's kernel
    gold.update(helper=lambda t: t, library=types.SimpleNamespace(Executor=Executor))
    exec(compile("def make_held(t):\n    held = library.Executor(helper)\n    return lambda: held.fn(t)\n", "gold.py",
                 "exec"), gold)
    with pytest.raises(RuntimeError, match=r"the perf op holds an object \(Executor\) made from helper of the gold code"):
        rocm_perf.freeze(gold["make_held"](torch.ones(2)), gold)
    # a library value holding plain values that the module also binds is not gold code (test_cast_matmul: tl.float32,
    # whose bit width 32 is the very object of the module's `FIXED_BLOCK_K = 32`), and is passed as it is
    gold.update(BLOCK_K=32, NAME="fp32", tl=types.SimpleNamespace(
        float32=types.SimpleNamespace(primitive_bitwidth=32, name="fp32")))
    exec(compile("def make_plain(t):\n    held = tl.float32\n    return lambda: t * held.primitive_bitwidth\n",
                 "gold.py", "exec"), gold)
    frozen = rocm_perf.freeze(gold["make_plain"](torch.ones(2)), gold)
    assert torch.equal(rocm_perf.thaw(frozen, gold, {})(), torch.full((2,), 32.0))


def _gold_file_with(task, kernel_part: str) -> Path:
    """A candidate module: `kernel_part` followed by the task's harness, as the evaluator builds it."""
    path = Path(os.environ["XDG_CACHE_HOME"]) / f"candidate_{abs(hash(kernel_part))}.py"
    path.write_text(kernel_part + "\n\n" + task.harness)
    return path


# --- through the evaluator: a perf case as a correctness case, so the CPU interpreter runs it ---------------------

def as_correctness_case(task, tmp_path, test: str):
    text = task.path.read_text().replace('CORRECTNESS_CASES = [{"dtype": "float32"}]',
                                         f'CORRECTNESS_CASES = [{{"dtype": "float32", "test": {test!r}}}]')
    path = tmp_path / task.path.name
    path.write_text(text)
    return load_task(path, suite="geak-rocm")


@pytest.mark.parametrize("task_id, test, wrong, words", [
    ("vector_add", ADD_CASES[4], ADD_WRONG_WHEN_LARGE, "output['written']['kernel_args[2]'] differs"),
    ("row_scale", "test_performance[7-100]", SCALE_WRONG_ROW, "output['returned'] differs"),
])
def test_perf_cases_are_checked_through_the_harness_in_the_evaluator(cpu_pool, tmp_path, task_id, test, wrong, words):
    task = tasks()[task_id]
    assert cpu_pool.evaluate(task, wrong).status == "passed"  # the correctness tests are too small to see it
    on_perf = as_correctness_case(task, tmp_path, test)
    result = cpu_pool.evaluate(on_perf, task.baseline)
    assert result.status == "passed" and len(result.cases) == 3, result.summary()  # the evaluator's 3 seeds
    assert result.evidence.get("kernels_off_check") == "ran", result.evidence
    assert "reference keeper" in str(result.evidence["references"]), result.evidence  # the ops, pickled and lent
    # vector_add's output buffer is a torch.empty: made filled in both processes, so not handed over in a file
    assert "inputs" not in result.evidence and result.evidence["handed_over_by_digest"] >= 3, result.evidence
    result = cpu_pool.evaluate(on_perf, wrong)
    assert result.status == "wrong_output" and words in result.message, result.summary()


def test_an_op_updating_its_input_is_timed_through_the_harness_against_itself(tmp_path, monkeypatch):
    """Timed on the host clock (as tests/evaluate/test_timing_path.py): the harness returns its first call's
    record on every timed call, which is not the op returning a result it computed before, and the op's first
    call on new inputs is timed without the harness's copy of them, in the candidate's process and alone."""
    monkeypatch.setenv("TRITONSMITH_CLOCK_TIMING", "1")
    task = tasks()["row_scale"]
    on_perf = as_correctness_case(task, tmp_path, "test_performance[7-100]")
    config = EvalConfig(timeout_s=120, timing_rounds=3, timing_max_rounds=5)
    with WorkerPool(device="cpu", workers=1, config=config) as pool:
        result = pool.evaluate(on_perf, task.baseline)
    assert result.status == "passed", (result.summary(), result.guard_violations)
    assert result.perf and all(p.fresh_call_ms and p.baseline_fresh_call_ms and p.repeat_vs_fresh for p in result.perf)


STALE_OUTPUT = ('os_ = __import__("os"); n = int(os_.environ.get("TS_STALE", "0")) + 1; '
                'os_.environ["TS_STALE"] = str(n); output = (x + y) if n % 2 == 0 else torch.zeros_like(x)')


def test_an_output_buffer_that_already_holds_the_result_is_still_the_same_answer(tmp_path, monkeypatch):
    """An output made by torch.empty holds what its memory held, and a GPU's caching allocator often hands the
    same memory to the next run of the same test: the result already there, so that run's op changes nothing
    and its record names no input as written. Here every other capture's output buffer holds the result; the
    two reference runs still agree, and so do the gold and the reference (on the H200, vector_add's perf
    cases were dropped as not reproducible for this)."""
    monkeypatch.delenv("TS_STALE", raising=False)
    task = tasks()["vector_add"]
    stale = with_test_code(task, tmp_path, "output = torch.empty(SIZE, device=DEVICE, dtype=dtype)", STALE_OUTPUT)
    on_perf = as_correctness_case(stale, tmp_path, ADD_CASES[1])
    config = EvalConfig(timeout_s=120, reproducibility_check="always")
    with WorkerPool(device="cpu", workers=1, config=config) as pool:
        result = pool.evaluate(on_perf, task.baseline)
        # seed 1's first run found the result there already: its record shows nothing, and it is dropped
        assert len(result.evidence["vacuous_cases"]) == 1 and "seed 1" in result.evidence["vacuous_cases"][0]
        assert result.status == "passed" and len(result.cases) == 2, (result.message, result.evidence)
        assert result.evidence["reference_reproducible"] == "2 of 2 checks (the reference run twice)", result.evidence
        result = pool.evaluate(on_perf, ADD_GOLD.replace("x + y, mask=mask", "x - y, mask=mask"))
        assert result.status == "wrong_output" and "['kernel_args[2]'] differs" in result.message, result.summary()


WRITES_THE_ORIGINAL = '''

import torch
import triton
import triton.language as tl

dtype_mapping = {"float16": torch.float16, "float32": torch.float32}


@triton.jit
def _add(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
    offsets = tl.program_id(axis=0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    tl.store(output_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask),
             mask=mask)


class _Launcher:  # add_kernel[grid](...): on a perf op, the sum goes into the op the harness copies from

    def __getitem__(self, grid):
        def launch(x, y, output, n, BLOCK_SIZE):
            frame = sys._getframe(1)
            while frame is not None and "perf_op" not in frame.f_locals:
                frame = frame.f_back
            if frame is None:
                return _add[grid](x, y, output, n, BLOCK_SIZE=BLOCK_SIZE)
            original = dict(frame.f_locals["perf_op"].tensors())
            x0, y0, out0 = (original[f"kernel_args[{i}]"] for i in range(3))
            return _add[grid](x0, y0, out0, n, BLOCK_SIZE=BLOCK_SIZE)
        return launch


add_kernel = _Launcher()
'''


def test_an_op_that_writes_the_harness_original_instead_of_its_copy_is_wrong(tmp_path):
    """A candidate that finds the perf op the harness copies from (up its stack) and writes the sum there,
    leaving its own working copy alone, has written nothing right: what it wrote is judged by its working
    copy, and an input its record lacks is filled from the checker's inputs, never from its own process."""
    task = tasks()["vector_add"]
    on_perf = as_correctness_case(task, tmp_path, ADD_CASES[1])
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        assert pool.evaluate(task, "import sys\n" + WRITES_THE_ORIGINAL).status == "passed"  # plain calls: honest
        result = pool.evaluate(on_perf, "import sys\n" + WRITES_THE_ORIGINAL)
    assert result.status == "wrong_output" and "['kernel_args[2]'] differs" in result.message, result.summary()


def with_test_code(task, tmp_path, old: str, new: str):
    """`task` with `old` replaced by `new` in its test code: in the reference's gold file and in the harness
    that candidates' code runs in."""
    folder = tmp_path / f"variant{abs(hash(new))}"
    folder.mkdir()
    gold = Path(generated(task, "GOLD_FILE"))
    (folder / "gold.py").write_text(gold.read_text().replace(old, new))
    text = task.path.read_text().replace(repr(str(gold)), repr(str(folder / "gold.py")))
    assert old in text and str(folder / "gold.py") in text
    (folder / task.path.name).write_text(text.replace(old, new))
    return load_task(folder / task.path.name, suite="geak-rocm")


def test_a_perf_op_that_returns_nothing_and_writes_nothing_checks_nothing(tmp_path):
    """Its record is {'returned': None, 'written': {}}, which a candidate that does nothing matches too: the
    case is dropped, and a task left with no such case to check says so."""
    task = tasks()["vector_add"]
    idle = with_test_code(task, tmp_path, "op_lambda = lambda: add_kernel[grid](*kernel_args, BLOCK_SIZE=BLOCK_SIZE_ARG)",
                          "op_lambda = lambda: None")
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        with pytest.raises(TaskError, match="checks nothing on any correctness case.*returned nothing and changed"):
            pool.evaluate(as_correctness_case(idle, tmp_path, ADD_CASES[1]), task.baseline)


def test_records_name_the_same_inputs_as_written_once_aligned():
    """written_aligned: an input one record names as written and the other does not is, in the other, that
    call's own input as it was before the call (each side from its own arguments)."""
    class Op(copied_calls.CopiedInput):
        def __init__(self, out):
            self.out = out

        def tensors(self):
            yield "out", self.out

    result = torch.tensor([3.0, 4.0])
    wrote = {"returned": None, "written": {"out": result.clone()}}
    held_it = {"returned": None, "written": {}}
    got, expected = copied_calls.written_aligned(held_it, (torch.tensor([0]), Op(result.clone())),
                                                 wrote, (torch.tensor([0]), Op(torch.zeros(2))))
    assert compare_outputs(got, expected, {}) is None and expected is wrote and not held_it["written"]
    got, expected = copied_calls.written_aligned(held_it, (Op(torch.zeros(2)),), wrote, (Op(result),))
    assert compare_outputs(got, expected, {}) is not None  # a buffer that held something else: not written
    got, expected = copied_calls.written_aligned(wrote, (Op(torch.zeros(2)),), held_it, (Op(result.clone()),))
    assert compare_outputs(got, expected, {}) is None  # either side
    assert copied_calls.written_aligned(result, (), wrote, ()) == (result, wrote)  # not two records: as they are
    # a candidate's record: what it left alone stands for a write only where it was exactly the answer, so
    # that an in-place update smaller than the tolerance (an EMA, a small step) cannot be skipped
    nudged = {"returned": None, "written": {"out": result * (1 - 1e-6)}}
    got, expected = copied_calls.written_aligned(held_it, (Op(result.clone()),), nudged, (Op(result.clone()),))
    assert compare_outputs(got, expected, {}) is None  # trusted (two runs of the reference): within tolerance
    got, expected = copied_calls.written_aligned(held_it, (Op(result.clone()),), nudged, (Op(result.clone()),),
                                                 trusted=False)
    assert "keys missing ['out']" in compare_outputs(got, expected, {})["message"]
    got, expected = copied_calls.written_aligned(held_it, (Op(result.clone()),), wrote, (Op(torch.zeros(2)),),
                                                 trusted=False)
    assert compare_outputs(got, expected, {}) is None  # it held exactly the answer: nothing was left to write


def _cuda() -> bool:
    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda(), reason="needs a GPU: perf cases are timed only there")
def test_perf_cases_are_timed_and_checked_on_a_gpu():
    """Needs the worker to drop a case whose make_inputs raises CaseSkipped (vector_add's cfg3 skips itself)."""
    loaded = tasks()
    with WorkerPool(device="cuda", workers=1, config=EvalConfig(timing_rounds=3)) as pool:
        for task in (loaded["row_scale"], loaded["vector_add"]):
            result = pool.evaluate(task, task.baseline)
            assert result.status == "passed" and result.speedup is not None, result.summary()
            timed = [case["test"] for case in task.perf_cases if not case["test"].startswith("test_performance[cfg3")]
            assert [p.label.split("test=")[1] for p in result.perf] == timed, result.summary()
            assert 0.5 < result.speedup < 2, result.summary()  # the gold code against itself
        assert "cfg3-float32] skipped itself" in str(result.evidence.get("skipped_perf_cases")), result.evidence
        assert all(p.gbps and p.tflops for p in result.perf), result.summary()
        for task, wrong, words in ((loaded["vector_add"], ADD_WRONG_WHEN_LARGE, "['kernel_args[2]'] differs"),
                                   (loaded["row_scale"], SCALE_WRONG_ROW, "output['returned'] differs")):
            result = pool.evaluate(task, wrong)
            assert result.status == "wrong_output" and words in result.message, result.summary()
            assert any(c.phase == "perf_shape" and not c.ok for c in result.cases), result.summary()


@pytest.mark.skipif(not _cuda(), reason="needs a GPU: its caching allocator hands a buffer back as it was let go")
def test_on_a_gpu_a_gold_whose_buffers_come_back_holding_the_answer_is_not_rejected():
    """test_geak_rocm's stale_output case where it happened: four ROCm golds on an H100 were "correct even with
    every Triton kernel launch disabled", the caching allocator handing their self-seeded tests the buffer the
    previous call had filled with the answer."""
    task = resolve_task(f"{FORMS}:stale_output")
    with WorkerPool(device="cuda", workers=1, config=EvalConfig(timing_rounds=3)) as pool:
        result = pool.evaluate(task, STALE_GOLD)
        assert result.status == "passed" and result.evidence.get("kernels_off_check") == "ran", result.summary()


# --- the real benchmark: TRITONSMITH_GEAK_EVAL names a GEAK-eval checkout (the folder holding geak_eval/) ---

GEAK_EVAL = Path(os.path.expanduser(os.environ["TRITONSMITH_GEAK_EVAL"])) if os.environ.get("TRITONSMITH_GEAK_EVAL") \
    else None
# perf cases per file of ROCm_v1 (GEAK-eval commit 453b021): the calls of test_performance that its marks do not
# skip. Where pytest can collect the file on a CPU-only machine (TRITON_INTERPRET=1, a stub geak_eval, torch.cuda
# and Triton's driver faked), its ids are these; test_chained_dot_fp8 and test_matmul_MXFP choose their
# parameters by the device, and stay correctness-only.
REAL_PERF_CASES = {
    "gemm": 33, "layernorm": 24, "moe_gemm": 16, "multreduce_matmul_dot_kernel": 24, "naive_softmax": 21,
    "rmsnorm_bwd": 42, "rmsnorm_fwd": 126, "softmax": 21, "test_add_kernel": 4, "test_batched_vecmat": 30,
    "test_block_copy": 40, "test_block_pointer_matmul": 20, "test_cast_matmul": 18, "test_chained_dot_fp8": 0,
    "test_chained_matmul": 150, "test_flashattention_fwd": 6, "test_gemm_fusion": 516, "test_gemm_no_scf": 20,
    "test_iv_dependent_matmul": 2100, "test_kernel_dot": 6, "test_kernel_sub": 42, "test_load_reduce": 42,
    "test_matmul_MXFP": 0, "test_randn": 104, "test_random_int": 64, "test_reverse_range": 9,
    "test_tma_store_gemm": 11, "test_triton_flip": 24, "test_triton_sort": 96, "test_triton_swizzle2d": 16,
    "triton_multreduce_matmul_kernel": 66}


@pytest.mark.skipif(GEAK_EVAL is None, reason="set TRITONSMITH_GEAK_EVAL to a GEAK-eval checkout (the folder "
                    "holding geak_eval/, with the instructions JSON of its geak-release-rocm branch) to test on it")
def test_the_real_rocm_benchmarks_perf_cases_are_found():
    folder = GEAK_EVAL / "geak_eval" / "data" / "ROCm" / "data" / "ROCm_v1"
    started = time.monotonic()
    suite = load_suite(f"geak-rocm:{folder}")
    assert time.monotonic() - started < 30
    assert {t.id: len(t.perf_cases) for t in suite} == {k: min(v, MAX_PERF_CASES) for k, v in REAL_PERF_CASES.items()}
    iv = {t.id: t for t in suite}["test_iv_dependent_matmul"].perf_cases  # 24 of its 2,100 calls, spread evenly
    assert len({c["test"] for c in iv}) == MAX_PERF_CASES
    add = {t.id: t for t in suite}["test_add_kernel"]
    assert [c["test"] for c in add.perf_cases] == ["test_performance[98432-1024-float16]",
                                                   "test_performance[98432-1024-float32]",
                                                   "test_performance[1048576-2048-float16]",
                                                   "test_performance[1048576-2048-float32]"]
    assert [c["dtype"] for c in add.perf_cases] == ["float16", "float32"] * 2
    for task in suite:
        if not task.perf_cases:
            line = next(line for line in task.path.read_text().splitlines() if line.startswith("PERF_CASES"))
            assert "known only when the file runs" in line, line
    parts = split_parts(folder / "test_add_kernel.py")
    assert len(parametrisations(str(folder), [(parts.kernel, 0), (parts.test, parts.test_line)],
                                "test_performance")) == 4



@pytest.mark.skipif(GEAK_EVAL is None or not _cuda(), reason="needs a GPU and TRITONSMITH_GEAK_EVAL")
def test_the_real_gold_code_is_timed_against_itself_on_a_gpu():
    folder = GEAK_EVAL / "geak_eval" / "data" / "ROCm" / "data" / "ROCm_v1"
    suite = {t.id: t for t in load_suite(f"geak-rocm:{folder}")}
    with WorkerPool(device="cuda", workers=1, config=EvalConfig(timing_rounds=3)) as pool:
        for task_id in ("test_add_kernel", "softmax"):
            result = pool.evaluate(suite[task_id], suite[task_id].baseline)
            assert result.status == "passed" and 0.5 < result.speedup < 2, result.summary()
