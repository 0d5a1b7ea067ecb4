"""Adversarial candidates: every known way to game the evaluator ends in the right status, with a reason."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import CANDIDATES, TEST_DEVICE

from tritonsmith.task import Task, load_task

BUILTIN = Path(__file__).parents[2] / "src/tritonsmith/suites/builtin"
REJECTED, WRONG = {"rejected"}, {"wrong_output"}


def builtin(task_id: str) -> Task:
    """Load one built-in task by path, so a half-written task elsewhere in the suite cannot break these tests."""
    return load_task(BUILTIN / f"{task_id}.py", suite="builtin")


# file (under candidates/adversarial), task, acceptable statuses, a phrase the message must contain
CASES = [
    ("torch_fallback", "vector_add", REJECTED, "aten ops: add"),
    ("kernel_never_launched", "vector_add", REJECTED, "no Triton kernel was launched"),
    ("dummy_launch", "vector_add", REJECTED, "does not derive from any memory a Triton kernel was given"),
    ("dummy_launch_on_output", "vector_add", REJECTED, "correct even with every Triton kernel launch disabled"),
    ("detect_kernels_off", "vector_add", REJECTED, "does not derive from any memory a Triton kernel was given"),
    ("softmax_torch_with_dummy", "softmax", REJECTED, "aten ops: _softmax"),
    ("mutate_input", "vector_add", REJECTED, "modified input 0 in place"),
    ("alias_output", "vector_add", REJECTED, "an output aliases an input"),
    ("cached_output", "vector_add", REJECTED, "reuses the memory of an earlier call's output"),
    ("reused_buffer", "vector_add", REJECTED, "reuses the memory of an earlier call's output"),
    ("zeros", "vector_add", WRONG, "differs from the reference"),
    ("hardcoded_shape", "vector_add", {"runtime_error", "wrong_output"}, "is invalid for input of size 1"),
    ("single_program_grid", "vector_add", WRONG, "shape=[4097]"),
    ("correct_first_call_only", "vector_add", WRONG, "seed 1): output differs from the reference"),
    ("side_thread", "vector_add", REJECTED, "started a thread"),
    ("side_stream", "vector_add", REJECTED, "side CUDA stream"),
    ("audit_hook", "vector_add", REJECTED, "installed an audit hook, a signal handler or a timer"),
    ("alarm_handler", "vector_add", REJECTED, "installed an audit hook, a signal handler or a timer"),
    ("patch_do_bench", "vector_add", REJECTED, "replaced triton.testing.do_bench"),
    ("patch_allclose", "vector_add", REJECTED, "replaced torch.allclose"),
    ("patch_synchronize", "vector_add", REJECTED, "replaced torch.cuda.synchronize"),
    ("patch_compare", "vector_add", REJECTED, "no Triton kernel was launched"),  # its patches reach no comparison
    ("patch_guard_methods", "vector_add", REJECTED, "replaced Guards.violate"),
    ("slow_baseline", "vector_add", REJECTED, "replaced _add_kernel.run of the baseline"),
    ("sys_exit", "vector_add", REJECTED, "sys.exit(0)"),
    ("os_exit", "vector_add", REJECTED, "faked a successful exit"),
    ("fake_result_stdout", "vector_add", WRONG, "differs from the reference"),
    ("forked_fake_result", "vector_add", REJECTED, "forked a process"),
    ("forge_report", "vector_add", REJECTED, "no Triton kernel was launched"),  # no report function to find
    ("forge_report_exit", "vector_add", REJECTED, "no Triton kernel was launched"),
    ("forge_host_verdict", "softmax", WRONG, "differs from the reference"),  # no nonce nor host pipe to find
    ("steal_expected", "softmax", WRONG, "differs from the reference"),  # no expected output in its process
    ("blind_tensor_item", "softmax", WRONG, "differs from the reference"),  # compared in another process
    ("blind_snapshot_closure", "softmax", WRONG, "differs from the reference"),
    ("posix_fork_daemon", "vector_add", REJECTED, "process(es) running after it"),
    ("segfault", "vector_add", {"crashed"}, "SIGSEGV"),
    ("huge_alloc", "vector_add", {"runtime_error"}, "torch.empty(2**40"),
    ("infinite_loop", "vector_add", {"timeout"}, "did not finish within 10 s"),
]

# Holes an in-process evaluator cannot close: reported as xfail while they stay open.
KNOWN_HOLES = [
    ("slow_baseline_within_margin", "a baseline slowed by less than measuring.BASELINE_SLOWER (1.5x) against its time "
                                    "alone is not seen: the margin is to be calibrated on a GPU (docs/sandbox.md)"),
    ("detect_kernels_off_on_output", "a sentinel kernel tells the candidate when launches are skipped, and is handed "
                                     "the buffer torch computed into, so that buffer counts as a kernel's memory"),
]


def limit_s(name: str) -> float:
    """10 s, as the infinite loop's message says; on a GPU the others get more: a GPU's lock is the machine's,
    and pytest's workers each evaluating on one H200 wait for each other's timing (10 s timed out there)."""
    return 10 if name == "infinite_loop" or TEST_DEVICE == "cpu" else 120


@pytest.mark.parametrize("name, task_id, statuses, phrase", CASES, ids=[case[0] for case in CASES])
def test_adversarial_candidate_fails(run_candidate, name, task_id, statuses, phrase):
    result = run_candidate(builtin(task_id), f"adversarial/{name}.py", timeout_s=limit_s(name))
    assert result.status in statuses, result.summary()
    assert phrase in result.message, result.message
    assert not result.exec_ok and result.speedup is None
    if result.status == "rejected":
        assert result.guard_violations


@pytest.mark.parametrize("name, reason", KNOWN_HOLES, ids=[hole[0] for hole in KNOWN_HOLES])
def test_known_hole(run_candidate, name, reason):
    result = run_candidate(builtin("vector_add"), f"adversarial/{name}.py", timeout_s=limit_s(name))
    if result.status == "passed":
        pytest.xfail(reason)
    assert result.status != "passed"


def test_every_adversarial_file_is_in_a_table():
    elsewhere = {"fork_storm", "big_stdout", "overwrite_kept_references",  # tested on their own (test_references.py)
                 "write_outside_job", "daemon_kills_host", "write_from_cuda_callback",  # test_sandbox.py
                 "wrong_while_timed", "reuse_while_timed", "copy_while_timed",  # test_timing_path.py: only
                 "triton_copy_while_timed", "wait_out_spin", "work_then_sync",  # timing calls them again on the same tensors
                 "slow_baseline_global",  # test_timing_path.py: a task whose baseline reads a global block size
                 "fix_last_output_later", "trace_while_timed", "precompute_after",  # test_timing_path.py
                 "work_once_per_input", "precompute_from_frames", "break_make_inputs",  # test_timing_path.py
                 "forge_fresh_figures", "forge_timer_once",  # test_timing_path.py
                 "replace_timer", "forge_samples", "forge_sample_start",  # test_timing_path.py
                 "forge_via_events_fd", "collector_while_timed"}  # test_timing_path.py
    listed = {case[0] for case in CASES} | {hole[0] for hole in KNOWN_HOLES} | elsewhere
    on_disk = {path.stem for path in (CANDIDATES / "adversarial").glob("*.py")}
    assert on_disk == listed
    for path in (CANDIDATES / "adversarial").glob("*.py"):
        assert path.read_text().startswith("# "), f"{path.name} must start with a one-line comment of what it tries"


def test_fork_storm_is_rejected_and_leaves_no_process(cpu_pool):
    marker = f"{random.randrange(900, 999)}.{random.randrange(1 << 20)}"  # `sleep` seconds, unique to this test
    source = (CANDIDATES / "adversarial/fork_storm.py").read_text().replace("@MARKER@", marker)
    result = cpu_pool.evaluate(builtin("vector_add"), source, timeout_s=60)
    try:
        assert result.status == "rejected", result.summary()
        assert "forked a process" in result.message
        assert result.stdout_tail.count("forked ") >= 32
        deadline = time.monotonic() + 10
        while (alive := sleeping(marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, f"{len(alive)} forked children survived the evaluation"
    finally:
        for pid in sleeping(marker):
            os.kill(pid, signal.SIGKILL)


def sleeping(marker: str) -> list[int]:
    """The `sleep MARKER` processes running on this machine."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                found.append(int(entry))
        except OSError:
            pass
    return found


