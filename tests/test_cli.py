"""The `tritonsmith` command as a user runs it: exit codes, JSON, one-sentence errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import CANDIDATES, running_since, still_running


def tritonsmith(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tritonsmith", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_eval_baseline_json_passes():
    done = tritonsmith("eval", "vector_add", "--baseline", "--device", "cpu", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "passed" and result["call_ok"] and result["exec_ok"]
    assert result["speedup"] is None and "no GPU" in result["speedup_reason"]
    assert len(result["cases"]) >= 9 and all(case["ok"] for case in result["cases"])
    assert result["evidence"]["interpreter"] is True and result["evidence"]["seeds"] == [0, 1, 2]


def test_eval_baseline_of_a_pytorch_gold_passes():
    """KernelBench's gold is its PyTorch Model, which launches no Triton kernel: `--baseline` evaluates it as
    `bench --solver baseline` does (a gold against itself), not as a candidate that must launch one."""
    level1 = Path(__file__).parent / "fixtures/kernelbench/level1"
    done = tritonsmith("eval", f"kernelbench:{level1}:1_ReLU", "--baseline", "--device", "cpu", "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "passed" and result["evidence"]["gold"], result["message"]


def test_eval_wrong_candidate_exits_1_with_the_error():
    done = tritonsmith("eval", "vector_add", str(CANDIDATES / "wrong/vector_add_off_by_one.py"), "--device", "cpu")
    assert done.returncode == 1
    assert "status: wrong_output" in done.stdout and "max abs err" in done.stdout


def test_eval_syntax_error_points_at_the_line():
    done = tritonsmith("eval", "vector_add", str(CANDIDATES / "wrong/vector_add_syntax.py"), "--device", "cpu",
                       "--json")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["status"] == "compile_error" and not result["call_ok"]
    assert f"SyntaxError at {CANDIDATES / 'wrong/vector_add_syntax.py'} line 5" in result["message"]  # the user's file


def test_usage_errors_exit_2_with_one_sentence(tmp_path):
    candidate = str(CANDIDATES / "wrong/vector_add_off_by_one.py")
    for args, expected in [
        (("eval", "no_such_task", candidate), "no task with id"),
        (("eval", "vector_add", str(tmp_path / "missing.py")), "cannot read the candidate"),
        (("eval", "vector_add", candidate, "--seeds", "1,2"), "at least 3 seeds"),
        (("eval", "vector_add", candidate, "--device", "tpu"), "--device must be"),
        (("eval", "vector_add", candidate, "--device", "cuda"), "no GPU is visible"),
        (("tasks", "show"), "needs a task id"),
        (("tune", "vector_add", candidate, "--device", "cpu"), "tuning measures speed on a GPU"),
        (("tune", "vector_add", candidate), "no GPU is visible: tuning measures speed on a GPU"),
        (("peaks", "--device", "cpu"), "peaks are measured on a GPU"),
        (("peaks",), "no GPU is visible: peaks are measured on a GPU"),
    ]:
        done = tritonsmith(*args)
        assert done.returncode == 2, (args, done.stderr)
        errors = [line for line in done.stderr.splitlines() if line.startswith("tritonsmith: error:")]
        assert len(errors) == 1 and expected in errors[0] and "Traceback" not in done.stderr, (args, done.stderr)
        assert done.stderr.strip().endswith(errors[0])
        assert "--device" not in errors[0] or args[0] not in ("tune", "peaks"), errors[0]  # advice that works


def test_tasks_list_and_show_need_no_torch():
    code = ("import sys; from tritonsmith.cli import main; "
            "main(['tasks']); main(['tasks', 'show', 'vector_add']); main(['tasks', '--json']); "
            "print('HEAVY_IMPORTED' if {'torch', 'litellm'} & set(sys.modules) else 'NO_TORCH')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "vector_add" in done.stdout and "def vector_add(x: torch.Tensor" in done.stdout
    assert done.stdout.strip().endswith("NO_TORCH")


def test_help_lists_commands_without_heavy_imports():
    done = tritonsmith("--help")
    assert done.returncode == 0 and all(c in done.stdout for c in ("eval", "tasks", "run", "bench", "tune", "report",
                                                                   "compare"))
    check = subprocess.run([sys.executable, "-X", "importtime", "-c", "from tritonsmith.cli import main; "
                            "import sys\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"],
                           capture_output=True, text=True, timeout=60)
    imported = {line.split("|")[-1].strip() for line in check.stderr.splitlines() if line.startswith("import time:")}
    assert not {"torch", "litellm", "triton"} & imported


def test_a_binary_candidate_is_one_sentence_and_json_stays_json(tmp_path):
    binary = tmp_path / "kernel.py"
    binary.write_bytes(b"import torch\n\xff\xfe\x00garbage")
    done = tritonsmith("eval", "vector_add", str(binary), "--device", "cpu", "--json")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "is not UTF-8 text (byte 0xff at offset 13)" in json.loads(done.stdout)["error"]
    assert done.stderr.startswith("tritonsmith: error: the candidate") and done.stderr.count("\n") == 1


def test_a_closed_stdout_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` once head has exited: every write is EPIPE
    done = subprocess.run([sys.executable, "-m", "tritonsmith", "tasks"], stdout=write_end, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    os.close(write_end)
    assert done.returncode == 141 and done.stderr == "", done.stderr


def test_out_naming_an_existing_file_is_one_sentence(tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    for args in (("run", "vector_add", "--model", "openai/m", "--api-base", "http://127.0.0.1:9/v1", "--device", "cpu"),
                 ("bench", "--solver", "baseline", "--device", "cpu")):
        for out in (taken, taken / "inside"):
            done = tritonsmith(*args, "--out", str(out))
            assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
            assert done.stderr == f"tritonsmith: error: --out {out}: {taken} is a file, not a folder; choose another --out.\n"
    assert taken.read_text() == "mine"


def test_run_and_bench_settings_that_cannot_work_are_one_sentence_and_make_no_folder(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("device: gpu\n")
    flag = tmp_path / "rounds.yaml"
    flag.write_text("rounds: true\n")
    not_a_list = tmp_path / "corpus.json"
    not_a_list.write_text('{"code": "x"}')
    run = ("run", "vector_add", "--model", "openai/m", "--api-base", "http://127.0.0.1:9/v1")
    bench = ("bench", "--solver", "baseline", "--tasks", "vector_add")
    for args, expected in [
        ((*bench, "--device", "banana"), "--device must be auto, cpu, cuda or cuda:N (got 'banana')."),
        ((*run, "--device", "gpu"), "--device must be auto, cpu, cuda or cuda:N (got 'gpu')."),
        ((*run, "--config", str(config)), f"{config}: key 'device' must be auto, cpu, cuda or cuda:N (got 'gpu')."),
        ((*run, "--config", str(flag)), f"{flag}: key 'rounds' must be a number (got True)."),
        ((*run, "--cluster", "slurm"), "--cluster must be ray, ray:auto or ray:HOST:PORT (got 'slurm')."),
        ((*bench, "--solver", "best"), "unknown --solver 'best': use agent, baseline or dir:PATH."),
        ((*run, "--corpus", str(tmp_path / "nope")), f"corpus {tmp_path / 'nope'}: no such file or folder"),
        ((*bench, "--corpus", str(not_a_list)), f"corpus {not_a_list}: expected a JSON list of {{code, description}}"),
        ((*run, "--start-from", str(CANDIDATES / "honest/vector_add_fixed_block.py")),
         "start_from is the kernel that optimize mode starts from, but the mode is generate: add --mode optimize"),
        (("run", "vector_add", "--model", "hosted_vllm/m", "--api-base", "http://127.0.0.1:9/v1", "--budget-usd", "5"),
         "the price of hosted_vllm/m is unknown: give it in USD per million input and output tokens "
         "(--price-per-mtok IN,OUT, or price_per_mtok: [IN, OUT] in a config), or drop the dollar limit"),
        ((*run, "--price-per-mtok", "3"), "--price-per-mtok (price_per_mtok) takes two prices, input and output, e.g. 3,15 (got 3)."),
    ]:
        out = tmp_path / "out"
        done = tritonsmith(*args, "--out", str(out))
        errors = [line for line in done.stderr.splitlines() if line.startswith("tritonsmith: error:")]
        assert done.returncode == 2 and "Traceback" not in done.stderr, (args, done.stderr)
        assert len(errors) == 1 and expected in errors[0] and done.stderr.strip() == errors[0], (args, done.stderr)
        assert not out.exists(), args


def test_a_bench_that_could_not_start_leaves_its_folder_to_the_corrected_command(tmp_path):
    """The first try names a GPU this machine does not have: the pool cannot start, and the same folder takes
    the corrected command without --resume."""
    out = tmp_path / "bench"
    bench = ("bench", "--solver", "baseline", "--tasks", "vector_add", "--out", str(out))
    done = tritonsmith(*bench, "--device", "cuda")
    assert done.returncode == 2 and "no GPU is visible" in done.stderr, done.stderr
    assert not (out / "bench.json").exists()
    done = tritonsmith(*bench, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "bench.json").read_text())["device"] == "cpu"
    assert [json.loads(line)["status"] for line in (out / "results.jsonl").read_text().splitlines()] == ["passed"]
    done = tritonsmith(*bench, "--device", "cuda")  # now it holds a finished task: that is kept
    assert done.returncode == 2 and "already holds a bench: pass --resume" in done.stderr, done.stderr
    done = tritonsmith(*bench, "--device", "cpu", "--resume")
    assert done.returncode == 0 and f"the one task of this bench is already finished in {out}: nothing to run." \
        in done.stderr, done.stderr
    assert len((out / "results.jsonl").read_text().splitlines()) == 1


def test_numbers_out_of_range_are_one_sentence_naming_the_option():
    for args, expected in [
        (("eval", "vector_add", "--baseline", "--timeout", "-5"), "--timeout must be positive (got -5)."),
        (("run", "vector_add", "--model", "openai/m", "--budget-usd", "-3"), "--budget-usd must be positive (got -3.0)."),
        (("run", "vector_add", "--model", "openai/m", "--temperature", "9"), "--temperature must be from 0 to 2 (got 9.0)."),
        (("run", "vector_add", "--model", "openai/m", "--parallel", "0"), "--parallel must be at least 1 (got 0)."),
        (("bench", "--solver", "baseline", "--rounds", "-1", "--out", "unused"), "--rounds must be at least 1 (got -1)."),
        (("bench", "--solver", "baseline", "--eval-timeout-s", "0", "--out", "unused"),
         "--eval-timeout-s must be positive (got 0.0)."),
    ]:
        done = tritonsmith(*args)
        assert (done.returncode, done.stderr) == (2, f"tritonsmith: error: {expected}\n"), args


def test_version():
    from tritonsmith import __version__

    done = tritonsmith("--version")
    assert (done.returncode, done.stdout) == (0, f"tritonsmith {__version__}\n")
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert f'version = "{__version__}"' in pyproject


def test_main_called_from_python_gives_back_the_callers_ctrl_c_handler():
    code = ("import signal; from tritonsmith.cli import main; before = signal.getsignal(signal.SIGINT); "
            "main(['tasks']); print(signal.getsignal(signal.SIGINT) is before)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().endswith("True"), done.stderr


def test_sigterm_stops_an_eval_whose_candidate_runs_on_at_once():
    """`eval` stopped while its candidate runs ends in seconds, its worker processes with it: the job's host,
    left busy, is killed rather than asked to shut down (it reads no request till its job ends: a GPU machine's
    `timeout -k 5` killed an eval so, its stop message its last word)."""
    import signal
    import time

    def children(pid: int) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        return [int(child) for child in found]
    process = subprocess.Popen([sys.executable, "-m", "tritonsmith", "eval", "vector_add",
                                str(CANDIDATES / "adversarial/infinite_loop.py"), "--device", "cpu", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    def running_a_job(host: int) -> bool:  # the candidate's process, forked by the job's reaper, in its folder
        def in_a_job(pid: int) -> bool:
            try:
                return "/job-" in os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                return False
        return any(in_a_job(candidate) for reaper in children(host) for candidate in children(reaper))
    deadline = time.monotonic() + 120  # till the host runs the job (not while the pool starts)
    while not any(running_a_job(host) for host in children(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    hosts = children(process.pid)
    assert any(running_a_job(host) for host in hosts), process.poll()
    time.sleep(1)  # the candidate spins

    born = {host: running_since(host) for host in hosts}
    os.kill(process.pid, signal.SIGTERM)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert time.monotonic() - started < 4.5 and process.returncode == 143, (time.monotonic() - started, stderr)
    assert "Traceback" not in stderr and "tritonsmith: stopping (SIGTERM)" in stderr, stderr
    assert not still_running(born)
