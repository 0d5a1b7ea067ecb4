"""The worker pool: isolation from the caller, recovery from a dead host, concurrency, task errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CANDIDATES, running_since, still_running

from tritonsmith.evaluate import DeviceError, EvalConfig, WorkerPool
from tritonsmith.suites import resolve_task
from tritonsmith.task import TaskError, load_task

SRC = Path(__file__).parents[2] / "src"
SLOW = (CANDIDATES / "honest/vector_add_slow.py").read_text()


def test_caller_imports_neither_torch_nor_the_candidate():
    code = ("import sys; from tritonsmith.evaluate import evaluate; from tritonsmith.suites import resolve_task; "
            "t = resolve_task('vector_add'); r = evaluate(t, t.baseline, device='cpu'); "
            "print(r.status, 'torch' in sys.modules, 'candidate' in sys.modules, 'triton' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["passed", "False", "False", "False"]


def test_broken_task_reference_is_a_task_error(cpu_pool, tmp_path):
    source = resolve_task("vector_add").source().replace("    return x + y\n", "    raise ValueError(\"broken on purpose\")\n")
    assert "broken on purpose" in source
    path = tmp_path / "broken_reference.py"
    path.write_text(source)
    task = load_task(path)
    with pytest.raises(TaskError, match="broken on purpose"):
        cpu_pool.evaluate(task, resolve_task("vector_add").baseline)


def kill_once_busy(host_pid: int) -> None:
    """SIGKILL the host as soon as it has forked the job's worker."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1] == str(host_pid):
                    os.kill(host_pid, signal.SIGKILL)
                    return
            except OSError:
                continue
        time.sleep(0.05)


def test_pool_survives_its_host_being_killed():
    task = resolve_task("vector_add")
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=60)) as pool:
        host = pool._hosts[0].process
        threading.Thread(target=kill_once_busy, args=(host.pid,)).start()
        result = pool.evaluate(task, SLOW)
        assert result.status == "crashed" and "host died" in result.message
        again = pool.evaluate(task, task.baseline)
        assert again.status == "passed"


