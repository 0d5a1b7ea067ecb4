"""`tritonsmith bench` on the CPU interpreter: baseline and dir solvers, the agent with a scripted
model, metrics worked out by hand, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import running_since, still_running
from fakellm import FakeLLMServer

from tritonsmith.runs.store import ResultsStore
from tritonsmith.suites import builtin_dir, resolve_task

GOOD_ADD = resolve_task("vector_add").baseline
GOOD_FLIP = resolve_task("flip").baseline
WRONG_ADD = GOOD_ADD.replace("x + y, mask=mask", "x - y, mask=mask")
assert WRONG_ADD != GOOD_ADD


def tritonsmith(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tritonsmith", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def two_task_suite(tmp_path):
    folder = tmp_path / "suite"
    folder.mkdir()
    for task_id in ("vector_add", "flip"):
        shutil.copy(builtin_dir() / f"{task_id}.py", folder / f"{task_id}.py")
    return folder


def test_baseline_solver_over_part_of_the_builtin_suite(tmp_path):
    out = tmp_path / "bench"
    done = tritonsmith("bench", "--json", "--suite", "builtin", "--solver", "baseline", "--tasks", "vector_add,fli*",
                       "--device", "cpu", "--jobs", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    records = ResultsStore(out).records()
    assert sorted(r.task for r in records) == ["builtin:flip", "builtin:vector_add"]
    assert all(r.status == "passed" and r.exec_ok and r.speedup is None and r.speed_reason for r in records)
    assert "[2/2]" in done.stderr and "exec 2/2" in done.stderr
    assert f"each evaluation, whole: {out / 'evaluations'}/TASK_ID.json" in done.stderr
    kept = json.loads((out / "evaluations" / "flip.json").read_text())  # each evaluation's whole result
    assert kept["status"] == "passed" and kept["cases"] and "phases_s" in kept["evidence"], sorted(kept)
    # each task evaluated once: no keeper makes references for later jobs (and holds them beside the job's copy)
    assert kept["evidence"]["references"].startswith("made by this job (the pool keeps no references")
    again = tritonsmith("bench", "--json", "--suite", "builtin", "--solver", "baseline", "--tasks", "vector_add",
                        "--device", "cpu", "--out", str(out))
    assert again.returncode == 2 and "--resume" in again.stderr


def test_a_resume_with_rerun_runs_the_tasks_of_those_statuses_again_and_keeps_their_earlier_records(
        tmp_path, two_task_suite):
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    (candidates / "vector_add.py").write_text(WRONG_ADD)
    (candidates / "flip.py").write_text(GOOD_FLIP)
    out = tmp_path / "bench"
    command = ("bench", "--suite", f"dir:{two_task_suite}", "--solver", f"dir:{candidates}", "--device", "cpu",
               "--out", str(out))
    assert tritonsmith(*command).returncode == 0
    before = {r.task.split(":")[-1]: r.status for r in ResultsStore(out).records()}
    assert before == {"vector_add": "wrong_output", "flip": "passed"}
    for wrong, said in ((("--rerun", "wrong_output"), "pass it with --resume"),
                        (("--resume", "--rerun", "wrong,timeout"), "--rerun 'wrong,timeout': wrong is not a task's "
                         "status: name some of compile_error, runtime_error, timeout, crashed, wrong_output, "
                         "rejected, passed, error, comma-separated.")):
        refused = tritonsmith(*command, *wrong)
        assert refused.returncode == 2 and said in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
    (candidates / "vector_add.py").write_text(GOOD_ADD)  # the fault mended (as a longer time limit would)
    flip_evaluated = (out / "evaluations" / "flip.json").stat().st_mtime_ns
    done = tritonsmith(*command, "--resume", "--rerun", "wrong_output,timeout")
    assert done.returncode == 0, done.stderr
    assert f"running 1 finished task again (timeout, wrong_output); their earlier records stay in {out}" in done.stderr
    after = {r.task.split(":")[-1]: r.status for r in ResultsStore(out).records()}
    assert after == {"vector_add": "passed", "flip": "passed"}  # the last record counts
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted((r["task"].split(":")[-1], r["status"]) for r in lines[:2]) == [
        ("flip", "passed"), ("vector_add", "wrong_output")]  # the first bench's, kept
    assert len(lines) == 3 and (lines[2]["task"].split(":")[-1], lines[2]["status"]) == ("vector_add", "passed")
    assert (out / "evaluations" / "flip.json").stat().st_mtime_ns == flip_evaluated  # passed: not run again


def test_dir_solver_and_hand_computed_accuracy(tmp_path, two_task_suite):
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    (candidates / "vector_add.py").write_text(WRONG_ADD)  # runs, wrong: call_ok, not exec_ok
    (candidates / "flip.py").write_text(GOOD_FLIP)  # passes
    out = tmp_path / "bench"
    done = tritonsmith("bench", "--json", "--suite", f"dir:{two_task_suite}", "--solver", f"dir:{candidates}",
                       "--device", "cpu", "--out", str(out))
    assert done.returncode == 0, done.stderr
    by_task = {r.task: r for r in ResultsStore(out).records()}
    assert by_task["dir:vector_add"].status == "wrong_output" and by_task["dir:flip"].status == "passed"
    wrong = json.loads((out / "evaluations" / "vector_add.json").read_text())
    assert wrong["status"] == "wrong_output" and any(not case["ok"] for case in wrong["cases"]), wrong["cases"]
    metrics = json.loads(done.stdout)
    # call accuracy: both ran = 2/2; execution accuracy: only flip = 1/2
    assert metrics["call_accuracy"] == 1.0 and metrics["exec_accuracy"] == 0.5
    other = tmp_path / "bench_b"
    (candidates / "vector_add.py").write_text(GOOD_ADD)
    assert tritonsmith("bench", "--json", "--suite", f"dir:{two_task_suite}", "--solver", f"dir:{candidates}",
                       "--device", "cpu", "--out", str(other)).returncode == 0
    table = tritonsmith("compare", str(out), str(other))
    assert table.returncode == 0 and "dir:vector_add" in table.stdout and "wrong_output" in table.stdout
    assert tritonsmith("compare", str(out), str(tmp_path / "nothing")).returncode == 2
    report = tritonsmith("report", str(out))
    assert report.returncode == 0 and (out / "report.html").exists()
    assert "dir:vector_add" in (out / "report.html").read_text()


def test_a_missing_candidate_is_an_error_record_not_a_crash(tmp_path, two_task_suite):
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    (candidates / "flip.py").write_text(GOOD_FLIP)
    out = tmp_path / "bench"
    done = tritonsmith("bench", "--json", "--suite", f"dir:{two_task_suite}", "--solver", f"dir:{candidates}",
                       "--device", "cpu", "--out", str(out))
    assert done.returncode == 1
    by_task = {r.task: r for r in ResultsStore(out).records()}
    assert by_task["dir:vector_add"].status == "error" and "no candidate file" in by_task["dir:vector_add"].error


def answer_by_task(messages):
    """Writes the right kernel for whichever task the prompt is about; plans for the other roles."""
    system, prompt = messages[0]["content"], messages[-1]["content"]
    if "expert GPU kernel engineer" not in system:
        return "PLAN: keep it."
    time.sleep(0.3)
    code = GOOD_FLIP if "## Task: flip" in prompt else GOOD_ADD
    return f"```python\n{code}\n```"


def test_agent_bench_resumes_after_sigkill_without_redoing_finished_tasks(tmp_path, two_task_suite):
    out = tmp_path / "bench"
    with FakeLLMServer(answer_by_task) as server:
        command = [sys.executable, "-m", "tritonsmith", "bench", "--json", "--suite", f"dir:{two_task_suite}",
                   "--solver", "agent", "--model", "openai/scripted-model", "--api-base", server.url,
                   "--device", "cpu", "--rounds", "2", "--parallel", "2", "--out", str(out)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        results = out / "results.jsonl"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            if results.exists() and results.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        first = ResultsStore(out).records()
        assert len(first) == 1, process.stderr.read().decode()
        finished = first[0].task
        calls_for_finished = sum(f"## Task: {finished.split(':')[1]}" in r.body["messages"][-1]["content"]
                                 for r in server.requests)
        done = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        records = ResultsStore(out).records()
        assert sorted(r.task for r in records) == ["dir:flip", "dir:vector_add"]
        assert all(r.exec_ok and r.solver == "agent" and len(r.lineages) == 2 for r in records)
        assert sum(f"## Task: {finished.split(':')[1]}" in r.body["messages"][-1]["content"]
                   for r in server.requests) == calls_for_finished, "a finished task was run again"
        for record in records:
            assert (out / record.run_dir / "trajectory.jsonl").exists()
            assert all(p.exec_ok for lin in record.lineages for p in lin.rounds)


def test_a_record_keeps_the_tuning_outcome_and_old_records_still_load():
    from tritonsmith.runs.bench import tuning_outcome
    from tritonsmith.runs.records import TaskRecord

    summary_tuning = {"tuned": True, "config": {"add_kernel.BLOCK": "1024"}, "original_ms": 0.05, "tuned_ms": 0.04,
                      "speedup_from_tuning": 1.25, "stop_reason": "budget spent", "elapsed_s": 30.5, "trials": 12,
                      "speedup_before_tuning": 1.0}
    assert tuning_outcome(summary_tuning) == {"tuned": True, "config": {"add_kernel.BLOCK": "1024"},
                                              "speedup_from_tuning": 1.25, "elapsed_s": 30.5, "trials": 12,
                                              "stop_reason": "budget spent"}
    failed = {"tuned": False, "reason": "tuning failed: DiscoveryError: no launch", "speedup_before_tuning": 1.1}
    assert tuning_outcome(failed) == {"tuned": False, "reason": "tuning failed: DiscoveryError: no launch"}
    assert tuning_outcome(None) is None
    record = TaskRecord("builtin:add", "builtin", "agent", "passed", True, True, 1.2, speedup_before_tuning=1.0,
                        tuning=tuning_outcome(summary_tuning))
    assert TaskRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    old = {key: value for key, value in record.to_dict().items() if key not in ("speedup_before_tuning", "tuning")}
    loaded = TaskRecord.from_dict(old)  # a results.jsonl line written before tuning was recorded
    assert (loaded.speedup_before_tuning, loaded.tuning) == (None, None)
    later = dict(record.to_dict(), a_later_field={"x": 1})  # a line a later version wrote: its new keys left out
    assert TaskRecord.from_dict(later) == record


def test_a_binary_candidate_fails_its_task_and_the_bench_goes_on(tmp_path, two_task_suite):
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    (candidates / "vector_add.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (candidates / "flip.py").write_text(GOOD_FLIP)
    out = tmp_path / "bench"
    command = ("bench", "--suite", f"dir:{two_task_suite}", "--solver", f"dir:{candidates}", "--device", "cpu",
               "--out", str(out))
    done = tritonsmith(*command)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    by_task = {r.task: r for r in ResultsStore(out).records()}
    assert by_task["dir:flip"].status == "passed" and by_task["dir:vector_add"].status == "error"
    assert "is not UTF-8 text (byte 0x89 at offset 0)" in by_task["dir:vector_add"].error
    assert tritonsmith(*command, "--resume").returncode == 1  # the resume skips it, and does not crash


def test_a_damaged_bench_json_is_one_sentence_naming_it(tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    (out / "bench.json").write_text("{\n  \"suite\": buil")
    (out / "results.jsonl").write_text("")
    for args in (("bench", "--solver", "baseline", "--device", "cpu", "--out", str(out), "--resume"),
                 ("report", str(out)), ("compare", str(out), str(out))):
        done = tritonsmith(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip() == (f"tritonsmith: error: the bench settings {out / 'bench.json'} is damaged (not "
                                       "valid JSON at line 2 column 12): restore it, or start again in another folder.")


def test_results_whose_bench_json_was_deleted_are_never_taken_for_another_solvers(tmp_path):
    out = tmp_path / "bench"
    first = ("bench", "--solver", "baseline", "--tasks", "vector_add", "--device", "cpu", "--out", str(out))
    assert tritonsmith(*first).returncode == 0
    (out / "bench.json").unlink()
    for resume in ((), ("--resume",)):
        done = tritonsmith("bench", "--solver", f"dir:{tmp_path}", "--tasks", "flip,vector_add", "--device", "cpu",
                           "--out", str(out), *resume)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().endswith(f"The bench folder {out} holds results but no bench.json, so nothing "
                                            "says which solver and settings they came from: restore it, or use "
                                            "another folder.")
    assert [r.solver for r in ResultsStore(out).records()] == ["baseline"] and not (out / "bench.json").exists()


@pytest.mark.parametrize("signum, code, said", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_ctrl_c_or_sigterm_stops_a_bench_from_starting_tasks_and_it_resumes(tmp_path, signum, code, said):
    """SIGTERM (a scheduler's stop, `timeout`) as Ctrl-C: the pool is closed, its processes with it."""
    out = tmp_path / "bench"
    tasks = "vector_add,flip,gelu,silu,swiglu,concat"
    command = [sys.executable, "-m", "tritonsmith", "bench", "--suite", "builtin", "--solver", "baseline", "--tasks",
               tasks, "--device", "cpu", "--jobs", "1", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 180
    while not ResultsStore(out).records() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert children  # the pool's hosts (and keepers), each in a session of its own
    born = {int(pid): running_since(int(pid)) for pid in children}
    os.kill(process.pid, signum)  # the command alone: its pool's processes are its to close
    started = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code and "Traceback" not in stderr, stderr
    assert f"tritonsmith: stopping ({said}): nothing new is started" in stderr, stderr
    assert time.monotonic() - started < 15
    deadline = time.monotonic() + 10
    while still_running(born) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not still_running(born)  # closed with the pool
    finished = ResultsStore(out).records()
    assert 1 <= len(finished) <= 2 and all(r.status == "passed" for r in finished)  # no task started after it
    assert stderr.strip().splitlines()[-1] == (f"tritonsmith: interrupted: the finished tasks are saved in {out}: "
                                               "rerun the same command with --resume to go on.")
    done = tritonsmith(*command[3:], "--resume")
    assert done.returncode == 0, done.stderr
    assert len(ResultsStore(out).records()) == 6


def test_an_agent_task_that_is_not_solved_records_why(tmp_path, two_task_suite):
    out = tmp_path / "bench"
    with FakeLLMServer(lambda messages: "PLAN: think harder." if "expert GPU kernel engineer" not in
                       messages[0]["content"] else f"```python\n{WRONG_ADD}\n```") as server:
        done = tritonsmith("bench", "--suite", f"dir:{two_task_suite}", "--tasks", "vector_add", "--solver", "agent",
                           "--model", "openai/scripted-model", "--api-base", server.url, "--device", "cpu",
                           "--rounds", "1", "--parallel", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    (record,) = ResultsStore(out).records()
    assert record.status == "wrong_output" and record.error.startswith("candidate L0-R0: wrong_output: ")


def test_a_long_pass_says_which_tasks_are_in_flight_when_none_finishes():
    """With no task finished for `quiet_s`, the progress names the tasks in flight and for how long, the
    longest first; a finished task leaves the list, and nothing is said again before `quiet_s` has passed."""
    import io

    from tritonsmith.runs.bench import BenchProgress
    from tritonsmith.runs.records import TaskRecord

    stream = io.StringIO()
    progress = BenchProgress(3, [], stream, quiet_s=0.05)
    progress.running()
    assert stream.getvalue() == ""  # nothing in flight
    progress.start("s:slow")
    time.sleep(0.06)
    progress.start("s:quick")
    progress.running()
    assert stream.getvalue().splitlines()[-1].startswith("[0/3] running: s:slow (0 s), s:quick (0 s)")
    progress.running()
    assert len(stream.getvalue().splitlines()) == 1  # said just now
    progress.add(TaskRecord("s:quick", "s", "baseline", "passed", True, True))
    time.sleep(0.06)
    progress.running()
    assert stream.getvalue().splitlines()[-1] == "[1/3] running: s:slow (0 s)"
    progress.stages = lambda: {"s:slow": "references for 12 s", "s:gone": "timing for 1 s"}  # the pool's
    time.sleep(0.06)
    progress.running()
    assert stream.getvalue().splitlines()[-1] == "[1/3] running: s:slow (0 s; references for 12 s)"
    progress.end("s:slow")
    time.sleep(0.06)
    progress.running()
    assert len(stream.getvalue().splitlines()) == 4


def memory_suite(tmp_path, flip: str):
    """A suite of flip, silu and vector_add, and their candidates: silu's raises PyTorch's out-of-memory words."""
    suite, candidates = tmp_path / "suite", tmp_path / "candidates"
    suite.mkdir(), candidates.mkdir()
    for task_id in ("flip", "silu", "vector_add"):
        shutil.copy(builtin_dir() / f"{task_id}.py", suite / f"{task_id}.py")
    (candidates / "flip.py").write_text(flip)
    (candidates / "silu.py").write_text(resolve_task("silu").baseline + (
        "\n_silu = silu\n\ndef silu(*args, **kwargs):\n"
        "    raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')\n"))
    (candidates / "vector_add.py").write_text(GOOD_ADD)
    return suite, candidates


def on_a_shared_gpu(monkeypatch) -> None:
    """The bench's pool: two CPU workers told they share GPU 0."""
    import tritonsmith.runs.bench as bench
    from tritonsmith.evaluate import EvalConfig, WorkerPool
    from tritonsmith.evaluate.pool import MemoryGate

    def shared_gpu_pool(*args, **kwargs):
        pool = WorkerPool(device="cpu", workers=2, config=EvalConfig(timeout_s=120))
        pool._gpu_of, pool._gates = [0, 0], {0: MemoryGate()}
        return pool
    monkeypatch.setattr(bench, "make_pool", shared_gpu_pool)


def test_a_task_short_of_gpu_memory_beside_others_goes_to_the_back_of_the_queue(tmp_path, monkeypatch):
    """On a GPU shared by several evaluations, one that runs out of memory beside others is tried again after the
    tasks queued now, not made alone at once: waiting alone shuts every other evaluation of the GPU out until
    those in flight end, and on TritonBench-G one of them compiling for minutes kept an H200 idle (session 15).
    Here two CPU workers are told they share GPU 0; silu's candidate raises PyTorch's out-of-memory words while
    flip's sleeps: vector_add, queued after both, is evaluated (and recorded) before silu is tried again, and
    silu's record keeps its first try."""
    import io

    import tritonsmith.runs.bench as bench
    from tritonsmith.agent.config import RunConfig

    suite, candidates = memory_suite(tmp_path, "import time\ntime.sleep(12)\n" + GOOD_FLIP)
    on_a_shared_gpu(monkeypatch)
    stream = io.StringIO()
    records = bench.solve_suite(f"dir:{suite}", f"dir:{candidates}", RunConfig(device="cpu"), tmp_path / "out",
                                jobs=2, stream=stream)
    order = [r.task.split(":")[-1] for r in ResultsStore(tmp_path / "out").records()]
    assert sorted(order) == ["flip", "silu", "vector_add"] and len(records) == 3
    assert order.index("vector_add") < order.index("silu"), order
    assert "silu: ran short of GPU memory beside other evaluations; tried again after the tasks queued now" \
        in stream.getvalue()
    silu = next(r for r in records if r.task.endswith("silu"))
    assert silu.status == "runtime_error" and "out of memory" in silu.error
    assert silu.memory_retry["status"] == "runtime_error" and "out of memory" in silu.memory_retry["message"]
    assert silu.wall_s >= silu.memory_retry["wall_s"] > 0
    assert next(r for r in records if r.task.endswith("vector_add")).status == "passed"


def test_a_resumed_bench_runs_the_tasks_queued_again_for_memory_last_from_their_first_try(tmp_path, monkeypatch):
    """A TritonBench-G pass cut into calls began each call with the 18 tasks that had run short of memory in the
    calls before (they come first in the suite's order): all at once, each ran short again beside the others and
    was queued again, a minute lost per call and none of them ever finished. The deferral is kept in the bench
    folder: a resume runs those tasks after the others, from their first try, so the next try is the last
    before one alone (here silu's candidate always raises out of memory: it is made alone, never queued again)."""
    import io

    import tritonsmith.runs.bench as bench
    from tritonsmith.agent.config import RunConfig

    suite, candidates = memory_suite(tmp_path, GOOD_FLIP)
    out = tmp_path / "out"
    silu_name = next(t.name for t in bench.select_tasks(f"dir:{suite}", None) if t.name.endswith("silu"))
    first = {"status": "runtime_error", "message": "CUDA out of memory (the call before)", "wall_s": 7.5}
    ResultsStore(out).defer(silu_name, first)  # as a bench cut off after queueing silu again leaves it
    assert ResultsStore(out).deferred() == {silu_name: first}
    on_a_shared_gpu(monkeypatch)
    stream = io.StringIO()
    records = bench.solve_suite(f"dir:{suite}", f"dir:{candidates}", RunConfig(device="cpu"), out, jobs=1,
                                stream=stream)
    order = [r.task.split(":")[-1] for r in ResultsStore(out).records()]
    assert order == ["flip", "vector_add", "silu"], order  # silu before vector_add in the suite: run last
    assert "tried again after the tasks queued now" not in stream.getvalue()
    silu = next(r for r in records if r.task == silu_name)
    assert silu.status == "runtime_error" and silu.memory_retry["message"] == first["message"]
    assert silu.wall_s >= 7.5
    assert ResultsStore(out).deferred() == {}  # finished: nothing left to defer
