"""The timer on launch-bound and memory-bound kernels: a kernel against itself, old timer and new.

Two distinct Python functions launch the same Triton kernel on the same inputs, so every ratio should
be 1. The old timer is session 3's: 5 interleaved rounds of triton.testing.do_bench (median of round
medians); the new one is evaluate/timing.GpuTimer. Each size is measured `--repeats` times; the table
gives the ratio's min/median/max and the seconds spent. A "heavy" wrapper adds ~50 us of Python per
call, as a perf script's call_op does.

    PYTHONPATH=src python benchmarks/timer_precision.py --repeats 5 --json-out timer.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import triton
import triton.language as tl
import triton.testing

from tritonsmith.evaluate.timing import GpuTimer, TimingSettings


@triton.jit
def _add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def make(x, y, heavy: bool):
    def add():
        if heavy:
            deadline = time.perf_counter() + 50e-6
            while time.perf_counter() < deadline:
                pass
        out = torch.empty_like(x)
        _add[(triton.cdiv(x.numel(), 1024),)](x, y, out, x.numel(), BLOCK=1024)
        return out
    return add


def old_timer(functions: dict) -> dict:
    samples = {name: [] for name in functions}
    names = list(functions)
    for round_index in range(5):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(triton.testing.do_bench(functions[name], warmup=25, rep=100, return_mode="median"))
    return {name: statistics.median(v) for name, v in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json-out")
    args = parser.parse_args()
    rows = []
    timer = GpuTimer()
    for numel, heavy in [(4096, False), (4096, True), (65536, True), (1 << 20, False), (1 << 20, True),
                         (1 << 24, False), (1 << 26, False)]:
        x = torch.randn(numel, device="cuda")
        y = torch.randn(numel, device="cuda")
        functions = {"candidate": make(x, y, heavy), "baseline": make(x, y, heavy)}
        for method in ("old", "new"):
            ratios, seconds, times, rounds = [], [], [], []
            for _ in range(args.repeats):
                started = time.perf_counter()
                if method == "old":
                    measured = old_timer(functions)
                    cand, base = measured["candidate"], measured["baseline"]
                else:
                    measured = timer.measure(functions, TimingSettings())
                    cand, base = measured.times["candidate"].median_ms, measured.times["baseline"].median_ms
                    rounds.append(measured.rounds)
                seconds.append(time.perf_counter() - started)
                ratios.append(base / cand)
                times.append(cand)
            row = {"numel": numel, "heavy_wrapper": heavy, "timer": method, "ratio_min": min(ratios),
                   "ratio_median": statistics.median(ratios), "ratio_max": max(ratios),
                   "ms_median": statistics.median(times), "seconds_each": statistics.median(seconds),
                   "rounds": rounds}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\ndevice: {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}")
    print("| elements | wrapper | timer | ratio min / median / max | kernel time | s per measurement |")
    print("| ---: | --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['numel']:,} | {'heavy' if r['heavy_wrapper'] else 'plain'} | {r['timer']} | "
              f"{r['ratio_min']:.3f} / {r['ratio_median']:.3f} / {r['ratio_max']:.3f} | "
              f"{r['ms_median'] * 1000:.1f} us | {r['seconds_each']:.2f} |")
    if args.json_out:
        with open(args.json_out, "w") as handle:
            for r in rows:
                handle.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
