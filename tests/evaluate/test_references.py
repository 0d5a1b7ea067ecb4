"""Each task's inputs and reference outputs made once per device by the reference keeper and lent to
later candidates, which copy them; cases whose reference does not reproduce are dropped."""

from __future__ import annotations

import re
import time

import pytest
import torch
from conftest import CANDIDATES

from tritonsmith.evaluate import EvalConfig, WorkerPool
from tritonsmith.suites import resolve_task
from tritonsmith.task import TaskError, load_task


def candidate(name: str) -> str:
    return (CANDIDATES / name).read_text()


@pytest.fixture
def fresh_pool():
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        yield pool


def test_references_are_computed_once_then_loaded(fresh_pool):
    task = resolve_task("vector_add")
    first = fresh_pool.evaluate(task, task.baseline)
    second = fresh_pool.evaluate(task, task.baseline)
    assert first.status == second.status == "passed"
    assert first.evidence["references"].startswith("made by the reference keeper for this job")
    assert second.evidence["references"].startswith("lent by the reference keeper")
    assert [c.label for c in first.cases] == [c.label for c in second.cases]
    # where making them went is in the phases of the job they were made for, not of a job that borrowed them
    made = {k: v for k, v in first.evidence["phases_s"].items() if k.startswith("references.")}
    assert {"references.correctness_checks", "references.after_timing", "references.making_inputs",
            "references.reference_runs", "references.gpu_lock_wait"} <= set(made), made
    assert 0 < made["references.reference_runs"] < first.evidence["phases_s"]["references"]
    stages = ("correctness_checks", "after_timing", "kernels_off_check")  # the CPU's (no perf shapes)
    assert made["references.making_inputs"] + made["references.reference_runs"] <= (
        sum(made[f"references.{stage}"] for stage in stages) + 1e-3)
    assert not any(k.startswith("references.") for k in second.evidence["phases_s"])


def test_no_reuse_when_switched_off():
    task = resolve_task("vector_add")
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=120, reuse_references=False)) as pool:
        pool.evaluate(task, task.baseline)
        again = pool.evaluate(task, task.baseline)
        assert pool._keepers == {}  # no keeper process is started
    assert again.status == "passed"
    assert again.evidence["references"] == ("made by this job (the pool keeps no references: "
                                            "EvalConfig.reuse_references)")


def test_a_job_whose_keeper_is_not_running_makes_its_own_references_and_says_why(tmp_path):
    task = resolve_task("vector_add")
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=120)) as pool:
        for keeper in pool._keepers[None].members:
            keeper.close()
        result = pool.evaluate(task, task.baseline)
    assert result.status == "passed"
    assert result.evidence["references"] == "made by this job (the reference keeper is not running)"


def test_a_candidate_cannot_change_the_kept_references_for_the_next(fresh_pool):
    task = resolve_task("vector_add")
    assert fresh_pool.evaluate(task, task.baseline).status == "passed"  # the keeper makes and keeps them
    attack = fresh_pool.evaluate(task, candidate("adversarial/overwrite_kept_references.py"))
    assert attack.status in ("wrong_output", "rejected")  # it got its own copy before it ran
    zeros = fresh_pool.evaluate(task, candidate("adversarial/zeros.py"))  # would pass against zeroed references
    assert zeros.evidence["references"].startswith("lent")
    assert zeros.status == "wrong_output"
    after = fresh_pool.evaluate(task, task.baseline)
    assert after.status == "passed" and after.evidence["references"].startswith("lent")


def test_a_candidate_that_mutates_a_shared_input_is_caught_and_the_next_sees_it_intact(fresh_pool):
    task = resolve_task("vector_add")
    fresh_pool.evaluate(task, task.baseline)
    mutated = fresh_pool.evaluate(task, candidate("adversarial/mutate_input.py"))
    assert mutated.evidence["references"].startswith("lent")
    assert mutated.status == "rejected"
    assert any("modified input 0 in place" in v for v in mutated.guard_violations)
    after = fresh_pool.evaluate(task, task.baseline)
    assert after.status == "passed" and after.evidence["references"].startswith("lent")


def test_each_task_has_its_own_references(fresh_pool):
    add, relu = resolve_task("vector_add"), resolve_task("silu")
    fresh_pool.evaluate(add, add.baseline)
    first_relu = fresh_pool.evaluate(relu, relu.baseline)
    assert first_relu.status == "passed"
    assert first_relu.evidence["references"].startswith("made")
    assert fresh_pool.evaluate(add, add.baseline).evidence["references"].startswith("lent")


def variant(tmp_path, name: str, *edits: tuple[str, str], task: str = "vector_add"):
    """A built-in task with each (old, new) edit made once (each must apply), as a task file of its own."""
    source = resolve_task(task).source()
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new, 1)
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return load_task(path)


def pid_dependent_task(tmp_path):
    """vector_add whose inputs of the 1000-element case differ from one process to the next."""
    return variant(tmp_path, "vector_add_pid", ("import torch\n", "import os\n\nimport torch\n"),
                   ("    return x, y\n", "    if case['shape'] == [1000]:\n"
                                        "        x = x + (os.getpid() % 997 + 1)\n    return x, y\n"))


def flaky_task(tmp_path, every_case: bool):
    """vector_add whose reference adds noise from the global RNG on an added case of 999 elements (or on every case)."""
    noisy = "True" if every_case else "x.shape[0] == 999"
    return variant(tmp_path, "flaky",
                   ("def reference(x, y):\n    return x + y\n",
                    f"def reference(x, y):\n    if {noisy}:\n        return x + y + torch.rand_like(x)\n    return x + y\n"),
                   ('CORRECTNESS_CASES = [', 'CORRECTNESS_CASES = [{"shape": [999], "dtype": "float32"}, '))


def test_cases_whose_reference_does_not_reproduce_are_dropped(tmp_path):
    task = flaky_task(tmp_path, every_case=False)
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=120, reproducibility_check="always")) as pool:
        result = pool.evaluate(task, resolve_task("vector_add").baseline)
    assert result.status == "passed"
    dropped = result.evidence["unreproducible_cases"]
    assert len(dropped) == 3 and all("shape=[999]" in d and "two runs of the reference differ" in d for d in dropped)
    assert all("shape=[999]" not in c.label for c in result.cases)
    assert "dropped:" in result.summary()


def test_what_the_hosts_malloc_hands_out_within_host_memory_filled_reads_as_its_byte():
    """Heap memory a host torch.empty gets was what the process last freed there (here, sevens); filled, it
    reads as the byte asked for, and afterwards as it was left again. glibc's M_PERTURB: another C library,
    or 0xFF (which glibc cannot give), leaves it as it is."""
    from tritonsmith.evaluate.runtime import _mallopt, host_memory_filled

    if _mallopt() is None:
        pytest.skip("needs glibc's malloc")
    for byte in (0x00, 0xFE, 0x5A):
        sevens = torch.full((1 << 16,), 7, dtype=torch.uint8)  # 64 KiB: glibc's heap, past its per-thread cache
        del sevens
        with host_memory_filled(byte):
            got = torch.empty(1 << 16, dtype=torch.uint8)
        assert bool((got == byte).all()), (byte, got[:16].tolist())


def test_a_reference_that_reads_a_host_buffer_it_never_wrote_is_not_reproducible(tmp_path):
    """The two runs of the reference get host memory of different bytes too: a buffer packed with `+=` into a
    torch.empty (as int4_matmul's gold does on the host) differs, where the heap's leftovers could be the same
    in both runs in one process and not in a candidate's process (that gold failed against itself)."""
    task = variant(tmp_path, "host_leftovers",
                   ("def reference(x, y):\n    return x + y\n",
                    "def reference(x, y):\n    if x.shape[0] == 999:\n        packed = torch.empty(x.shape, dtype=x.dtype)\n"
                    "        packed += x + y\n        return packed\n    return x + y\n"),
                   ('CORRECTNESS_CASES = [', 'CORRECTNESS_CASES = [{"shape": [999], "dtype": "float32"}, '))
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=120, reproducibility_check="always")) as pool:
        result = pool.evaluate(task, resolve_task("vector_add").baseline)
    assert result.status == "passed", result.message
    dropped = result.evidence["unreproducible_cases"]
    assert len(dropped) == 3 and all("shape=[999]" in d and "two runs of the reference differ" in d
                                     for d in dropped), dropped


