"""The fixes the evaluator's processes make to Triton's interpreter (tritonsmith.evaluate.runtime)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tritonsmith

LOOP = '''
import torch
import triton
import triton.language as tl

from tritonsmith.evaluate.runtime import autotune_on_interpreter


@triton.jit
def _count(out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    total = 0
    for start in range(0, n, BLOCK):
        total += 1
    for start in tl.range(pid * BLOCK, n, tl.num_programs(0) * BLOCK):
        total += 100
    tl.store(out_ptr + pid, total)


autotune_on_interpreter()
out = torch.zeros(2, dtype=torch.int32)
_count[(2,)](out, 10, BLOCK=4)
print(out.tolist())
'''


def test_a_loop_bound_from_a_scalar_runs_on_the_interpreter():
    """Triton 3.6's interpreter turned a scalar loop bound (a kernel argument, program_id) into an index with int()
    of a 1-element array, a TypeError since NumPy 2.4: every honest candidate with such a loop failed there."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(Path(tritonsmith.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", LOOP], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-2] == "[203, 103]"  # 3 blocks each; blocks 0 and 2 for program 0, 1 for 1
