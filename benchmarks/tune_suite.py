"""Tune every built-in task's baseline on the GPU and measure what tuning bought.

For each task: the tuner searches the baseline's launch parameters within --budget-s (short timings,
finalists verified with longer ones; tune/measure.py), then the tuned kernel is evaluated once more with
full timing (--final-rounds interleaved rounds against the untuned baseline, in one process): that
evaluation gives the speedup, the untuned and tuned times, and both kernels' fractions of the device's
measured peaks. Where the tuner kept the original, the baseline is evaluated against itself the same way
(speedup ~1: the noise).
With several GPUs, one thread per GPU takes tasks from a queue, each with its own workers.

    PYTHONPATH=src python benchmarks/tune_suite.py --out tune.jsonl [--gpus 0,1,2,3] [--budget-s 40]
    PYTHONPATH=src python benchmarks/tune_suite.py --out table.jsonl --strategy exhaustive --budget-s 600 \
        --tasks silu,layernorm          # record full tables for benchmarks/tune_strategies.py
    python benchmarks/tune_suite.py --markdown tune.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import random
import statistics
import sys
import threading
import time

from _format import number, percent  # benchmarks/ is on sys.path when a script runs

from tritonsmith.evaluate import WorkerPool
from tritonsmith.knowledge.hardware import profile_for
from tritonsmith.suites import load_suite
from tritonsmith.tune import PoolMeasure, TuneConfig, tune_kernel
from tritonsmith.util.stats import geometric_mean


def tune_one(pool: WorkerPool, gpu: int, task, args: argparse.Namespace) -> dict:
    measure = PoolMeasure(pool, task)
    started = time.perf_counter()
    result = tune_kernel(task, task.baseline, measure, args.budget_s, verify=measure.verifier(),
                         profile=profile_for(pool.device_name), config=TuneConfig(strategy=args.strategy))
    tune_s = time.perf_counter() - started
    final = pool.evaluate(task, result.tuned_source if result.changed else task.baseline,
                          timing={"rounds": args.final_rounds})
    perf = []
    for p in final.perf:
        ratio = p.candidate_ms / p.baseline_ms if p.candidate_ms and p.baseline_ms else None
        perf.append({"label": p.label, "tuned_ms": p.candidate_ms, "untuned_ms": p.baseline_ms, "speedup": p.speedup,
                     "spread": p.candidate_spread, "gbps": p.gbps, "tflops": p.tflops,
                     "bw_measured": p.measured_bandwidth_fraction, "flop_measured": p.measured_compute_fraction,
                     "bw_sheet": p.bandwidth_fraction, "flop_sheet": p.compute_fraction,
                     # the untuned kernel's fractions: same bytes and flops, its own time
                     "untuned_bw_measured": p.measured_bandwidth_fraction * ratio
                     if p.measured_bandwidth_fraction and ratio else None,
                     "untuned_flop_measured": p.measured_compute_fraction * ratio
                     if p.measured_compute_fraction and ratio else None})
    return {"task": task.id, "kind": task.kind, "strategy": args.strategy, "budget_s": args.budget_s,
            "device": final.evidence.get("device") or pool.device_name, "gpu": gpu,
            "changed": result.changed, "config": result.config, "stop_reason": result.stop_reason,
            "search_speedup": result.speedup, "tune_s": round(tune_s, 1),
            "trials": [t.__dict__ for t in result.trials], "pruned": len(result.pruned),
            "final_status": final.status, "final_message": final.message[:300], "speedup": final.speedup,
            "perf": perf, "peaks": final.evidence.get("measured_peaks"),
            "torch": final.evidence.get("torch"), "triton": final.evidence.get("triton")}


def run(args: argparse.Namespace) -> int:
    tasks = load_suite("builtin")
    if args.tasks:
        wanted = set(args.tasks.split(","))
        tasks = [t for t in tasks if t.id in wanted]
    done = set()
    try:
        done = {row["task"] for row in map(json.loads, open(args.out)) if "error" not in row}  # errors are retried
    except OSError:
        pass
    todo: queue.Queue = queue.Queue()
    for task in tasks:
        if task.id not in done:
            todo.put(task)
    lock = threading.Lock()
    total, started = todo.qsize(), time.perf_counter()

    def worker(gpu: int) -> None:
        with WorkerPool(device="cuda", gpus=[gpu]) as pool:
            while True:
                try:
                    task = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    row = tune_one(pool, gpu, task, args)
                except Exception as err:  # noqa: BLE001 - one task's failure is a row, not the end of the run
                    row = {"task": task.id, "kind": task.kind, "error": f"{type(err).__name__}: {err}"}
                with lock, open(args.out, "a") as out:
                    out.write(json.dumps(row, default=str) + "\n")
                    print(f"[gpu {gpu}] {task.id:<26} {'tuned' if row.get('changed') else 'kept':<6} "
                          f"speedup {row.get('speedup') or float('nan'):.3f} tune {row.get('tune_s', 0):>5.1f}s "
                          f"trials {len(row.get('trials', []))}  ({time.perf_counter() - started:.0f}s, "
                          f"{total - todo.qsize()}/{total})", flush=True)

    gpus = [int(g) for g in args.gpus.split(",")]
    threads = [threading.Thread(target=worker, args=(g,)) for g in gpus]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


def markdown(path: str) -> int:
    rows = list({row["task"]: row for row in map(json.loads, open(path))}.values())  # a retried task's last row
    failed = [r for r in rows if "error" in r or r.get("final_status") != "passed" or r.get("speedup") is None]
    rows = [r for r in rows if r not in failed]
    print("| task | kind | untuned (ms) | tuned (ms) | speedup | round spread | % measured BW untuned -> tuned "
          "| % measured FLOP/s | tuning (s) | trials | configuration |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    speedups, memory_tuned, memory_untuned = [], [], []
    for row in sorted(rows, key=lambda r: r["task"]):
        perf = row["perf"]
        untuned = geometric_mean([p["untuned_ms"] for p in perf])
        tuned = geometric_mean([p["tuned_ms"] for p in perf])
        spread = max((p["spread"] or 0) for p in perf)
        bw_u = geometric_mean([p["untuned_bw_measured"] for p in perf])
        bw_t = geometric_mean([p["bw_measured"] for p in perf])
        fl_t = geometric_mean([p["flop_measured"] for p in perf])
        memory = (bw_t or 0) >= (fl_t or 0)
        if memory and bw_t:
            memory_tuned.append((row["task"], bw_t))
            memory_untuned.append(bw_u)
        speedups.append(row["speedup"])
        config = ", ".join(f"{k}={v}" for k, v in row["config"].items()) or "original kept"
        print(f"| {row['task']} | {row['kind']} | {number(untuned, 4)} | {number(tuned, 4)} | {number(row['speedup'], 3, 'x')} | "
              f"{percent(spread)} | {percent(bw_u)} -> {percent(bw_t)} | {percent(fl_t) if not memory else ''} | "
              f"{row['tune_s']:.0f} | {len(row['trials'])} | {config} |")
    geo = geometric_mean(speedups)
    low, high = _bootstrap(speedups)
    print(f"\n{len(rows)} tasks; geometric-mean speedup of tuned over untuned baselines {number(geo, 3, 'x')} "
          f"(bootstrap 95% interval over tasks {number(low, 3, 'x')}-{number(high, 3, 'x')}; per task min "
          f"{number(min(speedups), 3, 'x')}, median {number(statistics.median(speedups), 3, 'x')}, max {number(max(speedups), 3, 'x')}); "
          f"tuned: {sum(r['changed'] for r in rows)} of {len(rows)}.")
    reached = [t for t, f in memory_tuned if f >= 0.85]
    print(f"Memory-bound tasks (bandwidth fraction above compute fraction): {len(memory_tuned)}; at >= 85% of the "
          f"measured copy bandwidth: {len(reached)} after tuning, {sum(1 for f in memory_untuned if f and f >= 0.85)} "
          f"before; geometric mean {percent(geometric_mean([f for _, f in memory_tuned]))} after, "
          f"{percent(geometric_mean(memory_untuned))} before.")
    print(f"Tuning time per task: median {statistics.median(r['tune_s'] for r in rows):.0f} s, "
          f"max {max(r['tune_s'] for r in rows):.0f} s.")
    if failed:
        print("Not in the table: " + "; ".join(f"{r['task']}: {r.get('error') or r.get('final_message')}"
                                                for r in failed))
    return 0


def _bootstrap(values: list[float], draws: int = 10000) -> tuple[float, float]:
    rng = random.Random(0)
    logs = [math.log(v) for v in values]
    means = sorted(math.exp(sum(rng.choice(logs) for _ in logs) / len(logs)) for _ in range(draws))
    return means[int(0.025 * draws)], means[int(0.975 * draws) - 1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tune_suite.jsonl", help="JSON lines, appended; finished tasks are skipped")
    parser.add_argument("--tasks", default=None, help="comma-separated task ids (default: all built-in)")
    parser.add_argument("--gpus", default="0", help="comma-separated GPU indices, one tuning thread each")
    parser.add_argument("--budget-s", type=float, default=40)
    parser.add_argument("--strategy", default="coarse-to-fine", choices=["coarse-to-fine", "random", "exhaustive"])
    parser.add_argument("--final-rounds", type=int, default=10)
    parser.add_argument("--markdown", default=None, help="render a JSONL file written earlier")
    args = parser.parse_args()
    return markdown(args.markdown) if args.markdown else run(args)


if __name__ == "__main__":
    sys.exit(main())