def test_a_task_whose_reference_never_reproduces_is_a_task_error(tmp_path):
    task = flaky_task(tmp_path, every_case=True)
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=120, reproducibility_check="always")) as pool:
        with pytest.raises(TaskError, match="not reproducible on any correctness case"):
            pool.evaluate(task, resolve_task("vector_add").baseline)


def test_references_larger_than_the_file_size_limit_are_kept(tmp_path):
    """The worker's file-size limit is for candidate code; the lent references may be larger."""
    task = variant(tmp_path, "big_references",
                   ('CORRECTNESS_CASES = [', 'CORRECTNESS_CASES = [{"shape": [1 << 19], "dtype": "float32"}, '))
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=120, file_mb=1)) as pool:
        first = pool.evaluate(task, resolve_task("vector_add").baseline)
        second = pool.evaluate(task, resolve_task("vector_add").baseline)
    assert first.status == second.status == "passed", first.message
    assert second.evidence["references"].startswith("lent")


def test_the_keeper_makes_references_again_when_its_copy_was_changed(tmp_path):
    """A candidate that found a leaked CUDA IPC handle could write the keeper's memory: the checksum taken
    when the references were made tells, and they are made afresh instead of lent."""
    import pickle

    from tritonsmith.evaluate.keeper import Keeper
    from tritonsmith.evaluate.pool import EvalConfig, task_key

    task = resolve_task("vector_add")
    job = {"task_path": str(task.path), "task_key": task_key(task, [0, 1, 2]), "seeds": [0, 1, 2],
           "correctness_cases": list(task.correctness_cases), "perf_cases": list(task.perf_cases),
           "tolerances": {}, "reproducibility_check": EvalConfig().reproducibility_check}
    keeper = Keeper("cpu", 1 << 30)
    first = pickle.loads(keeper.references(job))
    assert first["made"] == "now"
    assert pickle.loads(keeper.references(job))["made"] == "kept"
    kept_state = keeper.kept[job["task_key"]][0]
    kept_state["checks"][0]["expected"].zero_()  # what a write through a leaked handle would do
    again = pickle.loads(keeper.references(job))
    assert again["made"] == "again: changed"
    assert again["state"]["checks"][0]["expected"].abs().sum() > 0


def test_lent_state_keeps_values_and_leaf_gradients_and_drops_autograd_history():
    import pickle

    import torch

    from tritonsmith.evaluate.keeper import lend

    leaf = torch.ones(3, requires_grad=True)
    state = {"args": (leaf,), "expected": leaf * 2, "note": "kept by value"}
    back = pickle.loads(lend(state))
    assert back["note"] == "kept by value"
    assert back["args"][0].requires_grad and back["args"][0].is_leaf
    assert torch.equal(back["expected"], torch.full((3,), 2.0)) and not back["expected"].requires_grad


def test_a_keeper_whose_cuda_context_fails_says_unavailable_and_exits(tmp_path):
    """A faulting reference kernel leaves a sticky CUDA error that would fail every later task's references:
    the keeper must hand each job back to make its own, and stop. A "cuda" keeper on this CPU-only machine
    has a context that fails in the same place (the probe after a failure)."""
    import json
    import pickle
    import socket
    import subprocess
    import sys

    import torch

    from tritonsmith.evaluate.keeper import BROKEN_EXIT, receive_blob, send_blob

    if torch.cuda.is_available():
        pytest.skip("needs a machine where CUDA cannot be used")
    path = tmp_path / "keeper.sock"
    code = ("import socket, sys, threading\n"
            "from tritonsmith.evaluate.keeper import Keeper\n"
            "keeper = Keeper('cuda', 1 << 20)\n"
            "server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            f"server.bind({str(path)!r}); server.listen(1); print('ready', flush=True)\n"
            "connection, _ = server.accept(); keeper.serve(connection)\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        job = {"task_path": str(tmp_path / "missing_task.py"), "task_key": "k", "seeds": [0],
               "correctness_cases": [{"dtype": "float32"}], "perf_cases": [], "tolerances": {}}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(path))
            send_blob(connection, json.dumps(job).encode())
            reply = pickle.loads(receive_blob(connection))
        assert "error" not in reply  # not charged to the task: the job makes its own references
        assert reply["unavailable"].startswith("the reference keeper's CUDA context failed")
        assert process.wait(timeout=30) == BROKEN_EXIT
    finally:
        process.kill()


def test_the_pool_starts_another_keeper_when_one_exits():
    task = resolve_task("vector_add")
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        assert pool.evaluate(task, task.baseline).evidence["references"].startswith("made by the reference keeper")
        keeper = next(iter(pool._keepers.values())).members[0]
        first = keeper.process
        first.kill()
        first.wait()
        again = pool.evaluate(task, task.baseline)
        assert again.status == "passed"
        assert keeper.process is not first and keeper.restarts == 1
        assert again.evidence["references"].startswith("made by the reference keeper for this job")


