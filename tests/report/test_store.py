"""The results store: durable appends, torn lines, resume identity, SIGKILL, threads."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import pytest

from tritonsmith.runs.records import LineageOutcome, RoundPoint, TaskRecord
from tritonsmith.runs.store import ResultsStore, SettingsMismatch

SETTINGS = {"suite": "builtin", "solver": "agent", "model": "openai/gpt-4o", "mode": "write", "rounds": 8,
            "parallel": 4, "device": "cuda", "created_at": "2025-01-01T00:00:00+00:00"}


def record(name: str, status: str = "passed", speedup: float | None = 1.5) -> TaskRecord:
    lineage = LineageOutcome(0, True, status == "passed", speedup,
                             [RoundPoint(0, True, False), RoundPoint(1, True, status == "passed", speedup)])
    return TaskRecord(f"builtin:{name}", "builtin", "agent", status, True, status == "passed", speedup,
                      lineages=[lineage], tokens=1234, usd=None, wall_s=3.5, run_dir=f"runs/{name}")


def test_append_then_load_round_trips_records(tmp_path):
    store = ResultsStore(tmp_path / "bench")
    assert store.records() == [] and store.finished() == set() and store.load_settings() is None
    assert not (tmp_path / "bench").exists()  # reading makes nothing
    written = [record("add"), record("softmax", "wrong_output", None)]
    for item in written:
        store.append(item)
    assert ResultsStore(tmp_path / "bench").records() == written
    assert store.finished() == {"builtin:add", "builtin:softmax"}
    assert len((tmp_path / "bench" / "results.jsonl").read_text().splitlines()) == 2


def test_a_task_run_again_keeps_its_last_record_in_first_finished_order(tmp_path):
    store = ResultsStore(tmp_path)
    store.append(record("add", "wrong_output", None))
    store.append(record("softmax"))
    store.append(record("add", "passed", 2.0))
    assert [(r.task, r.status, r.speedup) for r in store.records()] == [
        ("builtin:add", "passed", 2.0), ("builtin:softmax", "passed", 1.5)]


def test_torn_last_line_is_skipped_and_appending_goes_on(tmp_path):
    store = ResultsStore(tmp_path)
    store.append(record("add"))
    with open(tmp_path / "results.jsonl", "a") as file:
        file.write('{"task": "builtin:softmax", "suite": "buil')  # killed mid-write
    assert [r.task for r in store.records()] == ["builtin:add"]
    assert store.finished() == {"builtin:add"}
    store.append(record("softmax"))
    assert [r.task for r in ResultsStore(tmp_path).records()] == ["builtin:add", "builtin:softmax"]
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3 and lines[1].endswith('"buil')  # the torn line stays, alone on its line


def test_settings_written_once_and_checked_on_resume(tmp_path):
    store = ResultsStore(tmp_path / "bench")
    assert store.save_settings(SETTINGS) == SETTINGS
    assert json.loads((tmp_path / "bench" / "bench.json").read_text()) == SETTINGS
    store.append(record("add"))
    # A resume with the same identity but a new time stamp keeps the file as first written.
    again = ResultsStore(tmp_path / "bench").save_settings({**SETTINGS, "created_at": "later"})
    assert again["created_at"] == SETTINGS["created_at"] == store.load_settings()["created_at"]
    with pytest.raises(SettingsMismatch) as mismatch:
        store.save_settings({**SETTINGS, "model": "openai/other", "rounds": 4})
    message = str(mismatch.value)
    assert message == (f"The bench folder {tmp_path / 'bench'} was run with model 'openai/gpt-4o' (now "
                       "'openai/other'), rounds 8 (now 4); resume it with the same settings or use another folder.")
    assert "\n" not in message and store.load_settings() == SETTINGS
    store.check_settings({**SETTINGS, "created_at": "later"})
    with pytest.raises(SettingsMismatch):
        store.check_settings({**SETTINGS, "rounds": 4})


def test_a_folder_that_holds_only_settings_takes_new_ones(tmp_path):
    """A bench that stopped before anything ran left bench.json alone: nothing in it is lost by replacing it.
    A task's run folder (an agent bench that started a task) counts as work, as results do."""
    store = ResultsStore(tmp_path / "bench")
    store.save_settings(SETTINGS)
    assert not store.holds_work()
    store.check_settings({**SETTINGS, "model": "openai/other"})
    assert store.save_settings({**SETTINGS, "model": "openai/other"})["model"] == "openai/other"
    assert store.load_settings()["model"] == "openai/other"
    (tmp_path / "bench" / "tasks" / "add").mkdir(parents=True)
    assert store.holds_work()
    with pytest.raises(SettingsMismatch):
        store.save_settings(SETTINGS)


def test_sigkill_mid_bench_loses_at_most_the_record_being_written(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys\n"
        "from tritonsmith.runs.records import TaskRecord\n"
        "from tritonsmith.runs.store import ResultsStore\n"
        "store = ResultsStore(sys.argv[1])\n"
        "for i in range(1_000_000):\n"
        "    store.append(TaskRecord(f'suite:task-{i}', 'suite', 'agent', 'passed', True, True, 1.0,\n"
        "                            error='x' * 20_000))\n"
        "    print(i, flush=True)\n"), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    for _ in range(20):  # 20 records reported written
        done = int(writer.stdout.readline())
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    writer.stdout.close()
    finished = ResultsStore(tmp_path).finished()
    # Every record reported written survives, with no gap: only the one in flight can be lost.
    assert {f"suite:task-{i}" for i in range(done + 1)} <= finished
    assert finished == {f"suite:task-{i}" for i in range(len(finished))}
    *whole, last = (tmp_path / "results.jsonl").read_bytes().split(b"\n")
    assert len(whole) == len(finished) and all(json.loads(line) for line in whole)  # only the last can be torn


def test_concurrent_appends_from_threads_are_whole_lines(tmp_path):
    store = ResultsStore(tmp_path)

    def append_many(thread: int) -> None:
        for i in range(40):
            store.append(record(f"t{thread}-{i}"))
            if i % 10 == 0:
                store.records()  # reads interleaved with writes

    threads = [threading.Thread(target=append_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 320 and all(json.loads(line)["tokens"] == 1234 for line in lines)
    assert len(ResultsStore(tmp_path).finished()) == 320
