# Forks 32 children that become long `sleep`s (marked @MARKER@), and prints their pids so a test can check they died.
import os

import torch
import triton
import triton.language as tl



@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def _launch(x, y):
    out = torch.empty_like(x)
    n = x.numel()
    _add_kernel[(triton.cdiv(n, 1024),)](x, y, out, n, BLOCK=1024)
    return out


def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    for _ in range(32):
        pid = os.fork()
        if pid == 0:
            os.execv("/bin/sleep", ["sleep", "@MARKER@"])
        print(f"forked {pid}", flush=True)
    return _launch(x, y)
