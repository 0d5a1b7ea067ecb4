"""Evaluator overhead and timing noise, on a GPU.

Overhead of one evaluation = its wall time in the caller minus the time spent compiling and running
the candidate's kernels (the 'correctness', 'kernels_off' and 'timing' phases the worker reports):
fork, CUDA init, task import, references, guards, IPC. Noise = the baseline evaluated as its own
candidate: candidate and baseline are the same kernel, so speedup should be 1.

    PYTHONPATH=src python benchmarks/eval_overhead.py --tasks vector_add,softmax,matmul --repeats 8
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

from tritonsmith.evaluate import WorkerPool
from tritonsmith.suites import resolve_task

KERNEL_PHASES = ("correctness", "kernels_off", "timing")


def cold_import_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, triton; torch.cuda.init(); torch.zeros(1, device='cuda')"],
                   check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="vector_add,softmax,matmul")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()

    report: dict = {"python": platform.python_version(), "cold_import_and_cuda_init_s": round(cold_import_s(), 3)}
    started = time.perf_counter()
    pool = WorkerPool(device=args.device)
    report["pool_start_s"] = round(time.perf_counter() - started, 3)
    report["device"] = pool.device_name
    rows = []
    with pool:
        for task_id in args.tasks.split(","):
            task = resolve_task(task_id)
            for repeat in range(args.repeats):
                result = pool.evaluate(task, task.baseline)
                phases = result.evidence.get("phases_s", {})
                overhead = result.wall_s - sum(phases.get(name, 0.0) for name in KERNEL_PHASES)
                rows.append({"task": task_id, "repeat": repeat, "status": result.status, "wall_s": result.wall_s,
                             "overhead_s": round(overhead, 3), "phases_s": phases,
                             "self_speedup": result.speedup,
                             "per_case": [p.speedup for p in result.perf],
                             "spread": [p.candidate_spread for p in result.perf]})
                print(json.dumps(rows[-1]), flush=True)
            report.setdefault("torch", result.evidence.get("torch"))
            report.setdefault("triton", result.evidence.get("triton"))
    report["rows"] = rows
    summary = {}
    for task_id in args.tasks.split(","):
        mine = [r for r in rows if r["task"] == task_id]
        warm = mine[1:] or mine  # the first evaluation of a task compiles its kernels
        ratios = [s for r in mine for s in r["per_case"] if s]
        summary[task_id] = {
            "statuses": sorted({r["status"] for r in mine}),
            "first_overhead_s": mine[0]["overhead_s"],
            "warm_overhead_median_s": statistics.median(r["overhead_s"] for r in warm),
            "warm_overhead_max_s": max(r["overhead_s"] for r in warm),
            "warm_wall_median_s": statistics.median(r["wall_s"] for r in warm),
            "self_ratio_min": min(ratios) if ratios else None,
            "self_ratio_max": max(ratios) if ratios else None,
            "self_ratio_median": statistics.median(ratios) if ratios else None,
        }
    report["summary"] = summary
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=2))
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