def test_elements_the_reference_leaves_unwritten_are_not_compared(tmp_path):
    """A gold kernel that never writes part of its output (TritonBench-G has several): those elements are
    what the memory was filled with, zero bytes in the first run and 0xFF bytes (NaN) in the second, so
    they are left out of every comparison and the rest is still checked. On the CPU nothing is filled:
    the reference here leaves what each fill would. A reference whose runs differ otherwise (here: a
    value left from what ran before) is not reproducible, even if only a quarter of it differs."""
    seen = ("SEEN = set()\n\n\ndef reference(x, y):\n    out = x + y\n    key = (x.shape[0], float(x.reshape(-1)[0]))\n"
            "    first = key not in SEEN\n    SEEN.add(key)\n")
    task = variant(tmp_path, "quarter_unwritten",
                   ("def reference(x, y):\n    return x + y\n",
                    seen + "    out[3 * x.shape[0] // 4:] = 0.0 if first else float('nan')  # as each fill reads\n"
                    "    return out\n"))
    wrong = resolve_task("vector_add").baseline.replace("x + y", "x - y")
    assert wrong != resolve_task("vector_add").baseline
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=120, reproducibility_check="always")) as pool:
        honest = pool.evaluate(task, resolve_task("vector_add").baseline)
        broken = pool.evaluate(task, wrong)
        leftover = variant(tmp_path, "quarter_leftover", (
            "def reference(x, y):\n    return x + y\n",
            "CALLS = []\n\n\ndef reference(x, y):\n    out = x + y\n    CALLS.append(1)\n"
            "    out[3 * x.shape[0] // 4:] = 100.0 * len(CALLS)  # as if left from what ran before\n"
            "    return out\n"))
        with pytest.raises(TaskError, match="not reproducible on any correctness case"):
            pool.evaluate(leftover, resolve_task("vector_add").baseline)
    assert honest.status == "passed", honest.message
    unwritten = honest.evidence["reference_unwritten_elements"]["checks"]
    counts = [tuple(map(int, re.search(r"(\d+) of (\d+) elements", line).groups())) for line in unwritten]
    assert counts and all(count == total - 3 * total // 4 for count, total in counts), unwritten
    # a 1-element case is wholly unwritten: no comparison is left, so it is dropped
    assert all("shape=[1] " in line for line in honest.evidence["unreproducible_cases"])
    assert broken.status == "wrong_output"
    assert "that the reference leaves unwritten are not" in broken.message


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: memory is pre-filled only there")
def test_every_element_a_gold_never_writes_is_found_on_the_gpu(tmp_path):
    """A gold that writes only the first half of a `torch.empty` output (as several TritonBench-G attention
    golds do with their unused head columns): all of the other half, and nothing else, is left out of the
    comparison, even after other tasks' references left the allocator's cache filled with something else."""
    task = variant(tmp_path, "half_written",
                   ("def reference(x, y):\n    return x + y\n",
                    "def reference(x, y):\n    out = torch.empty_like(x)\n    half = x.shape[0] // 2\n"
                    "    out[:half] = x[:half] + y[:half]\n    return out\n"))
    with WorkerPool(device="cuda", workers=1, config=EvalConfig(timeout_s=300)) as pool:
        other = pool.evaluate(resolve_task("softmax"), resolve_task("softmax").baseline)  # fills the keeper's cache
        result = pool.evaluate(task, resolve_task("vector_add").baseline)
    assert other.status == "passed", other.message
    assert result.status == "passed", result.message
    lines = result.evidence["reference_unwritten_elements"]["checks"]
    counts = [tuple(map(int, re.search(r"(\d+) of (\d+) elements", line).groups())) for line in lines]
    assert len(counts) == (len(task.correctness_cases) - 1) * len(EvalConfig().seeds) + len(task.perf_cases)
    assert all(unwritten == total - total // 2 for unwritten, total in counts), lines
    # the 1-element case is wholly unwritten: nothing is left to compare, so it is dropped
    assert all("shape=[1] " in line for line in result.evidence["unreproducible_cases"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: timed there, by events")
def test_on_the_gpu_checks_after_timing_left_for_later_and_samples_on_the_clock_pass_an_honest_candidate(
        monkeypatch):
    """On a GPU: with a keeper that keeps almost nothing, each check after timing is made when its perf case is
    timed, and an honest candidate passes as with them made ahead; its samples, held to the checker's clock,
    show gaps like the baseline's (the figures the clock check's margin is to be calibrated on)."""
    honest = candidate("honest/vector_add_fixed_block.py")
    task = resolve_task("vector_add")
    with WorkerPool(device="cuda", workers=1, config=EvalConfig(timeout_s=300)) as pool:
        ahead = pool.evaluate(task, honest)
    monkeypatch.setenv("TRITONSMITH_KEEPER_BYTES", "4096")  # read by the keeper as it starts
    with WorkerPool(device="cuda", workers=1, config=EvalConfig(timeout_s=300)) as pool:
        later = pool.evaluate(task, honest)
    assert ahead.status == later.status == "passed", (ahead.summary(), later.summary())
    assert "after_timing_checks" not in ahead.evidence
    assert "made when each perf case is timed" in later.evidence["after_timing_checks"]
    for result in (ahead, later):
        assert all(perf.clock_gap_ms and set(perf.clock_gap_ms) == {"candidate", "baseline"} for perf in result.perf)


def test_checks_held_in_host_memory_judge_as_checks_held_in_place_do(monkeypatch):
    """The whole evaluation with every check held in host memory (TRITONSMITH_CHECK_BUDGET_BYTES: a share of one
    byte, on the CPU too; the GPU test below does it there): the checker compares with expected outputs held
    apart, the candidate's process calls on copies of held inputs; an honest candidate passes, a wrong one
    fails and one writing into its input is caught."""
    monkeypatch.setenv("TRITONSMITH_CHECK_BUDGET_BYTES", "1")
    task = resolve_task("vector_add")
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=300)) as pool:
        honest = pool.evaluate(task, candidate("honest/vector_add_fixed_block.py"))
        wrong = pool.evaluate(task, candidate("wrong/vector_add_off_by_one.py"))
        mutating = pool.evaluate(task, candidate("adversarial/mutate_input.py"))
        dropout = resolve_task("dropout")  # a task with its own check, given the inputs (a copy on the device)
        own_check = pool.evaluate(dropout, dropout.baseline)
    assert honest.status == "passed", honest.summary()
    assert "the inputs in the candidate's process" in honest.evidence["held_on_host"]
    # the checker's own copy of the inputs is held there too, the expected outputs beside it
    held = honest.evidence["held_on_host_bytes"]
    assert held["checker_inputs"] > 0 and held["expected_outputs"] > 0, held
    assert own_check.status == "passed" and own_check.evidence["held_on_host_bytes"]["checker_inputs"] > 0, (
        own_check.summary())
    assert honest.evidence["correctness_checks_limited"].startswith("1 of ")
    assert wrong.status == "wrong_output" and "differs from the reference" in wrong.message, wrong.summary()
    assert mutating.status == "rejected" and "modified input 0 in place" in mutating.message, mutating.summary()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: an evaluation's share of it is known there")
def test_on_the_gpu_checks_held_in_host_memory_judge_as_checks_on_the_gpu_do():
    """With an evaluation's share of the GPU set to almost nothing, every check is held in host memory (the
    expected outputs in the checker, the inputs in the candidate's process, copied onto the GPU for each call):
    an honest candidate passes and is timed, a wrong one fails and one writing into its input is caught, as
    with the checks on the GPU."""
    task = resolve_task("vector_add")
    with WorkerPool(device="cuda", workers=1, config=EvalConfig(timeout_s=300, check_memory=1e-9)) as pool:
        honest = pool.evaluate(task, candidate("honest/vector_add_fixed_block.py"))
        wrong = pool.evaluate(task, candidate("wrong/vector_add_off_by_one.py"))
        mutating = pool.evaluate(task, candidate("adversarial/mutate_input.py"))
    assert honest.status == "passed" and honest.speedup, honest.summary()
    assert "the inputs in the candidate's process" in honest.evidence["held_on_host"]
    assert wrong.status == "wrong_output", wrong.summary()
    assert mutating.status == "rejected" and "modified input 0 in place" in mutating.message, mutating.summary()


def test_inputs_larger_than_the_outputs_fit_the_file_limit(tmp_path):
    """A call's arguments are written back after it (to see what it changed): a task whose inputs are much
    larger than its outputs (a column sum) must not hit the candidate's file-size limit, which was sized by the
    outputs alone (every passing col_sum crashed on the GPU at its perf shapes)."""
    task = variant(tmp_path, "col_sum_tall", ("CORRECTNESS_CASES = [", 'CORRECTNESS_CASES = [{"shape": [4096, 1536], '
                                              '"dtype": "float32"}]\nNOT_CHECKED = ['), task="col_sum")
    assert task.correctness_cases[0]["shape"] == [4096, 1536]  # 24 MiB in, 6 KiB out
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=300, file_mb=1, seeds=(0,))) as pool:
        result = pool.evaluate(task, resolve_task("col_sum").baseline)
    assert result.status == "passed", result.summary() + result.stderr_tail


def test_the_candidates_process_makes_its_own_inputs_and_gets_the_rest_in_a_file(tmp_path):
    """Inputs are made again in the candidate's process (before candidate code) and checked against the
    checker's digests; a task whose inputs come out differently there (here: a process-dependent offset in one
    case) gets those checks' inputs in a file, and is judged on exactly the checker's inputs either way."""
    task = pid_dependent_task(tmp_path)
    wrong = resolve_task("vector_add").baseline.replace("x + y", "x - y")
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        plain = pool.evaluate(resolve_task("vector_add"), resolve_task("vector_add").baseline)
        mixed = pool.evaluate(task, resolve_task("vector_add").baseline)
        broken = pool.evaluate(task, wrong)
        mutated = pool.evaluate(task, candidate("adversarial/mutate_input.py"))
    assert plain.status == "passed" and "inputs" not in plain.evidence, plain.summary()
    assert mixed.status == "passed", mixed.summary()
    assert mixed.evidence["inputs"].startswith("3 of "), mixed.evidence.get("inputs")  # one case at 3 seeds
    assert broken.status == "wrong_output", broken.summary()
    # the inputs from the file are named by their digest there too: unchanged arguments come back as a claim
    assert mixed.evidence["handed_over_by_digest"] == len(mixed.cases)
    assert mutated.status == "rejected" and "modified input 0 in place" in mutated.message, mutated.summary()
    assert mutated.evidence["handed_over_by_digest"] == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows only where torch has no CUDA")
