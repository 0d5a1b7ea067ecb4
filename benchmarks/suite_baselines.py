"""Every built-in task's baseline through the evaluator on a GPU: status, time, speedup vs PyTorch
eager and torch.compile, fraction of the datasheet peak. Writes JSON lines; --markdown renders them.

    PYTHONPATH=src python benchmarks/suite_baselines.py --out suite.jsonl [--tasks softmax,matmul]
    python benchmarks/suite_baselines.py --markdown suite.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _format import number, percent  # benchmarks/ is on sys.path when a script runs

from tritonsmith.evaluate import EvalConfig, WorkerPool
from tritonsmith.suites import load_suite
from tritonsmith.util.stats import geometric_mean


def run(args: argparse.Namespace) -> int:
    tasks = load_suite("builtin")
    if args.tasks:
        wanted = set(args.tasks.split(","))
        tasks = [t for t in tasks if t.id in wanted]
    config = EvalConfig(timing_rounds=args.rounds, rep_ms=args.rep_ms, torch_compile=not args.no_compile)
    with WorkerPool(device="cuda", config=config) as pool, open(args.out, "a") as out:
        for task in tasks:
            started = time.perf_counter()
            result = pool.evaluate(task, task.baseline)
            row = {"task": task.id, "kind": task.kind, "status": result.status, "message": result.message[:300],
                   "eval_s": round(time.perf_counter() - started, 1), "device": result.evidence.get("device"),
                   "torch": result.evidence.get("torch"), "triton": result.evidence.get("triton"),
                   "perf": [p.__dict__ for p in result.perf]}
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"{task.id:<26} {result.status:<13} {row['eval_s']:>6.1f}s", flush=True)
    return 0


def markdown(path: str) -> int:
    rows = [json.loads(line) for line in open(path)]
    print("| task | kind | status | baseline (ms) | vs eager | vs torch.compile | % peak BW | % peak FLOP/s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    eager_all, compile_all = [], []
    for row in rows:
        perf = row["perf"]
        ms = geometric_mean([p["candidate_ms"] for p in perf])
        eager = geometric_mean([p["speedup_vs_torch"] for p in perf])
        compiled = geometric_mean([p.get("speedup_vs_compile") for p in perf])
        bw = geometric_mean([p.get("bandwidth_fraction") for p in perf])
        fl = geometric_mean([p.get("compute_fraction") for p in perf])
        eager_all += [eager] if eager else []
        compile_all += [compiled] if compiled else []
        print(f"| {row['task']} | {row['kind']} | {row['status']} | {number(ms, 3)} | {number(eager, 2, 'x')} | "
              f"{number(compiled, 2, 'x')} | {percent(bw)} | {percent(fl)} |")
    print(f"\nGeometric mean over tasks: {number(geometric_mean(eager_all), 2, 'x')} vs eager, "
          f"{number(geometric_mean(compile_all), 2, 'x')} vs torch.compile ({len(rows)} tasks; per task, the geometric "
          "mean over its perf cases).")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="suite_baselines.jsonl")
    parser.add_argument("--tasks", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rep-ms", type=int, default=50)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--markdown", default=None, help="render a JSONL file written earlier")
    args = parser.parse_args()
    return markdown(args.markdown) if args.markdown else run(args)


if __name__ == "__main__":
    sys.exit(main())
