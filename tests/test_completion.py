"""The shell completion script, run in a real bash: commands, each command's options, task ids."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    out = subprocess.run([sys.executable, "-m", "tritonsmith", "completion", "bash"], capture_output=True, text=True,
                         check=True).stdout
    path = tmp_path_factory.mktemp("completion") / "tritonsmith.bash"
    path.write_text(out)
    return path


def complete(script, *words: str) -> set[str]:
    """What bash offers for the command line `tritonsmith WORDS...` (the last word being typed)."""
    line = " ".join(["tritonsmith", *words])
    array = " ".join(f"'{w}'" for w in ["tritonsmith", *words])
    program = (f"source {script}; COMP_WORDS=({array}); COMP_CWORD={len(words)}; COMP_LINE='{line}'; "
               "_tritonsmith; printf '%s\\n' \"${COMPREPLY[@]}\"")
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True, cwd=script.parent)
    return {word for word in result.stdout.split("\n") if word}


def test_commands_then_their_own_options(script):
    assert {"bench", "run", "eval", "tasks", "completion", "queue"} <= complete(script, "")
    assert complete(script, "be") == {"bench"}
    bench = complete(script, "bench", "--")
    assert {"--suite", "--solver", "--resume", "--workers-per-gpu"} <= bench
    assert "--seeds" not in bench  # an eval option
    assert complete(script, "eval", "--se") == {"--seeds"}


def test_task_ids_and_fixed_choices(script):
    assert {"softmax", "softmax_backward"} <= complete(script, "eval", "softm")
    assert complete(script, "tasks", "sh") == {"show"}
    assert complete(script, "completion", "z") == {"zsh"}


def test_zsh_script_loads_bash_completion_first():
    out = subprocess.run([sys.executable, "-m", "tritonsmith", "completion", "zsh"], capture_output=True, text=True,
                         check=True).stdout
    assert out.index("bashcompinit") < out.index("complete -o filenames -F _tritonsmith tritonsmith")