def test_a_task_whose_own_code_needs_a_gpu_says_so_on_the_cpu(tmp_path):
    """TritonBench-G's tests make their tensors on 'cuda': on a machine without one, the task's failure says
    what to do instead of only torch's assertion."""
    task = variant(tmp_path, "vector_add_cuda", ("device=device", "device='cuda'"))
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        with pytest.raises(TaskError, match=r"^this task needs a GPU: its own code asks for one, and on the CPU its "
                           r"reference fails on case 0 \(.*\) with .*; run it on a GPU with --device cuda$"):
            pool.evaluate(task, resolve_task("vector_add").baseline)


class Member:
    """A stand-in for a KeeperProcess in the routing test: a name, and whether it can still be used."""

    def __init__(self, name: str):
        self.name, self.gone = name, False

    def usable(self) -> bool:
        return not self.gone


def test_a_new_task_goes_to_the_least_busy_keeper_and_stays_with_it():
    """Several keepers per device make several tasks' references at once: a task not seen yet goes to the
    keeper with the fewest jobs in flight (then the fewest tasks), and every later job of a task goes to the
    keeper that made its references, so that they are still made once; a keeper gone for good hands its
    tasks on."""
    from tritonsmith.evaluate.processes import Keepers

    keepers = Keepers([Member("k0"), Member("k1"), Member("k2")])
    lend = keepers.lend
    with lend("a") as first:
        with lend("b") as second, lend("a") as again:
            assert (first.name, second.name, again.name) == ("k0", "k1", "k0")
            with lend("c") as third:
                assert third.name == "k2"
            assert keepers.in_flight == [2, 1, 0]
    assert keepers.in_flight == [0, 0, 0]
    with lend("d") as fourth:  # none busy: the one owning the fewest tasks, a tie broken by order
        assert fourth.name == "k0" and dict(keepers.owner) == {"a": 0, "b": 1, "c": 2, "d": 0}
    with lend("b") as later:
        assert later.name == "k1"
    keepers.members[1].gone = True
    with lend("b") as moved, lend("e") as new:
        assert moved.name == "k2" and new.name == "k0"  # (k0 owns a, d, e now: k2 was busier)
    assert keepers.owner["b"] == 2


