# Double-forks a setsid daemon (a `sleep` marked with @MARKER@), then kills its host (its topmost evaluator ancestor).
import os
import signal

import torch
import triton
import triton.language as tl

if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        os.execv("/bin/sleep", ["sleep", "@MARKER@"])
    os._exit(0)
os.wait()
host, pid = None, os.getppid()
while pid > 1:  # up the ancestry only: the host and whatever it forked between us share its command line
    try:
        if b"tritonsmith.evaluate.host" in open(f"/proc/{pid}/cmdline", "rb").read():
            host = pid
        pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except OSError:
        break
if host is not None:
    try:
        os.kill(host, signal.SIGKILL)
    except OSError:
        pass


@triton.jit
def _softmax_kernel(x_ptr, out_ptr, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * n_cols + cols, mask=cols < n_cols, other=-float("inf")).to(tl.float32)
    e = tl.exp(x - tl.max(x, axis=0))
    tl.store(out_ptr + row * n_cols + cols, (e / tl.sum(e, axis=0)).to(out_ptr.dtype.element_ty), mask=cols < n_cols)


def softmax(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    out = torch.empty_like(x)
    _softmax_kernel[(x.shape[0],)](x, out, x.shape[1], BLOCK=triton.next_power_of_2(x.shape[1]))
    return out