def test_two_workers_evaluate_concurrently():
    task = resolve_task("vector_add")
    # each candidate prints when its slow import starts and ends; concurrent runs have overlapping windows
    source = SLOW.replace("time.sleep(3)", "print('start', time.time(), flush=True)\ntime.sleep(3)\n"
                          "print('end', time.time(), flush=True)")
    assert source != SLOW
    results = []
    with WorkerPool(device="cpu", workers=2) as pool:
        threads = [threading.Thread(target=lambda: results.append(pool.evaluate(task, source))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [r.status for r in results] == ["passed", "passed"]
    stamps = [line.split() for r in results for line in r.stdout_tail.splitlines()]
    starts = [float(t) for word, t in stamps if word == "start"]
    ends = [float(t) for word, t in stamps if word == "end"]
    assert len(starts) == len(ends) == 2
    assert max(starts) < min(ends), "the two evaluations did not overlap"


def test_an_evaluation_short_of_gpu_memory_beside_others_is_made_again_alone():
    """Two workers that share a GPU: a candidate that runs out of GPU memory while the other evaluation runs is
    evaluated once more after that one has ended, and with none beside it; only that try's verdict counts.
    (A GPU's memory cannot run out on purpose here: the two CPU workers are told they share GPU 0, and the
    candidate raises PyTorch's out-of-memory words.)"""
    from tritonsmith.evaluate.pool import MemoryGate

    task = resolve_task("vector_add")
    slow = SLOW.replace("time.sleep(3)", "time.sleep(3)\nprint('end', time.time(), flush=True)")
    assert slow != SLOW
    short = task.baseline + (
        "\nimport time\nprint('start', time.time(), flush=True)\n_add = vector_add\n\n"
        "def vector_add(*args, **kwargs):\n"
        "    raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')\n")
    results = {}
    with WorkerPool(device="cpu", workers=2, config=EvalConfig(timeout_s=120)) as pool:
        pool._gpu_of, pool._gates = [0, 0], {0: MemoryGate()}  # as two workers of one GPU
        first = threading.Thread(target=lambda: results.update(slow=pool.evaluate(task, slow)))
        first.start()
        time.sleep(1.0)  # the slow one is inside
        results["short"] = pool.evaluate(task, short)
        first.join()
        alone = pool.evaluate(task, short)  # nothing beside it: not made again
    slow_result, short_result = results["slow"], results["short"]
    assert slow_result.status == "passed" and "memory_retry" not in slow_result.evidence
    assert short_result.status == "runtime_error" and "out of memory" in short_result.message
    assert short_result.message.startswith("out of GPU memory with no other evaluation on this GPU too: case 0")
    retry = short_result.evidence["memory_retry"]
    assert "ran out of GPU memory beside other evaluations" in retry["note"]
    assert retry["status"] == "runtime_error" and "out of memory" in retry["message"]
    assert 0 < retry["wall_s"] < short_result.wall_s  # the first try; the result's wall time holds both
    ended = float(next(line.split()[1] for line in slow_result.stdout_tail.splitlines() if line.startswith("end")))
    started = float(next(line.split()[1] for line in short_result.stdout_tail.splitlines() if line.startswith("start")))
    assert started > ended, "the second try began before the other evaluation ended"
    assert alone.status == "runtime_error" and "memory_retry" not in alone.evidence  # none beside it: its own
    assert "made_alone" not in alone.evidence  # short even alone: the candidate's own, the task still shares
    # the try alone made its own references, at the GPU's whole share (a keeper's are made at half of it)
    assert short_result.evidence["references"].startswith("made by this job (made alone for want of GPU")
    assert alone.message.startswith("out of GPU memory with no other evaluation on this GPU: case 0")  # its own
    from tritonsmith.runs.bench import from_result  # a bench (a gold pass) keeps which were made again alone
    assert from_result(task, "dir", short_result).memory_retry == retry
    assert from_result(task, "dir", alone).memory_retry is None


def test_once_a_task_was_made_alone_for_memory_its_later_evaluations_are_made_alone_at_once(tmp_path):
    """An agent evaluates many candidates of a task: once one ran short of GPU memory beside others and was made
    alone, each later one of that task waits for the GPU alone at once, rather than running short beside others
    first; other tasks still share the GPU. (Two CPU workers told they share GPU 0, as above.)"""
    from tritonsmith.evaluate.pool import MemoryGate

    task, other = resolve_task("vector_add"), resolve_task("flip")
    # short of memory beside others only: alone, it passes (a candidate short even alone marks nothing)
    short = task.baseline + ("\nimport os\n_add = vector_add\n\ndef vector_add(*args, **kwargs):\n"
                             f"    if os.path.exists({str(tmp_path / 'beside')!r}):\n"
                             "        raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')\n"
                             "    return _add(*args, **kwargs)\n")
    slow_other = other.baseline + "\nimport time\ntime.sleep(3)\nprint('end', time.time(), flush=True)\n"
    started = task.baseline + "\nimport time\nprint('start', time.time(), flush=True)\n"
    results = {}
    with WorkerPool(device="cpu", workers=2, config=EvalConfig(timeout_s=120)) as pool:
        pool._gpu_of, pool._gates = [0, 0], {0: MemoryGate()}  # as two workers of one GPU
        def evaluate_other(round_):  # the flag file says the other task's evaluation is in flight
            results[f"{round_} other"] = pool.evaluate(other, slow_other)
            (tmp_path / "beside").unlink()
        for round_ in ("first", "later"):
            (tmp_path / "beside").touch()
            beside = threading.Thread(target=evaluate_other, args=(round_,))
            beside.start()
            time.sleep(1.0)  # the slow one is inside
            results[round_] = pool.evaluate(task, started if round_ == "later" else short)
            beside.join()
    first, later = results["first"], results["later"]
    assert first.status == "passed" and "made_alone" not in first.evidence  # short beside the other, not alone
    assert "out of memory" in first.evidence["memory_retry"]["message"]
    assert later.status == "passed" and "memory_retry" not in later.evidence
    assert later.evidence["made_alone"] == ("at once, with no other evaluation of this pool on its GPU: an earlier "
                                            "evaluation of this task ran short of GPU memory beside others")
    assert later.evidence["references"].startswith("made by this job (made alone for want of GPU memory")
    assert "made_alone" not in results["later other"].evidence and results["later other"].status == "passed"
    ended = float(next(line.split()[1] for line in results["later other"].stdout_tail.splitlines()
                       if line.startswith("end")))
    began = float(next(line.split()[1] for line in later.stdout_tail.splitlines() if line.startswith("start")))
    assert began > ended, "the later evaluation began beside the other task's"


def test_an_evaluation_waiting_at_the_gate_when_its_task_is_marked_alone_goes_alone():
    """An evaluation of a task that was marked alone while it waited to share the GPU (another evaluation of the
    task was made alone meanwhile) is made alone too, not tried beside others first."""
    from tritonsmith.evaluate.pool import MemoryGate, task_key

    task = resolve_task("vector_add")
    with WorkerPool(device="cpu", workers=2, config=EvalConfig(timeout_s=120)) as pool:
        pool._gpu_of, pool._gates = [0, 0], {0: MemoryGate()}  # as two workers of one GPU
        holding = pool._gates[0].alone()
        holding.__enter__()  # (as an evaluation made alone: the next one waits at the gate)
        done = []
        waiting = threading.Thread(target=lambda: done.append(pool.evaluate(task, task.baseline)))
        waiting.start()
        time.sleep(0.5)
        assert not done
        pool.alone_tasks[task_key(task, pool.config.seeds)] = "marked while it waited"
        holding.__exit__(None, None, None)
        waiting.join(120)
    (result,) = done
    assert result.status == "passed"
    assert result.evidence["made_alone"].endswith(": marked while it waited")


def test_a_first_try_short_of_memory_is_handed_back_where_asked_and_a_second_one_made_alone():
    """MemoryRetry: the first try short of GPU memory beside another evaluation comes back to the caller
    (MemoryRetryDeferred, with that try) instead of waiting for the GPU alone; the caller's try after it, with the
    first as `earlier`, is made alone only if it runs short beside others too, and its record keeps both."""
    from tritonsmith.evaluate.pool import MemoryGate, MemoryRetry, MemoryRetryDeferred

    task = resolve_task("vector_add")
    short = task.baseline + ("\n_add = vector_add\n\ndef vector_add(*args, **kwargs):\n"
                             "    raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')\n")
    slow = SLOW.replace("time.sleep(3)", "time.sleep(8)")
    assert slow != SLOW
    with WorkerPool(device="cpu", workers=2, config=EvalConfig(timeout_s=120)) as pool:
        pool._gpu_of, pool._gates = [0, 0], {0: MemoryGate()}  # as two workers of one GPU
        beside = threading.Thread(target=lambda: pool.evaluate(task, slow))
        beside.start()
        time.sleep(1.0)  # the slow one is inside
        began = time.perf_counter()
        with pytest.raises(MemoryRetryDeferred) as deferred:
            pool.evaluate(task, short, memory_retry=MemoryRetry())
        assert time.perf_counter() - began < 7, "it waited for the one beside it"
        first = deferred.value.first
        assert first["status"] == "runtime_error" and "out of memory" in first["message"] and first["wall_s"] > 0
        again = pool.evaluate(task, short, memory_retry=MemoryRetry(earlier=first))  # still beside the slow one
        beside.join()
    retry = again.evidence["memory_retry"]
    assert again.status == "runtime_error" and retry["message"] == first["message"]
    assert "out of memory" in retry["again_beside_others"]["message"]
    assert "once a try later beside others ran short too" in retry["note"]


@pytest.mark.parametrize("message, retried", [
    ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 139.80 GiB of which 1.8 GiB "
     "is free.", True),
    ("CUDA out of memory. Tried to allocate 200.00 GiB. GPU 0 has a total capacity of 139.80 GiB", False),  # never fits
    ("CUDA error: out of memory", True),
    ("RuntimeError: cudaErrorMemoryAllocation", True),
    ("output differs from the reference", False),
])
def test_what_counts_as_short_of_gpu_memory(message, retried):
    from tritonsmith.evaluate.pool import short_of_memory
    assert short_of_memory(message) is retried


def test_a_memory_gate_whose_lone_waiter_is_interrupted_stays_open():
    from tritonsmith.evaluate.pool import MemoryGate

    gate = MemoryGate()
    inside = gate.shared()
    inside.__enter__()

    def interrupted(predicate, timeout=None):
        raise KeyboardInterrupt
    real_wait, gate._changed.wait_for = gate._changed.wait_for, interrupted
    with pytest.raises(KeyboardInterrupt):
        with gate.alone():
            pass
    gate._changed.wait_for = real_wait
    inside.__exit__(None, None, None)
    entered = threading.Event()

    def enter():
        with gate.shared():
            entered.set()
    threading.Thread(target=enter, daemon=True).start()
    assert entered.wait(5), "the gate stayed shut after the interrupted wait"


def test_the_memory_gate_lets_one_in_alone_and_starves_it_never():
    from tritonsmith.evaluate.pool import MemoryGate

    gate, events = MemoryGate(), []
    inside = gate.shared()
    first = inside.__enter__()

    def alone():
        with gate.alone():
            events.append("alone")

    def later():
        with gate.shared():
            events.append("later")

    waiting = threading.Thread(target=alone)
    waiting.start()
    time.sleep(0.2)
    arriving = threading.Thread(target=later)  # comes while one waits to be alone: waits behind it
    arriving.start()
    time.sleep(0.2)
    assert events == []
    inside.__exit__(None, None, None)
    waiting.join(5)
    arriving.join(5)
    assert events == ["alone", "later"]
    assert not first.beside  # none came in while it was inside


def test_the_memory_gate_lets_those_in_in_the_order_they_came():
    """One that waits to share the GPU while one is alone, and came before the next that waits to be alone, goes
    in first: a task whose every evaluation is made alone (its candidates one after another) never keeps the
    other tasks' evaluations out."""
    from tritonsmith.evaluate.pool import MemoryGate

    gate, events = MemoryGate(), []
    first_alone = gate.alone()
    first_alone.__enter__()

    def enter(name, alone):
        with gate.alone() if alone else gate.shared():
            events.append(name)
            time.sleep(0.1)
    threads = []
    for name, alone in (("shared", False), ("second alone", True), ("shared after it", False)):
        threads.append(threading.Thread(target=enter, args=(name, alone)))
        threads[-1].start()
        time.sleep(0.2)  # each waits before the next comes
    assert events == []
    first_alone.__exit__(None, None, None)
    for thread in threads:
        thread.join(5)
    assert events == ["shared", "second alone", "shared after it"]


def test_cuda_without_gpu_is_a_clear_device_error():
    with pytest.raises(DeviceError, match="no GPU is visible"):
        WorkerPool(device="cuda")


def test_the_pool_says_what_each_evaluation_in_flight_is_doing():
    """`stages()`: the stage each evaluation in flight is in, as its checker noted it, and for how long (a
    bench's "running:" line); nothing once it has ended."""
    import re

    task = resolve_task("vector_add")
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=120)) as pool:
        done: list = []
        thread = threading.Thread(target=lambda: done.append(pool.evaluate(task, SLOW)))
        thread.start()
        seen: set[str] = set()
        while thread.is_alive():
            stage = pool.stages().get(task.name)
            if stage:
                assert re.fullmatch(r"(setup|references|import|correctness|kernels_off|timing) for \d+ s", stage), stage
                seen.add(stage.split()[0])
            time.sleep(0.05)
        thread.join()
        assert done and pool.stages() == {}
        assert "correctness" in seen  # the slow candidate's long stage