def test_two_keepers_make_two_tasks_references_side_by_side_and_lend_each_after():
    import threading

    add, silu = resolve_task("vector_add"), resolve_task("silu")
    results = {}
    with WorkerPool(device="cpu", workers=2, config=EvalConfig(timeout_s=120, keepers=2)) as pool:
        group = pool._keepers[None]
        assert len(group.members) == 2
        assert len({keeper.process.pid for keeper in group.members}) == 2
        threads = [threading.Thread(target=lambda t=t: results.setdefault(t.id, pool.evaluate(t, t.baseline)))
                   for t in (add, silu)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        owners = dict(group.owner)
        again = pool.evaluate(add, add.baseline)
    assert all(r.status == "passed" for r in results.values()), {k: r.error for k, r in results.items()}
    assert all(r.evidence["references"].startswith("made by the reference keeper") for r in results.values())
    assert sorted(owners.values()) == [0, 1]  # one task each
    assert again.status == "passed" and again.evidence["references"].startswith("lent by the reference keeper")


def test_references_that_ran_out_of_gpu_memory_are_made_once_more_with_no_other_keeper_making(tmp_path):
    """A task whose references ran out of GPU memory is made again, once, after the first try's memory is let
    go (the exception's traceback no longer holds it) and while no other keeper of the GPU makes references
    (the device's making lock held alone); any other failure is the task's at once. Each try gives the keeper's
    cache back before it waits for the making lock. The keeper's making is
    stood in for: out of memory cannot be caused on purpose here."""
    import weakref

    from tritonsmith.evaluate.gpu_lock import GpuLock
    from tritonsmith.evaluate.keeper import Keeper
    from tritonsmith.evaluate.runtime import TaskFailure

    lock_path = str(tmp_path / "gpu0.lock")
    other_keeper = GpuLock(lock_path + ".making")  # another keeper's making, seen from outside

    class Probe(Keeper):
        def __init__(self, failures: list[BaseException]):
            super().__init__("cuda", 1 << 30)
            self.failures, self.tries, self.first_inputs, self.events = failures, [], None, []

        def attempt(self, job):
            import fcntl
            try:  # whether another keeper could make references now
                fcntl.flock(other_keeper.fds[0], fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(other_keeper.fds[0], fcntl.LOCK_UN)
                others_could = True
            except BlockingIOError:
                others_could = False
            first_alive = self.first_inputs is not None and self.first_inputs() is not None
            self.tries.append({"others_could_make": others_could, "first_try_alive": first_alive})
            self.events.append("attempt")
            if self.failures:
                inputs = torch.ones(8)  # what a failing try held
                self.first_inputs = weakref.ref(inputs)
                failure = self.failures.pop(0)
                try:
                    raise failure
                except BaseException as exc:
                    raise TaskFailure(f"the task's make_inputs/reference failed on case 0: {exc}") from exc
            return {"made": True}

        def check_context(self, error):
            pass

        def release_cached(self):
            self.events.append("released")

        def settle(self):
            super().settle(every_s=0.01)

        def free_memory(self):  # the other keepers giving their caches back, then done
            self.events.append("free")
            return self.free_sizes.pop(0)
    job = {"gpu_lock": lock_path, "task_key": "k"}
    probe = Probe([torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")])
    probe.free_sizes = [1 << 30, 5 << 30, 9 << 30, 9 << 30, 12 << 30]
    assert probe.make(job) == ({"made": True}, None)
    assert probe.tries == [{"others_could_make": True, "first_try_alive": False},
                           {"others_could_make": False, "first_try_alive": False}]
    # its cache given back before each wait for the making lock: another keeper's second try alone needs it;
    # and the second try waits while the GPU's free memory grows (the others' caches coming back), no longer
    assert probe.events == ["released", "attempt", "released", "free", "free", "free", "free", "attempt"]
    probe = Probe([RuntimeError("CUDA error: an illegal memory access was encountered")])
    state, error = probe.make(job)
    assert state is None and "illegal memory access" in error and len(probe.tries) == 1
    probe = Probe([torch.OutOfMemoryError("CUDA out of memory"), torch.OutOfMemoryError("CUDA out of memory")])
    probe.free_sizes = [1 << 30] * 2
    state, error = probe.make(job)
    assert state is None and error.endswith("(also when made again with no other keeper of this GPU making references)")


def test_correctness_checks_too_large_for_the_gpu_are_fewer_and_cover_the_cases_first():
    """A KernelBench level-1 problem's check (inputs and reference outputs) takes 6 to 17 GB, and every check is
    held at once: on a GPU the correctness checks stop short of the evaluation's share of its memory (one at
    least), beside the perf, after-timing and kernels-off checks, made every case at its first seed first, and
    kept in their usual order. A GPU's share is only known there: here the budget is set."""
    from tritonsmith.evaluate.references import References
    from tritonsmith.evaluate.runtime import held_bytes

    task = resolve_task("vector_add")

    def made(budget):
        class Budgeted(References):
            def memory_budget(self):
                return budget
        references = Budgeted({"device": "cpu", "seeds": [0, 1, 2], "task_path": str(task.path),
                               "correctness_cases": list(task.correctness_cases), "perf_cases": [],
                               "reproducibility_check": "never", "entry_point": task.entry_point})
        references.load_task()
        references.compute_references()
        return references
    whole = made(None)
    planned = [(check["index"], check["seed"]) for check in whole.checks]
    checked_here = [case for case in task.correctness_cases if case["dtype"] != "bfloat16"]  # (not on the CPU)
    assert len(planned) == 3 * len(checked_here) and "correctness_checks_limited" not in whole.evidence
    spread = sorted(planned, key=lambda pair: ([0, 1, 2].index(pair[1]), pair[0]))
    one = made(1)
    assert [(c["index"], c["seed"]) for c in one.checks] == [spread[0]]
    assert one.evidence["correctness_checks_limited"].startswith(f"1 of {len(planned)} correctness checks made")
    sizes = {(c["index"], c["seed"]): held_bytes((c["args"], c["expected"])) for c in whole.checks}
    half = sum(sizes[pair] for pair in spread[:len(spread) // 2]) + max(sizes.values())  # room for about half
    some = made(half)
    kept = [(c["index"], c["seed"]) for c in some.checks]
    assert 1 < len(kept) < len(planned) and sorted(kept, key=spread.index) == spread[:len(kept)]
    assert kept == sorted(kept, key=lambda pair: (pair[0], pair[1]))  # the usual order, case by case
    made_here = sum(sizes[pair] for pair in kept)
    assert made_here + max(sizes[pair] for pair in kept) <= half + max(sizes.values())


def test_checks_too_large_for_the_gpu_hold_their_expected_outputs_and_inputs_in_host_memory():
    """Where an evaluation's checks, their inputs counted twice (the candidate's process makes its own), take
    more than its share of the GPU (KernelBench's 19_ReLU: 12 GiB a check), the expected outputs are held in
    host memory and compared from there, and the candidate's process is told to hold its inputs there too;
    within the share, nothing moves. A GPU's share is only known there: here the budget is set."""
    from tritonsmith.evaluate.references import References
    from tritonsmith.evaluate.runtime import held_bytes

    task = resolve_task("vector_add")

    def made(budget):
        class Budgeted(References):
            def memory_budget(self):
                return budget
        references = Budgeted({"device": "cpu", "seeds": [0], "task_path": str(task.path),
                               "correctness_cases": list(task.correctness_cases)[:2], "perf_cases": [],
                               "reproducibility_check": "never", "entry_point": task.entry_point})
        references.load_task()
        references.compute_references()
        references.after_timing_checks = []
        return references
    roomy = made(1 << 40)
    assert roomy.start_command()["inputs_on_host"] is False and "held_on_host" not in roomy.evidence
    assert not any(check.get("on_host") for check in roomy.all_checks)
    tight = made(1024)
    checks = tight.checks + [tight.fresh_check]
    before = {id(check): check["expected"] for check in checks}
    size = held_bytes([(c["args"], c["expected"]) for c in checks]) + held_bytes([c["args"] for c in checks])
    assert tight.start_command()["inputs_on_host"] is True
    assert all(check["on_host"] and check["expected"] is not before[id(check)]
               and torch.equal(check["expected"], before[id(check)]) for check in checks)
    assert tight.evidence["held_on_host"].startswith(f"the checks take {size / 2**30:.1f} GiB (their inputs "
                                                      "counted twice") and "the inputs in the candidate's process" in tight.evidence["held_on_host"]
    check = tight.checks[0]
    assert tight.compared(before[id(check)].clone(), check) is None
    assert "differs from the reference" in tight.compared(before[id(check)] + 1, check)["message"]
    assert tight.problem(before[id(check)] + 1, check, check["args"]) is not None
    # only outputs wholly on the evaluation's device move: a GPU task's CPU result or numpy array compares as
    # on the CPU, and held for the GPU would fail an honest candidate (meta stands for the GPU)
    import numpy

    from tritonsmith.evaluate.references import _outputs_on_host
    on_gpu = torch.empty(3, device="meta")
    assert _outputs_on_host({"x": on_gpu, "n": torch.tensor([3])}, "meta") is None
    assert _outputs_on_host((on_gpu, numpy.zeros(2)), "meta") is None
    assert _outputs_on_host(torch.nn.Parameter(on_gpu), "meta") is None
    moved = _outputs_on_host([before[id(check)], {"y": before[id(check)]}], "cpu")
    assert moved[0] is not before[id(check)] and torch.equal(moved[1]["y"], before[id(check)])


def test_references_more_than_a_keeper_keeps_are_lent_once_then_made_by_each_job(tmp_path):
    """A task whose references are more than its keeper keeps (its share of the GPU's memory) is not kept: the
    job they were made for borrows them (where its copy fits beside them: not made twice for it), and the
    task's later jobs are told at once to make their own."""
    import pickle

    from tritonsmith.evaluate.keeper import Keeper
    from tritonsmith.evaluate.pool import EvalConfig, task_key

    task = resolve_task("vector_add")
    job = {"task_path": str(task.path), "task_key": task_key(task, [0, 1, 2]), "seeds": [0, 1, 2],
           "correctness_cases": list(task.correctness_cases), "perf_cases": list(task.perf_cases),
           "tolerances": {}, "reproducibility_check": EvalConfig().reproducibility_check}
    keeper = Keeper("cpu", 1024)
    made = []
    original = keeper.make
    keeper.make = lambda job: made.append(1) or original(job)
    first = pickle.loads(keeper.references(job))
    assert re.fullmatch(r"now, for this job only \(not kept: the task's references take \d+\.\d GiB, more than "
                        r"this keeper keeps \(0\.0 GiB\)\)", first["made"]), first["made"]
    assert first["state"]["checks"] and first["state"]["perf_checks"] is not None
    later = pickle.loads(keeper.references(job))
    assert re.fullmatch(r"the task's references take \d+\.\d GiB, more than this keeper keeps \(0\.0 GiB\): "
                        r"each job makes its own", later["unavailable"]), later
    assert made == [1] and not keeper.kept
    keeper.copy_fits = lambda size: False  # no room for the job's copy beside them: it makes its own at once
    job["task_key"] = "another"
    import gc
    import weakref

    from tritonsmith.evaluate.references import References
    from tritonsmith.evaluate.runtime import tensors_of
    held, stages = [], []  # what the keeper made and then let go: freed, by the time the job is answered
    original_checks = References.make_correctness_checks

    def remember(self, planned):
        original_checks(self, planned)
        held.extend(weakref.ref(t) for t in tensors_of((self.perf_checks, self.checks)))
    original_stage = References.stage
    References.make_correctness_checks = remember
    References.stage = lambda self, name: stages.append(name) or original_stage(self, name)
    collect, gc.collect = gc.collect, lambda *generation: 0  # (the keeper collects for the task's module)
    gc.disable()
    try:
        reply = pickle.loads(keeper.references(job))
        assert made == [1, 1] and held and not any(ref() is not None for ref in held)
    finally:
        gc.enable()
        gc.collect = collect
        References.make_correctness_checks, References.stage = original_checks, original_stage
    # known too large once the correctness checks are made: the keeper stops there (the job makes its own)
    assert re.fullmatch(r"the task's references take \d+\.\d GiB at least, more than this keeper keeps \(0\.0 GiB\), "
                        r"nor could the job copy them: each job makes its own", reply["unavailable"]), reply
    assert stages[-1] == "correctness_checks" and "kernels_off_check" not in stages
    # jobs of a task not seen yet that wait for its first: none makes them again
    import threading
    job["task_key"] = "a third"
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(pickle.loads(keeper.references(job))))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [1, 1, 1] and len(replies) == 3 and all("unavailable" in reply for reply in replies)


def test_a_keeper_that_died_before_it_was_ready_hands_its_tasks_on(tmp_path):
    import os

    from tritonsmith.evaluate.processes import KeeperProcess
    keeper = KeeperProcess(tmp_path / "k.sock", "cpu", dict(os.environ), tmp_path / "k.log")
    try:
        keeper.process.kill()
        keeper.process.wait()
        assert keeper.path(wait_s=1) is None and keeper.restarts == 0  # never ready: not started again
        assert not keeper.usable()
    finally:
        keeper.close()


def test_a_closed_keeper_is_never_started_again(tmp_path):
    """A keeper closed (its pool closing) while a job's timeout asks to restart it, or a later job asks for its
    socket, stays closed: one started then would outlive the pool, its GPU memory held."""
    import os

    from tritonsmith.evaluate.processes import KeeperProcess
    keeper = KeeperProcess(tmp_path / "k.sock", "cpu", dict(os.environ), tmp_path / "k.log")
    assert keeper.path(wait_s=120) is not None  # ready
    pid = keeper.process.pid
    keeper.close()
    keeper.restart(pid, "its making outlasted a job")
    assert keeper.path(wait_s=1) is None  # (a keeper that exited once ready is started again, unless closed)
    assert keeper.process.pid == pid and keeper.process.poll() is not None and keeper.restarts == 0
    assert not keeper.usable()  # (so no job is lent it)
    keeper.close()  # twice: nothing


def test_small_correctness_checks_beside_large_perf_checks_are_all_made():
    """A TritonBench-G task's perf shapes can take GBs while its correctness cases take KBs: the correctness
    checks always have a quarter of the budget, so a budget the perf checks fill does not cut them."""
    from tritonsmith.evaluate.references import correctness_room

    gib = 2**30
    assert correctness_room(None, 5 * gib) is None  # the CPU: no budget
    assert correctness_room(40 * gib, 10 * gib) == 30 * gib
    assert correctness_room(40 * gib, 39 * gib) == correctness_room(40 * gib, 80 * gib) == 10 * gib


def test_a_finished_tasks_references_are_let_go_by_its_keeper(cpu_pool, tmp_path):
    """A bench forgets each task it finished (WorkerPool.forget): its keeper lets the task's references go,
    so that their memory serves later tasks; the task evaluated again has them made again."""
    task = variant(tmp_path, "vector_add_forgotten", ("    BLOCK = 1024\n", "    BLOCK = 1024  # a task of its own\n"))
    first = cpu_pool.evaluate(task, task.baseline, timeout_s=120)
    second = cpu_pool.evaluate(task, task.baseline, timeout_s=120)
    assert first.status == second.status == "passed", (first.summary(), second.summary())
    assert "made by the reference keeper for this job" in first.evidence["references"]
    assert "made for an earlier job" in second.evidence["references"]
    cpu_pool.forget(task)
    third = cpu_pool.evaluate(task, task.baseline, timeout_s=120)
    assert third.status == "passed" and "made by the reference keeper for this job" in third.evidence["references"]


def test_a_keeper_gives_its_cache_back_while_it_makes_nothing():
    """An idle keeper's cache (references a job copied and let go, what a making freed) goes back to the GPU
    within a moment, never while it makes references from memory it filled, but while it waits to make them
    (behind another keeper's making, or for the GPU); a failure in between does not stop it. The release is stood
    in for: the CPU has no cache."""
    import threading

    from tritonsmith.evaluate.keeper import Keeper

    class Probe(Keeper):
        def __init__(self):
            super().__init__("cuda", 1 << 30)
            self.released = threading.Event()

        def release_cached(self):
            self.releases += 1
            if self.releases == 1:
                raise RuntimeError("CUDA error: a failure once")
            self.released.set()

    probe, stop = Probe(), threading.Event()
    probe.releases = 0
    idle = threading.Thread(target=probe.release_when_idle, args=(0.01, stop), daemon=True)
    idle.start()
    try:
        assert probe.released.wait(10)  # idle: given back
        with probe.filling:  # making references (allocating, from memory it filled): nothing released meanwhile
            probe.released.clear()
            releases = probe.releases
            assert not probe.released.wait(0.3)
            assert probe.releases == releases
        with probe.making:  # only waiting to make them: given back
            probe.released.clear()
            assert probe.released.wait(10)
    finally:
        stop.set()
        idle.join(10)
    assert not idle.is_alive()


def test_a_keeper_still_making_references_when_its_job_timed_out_is_restarted(tmp_path):
    """A task whose references outlast its evaluation's limit: the job times out, and the keeper making them
    for nobody is stopped and another started (on a GPU it held the making lock, alone on a second try, and
    every other keeper waited: a TritonBench-G pass stood still for nine minutes). A later task is served by
    the new keeper at once."""
    slow = variant(tmp_path, "slow_references", ("def reference(x, y):\n    return x + y\n",
                                                 "def reference(x, y):\n    import time\n    time.sleep(600)\n"
                                                 "    return x + y\n"))
    add = resolve_task("vector_add")
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=20)) as pool:
        keeper = pool._keepers[None].members[0]
        first = keeper.process
        with pytest.raises(TaskError, match="not ready within the 20 s limit"):
            pool.evaluate(slow, add.baseline)
        assert keeper.process is not first and first.poll() is not None and keeper.restarts == 0
        assert keeper.path() is not None and keeper.making() == (keeper.process.pid, None, True)  # the new one, idle
        assert "the reference keeper was stopped: its making of" in (pool.work_dir / "keeper-cpu-0.log").read_text()
        started = time.monotonic()
        after = pool.evaluate(add, add.baseline, timeout_s=120)
    assert after.status == "passed", after.message
    assert after.evidence["references"].startswith("made by the reference keeper")
    assert time.monotonic() - started < 60


def test_a_reference_that_prints_more_than_a_pipe_holds_does_not_stand_the_keeper_still(tmp_path):
    """Some golds print whole tensors on every call. The keeper's stdout was a pipe nobody read after "ready": it
    filled, the keeper stood still in a write holding the GPU's lock, and a TritonBench-G pass stood still."""
    chatty = variant(tmp_path, "chatty_reference", ("def reference(x, y):\n    return x + y\n",
                                                    "def reference(x, y):\n    print('x' * 4096 * 64, flush=True)\n"
                                                    "    return x + y\n"))
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=60)) as pool:
        keeper = pool._keepers[None].members[0]
        first = keeper.process
        result = pool.evaluate(chatty, chatty.baseline)
        assert result.status == "passed", result.message
        assert result.evidence["references"].startswith("made by the reference keeper"), result.evidence
        assert keeper.process is first and first.poll() is None  # never restarted


def test_a_keeper_making_nothing_when_a_candidate_timed_out_is_kept():
    """The candidate, not the task's references, outlasted the limit: the keeper (idle, its references kept
    for the task's next job) stays."""
    add = resolve_task("vector_add")
    hangs = add.baseline.replace("def vector_add(", "def _vector_add(") + (
        "\n\ndef vector_add(x, y):\n    import time\n    time.sleep(600)\n    return _vector_add(x, y)\n")
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=20)) as pool:
        keeper = pool._keepers[None].members[0]
        first = keeper.process
        result = pool.evaluate(add, hangs)
        assert result.status == "timeout", result.message
        assert keeper.process is first and first.poll() is None
        again = pool.evaluate(add, add.baseline, timeout_s=120)
    assert again.status == "passed" and again.evidence["references"].startswith("lent by the reference keeper")


