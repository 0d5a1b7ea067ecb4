"""The same evaluations through the local pool and through a Ray cluster: same verdicts, and Ray's cost.

Each built-in task's baseline is evaluated once by a local WorkerPool, then once through a ClusterPool on
a Ray cluster (a new one on this machine unless --address names one). Ray's overhead per evaluation is
the driver's wall time around `ClusterPool.evaluate` minus the wall time the actor's own pool measured
for that evaluation (shipping the task, the remote call and the result's way back).

    PYTHONPATH=src python benchmarks/ray_overhead.py --tasks 10 --json-out ray.jsonl   # on the GPU machine
    PYTHONPATH=src python benchmarks/ray_overhead.py --device cpu --tasks 3            # anywhere (interpreter)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def evaluate(pool, task, label: str = "") -> dict:
    began = time.perf_counter()
    result = pool.evaluate(task, task.baseline, gold=True)
    wall = time.perf_counter() - began
    if label:
        print(f"{label} {task.id}: {result.status} in {wall:.1f} s", file=sys.stderr, flush=True)
    return {"task": task.id, "status": result.status, "speedup": result.speedup, "driver_s": wall,
            "evaluation_s": result.wall_s, "overhead_s": wall - result.wall_s, "message": result.message}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10, help="the first N built-in tasks")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--address", help="a Ray cluster to join (default: start one here)")
    parser.add_argument("--json-out", help="one row per task, written as soon as both of its evaluations are done")
    args = parser.parse_args()

    from tritonsmith.evaluate import EvalConfig, WorkerPool
    from tritonsmith.runs.cluster import ClusterPool
    from tritonsmith.suites import load_suite

    tasks = [task for task in load_suite("builtin") if task.baseline][:args.tasks]
    config = EvalConfig()
    rows = []
    # both pools at once, a task through each in turn: a run cut short keeps every task it finished (their
    # timing never overlaps: a GPU's lock is the machine's)
    with WorkerPool(device=args.device, workers=1, config=config) as local_pool, \
            ClusterPool(address=args.address, device=args.device, workers=1, config=config) as ray_pool, \
            open(args.json_out or os.devnull, "w", encoding="utf-8") as out:
        device = local_pool.device_name or local_pool.device_kind
        evaluate(ray_pool, tasks[0])  # the actor's first evaluation starts its hosts: not Ray's cost
        for task in tasks:
            a, b = evaluate(local_pool, task, "local"), evaluate(ray_pool, task, "Ray")
            rows.append({"task": task.id, "local": a["status"], "ray": b["status"], "same": a["status"] == b["status"],
                         "local_speedup": a["speedup"], "ray_speedup": b["speedup"], "overhead_s": b["overhead_s"],
                         "evaluation_s": b["evaluation_s"], "device": device, "local_message": a["message"][:500],
                         "ray_message": b["message"][:500]})
            out.write(json.dumps(rows[-1]) + "\n")
            out.flush()
    print(f"device: {device}\n\n| task | local | Ray | Ray's overhead s | evaluation s |\n| --- | --- | --- | ---: | ---: |")
    for row in rows:
        print(f"| {row['task']} | {row['local']} | {row['ray']} | {row['overhead_s']:.3f} | {row['evaluation_s']:.2f} |")
    overheads = [row["overhead_s"] for row in rows]
    passed = sum(row["local"] == row["ray"] == "passed" for row in rows)
    print(f"\nsame verdict on {sum(row['same'] for row in rows)} of {len(rows)} ({passed} passed both ways); "
          f"Ray's overhead per evaluation: median {statistics.median(overheads):.3f} s, max {max(overheads):.3f} s")
    if passed < len(rows):  # the golds should pass: other verdicts agreeing says little about the evaluator
        print(f"warning: {len(rows) - passed} gold(s) did not pass; their messages are in the JSON rows")
    return 0 if all(row["same"] for row in rows) and passed == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