def test_big_stdout_passes_with_a_bounded_tail(run_candidate):
    result = run_candidate(builtin("vector_add"), "adversarial/big_stdout.py", timeout_s=60)
    assert result.status == "passed", result.summary()
    assert 0 < len(result.stdout_tail) <= 8192
    assert "earlier bytes not shown" in result.stdout_tail


def test_candidate_code_never_runs_in_the_caller(cpu_pool):
    source = (CANDIDATES / "honest/vector_add_import_marker.py").read_text()
    result = cpu_pool.evaluate(builtin("vector_add"), source, timeout_s=60)
    assert result.status == "passed", result.summary()
    pids = {int(line.split()[3]) for line in result.stdout_tail.splitlines() if line.startswith("imported in pid")}
    assert pids and os.getpid() not in pids
    assert "candidate" not in sys.modules


def test_what_the_candidate_is_timed_against_is_watched(tmp_path):
    """The baseline's kernels and functions, and a kernel's `run` and `fn` down to its code, are compared by
    identity after the candidate ran: replacing any of them is seen, calling them is not."""
    import triton

    from tritonsmith.evaluate.guards import _replacement_recorder
    from tritonsmith.util.modules import load_module
    path = tmp_path / "base.py"
    path.write_text(builtin("vector_add").baseline
                    + "\n\nhelper = triton.autotune([triton.Config({})], key=[])(_add_kernel)\n")
    module = load_module("tritonsmith_watch_test", str(path), register=False)
    violations: list[str] = []
    record = _replacement_recorder(violations)
    module.BLOCK, module.verbose = 64, False
    record.watch("the baseline", module)
    record()
    assert violations == []

    def other(*args, **kwargs):
        return None

    def twin(x_ptr, n):
        pass
    module.BLOCK, module.verbose = 32, True  # plain values a gold may rebind itself: not watched
    record()
    assert violations == []
    edits = [lambda: setattr(module._add_kernel, "run", other),
             lambda: setattr(module._add_kernel.fn, "__code__", other.__code__),
             lambda: setattr(module.helper, "run", other),
             lambda: module.helper.configs.append(triton.Config({})),  # in place: its items are compared
             lambda: module._add_kernel.add_pre_run_hook(other) if hasattr(module._add_kernel, "add_pre_run_hook")
             else module._add_kernel.__dict__.setdefault("pre_run_hooks", []).append(other),
             lambda: setattr(module.vector_add, "__defaults__", (1,)),
             lambda: setattr(module, "triton", SimpleNamespace(cdiv=lambda a, b: 4 * -(-a // b), jit=triton.jit)),
             lambda: setattr(module, "_add_kernel", triton.jit(twin))]
    for edit in edits:  # each is seen (the autotuned helper wraps the same kernel: its `run` is seen twice)
        before = len(violations)
        edit()
        record()
        assert len(violations) > before, violations
    assert all("of the baseline, which it is timed against" in v for v in violations)


def test_what_a_harness_calls_while_it_copies_inputs_is_in_the_snapshot():
    """Seeding and the harness's copying run untimed before a timed first call (util/copied_calls.py):
    a candidate's patch of them, to run the op early, is a replacement the guards report."""
    from tritonsmith.evaluate import guards
    from tritonsmith.suites.runtime import rocm_perf  # noqa: F401 - loaded, as a ROCm task's harness loads it
    taken = guards._snapshot()
    for name in ("random.seed", "numpy.random.seed", "copied_calls.call_on_copy",
                 "tritonsmith.suites.runtime.tensors.copy_value", "tritonsmith.suites.runtime.rocm_perf.thaw",
                 "tritonsmith.suites.runtime.seed_all"):
        assert name in taken, name
    saved = random.seed
    try:
        random.seed = lambda *args: None
        assert guards._snapshot()["random.seed"][0] is not taken["random.seed"][0]
    finally:
        random.seed = saved


COUNTED = '''
import json
import triton, triton.language as tl, torch
from tritonsmith.evaluate.guards import Guards

@triton.jit
def _fill(out_ptr, BLOCK: tl.constexpr):
    tl.static_assert(BLOCK <= 16)
    tl.store(out_ptr + tl.arange(0, BLOCK), tl.full((BLOCK,), 1.0, tl.float32))

guards = Guards(set(), "cpu")
guards.install()
out = torch.zeros(16)
with guards.watching(record_ops=False):
    try:
        _fill[(1,)](out, BLOCK=32)  # refused before it launches (as a launch out of resources is)
    except Exception:
        _fill[(1,)](out, BLOCK=16)  # the fallback an honest kernel may take
print(json.dumps([guards.launches, guards.completed_launches, float(out.sum())]))
'''


def test_a_launch_that_raises_before_the_driver_is_not_counted_as_launched(tmp_path):
    """The guards count every launch asked for, and apart the ones that returned (the driver was asked): the
    fresh call's Triton launch hooks are held to the second (a kernel refused for its resources, then
    launched with smaller blocks, as TritonBench-G's attention_score does, is not a hook taken away)."""
    import json
    import subprocess

    import tritonsmith
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(Path(tritonsmith.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", COUNTED], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2, 1, 16.0]


def test_an_interval_timer_left_by_candidate_code_is_found_and_cleared():
    """A timer set past the refused functions (through ctypes) would signal into the evaluator's code later: the
    check after candidate code finds any interval timer running, says so and stops it."""
    import signal

    from tritonsmith.evaluate.guards import HOOKED, Guards

    guards = Guards(set(), "cpu")
    # this test process's own timers (pytest-timeout's) stand aside: a worker starts with none (fork clears them)
    own = {which: signal.setitimer(which, 0) for which in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL)}
    try:
        guards.check_tracing()
        assert guards.violations == []
        signal.setitimer(signal.ITIMER_VIRTUAL, 30.0)  # 30 s of this process's CPU time: never reached here
        guards.check_tracing()
        assert guards.violations == [HOOKED]
        assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)
    finally:
        for which, (delay, interval) in own.items():
            signal.setitimer(which, delay, interval)
