"""How long TritonBench-G's perf scripts take to make their inputs, whole and in windows (PerfScript.make_inputs
on a GPU), and whether the windows' entries match the whole list's (shapes and dtypes), on PyTorch's 'meta'
device: no GPU needed, no data drawn, so what is timed is the scripts' own Python and PyTorch's dispatch.

    python benchmarks/perf_input_windows.py GEAK-EVAL/geak_eval/data/TritonBench/data/TritonBench_G_v1 [WINDOW_BYTES]

WINDOW_BYTES 1 makes each entry alone (the entries before it made again), as the code before windows did.
Scripts that need CUDA to make their inputs on this machine are counted as skipped.
"""

from __future__ import annotations

import importlib.util
import sys
import time

import torch

from tritonsmith.suites import load_suite
from tritonsmith.suites.runtime.tensors import tensors_in
from tritonsmith.task import PERF_SEED


def shapes(value):
    return [(path, tuple(t.shape), t.dtype) for path, t in tensors_in(value, "input")]


def main(folder: str, window: int | None) -> None:
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # the scripts' to_cuda: stay on 'meta'
    ok, differ, skipped, whole_s, windows_s = 0, [], [], 0.0, 0.0
    for task in load_suite(f"tritonbench-g:{folder}"):
        try:
            spec = importlib.util.spec_from_file_location(f"windows_{task.id}", task.path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            script, count = module._perf_script(), module.PERF_INPUTS
            started = time.perf_counter()
            whole, _ = script._make(PERF_SEED, "meta")
            whole_s += time.perf_counter() - started
            if not isinstance(count, int) or script._device_problem is not None:
                skipped.append(task.id)
                continue
            if window is not None:
                script.window_bytes = window
            started = time.perf_counter()
            made = [script.make_inputs(i, PERF_SEED, "meta", count)[1] for i in range(count)]
            windows_s += time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001 - a script that needs CUDA here
            skipped.append(f"{task.id} ({type(exc).__name__})")
            continue
        if len(whole) == count and all(shapes(whole[i]) == shapes(m.value) for i, m in enumerate(made)):
            ok += 1
        else:
            differ.append(task.id)
    print(f"{ok} scripts' windows match their whole lists, {len(differ)} differ {differ}, {len(skipped)} skipped; "
          f"made whole in {whole_s:.1f} s, in windows of {window or script_window()} bytes in {windows_s:.1f} s")
    print("skipped:", ", ".join(skipped))


def script_window() -> int:
    from tritonsmith.suites.runtime.geak_perf import PerfScript
    return PerfScript.window_bytes


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