def test_a_stage_note_is_read_only_when_plain(tmp_path):
    from tritonsmith.evaluate.stage import STAGE_FILE, note_stage, read_stage

    assert read_stage(tmp_path) is None
    note_stage(tmp_path, "timing")
    assert read_stage(tmp_path) == "timing for 0 s"
    for junk in ("\x1b[2Jcleared\t1.0", "timing\tsoon", "a" * 300, ""):  # the candidate can write the folder
        (tmp_path / STAGE_FILE).write_text(junk)
        assert read_stage(tmp_path) is None, junk


def test_a_worker_that_cannot_start_says_why_in_the_error(tmp_path):
    """The worker's own last words (here: a torch that cannot be imported) are in the error, not only its log."""
    from tritonsmith.evaluate.processes import HostProcess

    broken = tmp_path / "site" / "torch"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('this torch is broken on purpose')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{SRC}"}
    with pytest.raises(DeviceError, match=r"failed to start: ImportError: this torch is broken on purpose \(its log: "):
        HostProcess("cpu", env, tmp_path / "host.log", start_timeout_s=60)


def test_a_host_closed_twice_signals_nothing_the_second_time(tmp_path, monkeypatch):
    """The pool closes a host, and so may an evaluation that found it dead: the second close must not signal
    the reaped pid's group, which may be another process's by then."""
    import tritonsmith.evaluate.processes as processes

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    host = processes.HostProcess("cpu", env, tmp_path / "host.log", start_timeout_s=120)
    host.close()
    assert host.process.poll() is not None
    signalled = []
    monkeypatch.setattr(processes, "kill_group", signalled.append)
    host.close()
    assert signalled == []


