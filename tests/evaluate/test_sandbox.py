"""The sandbox: a candidate cannot write outside its job, or leave a process behind (issue 15). That it cannot
write its verdict, read the expected outputs or blind the comparison is in test_guards.py (forge_host_verdict,
steal_expected, blind_tensor_item, blind_snapshot_closure)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from conftest import CANDIDATES, TEST_DEVICE

from tritonsmith.evaluate import EvalConfig, WorkerPool
from tritonsmith.task import load_task

from .test_guards import sleeping

BUILTIN = Path(__file__).parents[2] / "src/tritonsmith/suites/builtin"


def softmax():
    return load_task(BUILTIN / "softmax.py", suite="builtin")


@pytest.mark.parametrize("landlock", ["on", "off"])
def test_a_candidate_writes_only_its_job(cpu_pool, tmp_path, monkeypatch, landlock):
    """With Landlock, or without it (as under gVisor) by a mount namespace whose other mounts are read-only."""
    marker = f"tritonsmith-sandbox-test-{random.randrange(1 << 30)}"
    results = tmp_path / "results.jsonl"
    results.write_text('{"task": "softmax", "status": "wrong_output"}\n')
    task_file = tmp_path / "softmax.py"
    task_file.write_text((BUILTIN / "softmax.py").read_text())
    before = (results.read_text(), task_file.read_text())
    source = (CANDIDATES / "adversarial/write_outside_job.py").read_text()
    source = source.replace("@MARKER@", marker).replace("@RESULTS@", str(results)).replace("@TASK@", str(task_file))
    cache = Path.home() / ".cache/tritonsmith" / marker
    triton_cache = Path.home() / ".triton/cache" / marker  # the shared one (no TRITON_CACHE_DIR in the tests)
    try:
        if landlock == "on":
            result = cpu_pool.evaluate(load_task(task_file, suite="builtin"), source, timeout_s=60)
        else:
            monkeypatch.setenv("TRITONSMITH_LANDLOCK", "0")
            with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
                result = pool.evaluate(load_task(task_file, suite="builtin"), source, timeout_s=60)
        assert result.status == "passed", result.summary()  # its kernel is honest: only its writes failed
        assert (results.read_text(), task_file.read_text()) == before
        assert not cache.exists() and not triton_cache.exists()
        assert not Path("/dev/shm", marker).exists()
        expected = "Landlock" if landlock == "on" else "mount namespace: every other mount read-only"
        assert result.evidence["confinement"]["filesystem"].startswith(expected), result.evidence["confinement"]
    finally:
        Path("/dev/shm", marker).unlink(missing_ok=True)
        for folder in (cache, triton_cache):
            if folder.exists():
                folder.rmdir()


def test_every_result_names_the_confinement_in_force(run_candidate):
    for candidate in ("honest/vector_add_fixed_block.py", "wrong/vector_add_syntax.py", "adversarial/segfault.py"):
        result = run_candidate("vector_add", candidate, timeout_s=60)
        confinement = result.evidence["confinement"]
        assert set(confinement) == {"filesystem", "network", "processes", "memory"}, (candidate, confinement)


@pytest.mark.parametrize("namespaces", ["on", "off"])
def test_nothing_a_candidate_starts_outlives_its_job(monkeypatch, namespaces):
    """In a PID namespace the daemon dies with the candidate's process, which cannot see its host; without one
    (Landlock's scope keeps it from signalling the host) the host kills the daemon reparented to it."""
    if namespaces == "off":
        monkeypatch.setenv("TRITONSMITH_NAMESPACES", "0")
    marker = f"{random.randrange(900, 999)}.{random.randrange(1 << 20)}"  # `sleep` seconds, unique to this test
    source = (CANDIDATES / "adversarial/daemon_kills_host.py").read_text().replace("@MARKER@", marker)
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        result = pool.evaluate(softmax(), source, timeout_s=60)
    try:
        deadline = time.monotonic() + 10
        while (alive := sleeping(marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, f"the candidate's daemon survived its job ({result.status}): {alive}"
        assert result.status == "rejected", result.summary()
        assert "process(es) running after it" in result.message
        expected = "PID namespace" if namespaces == "on" else "no PID namespace"
        assert result.evidence["confinement"]["processes"].startswith(expected)
    finally:
        for pid in sleeping(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_candidates_process_that_cannot_start_is_the_machines_error_not_the_candidates(tmp_path):
    """A failure before any candidate code ran (here the task file lies in the pool's own folder, which the
    mount namespace hides from candidates) stops the caller with what went wrong, instead of judging the
    kernel 'crashed' (a gold pass would have called every gold unqualified)."""
    from tritonsmith.evaluate import DeviceError
    from tritonsmith.evaluate.confine import detect
    if not detect().get("namespaces"):
        pytest.skip("needs mount namespaces: the pool's folder is hidden only inside one")
    with WorkerPool(device="cpu", workers=1, config=EvalConfig(timeout_s=120)) as pool:
        hidden = pool.work_dir / "softmax.py"
        hidden.write_text((BUILTIN / "softmax.py").read_text())
        with pytest.raises(DeviceError, match=r"could not start a candidate's process on this machine \(.*softmax"):
            pool.evaluate(load_task(hidden, suite="builtin"), load_task(hidden, suite="builtin").baseline)
        assert pool.evaluate(softmax(), softmax().baseline).status == "passed"  # the pool still works


@pytest.mark.skipif(TEST_DEVICE == "cpu", reason="needs a GPU (TRITONSMITH_TEST_DEVICE=cuda): CUDA's own threads")
def test_a_cuda_host_callback_cannot_write_outside_the_job(candidate_pool):
    """A host callback runs on a thread the CUDA driver started at torch.cuda.init(), before the confinement;
    Landlock must hold there too."""
    marker = f"tritonsmith-callback-test-{random.randrange(1 << 30)}"
    source = (CANDIDATES / "adversarial/write_from_cuda_callback.py").read_text().replace("@MARKER@", marker)
    planted = Path.home() / ".triton/cache" / marker
    try:
        result = candidate_pool.evaluate(load_task(BUILTIN / "vector_add.py", suite="builtin"), source, timeout_s=300)
        assert not planted.exists(), f"a CUDA host callback wrote {planted} ({result.status})"
    finally:
        if planted.exists():
            planted.rmdir()