def test_a_making_that_lasts_writes_every_threads_stack_to_the_keepers_log(tmp_path, capfd):
    """Where a keeper stands still is in its log without anyone asking: the pass that stood still behind a keeper
    holding the GPU left no trace of where it stood."""
    from tritonsmith.evaluate.keeper import Keeper
    from tritonsmith.evaluate.pool import EvalConfig, task_key

    slow = variant(tmp_path, "slow_made", ("def reference(x, y):\n    return x + y\n",
                                           "def reference(x, y):\n    import time\n    time.sleep(1.5)\n"
                                           "    return x + y\n"))
    job = {"task_path": str(slow.path), "task_key": task_key(slow, [0]), "seeds": [0],
           "correctness_cases": list(slow.correctness_cases)[:1], "perf_cases": [], "tolerances": {},
           "reproducibility_check": EvalConfig().reproducibility_check}
    keeper = Keeper("cpu", 1 << 30)
    keeper.stacks_every_s = 0.3  # (five periods within the making: one at least, on a busy CI host too)
    state, error = keeper.make(job)
    assert error is None and state["checks"]
    during = capfd.readouterr().err
    assert "most recent call first" in during and "in reference" in during and "in make" in during, during[-2000:]
    time.sleep(1.0)
    assert "most recent call first" not in capfd.readouterr().err  # none once the making ended


