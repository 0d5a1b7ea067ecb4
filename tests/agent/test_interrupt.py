"""Ctrl-C (a real SIGINT to the command's process group): the first stops starting work, drops what is
in flight, saves and says how to resume; the second exits at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tritonsmith.agent.session import solve_task
from tritonsmith.agent.store import RunStore
from tritonsmith.suites import resolve_task

from .conftest import GOOD, WRONG, fenced, run_config

SLOW = GOOD.replace("def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:\n",
                    "def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:\n    import time; time.sleep(40)\n")
assert SLOW != GOOD


def start_run(server, out, rounds):
    command = [sys.executable, "-m", "tritonsmith", "run", "vector_add", "--model", "openai/scripted-model",
               "--api-base", server.url, "--device", "cpu", "--rounds", str(rounds), "--parallel", "1", "--trap",
               "20", "--no-hardware", "--no-guide", "--no-one-shot", "--out", str(out), "--quiet"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(condition, process, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert condition(), process.stderr.read()


def test_ctrl_c_stops_the_run_at_once_and_it_resumes(scripted, tmp_path):
    server, _ = scripted([fenced(WRONG)], delay_s=0.3)
    out = tmp_path / "run"
    process = start_run(server, out, rounds=6)
    wait_for(lambda: server.calls >= 2, process)
    os.killpg(process.pid, signal.SIGINT)
    calls = server.calls
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == (f"tritonsmith: interrupted: finished work is saved in {out}: rerun the "
                                               "same command to resume.")
    assert server.calls <= calls + 1 and stdout == ""  # no call started after the Ctrl-C
    assert RunStore(out).load_state()["stop_reason"].startswith("interrupted by Ctrl-C")
    summary = solve_task(resolve_task("vector_add"), run_config(server, rounds=6, trap=20), out, quiet=True)
    assert summary.rounds == {0: 6}
    steps = [(e["lineage"], e["round"], e["type"]) for e in RunStore(out).trajectory()]
    assert len(steps) == len(set(steps)) == 6 * 3


def test_ctrl_c_does_not_wait_for_an_evaluation_and_twice_exits_at_once(scripted, tmp_path):
    server, _ = scripted([fenced(SLOW)])
    out = tmp_path / "run"
    for presses in (1, 2):
        process = start_run(server, out / str(presses), rounds=2)
        wait_for(lambda n=presses: server.calls >= n and (out / str(n) / "candidates").exists(),
                 process)
        time.sleep(3)  # the candidate is being evaluated: it sleeps 40 s
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        if presses == 2:
            time.sleep(0.05)
            try:
                os.killpg(process.pid, signal.SIGINT)
            except ProcessLookupError:  # stopped already
                pass
        _, stderr = process.communicate(timeout=60)
        assert time.monotonic() - started < (3 if presses == 2 else 15), stderr
        assert "Traceback" not in stderr, stderr
        if presses == 1:
            assert process.returncode == 130 and "exiting at once" not in stderr, stderr
        else:  # the first stop is quick (its pool's busy workers killed at once): the second press finds the command
            # stopping (it exits at once, 130), or done and its handlers given back (killed by SIGINT: 130 in a shell)
            assert process.returncode == -signal.SIGINT or (process.returncode == 130 and (
                "exiting at once" in stderr or "interrupted:" in stderr)), (process.returncode, stderr)


def test_a_second_ctrl_c_during_a_slow_stop_exits_at_once(tmp_path):
    """The second press cuts short a stop that takes long (here the first's handling sleeps 60 s)."""
    script = tmp_path / "slow_stop.py"
    script.write_text("import sys, time\nfrom tritonsmith import interrupt\ninterrupt.install()\n"
                      "try:\n    print('ready', flush=True)\n    time.sleep(60)\nexcept KeyboardInterrupt:\n"
                      "    print('stopping', flush=True)\n    time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    assert process.stdout.readline().strip() == "ready"
    os.killpg(process.pid, signal.SIGINT)
    assert process.stdout.readline().strip() == "stopping"
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - started < 5, (process.returncode, stderr)
    assert "stopping (Ctrl-C)" in stderr and stderr.strip().endswith("tritonsmith: exiting at once"), stderr
