"""The GEAK ROCm adapter, on small fixture tasks written in its format (tests/fixtures/geak_rocm)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tritonsmith.runs.store import ResultsStore
from tritonsmith.suites import load_suite, resolve_task
from tritonsmith.suites.parts import SEPARATOR, split_parts
from tritonsmith.suites.pytest_reader import is_skipped_test
from tritonsmith.suites.runtime.monkeypatch import MonkeyPatch
from tritonsmith.suites.runtime.pytest_runner import planned_calls, run_tests
from tritonsmith.task import TaskError
from tritonsmith.util.modules import load_module

FIXTURES = Path(__file__).parents[1] / "fixtures" / "geak_rocm"
SUITE = f"geak-rocm:{FIXTURES / 'tasks'}"
FORMS = f"geak-rocm:{FIXTURES / 'forms'}"  # one small file per form of GEAK's real files, and unsupported ones
GOLD_SCALE = split_parts(FIXTURES / "tasks" / "vector_scale.py").kernel
GOLD_ROW_SUM = split_parts(FIXTURES / "tasks" / "row_sum.py").kernel
WRONG_SCALE = GOLD_SCALE.replace("x * alpha, mask=mask", "x * alpha + 0.25, mask=mask")
WRONG_ROW_SUM = GOLD_ROW_SUM.replace("tl.sum(x, axis=0)", "tl.max(x, axis=0)")
TORCH_ROW_SUM = ("import torch\nimport triton\n\n\n@triton.jit\ndef row_sum_kernel(x_ptr, out_ptr, n_cols, stride_row, BLOCK):\n"
                 "    pass\n\n\ndef row_sum(x):\n    return x.sum(dim=1)\n")
NO_WRAPPER = GOLD_SCALE.split("\ndef scale(")[0]
RENAMED_KERNEL = GOLD_SCALE.replace("scale_kernel", "my_scale_kernel")
AUTOTUNED_SCALE = GOLD_SCALE.replace("@triton.jit", "@triton.autotune(configs=[triton.Config({})], key=['n_elements'])\n"
                                     "@triton.jit")
assert WRONG_SCALE != GOLD_SCALE and WRONG_ROW_SUM != GOLD_ROW_SUM


pytestmark = pytest.mark.usefixtures("private_cache")


def test_fixture_tasks_load_with_their_instructions():
    tasks = {t.id: t for t in load_suite(SUITE)}
    assert sorted(tasks) == ["row_sum", "vector_scale"]
    scale = tasks["vector_scale"]
    assert scale.suite == "geak-rocm" and scale.entry_point == "tritonsmith_run_tests"
    assert scale.required_names == ("scale_kernel", "scale")  # the target kernel, then what the tests call
    assert scale.signature == ("def scale_kernel(x_ptr, out_ptr, alpha, n_elements, BLOCK_SIZE: tl.constexpr):\n"
                               "    def scale(x: torch.Tensor, alpha: float) -> torch.Tensor:")
    assert "Complete the kernel" in scale.instruction and '"""out[i] = alpha * x[i]' in scale.instruction
    assert scale.allowed_ops == ("*",) and scale.perf_cases == () and scale.correctness_cases == ({"dtype": "float32"},)
    assert "@triton.jit" in scale.baseline and "def test_scale" not in scale.baseline
    assert "def test_scale" in scale.harness and "def tritonsmith_run_tests(seed)" in scale.harness
    assert "How your code is tested" in scale.reference_source and "def test_scale" in scale.reference_source
    row_sum = tasks["row_sum"]
    assert row_sum.required_names == ("row_sum_kernel", "row_sum")
    assert "['test_row_sum', 'test_row_sum_shape']" in row_sum.harness  # no perf test, no test_save* hook
    # GEAK-eval's benchmark helpers are tritonsmith's stand-ins (tests/suites/test_rocm_perf.py)
    assert "from tritonsmith.suites.runtime.rocm_perf import PytestBenchmarker, do_bench_config  #" in row_sum.harness


