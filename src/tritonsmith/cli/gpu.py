"""Commands only a GPU can do: `tritonsmith tune` (a kernel's launch parameters) and `tritonsmith peaks`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tritonsmith.cli.errors import EXIT_FAILED, EXIT_PASSED, UsageError


def register(commands) -> None:
    tune = commands.add_parser("tune", help="search a verified kernel's launch parameters on the GPU")
    tune.add_argument("task", help="a task file, SUITE:ID, or a built-in task id")
    tune.add_argument("kernel", help="the kernel's Python source file")
    tune.add_argument("--budget-s", type=float, default=600, help="seconds of tuning (default 600)")
    tune.add_argument("--out", help="the tuned kernel's file (default KERNEL.tuned.py)")
    tune.add_argument("--device", default="cuda", help="cuda or cuda:N")
    tune.set_defaults(handler=tune_command)

    peaks = commands.add_parser("peaks", help="the GPU's measured copy bandwidth and matmul FLOP/s (cached)")
    peaks.add_argument("--device", default="cuda", help="cuda or cuda:N")
    peaks.add_argument("--refresh", action="store_true", help="measure again even if cached")
    peaks.add_argument("--json", action="store_true")
    peaks.set_defaults(handler=peaks_command)


def tune_command(args: argparse.Namespace) -> int:
    from tritonsmith.durable import read_text
    from tritonsmith.knowledge.hardware import profile_for
    from tritonsmith.suites import resolve_task
    from tritonsmith.tune import PoolMeasure, tune_kernel

    task = resolve_task(args.task)
    path = Path(args.kernel)
    source = read_text(path, "kernel")
    if args.budget_s <= 0:
        raise UsageError("--budget-s must be positive.")
    def progress(trial, best_ms: float) -> None:
        label = ", ".join(f"{k}={v}" for k, v in sorted(trial.config.items())) or "the original"
        time = f"{trial.ms:.4g} ms" if trial.ms is not None else trial.status
        best = f"best {best_ms:.4g} ms" if best_ms < float("inf") else "nothing timed yet"
        print(f"[{trial.started_s + trial.duration_s:6.1f}/{args.budget_s:g} s] {trial.phase:<8} {label}: {time}  ({best})",
              file=sys.stderr, flush=True)

    with gpu_pool("tune", "tuning measures speed", args.device) as pool:
        measure = PoolMeasure(pool, task, original=source)
        result = tune_kernel(task, source, measure, args.budget_s, verify=measure.verifier(),
                             profile=profile_for(pool.device_name), on_trial=progress)
    out = Path(args.out) if args.out else path.with_suffix(".tuned.py")
    out.write_text(result.tuned_source)
    print(result.summary())
    print(f"tuned kernel: {out}", file=sys.stderr)
    return EXIT_PASSED if result.verified else EXIT_FAILED


def gpu_pool(command: str, what: str, device: str, **options):
    """Warm workers on `device` for a command only a GPU can do; where there is none, advice that works
    (not `--device cpu`, which cannot time kernels)."""
    from tritonsmith.evaluate import DeviceError, WorkerPool

    advice = (f"{what} on a GPU, and the CPU interpreter cannot time kernels: run `tritonsmith {command}` on a "
              "machine with a GPU and a CUDA or ROCm build of torch.")
    if not device.startswith("cuda"):
        raise UsageError(advice)
    try:
        pool = WorkerPool(device=device, **options)
    except DeviceError:
        raise UsageError(f"no GPU is visible: {advice}") from None
    if pool.device_kind == "cpu":
        pool.close()
        raise UsageError(f"no GPU is visible: {advice}")
    return pool


def peaks_command(args: argparse.Namespace) -> int:
    from tritonsmith.evaluate import EvalConfig
    from tritonsmith.evaluate.peaks import PeaksError, cache_path
    from tritonsmith.knowledge.hardware import profile_for

    with gpu_pool("peaks", "peaks are measured", args.device, config=EvalConfig(measured_peaks=False)) as pool:
        try:
            peaks = pool.measure_peaks(refresh=args.refresh)
        except PeaksError as err:
            raise UsageError(f"{err}.") from None
    if args.json:
        print(json.dumps(peaks, indent=2))
        return EXIT_PASSED
    profile = profile_for(peaks["device"])
    def of_sheet(value: float, sheet: float | None) -> str:
        return f" ({value / sheet:.0%} of the datasheet's {sheet:g})" if sheet else ""
    print(f"{peaks['device']} (measured {peaks.get('measured_at', '?')}, torch {peaks.get('torch', '?')}, "
          f"triton {peaks.get('triton', '?')})")
    print(f"copy: {peaks['copy_gbps']:.0f} GB/s read+write{of_sheet(peaks['copy_gbps'], profile and profile.bandwidth_gbps)}"
          + (f", best of {len(peaks['copy_all_gbps'])} ({peaks.get('copy_best')})" if peaks.get("copy_all_gbps") else ""))
    for dtype, value in peaks["tflops"].items():
        print(f"matmul {dtype}: {value:.1f} TFLOP/s{of_sheet(value, profile and profile.peak_tflops(dtype))}")
    for dtype, value in peaks.get("tflops_dropped", {}).items():
        print(f"matmul {dtype}: {value} not used (implausible against the datasheet)")
    print(f"cached in {cache_path(peaks['device'])}", file=sys.stderr)
    return EXIT_PASSED