def _descendants(pid: int) -> set[int]:
    found, frontier = set(), [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1]) == parent:
                        found.add(int(entry))
                        frontier.append(int(entry))
                except OSError:
                    continue
    return found


def test_a_killed_caller_leaves_no_evaluator_behind(tmp_path):
    """SIGKILL of the process that owns the pool, while a candidate spins: its hosts, keeper and the
    spinning worker all go, although nobody is left to enforce the 300 s timeout."""
    loop = CANDIDATES / "adversarial/infinite_loop.py"
    code = ("import sys; from tritonsmith.evaluate import WorkerPool, EvalConfig; from tritonsmith.suites import "
            "resolve_task; t = resolve_task('vector_add'); p = WorkerPool(device='cpu', config=EvalConfig(timeout_s=300)); "
            f"print('ready', flush=True); p.evaluate(t, open({str(loop)!r}).read())")
    caller = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert caller.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    evaluator = set()
    while time.monotonic() < deadline:  # the hosts, the keeper, and the forked worker that runs the candidate
        evaluator = _descendants(caller.pid)
        if len(evaluator) >= 3 and any("infinite" in _cmdline_or_cwd(p) for p in evaluator) or len(evaluator) >= 4:
            break
        time.sleep(0.2)
    assert len(evaluator) >= 3, evaluator
    born = {pid: running_since(pid) for pid in evaluator}
    time.sleep(2)  # the candidate is spinning now
    caller.kill()
    caller.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and still_running(born):
        time.sleep(0.2)
    assert not still_running(born)