def test_a_keeper_that_stopped_answering_is_restarted_when_a_job_waiting_on_it_times_out():
    """A keeper that stands still (here: stopped by SIGSTOP; on a GPU one stood still holding the GPU's lock
    with its CPU idle) answers neither the job nor the pool's question: the job times out, the question goes
    unanswered for 10 s, and the keeper is replaced."""
    import signal

    add = resolve_task("vector_add")
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=20)) as pool:
        keeper = pool._keepers[None].members[0]
        stuck = keeper.process
        assert keeper.path() is not None
        stuck.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(TaskError, match="not ready within the 20 s limit"):
                pool.evaluate(add, add.baseline)
            assert keeper.process is not stuck and stuck.poll() is not None
            assert "it did not answer after builtin:vector_add's job timed out" in (pool.work_dir / "keeper-cpu-0.log").read_text()
        finally:
            if stuck.poll() is None:
                stuck.send_signal(signal.SIGCONT)
        again = pool.evaluate(add, add.baseline, timeout_s=120)
    assert again.status == "passed", again.message


def test_the_kernels_off_check_is_skipped_only_where_the_reference_output_is_all_zeros(tmp_path, fresh_pool):
    """A reference whose outputs are all zeros cannot tell kernels that ran from kernels that did not (checked
    without a float copy of the output: a KernelBench output is 6 GiB); -0.0 is zero, NaN is not."""
    fill = candidate("adversarial/zeros.py")
    nan_fill = fill.replace("tl.zeros([BLOCK], dtype=tl.float32)", "tl.full([BLOCK], float('nan'), tl.float32)")
    assert nan_fill != fill
    verdicts = []
    for name, body, source in (("zero", "(x + y) * 0", fill), ("negzero", "-(x * 0).abs()", fill),
                               ("nan", "(x + y) * 0 + float('nan')", nan_fill)):
        task = variant(tmp_path, name, ("def reference(x, y):\n    return x + y\n",
                                        f"def reference(x, y):\n    return {body}\n"))
        result = fresh_pool.evaluate(task, source)
        verdicts.append((result.status, result.evidence.get("kernels_off_check")))
    # a NaN output is what memory filled with 0xFF bytes reads as: with every launch disabled, still correct
    assert verdicts == [("passed", "skipped: the reference output is all zeros")] * 2 + [("rejected", "ran")], verdicts


def test_a_job_copies_references_too_large_to_keep_only_with_as_much_again_free(monkeypatch):
    """Beside the keeper's references, the job's copy and the candidate's process (the same checks' inputs, its
    outputs) need about twice their size: with less free, the keeper lets them go and the job makes its own
    (KernelBench's 19_ReLU, 36 GiB of them copied with 41 GiB free, left an H100 no room for the inputs)."""
    import torch

    from tritonsmith.evaluate.keeper import Keeper
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *device: (41 << 30, 80 << 30))
    keeper = Keeper("cuda", 1 << 30)
    assert keeper.copy_fits(20 << 30) and not keeper.copy_fits(21 << 30) and not keeper.copy_fits(36 << 30)
    assert Keeper("cpu", 1 << 30).copy_fits(1 << 40)


def test_inputs_held_in_host_memory_let_their_device_copy_go_even_when_they_require_grad(tmp_path):
    """The checker's own inputs, moved to host memory (hold_on_host), keep nothing of the device's copy alive:
    a copy that kept the autograd link of an input requiring grad (a TritonBench-G test's) would hold it, and
    free nothing. requires_grad is kept; the device copy for a call (`args_here`) is equal."""
    import functools
    import gc
    import weakref
    from types import SimpleNamespace

    from tritonsmith.evaluate.gpu_lock import GpuLock
    from tritonsmith.evaluate.references import References

    made = torch.randn(64, requires_grad=True)
    alive = weakref.ref(made)
    check = {"args": (made, 3), "expected": made.detach() * 2, "phase": "perf_shape"}
    del made
    stand_in = SimpleNamespace(device="cpu", on_gpu=False, checker=object(), evidence={}, job={},
                               gpu_lock=GpuLock(str(tmp_path / "gpu0.lock")), memory_budget=lambda: 1)
    stand_in.copied = functools.partial(References.copied, stand_in)
    assert References.hold_on_host(stand_in, [check], []) is True
    assert check["args_on_host"] and stand_in.evidence["held_on_host_bytes"]["checker_inputs"] == 64 * 4
    gc.collect()
    assert alive() is None, "the device copy of the inputs is still alive"
    held = check["args"][0]
    assert held.requires_grad and held.is_leaf and check["args"][1] == 3
    again = References.args_here(stand_in, check)
    assert torch.equal(again[0], held) and again[0] is not held


def test_an_evaluation_made_alone_has_the_memory_shares_of_its_gpus_other_evaluations(tmp_path):
    """An evaluation made again alone for want of GPU memory (MemoryGate.alone) gets the GPU's whole check share
    and the host memory its GPU's other workers would have had: a TritonBench-G gold (chunk_retention) made alone
    on an H100 of a four-worker pool held its checks in a quarter of the checker's share, as if the others ran."""
    from tritonsmith.evaluate.pool import EvalConfig, WorkerPool
    from tritonsmith.suites import resolve_task
    task = resolve_task("vector_add")
    with WorkerPool(device="cpu", workers=1, work_dir=tmp_path / "pool", config=EvalConfig(check_memory=0.4)) as pool:
        pool._gpu_of = [0, 0, 0, 1]  # (the jobs only: nothing runs) three workers on one GPU, one on another
        beside, alone = pool._job(task, "", tmp_path, slot=0), pool._job(task, "", tmp_path, slot=0, alone=True)
        assert (beside["check_memory"], beside["host_share"]) == (pytest.approx(0.4 / 3), 1 / 4)
        assert (alone["check_memory"], alone["host_share"]) == (0.4, 1 / 2)
        other = pool._job(task, "", tmp_path, slot=3, alone=True)
        assert (other["check_memory"], other["host_share"]) == (0.4, 1 / 4)


@pytest.mark.parametrize("share, held", [(1.0, True), (1 / 8, False)])
def test_host_memory_for_held_checks_is_shared_by_the_pools_evaluations(tmp_path, monkeypatch, share, held):
    """Each evaluation may hold checks in half the host's available memory, divided among the pool's workers
    (`host_share`): evaluations that start together all see the same memory free, and four or eight taking
    half of it each would ask more than the host has."""
    from types import SimpleNamespace

    import tritonsmith.evaluate.references as references
    from tritonsmith.evaluate.gpu_lock import GpuLock
    from tritonsmith.evaluate.pool import WorkerPool
    from tritonsmith.evaluate.references import References
    from tritonsmith.suites import resolve_task
    with WorkerPool(device="cpu", workers=2, work_dir=tmp_path / "pool") as pool:  # what a pool's jobs carry
        assert pool._job(resolve_task("vector_add"), "", tmp_path, slot=1)["host_share"] == 1 / 2
    check = {"args": (torch.randn(1024),), "expected": torch.randn(1024), "phase": "perf_shape"}
    monkeypatch.setattr(references, "host_available", lambda: 4 * 4096)  # room for the inputs once, not eight times
    stand_in = SimpleNamespace(device="cpu", on_gpu=False, checker=object(), evidence={}, job={"host_share": share},
                               gpu_lock=GpuLock(str(tmp_path / "gpu0.lock")), memory_budget=lambda: 1)
    assert References.hold_on_host(stand_in, [check], []) is held
    said = stand_in.evidence["held_on_host"]
    assert ("the inputs in the candidate's process" in said) is held and ("no room in host memory" in said) is not held


