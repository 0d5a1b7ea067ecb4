"""The worker pool: isolation from the caller, recovery from a dead host, concurrency, task errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tritonsmith.evaluate import DeviceError, EvalConfig, WorkerPool
from tritonsmith.suites import resolve_task
from tritonsmith.task import TaskError, load_task

HERE = Path(__file__).parent
SLOW = (HERE / "candidates/honest/vector_add_slow.py").read_text()


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


def test_two_workers_evaluate_concurrently(tmp_path):
    task = resolve_task("vector_add")
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    # each candidate notes when its slow import starts and ends; concurrent runs have overlapping windows
    source = SLOW.replace("time.sleep(3)", f"import os\nopen({str(stamps)!r} + f'/{{os.getpid()}}.start', 'w')"
                          f".write(str(time.time()))\ntime.sleep(3)\nopen({str(stamps)!r} + f'/{{os.getpid()}}.end',"
                          " 'w').write(str(time.time()))")
    assert source != SLOW
    results = []
    with WorkerPool(device="cpu", workers=2) as pool:
        threads = [threading.Thread(target=lambda: results.append(pool.evaluate(task, source))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [r.status for r in results] == ["passed", "passed"]
    starts = [float(p.read_text()) for p in stamps.glob("*.start")]
    ends = [float(p.read_text()) for p in stamps.glob("*.end")]
    assert len(starts) == len(ends) == 2
    assert max(starts) < min(ends), "the two evaluations did not overlap"


def test_cuda_without_gpu_is_a_clear_device_error():
    with pytest.raises(DeviceError, match="no GPU is visible"):
        WorkerPool(device="cuda")