def copy_suite(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks"
    shutil.copytree(FIXTURES / "tasks", folder)
    return folder


def test_malformed_suites_fail_with_one_sentence(tmp_path):
    folder = copy_suite(tmp_path)
    with pytest.raises(TaskError, match="no instructions JSON"):
        load_suite(f"geak-rocm:{folder}")
    with pytest.raises(TaskError, match="no such folder of GEAK ROCm task files"):
        load_suite(f"geak-rocm:{tmp_path / 'nowhere'}")


@pytest.mark.parametrize("test_part, reason", [
    (None, "no separator line of 146 '#' between the kernels and the tests."),
    ("def test_scale(request, tmp_path):\n    scale(None, 1)\n",
     "test test_scale() needs the pytest fixture 'tmp_path', which tritonsmith cannot provide (only request, device, "
     "monkeypatch and simple fixtures defined in the file itself)."),
    ("import pytest\n\n\n@pytest.fixture(params=[1, 2])\ndef size(request):\n    return request.param\n\n\n"
     "def test_scale(size):\n    scale(None, size)\n",
     "test test_scale() needs the fixture 'size', which has params=; tritonsmith runs only fixtures without params."),
    ("def test_performance(request):\n    scale(None, 1)\n", "the test part has no correctness test_*() function"),
])
def test_a_file_that_cannot_be_read_is_listed_with_its_reason_and_the_rest_loads(tmp_path, test_part, reason):
    folder = copy_suite(tmp_path)
    shutil.copy(FIXTURES / "instructions.json", tmp_path / "instructions.json")
    scale = folder / "vector_scale.py"
    scale.write_text(GOLD_SCALE + "\n\ndef test_scale(request):\n    pass\n" if test_part is None
                     else f"{GOLD_SCALE}\n{SEPARATOR}\n{test_part}")
    suite = load_suite(f"geak-rocm:{folder}")
    assert [t.id for t in suite] == ["row_sum"]
    assert [u.path for u in suite.unsupported] == [scale]
    assert suite.unsupported[0].reason.startswith(reason), suite.unsupported[0].reason


def test_unknown_target_kernels_and_files_without_instructions_are_listed(tmp_path):
    folder = copy_suite(tmp_path)
    shutil.copy(FIXTURES / "instructions.json", tmp_path / "instructions.json")
    (folder / "vector_scale.py").write_text(f"{NO_WRAPPER.replace('def scale_kernel', 'def other_kernel')}\n"
                                            f"{SEPARATOR}\ndef test_scale(request):\n    other_kernel[(1,)]()\n")
    (folder / "extra.py").write_text(f"x = 1\n{SEPARATOR}\ndef test_x():\n    pass\n")
    (folder / "helper.py").write_text("x = 1\n")  # no separator, no instruction: a helper, skipped
    suite = load_suite(f"geak-rocm:{folder}")
    assert [t.id for t in suite] == ["row_sum"]
    assert {u.path.name: u.reason for u in suite.unsupported} == {
        "extra.py": "no entry with file 'extra.py' in the instructions JSON.",
        "vector_scale.py": "the instructions name target_kernel_name 'scale_kernel', which the kernel part does not "
                           "define."}


def test_the_forms_of_geaks_files_load():
    suite = load_suite(FORMS)
    tasks = {t.id: t for t in suite}
    assert sorted(tasks) == ["monkeypatched", "stale_output", "two_kernels"]  # __init__.py is skipped
    assert [(u.path.name, u.reason.split(",")[0]) for u in suite.unsupported] == [
        ("needs_tmp_path.py", "test test_noop() needs the pytest fixture 'tmp_path'")]
    two = tasks["two_kernels"]
    assert two.required_names == ("iota_kernel", "add_kernel", "SIZES")  # both targets, then the list the tests read
    assert two.signature.endswith("\n    SIZES = [7, 130]")
    patched = tasks["monkeypatched"]
    assert patched.required_names == ("fill_kernel",)
    assert "# the kernel part's imports that the tests use\nimport math\n" in patched.harness


def generated_field(task, name: str):
    """A field of the generated task file that Task does not carry (GOLD_FILE, TESTS)."""
    return next(ast.literal_eval(node.value) for node in ast.parse(task.source()).body
                if isinstance(node, ast.Assign) and node.targets[0].id == name)


def import_gold(task):
    return load_module(f"gold_{task.id}", str(generated_field(task, "GOLD_FILE")), register=False)


def test_performance_tests_and_result_hooks_are_not_run():
    tree = ast.parse("""
import pytest
def test_performance(x): pass
def test_add_perf(x): pass
def test_benchmark(x): pass
def test_bench_rows(x): pass
@pytest.mark.benchmark
def test_timed(x): pass
def test_with_plugin(benchmark): pass
def test_save_results(): pass
def test_save_performance_results(): pass
def test_superfast(x): pass
def test_add(x, benchmark=None): pass
@pytest.mark.parametrize("x", [1])
def test_perfect_squares_are_run_too(x): pass
""")
    selected = [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and not is_skipped_test(node)]
    assert selected == ["test_superfast", "test_add", "test_perfect_squares_are_run_too"]


TRICKY_IDS = '''
import enum
import itertools
import re

import pytest
import torch


class Color(enum.Enum):
    RED = 1


def make(value):
    return value


@pytest.mark.parametrize("a", [1, 1, 10, 10, "x y", "é", b"\\x01", None, 2.5, True, Color.RED, make,
                               re.compile("a+"), torch.float16, pytest.param(3, id="three")])
@pytest.mark.parametrize(("b", "c"), [(1, 2), pytest.param(3, 4, marks=pytest.mark.skip)], ids=["first", None])
def test_values(a, b, c):
    pass


@pytest.mark.parametrize("n", [1, 2, 3], ids=lambda n: None if n == 2 else f"n{n}")
@pytest.mark.skipif("sys.platform == 'no-such-platform'")
def test_callable_ids(n):
    pass


@pytest.mark.parametrize("x", [[1, 2], (3, 4)])
def test_sequences(x):
    pass


@pytest.mark.parametrize("m,dtype", itertools.chain(*[[[64, "float16"], [m, "float32"]] for m in (1, 2)]))
def test_from_an_iterator(m, dtype):  # (test_gemm_no_scf's form: pytest reads the iterator once, at collection)
    pass
'''


def collected_by_pytest(folder: Path, *files: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line.split("::", 1)[1] for line in done.stdout.splitlines() if line.startswith(tuple(f"{f}::" for f in files))]


def test_test_ids_and_order_are_pytests_own(tmp_path):
    (tmp_path / "tricky.py").write_text(TRICKY_IDS)
    tricky = load_module("tricky", str(tmp_path / "tricky.py"), register=False)
    tests = ["test_values", "test_callable_ids", "test_sequences", "test_from_an_iterator"]
    calls = planned_calls(vars(tricky), tests)
    assert [c.name for c in calls] == collected_by_pytest(tmp_path, "tricky.py")
    assert [c.name for c in planned_calls(vars(tricky), tests)] == [c.name for c in calls]  # planned again (each
    # perf case's call is found so): an iterator's values are not gone
    assert [c.name for c in calls if c.skip] == [c.name for c in calls if c.params.get("b") == 3]
    assert calls[0].name == "test_values[first-1_0]" and calls[0].params == {"b": 1, "c": 2, "a": 1}

    for name in ("vector_scale.py", "row_sum.py"):  # the fixtures, with GEAK's perf helpers stubbed for pytest
        shutil.copy(FIXTURES / "tasks" / name, tmp_path / name)
    helpers = tmp_path / "geak_eval" / "perf" / "ROCm"
    helpers.mkdir(parents=True)
    (helpers / "performance_utils_pytest.py").write_text("PytestBenchmarker = do_bench_config = None\n")
    expected = [name for name in collected_by_pytest(tmp_path, "vector_scale.py", "row_sum.py")
                if not name.startswith(("test_performance", "test_save"))]
    ours = []
    for task in sorted(load_suite(SUITE), key=lambda t: t.id != "vector_scale"):
        ours += [c.name for c in planned_calls(vars(import_gold(task)), generated_field(task, "TESTS"))]
    assert ours == expected


def test_the_runner_follows_pytests_outcomes(tmp_path, capsys):
    log = []
    (tmp_path / "module.py").write_text('''
import pytest

result_gold = {"stale": 1}


@pytest.fixture(name="resource")
def make_resource(request):
    log.append("open " + request.node.name)
    yield request.node.name.upper()
    log.append("close")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_stores(n, resource, request, device):
    if n == 2:
        pytest.skip("two is skipped")
    result_gold[request.node.name] = (resource, device, request.getfixturevalue("resource"))
    assert n != 3, "three fails after storing"


def test_fails_before_storing(request):
    assert False, "nothing stored"
    result_gold[request.node.name] = 1


def test_raises():
    raise KeyError("boom")


@pytest.fixture(name="skips", autouse=True)
def skip_everything():
    pytest.skip("autouse fixture that skips")
''')
    spec = importlib.util.spec_from_file_location("runner_module", tmp_path / "module.py")
    module = importlib.util.module_from_spec(spec)
    module.log = log
    spec.loader.exec_module(module)
    namespace = vars(module)
    fixtures = {"resource": "make_resource"}
    results = run_tests(namespace, 0, ["test_stores", "test_fails_before_storing"], fixtures)
    device = "cuda" if __import__("torch").cuda.is_available() else "cpu"
    assert results == {"test_stores[1]": ("TEST_STORES[1]", device, "TEST_STORES[1]"),
                       "test_stores[3]": ("TEST_STORES[3]", device, "TEST_STORES[3]")}  # "stale" is gone
    assert log == ["open test_stores[1]", "close", "open test_stores[2]", "close", "open test_stores[3]", "close"]
    assert "test_stores[3] failed: AssertionError: three fails" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="was skipped: nothing was checked"):
        run_tests(namespace, 0, ["test_stores"], {**fixtures, "skips": "skip_everything"}, ["skips"])
    with pytest.raises(KeyError) as raised:
        run_tests(namespace, 0, ["test_raises"], fixtures)
    if sys.version_info >= (3, 11):
        assert raised.value.__notes__ == ["(raised in test test_raises)"]