def test_a_device_fault_while_compiling_ahead_is_named_as_its_own_case(monkeypatch):
    """TritonBench-G's softmax_reducev faulted the GPU (an illegal address) on a correctness case of its test while
    its kernels were compiled ahead, and the error surfaced at the next case made, perf case 0, which was named. A
    scouted call that faults is named itself; one that runs out of memory, or raises otherwise, is left to its own
    run, as before. (No GPU here: the scouting runs each call to its end, and the reference raises CUDA's words.)"""
    import tritonsmith.evaluate.references as references
    from tritonsmith.evaluate.references import References, TaskFailure

    def run_each(calls):  # as compile_calls_ahead's scouting: whatever a call raises stays there
        for call in calls:
            try:
                call()
            except Exception:  # noqa: BLE001
                pass
        return {"rounds": 1, "compiles": 0}
    monkeypatch.setattr(references, "compile_calls_ahead", run_each)
    task = resolve_task("vector_add")

    def made(fault: str) -> References:
        made = References({"device": "cpu", "seeds": [0], "task_path": str(task.path),
                           "correctness_cases": list(task.correctness_cases), "perf_cases": [task.perf_cases[0]],
                           "reproducibility_check": "never", "entry_point": task.entry_point})
        made.load_task()
        reference = made.task.reference

        def faulting(x, y, *rest):
            if x.numel() == task.correctness_cases[1]["shape"][0]:
                raise RuntimeError(fault)
            return reference(x, y, *rest)
        made.task.reference = faulting
        return made
    assert task.correctness_cases[1]["shape"][0] not in (task.correctness_cases[0]["shape"][0], task.perf_cases[0]["shape"][0])
    cases = list(enumerate(task.correctness_cases))
    with pytest.raises(TaskFailure, match=r"^the task's make_inputs/reference failed on case 1 \(.*\), its kernels "
                                          r"compiled ahead: RuntimeError: CUDA error: an illegal memory access"):
        made("CUDA error: an illegal memory access was encountered").compile_ahead(cases)
    for not_a_fault in ("CUDA error: out of memory", "shapes do not match"):
        quiet = made(not_a_fault)
        quiet.compile_ahead(cases)  # its own run says why
        assert quiet.evidence["compiled_ahead"] == {"rounds": 1, "compiles": 0}


def test_a_device_fault_of_kernels_a_scouted_call_launched_before_it_stopped_is_named_as_its_case(monkeypatch):
    """A scouted call stops (ScoutStopped) at the first kernel it would compile: the kernels it launched before
    that may fault the device, and the fault must surface as that case's, not at the next call's. (No GPU here:
    the reference stops on case 1, and the device's synchronize after it raises CUDA's words, as a fault would.)"""
    import tritonsmith.evaluate.references as references
    from tritonsmith.evaluate.gpu_lock import ScoutStopped
    from tritonsmith.evaluate.references import References, TaskFailure

    def run_each(calls):  # as compile_calls_ahead's scouting: a stopped call is kept to scout again
        for call in calls:
            try:
                call()
            except ScoutStopped:
                pass
            except Exception:  # noqa: BLE001
                pass
        return {"rounds": 1, "compiles": 1}
    monkeypatch.setattr(references, "compile_calls_ahead", run_each)
    launched_faulty = []

    def synchronize(device):
        if launched_faulty:
            launched_faulty.clear()
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
    monkeypatch.setattr(references, "synchronize", synchronize)
    task = resolve_task("vector_add")
    made = References({"device": "cpu", "seeds": [0], "task_path": str(task.path),
                       "correctness_cases": list(task.correctness_cases), "perf_cases": [task.perf_cases[0]],
                       "reproducibility_check": "never", "entry_point": task.entry_point})
    made.load_task()

    def stopping(x, y, *rest):
        if x.numel() == task.correctness_cases[1]["shape"][0]:
            launched_faulty.append(True)  # a kernel launched, then a second one to compile: the scout stops
            raise ScoutStopped
        return x + y
    made.task.reference = stopping
    with pytest.raises(TaskFailure, match=r"^the task's make_inputs/reference failed on case 1 \(.*\), its kernels "
                                          r"compiled ahead: RuntimeError: CUDA error: an illegal memory access"):
        made.compile_ahead(list(enumerate(task.correctness_cases)))



@pytest.mark.parametrize("declared, raised, skipped", [
    ('"skip"', "IndexError('Dimension out of range (expected to be in range of [-3, 2], but got 3)')", True),
    (None, "IndexError('Dimension out of range (expected to be in range of [-3, 2], but got 3)')", False),
    ('"skip"', "RuntimeError('CUDA error: an illegal memory access was encountered')", False),  # the context is lost
    ('"skip"', "RuntimeError('Triton Error [CUDA]: an illegal memory access was encountered')", False),  # (Triton's)
    ('"skip"', "RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')", False),  # made again alone
])
def test_a_perf_input_whose_reference_raises_is_skipped_only_where_the_suite_says_so(tmp_path, declared, raised,
                                                                                     skipped):
    """TritonBench-G's and GEAK's ROCm harnesses go on past a perf input whose run raises (token_attn_llama2's
    perf script gives 3-D tensors to a wrapper that asks stride(3)): their generated tasks say
    PERF_INPUT_ERRORS = "skip", and such a perf case is skipped and said; elsewhere it fails the task."""
    from tritonsmith.evaluate.references import References, TaskFailure

    source = resolve_task("vector_add").source().replace(
        "def reference(x, y):\n", f"def reference(x, y):\n    if x.numel() == 300:\n        raise {raised}\n")
    assert "if x.numel() == 300" in source
    source += f"\nPERF_INPUT_ERRORS = {declared}\n" if declared else ""
    path = tmp_path / "perf_raises.py"
    path.write_text(source)
    references = References({"device": "cpu", "seeds": [0], "task_path": str(path), "correctness_cases": [],
                             "perf_cases": [{"shape": [200], "dtype": "float32"}, {"shape": [300], "dtype": "float32"},
                                            {"shape": [400], "dtype": "float32"}],
                             "reproducibility_check": "never", "entry_point": "vector_add"})
    references.load_task()
    references.perf_checks = []  # (compute_references' start; on a GPU it makes the perf checks first)
    if not skipped:
        with pytest.raises(TaskFailure, match=r"^the task's make_inputs/reference failed on perf case 1 "):
            references.make_perf_checks()
        return
    references.make_perf_checks()
    assert [check["index"] for check in references.perf_checks] == [0, 2]
    (said,) = references.evidence["skipped_perf_cases"]
    assert said.startswith("case 1 (shape=[300] dtype=float32): the reference raised there, and the suite skips such "
                           "an input (PERF_INPUT_ERRORS): IndexError: Dimension out of range"), said


def test_a_perf_input_whose_inputs_cannot_be_made_fails_the_task_even_where_the_suite_skips_raising_runs(tmp_path):
    """PERF_INPUT_ERRORS skips a case only where the reference's run raised: not the task's make_inputs (nor the
    harness's own code around it)."""
    from tritonsmith.evaluate.references import References, TaskFailure

    source = resolve_task("vector_add").source().replace(
        "def make_inputs(case, generator, device):\n",
        "def make_inputs(case, generator, device):\n    if case['shape'] == [300]:\n        raise ValueError('no')\n")
    assert "raise ValueError('no')" in source
    path = tmp_path / "inputs_raise.py"
    path.write_text(source + '\nPERF_INPUT_ERRORS = "skip"\n')
    references = References({"device": "cpu", "seeds": [0], "task_path": str(path), "correctness_cases": [],
                             "perf_cases": [{"shape": [200], "dtype": "float32"}, {"shape": [300], "dtype": "float32"}],
                             "reproducibility_check": "never", "entry_point": "vector_add"})
    references.load_task()
    references.perf_checks = []
    with pytest.raises(TaskFailure, match=r"failed on perf case 1 .*ValueError: no"):
        references.make_perf_checks()