def _cmdline_or_cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def test_the_host_kills_a_job_its_caller_did_not(tmp_path):
    """A host given a job with a 1 s timeout kills it itself when the caller does not (the caller hung)."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    host = subprocess.Popen([sys.executable, "-m", "tritonsmith.evaluate.host", "cpu"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)
    assert b'"ready"' in host.stdout.readline()
    task = resolve_task("vector_add")
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / "candidate.py").write_text((CANDIDATES / "adversarial/infinite_loop.py").read_text())
    job = {"job_dir": str(job_dir), "task_path": str(task.path), "candidate_path": str(job_dir / "candidate.py"),
           "entry_point": task.entry_point, "correctness_cases": list(task.correctness_cases), "perf_cases": [],
           "timeout_s": 1, "host_grace_s": 1}
    started = time.monotonic()
    host.stdin.write((json.dumps(job) + "\n").encode())
    host.stdin.flush()
    assert json.loads(host.stdout.readline())["event"] == "started"
    finished = json.loads(host.stdout.readline())
    host.stdin.close()
    host.wait(30)
    assert finished["killed_by_host"] and finished["result"] is None
    assert finished["phase"] == "correctness"  # the candidate's time ran out, not the task's
    assert time.monotonic() - started < 30


def test_a_task_too_slow_to_prepare_is_the_tasks_fault_not_the_candidates(tmp_path):
    source = resolve_task("vector_add").source().replace(
        "def make_inputs(case, generator, device):\n", "def make_inputs(case, generator, device):\n    import time\n"
        "    time.sleep(120)\n")
    assert "time.sleep(120)" in source
    path = tmp_path / "slow_task.py"
    path.write_text(source)
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=5)) as pool:
        with pytest.raises(TaskError, match="were not ready within the 5 s limit"):
            pool.evaluate(load_task(path), resolve_task("vector_add").baseline)


def test_a_worker_whose_result_cannot_be_written_is_crashed_not_a_faked_exit(cpu_pool, tmp_path):
    """Closing every inherited file (the result pipe among them) is no forged success."""
    closer = resolve_task("vector_add").baseline + "\n\nimport os\nos.closerange(3, 4096)\n"
    result = cpu_pool.evaluate(resolve_task("vector_add"), closer)
    assert result.status == "crashed" and "without writing its result" in result.message
    assert "the last line of its stderr: OSError" in result.message, result.message  # what broke, said


def test_cancel_kills_the_evaluation_in_flight_and_refuses_new_ones():
    from tritonsmith.evaluate import EvaluationCancelled

    task = resolve_task("vector_add")
    loop = (CANDIDATES / "adversarial/infinite_loop.py").read_text()
    with WorkerPool(device="cpu", config=EvalConfig(timeout_s=300)) as pool:
        outcome = {}

        def evaluate():
            try:
                pool.evaluate(task, loop)
            except EvaluationCancelled as exc:
                outcome["cancelled"] = str(exc)
        thread = threading.Thread(target=evaluate)
        thread.start()
        time.sleep(5)
        started = time.monotonic()
        pool.cancel()
        thread.join(60)
        assert outcome.get("cancelled") and time.monotonic() - started < 30
        assert not pool._hosts[0].busy  # its job killed and accounted for: the host may be asked to shut down
        with pytest.raises(EvaluationCancelled):
            pool.evaluate(task, task.baseline)


def test_a_pool_closed_with_every_worker_busy_kills_their_jobs_at_once():
    """A host reads its stdin only between jobs: closing the pool must not wait out each busy host's shutdown in
    turn (a GPU bench stopped by `timeout -k 15` was SIGKILLed so, its stop message its last word)."""
    from tritonsmith.evaluate import EvaluationCancelled

    task = resolve_task("vector_add")
    loop = (CANDIDATES / "adversarial/infinite_loop.py").read_text()
    pool = WorkerPool(device="cpu", workers=3, config=EvalConfig(timeout_s=300))
    ended = []

    def evaluate():
        try:
            pool.evaluate(task, loop)
        except (EvaluationCancelled, RuntimeError) as exc:  # (the pool closed under it)
            ended.append(exc)
        else:
            ended.append(None)
    threads = [threading.Thread(target=evaluate) for _ in range(3)]
    for thread in threads:
        thread.start()
    hosts = [host.process for host in pool._hosts]
    keepers = [keeper.process for keepers in pool._keepers.values() for keeper in keepers.members]
    assert keepers  # (an agent's pool keeps references: they are closed with it)

    def running_a_job(host):  # the job's checker, forked by the host
        return subprocess.run(["pgrep", "-P", str(host.pid)], capture_output=True).stdout.strip() != b""
    deadline = time.monotonic() + 120
    while not all(map(running_a_job, hosts)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(map(running_a_job, hosts))
    started = time.monotonic()
    pool.close()
    closing_s = time.monotonic() - started
    assert all(process.poll() is not None for process in hosts + keepers)
    assert closing_s < 4, closing_s  # one after another, three busy hosts took 15 s and more; 5 s together
    for thread in threads:
        thread.join(60)
    assert len(ended) == 3


def test_an_unknown_trusted_tuning_or_a_bad_number_setting_is_refused_before_anything_starts(monkeypatch, tmp_path):
    from tritonsmith.config import ConfigError
    monkeypatch.setenv("TRITONSMITH_TRUSTED_TUNING", "fast")
    with pytest.raises(ConfigError, match=r"^TRITONSMITH_TRUSTED_TUNING is 'fast': set it to 'full' .* or unset it\.$"):
        WorkerPool(device="cpu", work_dir=tmp_path / "pool")
    assert not (tmp_path / "pool").exists()  # refused before its work folder was made
    monkeypatch.delenv("TRITONSMITH_TRUSTED_TUNING")
    monkeypatch.setenv("TRITONSMITH_PARALLEL_COMPILES", "-4")
    with pytest.raises(ConfigError, match=r"^TRITONSMITH_PARALLEL_COMPILES is '-4': set it to how many kernels .* "
                                          r"or unset it\.$"):
        WorkerPool(device="cpu", work_dir=tmp_path / "pool")
    assert not (tmp_path / "pool").exists()
    monkeypatch.delenv("TRITONSMITH_PARALLEL_COMPILES")
    for name, value in (("TRITONSMITH_CHECK_BUDGET_BYTES", "4GiB"), ("TRITONSMITH_KEEPER_BYTES", "1e9")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=rf"^{name} is '{value}': set it to the bytes of .* or unset it\.$"):
            WorkerPool(device="cpu", work_dir=tmp_path / "pool")
        assert not (tmp_path / "pool").exists()
        monkeypatch.delenv(name)


def test_a_keeper_whose_pool_is_gone_takes_what_it_started_with_it():
    """A bench killed at once (SIGKILL: no cleanup of its own) closes the keepers' stdin; each then kills its
    own process group, the compilers Triton started in it (ptxas) included, which ran on for minutes before."""
    code = ("import subprocess; from tritonsmith.evaluate import keeper; "
            "child = subprocess.Popen(['sleep', '120']); print(child.pid, flush=True); keeper._exit_with_parent()")
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, start_new_session=True)  # as the pool starts a keeper
    child = int(process.stdout.readline())

    born = {child: running_since(child)}
    assert still_running(born)  # sleeping, alive
    process.stdin.close()
    process.wait(timeout=60)
    deadline = time.monotonic() + 10
    while still_running(born) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not still_running(born), "the keeper's child outlived it"