def test_the_gold_file_runs_only_its_correctness_tests(tmp_path):
    gold = generated_field(resolve_task(f"{SUITE}:row_sum"), "GOLD_FILE")
    script = ("import importlib.util, json, sys\n"
              "spec = importlib.util.spec_from_file_location('gold', sys.argv[1])\n"
              "module = importlib.util.module_from_spec(spec)\n"
              "spec.loader.exec_module(module)\n"
              "print(json.dumps(sorted(module.tritonsmith_run_tests(0))))\n")
    done = subprocess.run([sys.executable, "-c", script, gold], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TRITON_INTERPRET": "1"})
    assert done.returncode == 0, done.stderr  # the perf test and the test_save* hooks would raise
    assert json.loads(done.stdout) == ["_CALL_SUCCESS_", "test_row_sum_odd", "test_row_sum_shape",
                                       "test_row_sum_tiny", "test_row_sum_wide"]
    assert not (tmp_path / "perf").exists()


@pytest.mark.parametrize("task_id", ["vector_scale", "row_sum"])
def test_gold_code_passes_its_own_tests(cpu_pool, task_id):
    task = resolve_task(f"{SUITE}:{task_id}")
    result = cpu_pool.evaluate(task, task.baseline)
    assert result.status == "passed", result.summary()


@pytest.mark.parametrize("task_id, source, status, words", [
    ("vector_scale", WRONG_SCALE, "wrong_output", "output['test_scale_1000_float16_0.5'] differs"),
    ("row_sum", WRONG_ROW_SUM, "wrong_output", "keys missing ['test_row_sum_odd', 'test_row_sum_wide']"),
    ("vector_scale", NO_WRAPPER, "compile_error", "does not define `scale`"),
    ("vector_scale", RENAMED_KERNEL, "compile_error", "does not define `scale_kernel`"),
    ("vector_scale", AUTOTUNED_SCALE, "passed", ""),
    ("row_sum", TORCH_ROW_SUM, "rejected", "no Triton kernel was launched"),
])
def test_candidates_are_judged_against_the_gold_results(cpu_pool, task_id, source, status, words):
    result = cpu_pool.evaluate(resolve_task(f"{SUITE}:{task_id}"), source)
    assert result.status == status and words in result.message, result.summary()


def test_bench_with_a_folder_of_candidates_and_hand_checked_accuracy(tmp_path):
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    (candidates / "vector_scale.py").write_text(WRONG_SCALE)  # runs, wrong: call_ok, not exec_ok
    (candidates / "row_sum.py").write_text(GOLD_ROW_SUM)  # passes
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, "-m", "tritonsmith", "bench", "--json", "--suite", SUITE, "--solver", f"dir:{candidates}",
         "--device", "cpu", "--out", str(out)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    records = {r.task: r for r in ResultsStore(out).records()}
    assert records["geak-rocm:vector_scale"].status == "wrong_output"
    assert records["geak-rocm:vector_scale"].call_ok and not records["geak-rocm:vector_scale"].exec_ok
    assert records["geak-rocm:row_sum"].status == "passed" and records["geak-rocm:row_sum"].exec_ok
    metrics = json.loads(done.stdout)
    # both ran (call 2/2); only row_sum matched its gold results (exec 1/2)
    assert metrics["call_accuracy"] == 1.0 and metrics["exec_accuracy"] == 0.5


# --- the forms of GEAK's real files (tests/fixtures/geak_rocm/forms) ---------------------------------

FILL_GOLD = split_parts(FIXTURES / "forms" / "monkeypatched.py").kernel
TWO_GOLD = split_parts(FIXTURES / "forms" / "two_kernels.py").kernel
STALE_GOLD = split_parts(FIXTURES / "forms" / "stale_output.py").kernel


def test_monkeypatch_undoes_every_change(tmp_path):
    import math
    import types

    target = types.SimpleNamespace(kept=1)
    environ_before, path_before, cwd_before = dict(os.environ), list(sys.path), os.getcwd()
    patch = MonkeyPatch()
    patch.setattr(target, "kept", 2)
    patch.setattr(target, "added", 3, raising=False)
    patch.setattr("math.tau", 6.0)  # a dotted import path, as pytest allows
    patch.delattr(math, "e")
    mapping = {"a": 1}
    patch.setitem(mapping, "a", 2)
    patch.setitem(mapping, "b", 3)
    patch.delitem(mapping, "a")
    patch.setenv("TRITONSMITH_TEST_VAR", 5)
    patch.setenv("PATH", "/first", prepend=os.pathsep)
    patch.delenv("HOME", raising=False)
    patch.syspath_prepend(str(tmp_path))
    patch.chdir(tmp_path)
    assert (target.kept, target.added, math.tau, hasattr(math, "e"), mapping) == (2, 3, 6.0, False, {"b": 3})
    assert os.environ["TRITONSMITH_TEST_VAR"] == "5" and os.environ["PATH"].startswith("/first" + os.pathsep)
    assert sys.path[0] == str(tmp_path) and os.getcwd() == str(tmp_path)
    with pytest.raises(AttributeError):
        patch.setattr(target, "missing", 1)
    with pytest.raises(KeyError):
        patch.delitem(mapping, "missing")
    patch.undo()
    assert (target.kept, hasattr(target, "added"), math.tau, math.e, mapping) == (1, False, 2 * math.pi,
                                                                                   math.exp(1), {"a": 1})
    assert dict(os.environ) == environ_before and sys.path == path_before and os.getcwd() == cwd_before
    with MonkeyPatch.context() as inner:
        inner.setattr(math, "pi", 3)
        assert math.pi == 3
    assert math.pi != 3


def test_the_runner_gives_tests_a_monkeypatch_and_undoes_it(tmp_path):
    gold = generated_field(resolve_task(f"{FORMS}:monkeypatched"), "GOLD_FILE")
    script = ("import importlib.util, json, math, os, sys\n"
              "spec = importlib.util.spec_from_file_location('gold', sys.argv[1])\n"
              "module = importlib.util.module_from_spec(spec)\n"
              "spec.loader.exec_module(module)\n"
              "tau = math.tau\n"
              "results = module.tritonsmith_run_tests(0)\n"
              "print(json.dumps([sorted(results), results['test_fill_100'].tolist(), math.tau == tau,\n"
              "                  sorted(k for k in os.environ if k.startswith('TRITONSMITH_FIXTURE'))]))\n")
    done = subprocess.run([sys.executable, "-c", script, gold], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TRITON_INTERPRET": "1"})
    assert done.returncode == 0, done.stderr
    keys, filled, tau_restored, variables_left = json.loads(done.stdout)
    assert keys == ["_CALL_SUCCESS_", "test_fill_1", "test_fill_100"]
    assert filled == [1.5] * 100  # the value the file's own fixture set with monkeypatch.setenv
    assert tau_restored and variables_left == []


@pytest.mark.parametrize("task_id, source, status, words", [
    ("monkeypatched", FILL_GOLD.replace("import math\n", ""), "passed", ""),  # the harness imports math itself
    ("monkeypatched", FILL_GOLD.replace("+ value", "+ value + 1"), "wrong_output", "output['test_fill_1'] differs"),
    ("two_kernels", TWO_GOLD, "passed", ""),
    ("two_kernels", TWO_GOLD.replace("SIZES = [7, 130]\n", ""), "compile_error", "does not define `SIZES`"),
    ("two_kernels", TWO_GOLD.replace("def iota_kernel", "def arange_kernel"), "compile_error",
     "does not define `iota_kernel`"),
])
def test_candidates_of_the_new_forms_are_judged(cpu_pool, task_id, source, status, words):
    result = cpu_pool.evaluate(resolve_task(f"{FORMS}:{task_id}"), source)
    assert result.status == status and words in result.message, result.summary()


def test_a_gold_whose_buffers_are_handed_back_holding_the_answer_is_not_rejected():
    """With kernels off, `torch.empty` may hand back the buffer that an earlier call of the same (self-seeded) test
    filled with the answer and let go: the kernels-off call runs with memory filled, so the gold is not rejected for
    it. On an H100 four ROCm golds were ("correct even with every Triton kernel launch disabled"). Here glibc's
    malloc, not a caching allocator, hands the memory out: without the filling, about half the evaluations were
    rejected (4 runs of the test: 2 failed), so three are made (all three passed by chance: about one in eight)."""
    from tritonsmith.evaluate.pool import WorkerPool

    task = resolve_task(f"{FORMS}:stale_output")
    with WorkerPool(device="cpu", workers=1) as pool:
        for _ in range(3):
            result = pool.evaluate(task, STALE_GOLD)
            assert result.status == "passed" and result.evidence.get("kernels_off_check") == "ran", result.summary()
        result = pool.evaluate(task, STALE_GOLD.replace("(n - offsets)", "offsets"))
        assert result.status == "wrong_output" and "differs" in result.message, result.summary()


# --- the real benchmark: TRITONSMITH_GEAK_EVAL names a GEAK-eval checkout (the folder holding geak_eval/) ---

GEAK_EVAL = Path(os.path.expanduser(os.environ["TRITONSMITH_GEAK_EVAL"])) if os.environ.get("TRITONSMITH_GEAK_EVAL") \
    else None


@pytest.mark.skipif(GEAK_EVAL is None, reason="set TRITONSMITH_GEAK_EVAL to a GEAK-eval checkout (the folder "
                    "holding geak_eval/, with the instructions JSON of its geak-release-rocm branch) to test on it")
def test_the_real_rocm_benchmark_loads_whole_in_seconds():
    folder = GEAK_EVAL / "geak_eval" / "data" / "ROCm" / "data" / "ROCm_v1"
    files = list(folder.glob("*.py"))
    started = time.monotonic()
    suite = load_suite(f"geak-rocm:{folder}")
    seconds = time.monotonic() - started
    listing = "\n".join(f"{u.path.name}: {u.reason}" for u in suite.unsupported)
    assert len(files) == 31 and len(suite) + len(suite.unsupported) == len(files), listing
    assert len(suite.unsupported) <= 3, listing
    assert seconds < 30
    tasks = {t.id: t for t in suite}
    for task_id, targets in (("test_randn", ("randn_kernel_runtime_seed", "randn_kernel_const_seed")),
                             ("test_matmul_MXFP", ("matmul_kernel", "mxfp_to_bf16_kernel"))):
        assert task_id not in tasks or tasks[task_id].required_names[:2] == targets
    for task in suite:  # every generated file is valid Python
        compile(Path(generated_field(task, "GOLD_FILE")).read_text(), task.id, "exec")


def test_a_generated_task_skips_perf_calls_that_raise_as_pytest_does():
    """pytest goes on past a test_performance call that raises (references.make_perf_checks)."""
    for task in load_suite(SUITE):
        assert '\nPERF_INPUT_ERRORS = "skip"' in task.path.read_text(), task.id

