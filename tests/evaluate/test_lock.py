"""A run or bench folder is used by one process at a time: a second one is told who holds it, and a
lock whose holder died is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from tritonsmith.durable import FolderInUse, folder_lock

HOLD = "import sys, time; from tritonsmith.durable import folder_lock\nwith folder_lock(sys.argv[1]):\n" \
       "    print('held', flush=True); time.sleep(600)\n"


@pytest.fixture
def holder(tmp_path):
    """A separate process that holds `tmp_path/folder`'s lock until the test kills it."""
    folder = tmp_path / "folder"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    yield folder, process
    process.kill()
    process.wait()


def test_a_second_process_is_told_who_holds_the_folder_until_the_holder_dies(holder):
    folder, process = holder
    with pytest.raises(FolderInUse) as busy:
        with folder_lock(folder, "run folder"):
            pass
    message = str(busy.value)
    assert message.startswith(f"the run folder {folder} is in use by another tritonsmith process "
                              f"(pid {process.pid} on {socket.gethostname()}, since 20")
    assert message.endswith("wait for it to finish or stop it, or choose another folder.") and "\n" not in message
    process.send_signal(signal.SIGKILL)
    process.wait()
    with folder_lock(folder):  # the holder is dead: its lock went with it
        assert json.loads((folder / ".lock").read_text())["pid"] == os.getpid()


def test_a_lock_file_left_by_a_dead_process_is_taken_over(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"pid": 2 ** 22 + 1, "host": socket.gethostname(), "since": "then"}))
    with folder_lock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()


def test_run_and_bench_refuse_a_folder_in_use_with_one_sentence(holder, closed_port):
    folder, process = holder
    (folder / "bench.json").write_text(json.dumps({"suite": "builtin", "tasks": "vector_add", "solver": "baseline"}))
    for args in (("run", "vector_add", "--model", "openai/m", "--api-base", f"http://127.0.0.1:{closed_port}/v1"),
                 ("bench", "--solver", "baseline", "--tasks", "vector_add", "--resume")):
        done = subprocess.run([sys.executable, "-m", "tritonsmith", *args, "--device", "cpu", "--out", str(folder)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("tritonsmith: error: the ") and f"is in use by another tritonsmith process (pid " \
            f"{process.pid} on " in last, done.stderr
    assert not (folder / "state.json").exists() and not (folder / "results.jsonl").exists()


def test_a_closed_lock_lets_its_files_go(tmp_path):
    import os

    from tritonsmith.evaluate.gpu_lock import GpuLock
    lock = GpuLock(str(tmp_path / "gpu0.lock"))
    fds = lock.fds
    with lock.exclusive():
        pass
    lock.close()
    for fd in fds:
        try:
            os.fstat(fd)
        except OSError:
            continue
        raise AssertionError(f"fd {fd} is still open")
    with lock.shared(), lock.exclusive():  # closed: no sharing, no lock
        pass
