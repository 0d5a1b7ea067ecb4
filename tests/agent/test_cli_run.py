"""`tritonsmith run` as a user runs it: a YAML config, a summary, one-sentence errors, resumable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import GOOD, fenced


def tritonsmith(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "tritonsmith", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_run_from_a_yaml_config_writes_the_folder(scripted, tmp_path):
    server, _ = scripted([fenced(GOOD)])
    config = tmp_path / "run.yaml"
    config.write_text(f"model: openai/scripted-model\napi_base: {server.url}\ndevice: cpu\nrounds: 2\nparallel: 1\n"
                      "hardware_knowledge: false\nguide_knowledge: false\none_shot: false\n")
    out = tmp_path / "run"
    done = tritonsmith("run", "vector_add", "--config", str(config), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Best kernel: L0-R0" in done.stdout and "Speed not measured" in done.stdout
    for name in ("best.py", "summary.json", "summary.md", "trajectory.jsonl", "state.json", "llm_cache.jsonl",
                 "config.json", "candidates/L0-R0.py"):
        assert (out / name).exists(), name
    assert json.loads((out / "config.json").read_text())["api_key_env"] is None
    again = tritonsmith("run", "vector_add", "--config", str(config), "--out", str(out))
    assert again.returncode == 0 and server.calls == 1  # resumed a finished run: nothing asked again


def test_unreachable_server_is_one_sentence_and_the_run_is_kept(tmp_path, closed_port):
    config = tmp_path / "run.yaml"
    config.write_text(f"model: openai/scripted-model\napi_base: http://127.0.0.1:{closed_port}/v1\ndevice: cpu\n"
                      "llm_retries: 0\nhardware_knowledge: false\nguide_knowledge: false\none_shot: false\n")
    out = tmp_path / "run"
    done = tritonsmith("run", "vector_add", "--config", str(config), "--out", str(out))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("tritonsmith: error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert "rerun the same command to resume" in errors[0] and str(closed_port) in errors[0]
    assert (out / "state.json").exists()


def test_run_usage_errors(tmp_path):
    done = tritonsmith("run", "vector_add", "--device", "cpu")
    assert done.returncode == 2 and "name a model with --model" in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\nrondus: 3\n")
    done = tritonsmith("run", "vector_add", "--config", str(bad))
    assert done.returncode == 2 and "unknown key 'rondus'" in done.stderr


def test_a_damaged_state_or_config_file_is_one_sentence_naming_it(tmp_path, closed_port):
    for name in ("state.json", "config.json"):
        out = tmp_path / name
        out.mkdir()
        (out / name).write_text('{"lineages": [')
        done = tritonsmith("run", "vector_add", "--model", "openai/m", "--api-base", f"http://127.0.0.1:{closed_port}/v1",
                           "--device", "cpu", "--out", str(out))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().splitlines()[-1] == (f"tritonsmith: error: the run {'state' if name == 'state.json' else 'configuration'} "
                                       f"{out / name} is damaged (not valid JSON at line 1 column 15): restore it, "
                                       "or start again in another folder.")


def test_a_missing_api_key_is_said_once_before_anything_is_made(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    for args in (("run", "vector_add"), ("bench", "--tasks", "vector_add")):
        out = tmp_path / args[0]
        done = subprocess.run([sys.executable, "-m", "tritonsmith", *args, "--model", "openai/gpt-4o-mini", "--device",
                               "cpu", "--out", str(out)], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 2 and not out.exists(), done.stderr
        assert done.stderr.splitlines()[-1] == (
            "tritonsmith: error: no API key for openai/gpt-4o-mini: set OPENAI_API_KEY, or name the variable that "
            "holds it with --api-key-env (for a local server, give its --api-base).")
        assert done.stderr.count("API key") == 1 and done.stdout == ""
    done = subprocess.run([sys.executable, "-m", "tritonsmith", "run", "vector_add", "--model", "openai/gpt-4o-mini",
                           "--api-key-env", "MY_UNSET_KEY", "--out", str(tmp_path / "k")], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.stderr.splitlines()[-1] == ("tritonsmith: error: --api-key-env MY_UNSET_KEY: the environment variable "
                                            "MY_UNSET_KEY is not set.") and not (tmp_path / "k").exists()
