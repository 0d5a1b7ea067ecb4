"""benchmarks/kernelbench_memory.py: KernelBench problems sized on the meta device (docs/suites.md's estimate of
what level 1 needs of an H100), here on problem files written in KernelBench's format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "kernelbench_memory.py"
LEVEL = Path(__file__).parent / "fixtures" / "kernelbench" / "level1"


def test_problems_are_sized_and_ranked_by_what_they_need(tmp_path):
    folder = tmp_path / "level1"
    folder.mkdir()
    relu = (LEVEL / "1_ReLU.py").read_text()
    # 1 GiB in and out (2**28 float32), and one four times as large; one that meta cannot run is named, not fatal
    (folder / "1_Small.py").write_text(relu.replace("def get_inputs():", "def get_inputs():\n"
                                                    "    return [torch.rand(1 << 28)]\n\ndef _unused():"))
    (folder / "2_Large.py").write_text(relu.replace("def get_inputs():", "def get_inputs():\n"
                                                    "    return [torch.rand(1 << 30)]\n\ndef _unused():"))
    (folder / "3_Host.py").write_text(relu.replace("def get_inputs():", "def get_inputs():\n"
                                                   "    return [torch.rand(4).numpy()]\n\ndef _unused():"))
    done = subprocess.run([sys.executable, str(SCRIPT), str(folder), "--capacity-gib", "40"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{folder}: 2 problems sized, 1 not"
    # making: 4 checks' inputs and output and the output again; judging: 1 input and 3 outputs
    assert lines[3] == "| 2_Large | 4.0 | 4.0 | 0.00 | 36 | 16 |"
    assert lines[4] == "| 1_Small | 1.0 | 1.0 | 0.00 | 9 | 4 |"
    assert lines[5] == "over 40 GiB by this estimate: 0"
    assert lines[6] == "a check (inputs and output) over 8 GiB: 0"
    assert lines[7].startswith("not sized: 3_Host: ")
    tighter = subprocess.run([sys.executable, str(SCRIPT), str(folder), "--capacity-gib", "30"],
                             capture_output=True, text=True, timeout=120)
    assert "over 30 GiB by this estimate: 1 (2_Large)" in tighter.stdout
