"""Seconds per evaluation, for a passing and a failing candidate, and candidates per minute per GPU.

For each task of a suite, two candidates: the task's own gold/baseline kernel (it should pass, timed
against itself: speedup 1) and the same code with every `tl.store` value changed by +1 (it should fail:
wrong output, or a compile error where +1 changes the stored type). Before them, each task's gold is
evaluated once more, as its first candidate (`first`: it pays for making the task's inputs and references,
compiling and autotuning the gold, which an evaluator that keeps references does once per task), so the
passing and failing figures are those of the candidates an agent sends after its first. Every
evaluation's wall time in the caller and the worker's phases are written as JSON lines. It uses only the
evaluator's public API, so the same script measures an older checkout (PYTHONPATH=that/src) for a
before/after comparison.

    PYTHONPATH=src python benchmarks/eval_throughput.py --suite builtin --label after --json-out a.jsonl
    python benchmarks/eval_throughput.py --summarize a.jsonl b.jsonl      # the Markdown tables
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from _format import percentile

GOLDS = ("first", "pass")  # the intents whose candidate is the task's own gold
NOT_JUDGED = ("task_error", "script_error")  # rows with no verdict: the task failed, or this script did


def perturbed(source: str) -> str:
    """The source with every tl.store(pointer, value, ...) storing value + 1."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "store"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "tl" and len(node.args) >= 2):
            node.args[1] = ast.BinOp(node.args[1], ast.Add(), ast.Constant(1))
    return ast.unparse(tree)


def run(args: argparse.Namespace) -> int:
    from tritonsmith.evaluate import EvalConfig, WorkerPool
    from tritonsmith.suites import load_suite
    from tritonsmith.task import TaskError

    tasks = [t for t in load_suite(args.suite) if t.baseline]
    if args.tasks:
        patterns = args.tasks.split(",")
        tasks = [t for t in tasks if any(fnmatch.fnmatch(t.id, p) for p in patterns)]
    if args.limit:
        tasks = tasks[:args.limit]
    config = EvalConfig(timeout_s=args.timeout_s)
    if hasattr(config, "workers_per_gpu"):
        config.workers_per_gpu = args.workers_per_gpu
    firsts, jobs = [], []
    for task in tasks:
        firsts.append((task, "first", task.baseline))
        jobs.append((task, "pass", task.baseline))
        bad = perturbed(task.baseline)
        if bad != ast.unparse(ast.parse(task.baseline)):
            jobs.append((task, "fail", bad))
    out = open(args.json_out, "a") if args.json_out else None
    started = time.perf_counter()
    with WorkerPool(device=args.device, config=config) as pool:
        ready = time.perf_counter()

        def one(job):
            task, intent, source = job
            began = time.perf_counter()
            try:
                result = pool.evaluate(task, source)
                row = {"status": result.status, "wall_s": result.wall_s, "speedup": result.speedup,
                       "phases": result.evidence.get("phases_s"), "message": result.message[:300],
                       "references": result.evidence.get("references"),
                       "memory_retry": result.evidence.get("memory_retry"),
                       "overhead_s": result.evidence.get("worker_overhead_s"),
                       "spreads": [p.candidate_spread for p in result.perf],
                       "case_speedups": [p.speedup for p in result.perf],
                       "rounds": [getattr(p, "rounds", None) for p in result.perf],
                       # what the rules on timed calls saw (to calibrate their margins): the candidate's repeat
                       # and fresh call, the baseline's beside the candidate and alone (None from an evaluator
                       # older than those rules, measured for a before/after comparison)
                       "guard_violations": result.guard_violations,
                       "repeat_vs_fresh": [getattr(p, "repeat_vs_fresh", None) for p in result.perf],
                       "fresh_ms": [(p.candidate_ms, getattr(p, "fresh_call_ms", None),
                                     getattr(p, "baseline_fresh_call_ms", None)) for p in result.perf],
                       "baseline_beside_alone_ms": [(p.baseline_ms, getattr(p, "baseline_alone_ms", None))
                                                    for p in result.perf],
                       "not_compared": result.evidence.get("baseline_alone_not_compared"),
                       "fresh_compiled_ms": result.evidence.get("fresh_call_compiled_ms")}
            except Exception as exc:  # noqa: BLE001 - a row too, named apart from the task's own errors
                row = {"status": "task_error" if isinstance(exc, TaskError) else "script_error",
                       "wall_s": round(time.perf_counter() - began, 3), "message": f"{type(exc).__name__}: {exc}"[:300]}
            row.update({"label": args.label, "suite": args.suite.split(":")[0], "task": task.id, "intent": intent,
                        "device": pool.device_name})
            print(json.dumps(row), flush=True)
            if out:
                out.write(json.dumps(row) + "\n")
                out.flush()
            return row
        with ThreadPoolExecutor(max_workers=pool.size) as executor:
            rows = list(executor.map(one, firsts))  # every task's first, before any of its later candidates
            later_began = time.perf_counter()
            later = list(executor.map(one, jobs))
    later_s = time.perf_counter() - later_began
    rows += later
    # candidates per minute: the later ones (an agent's), whose references are made already
    summary = {"label": args.label, "suite": args.suite.split(":")[0], "summary": True, "evaluations": len(later),
               "firsts": len(firsts), "firsts_s": round(later_began - ready, 1), "wall_s": round(later_s, 1),
               "pool_start_s": round(ready - started, 1), "workers": pool.size,
               "per_minute_per_gpu": round(60 * len(later) / later_s, 1) if later_s > 0 else None}
    print(json.dumps(summary), flush=True)
    if out:
        out.write(json.dumps(summary) + "\n")
    return 0


def summarize(paths: list[str]) -> int:
    rows = [json.loads(line) for path in paths for line in open(path) if line.strip()]
    print("| label | suite | candidate | evaluations | median s | p90 s |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    groups: dict[tuple, list[float]] = {}
    errors = [r for r in rows if r.get("status") in NOT_JUDGED]
    for r in rows:
        if r.get("summary") or r["status"] in NOT_JUDGED:  # the task (or this script) failed: no verdict
            continue
        kind = ("first (makes the references)" if r.get("intent") == "first" else
                "passing" if r["status"] == "passed" else "failing")
        groups.setdefault((r["label"], r["suite"], kind), []).append(r["wall_s"])
    for (label, suite, kind), walls in sorted(groups.items()):
        print(f"| {label} | {suite} | {kind} | {len(walls)} | {statistics.median(walls):.1f} | "
              f"{percentile(walls, 0.9):.1f} |")
    overheads: dict[tuple, list[float]] = {}
    for r in rows:
        if not r.get("summary") and isinstance(r.get("overhead_s"), (int, float)):
            overheads.setdefault((r["label"], r["suite"]), []).append(r["overhead_s"])
    if overheads:  # the host's seconds on a job beyond the checker's own (forking, the round trip)
        print("\n| label | suite | host overhead per evaluation, median s | p90 s |")
        print("| --- | --- | ---: | ---: |")
        for (label, suite), values in sorted(overheads.items()):
            print(f"| {label} | {suite} | {statistics.median(values):.2f} | {percentile(values, 0.9):.2f} |")
    print("\n| label | suite | first evaluations (s) | later evaluations | workers | their wall s | "
          "candidates per minute per GPU |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        if r.get("summary"):
            print(f"| {r['label']} | {r['suite']} | {r.get('firsts', '—')} ({r.get('firsts_s', '—')}) | "
                  f"{r['evaluations']} | {r['workers']} | {r['wall_s']} | {r['per_minute_per_gpu']} |")
    if errors:
        print(f"\n{len(errors)} evaluations ended in a task or script error (not counted above): "
              + ", ".join(sorted({f"{r['task']} ({r['status']})" for r in errors})))
    broken = [r for r in rows if not r.get("summary") and r.get("intent") in GOLDS
              and r["status"] not in ("passed", *NOT_JUDGED)]
    if broken:  # counted with the failing ones above, but a gold that fails is a finding, not a data point
        print(f"\n{len(broken)} gold(s) did not pass against themselves: "
              + "; ".join(f"{r['task']} {r['status']} ({r.get('message', '')[:120]})" for r in broken))
    speedups = [r["speedup"] for r in rows
                if not r.get("summary") and r["intent"] in GOLDS and r.get("speedup")]
    if speedups:  # each gold twice: its first evaluation and a later one
        inside = sum(0.98 <= s <= 1.02 for s in speedups)
        print(f"\ngold against itself: {inside} of {len(speedups)} within 0.98-1.02 "
              f"(min {min(speedups):.3f}, median {statistics.median(speedups):.3f}, max {max(speedups):.3f})")
    rules(rows)
    return 0


def rules(rows: list[dict]) -> None:
    """What the rules on timed calls saw for the golds evaluated as ordinary candidates, per perf case: the
    margins they are held to (measuring.py: repeat_vs_fresh above 0.25, the baseline beside the candidate
    below 1.5x its time alone) against what honest code gives."""
    golds = [r for r in rows if not r.get("summary") and r.get("intent") in GOLDS]
    repeat = [v for r in golds for v in r.get("repeat_vs_fresh") or [] if v]
    beside = [b / a for r in golds for b, a in r.get("baseline_beside_alone_ms") or [] if a and b]
    flagged = sorted({f"{r['task']}: {v[:100]}" for r in golds for v in r.get("guard_violations") or []})
    if repeat:
        print(f"\nrepeat_vs_fresh of {len(repeat)} perf cases (reuse flagged below 0.25): min {min(repeat):.3f}, "
              f"p10 {percentile(repeat, 0.1):.3f}, median {statistics.median(repeat):.3f}")
    if beside:
        print(f"baseline beside the candidate / alone, {len(beside)} perf cases (slowed flagged above 1.5): "
              f"median {statistics.median(beside):.3f}, p90 {percentile(beside, 0.9):.3f}, max {max(beside):.3f}")
    not_compared = sum(len(r.get("not_compared") or []) for r in golds)
    compiled = [ms for r in golds for ms in r.get("fresh_compiled_ms") or []]
    if not_compared or compiled:
        print(f"baseline not compared (it synchronises): {not_compared} cases; fresh calls that compiled: "
              f"{len(compiled)}" + (f" (max {max(compiled):.1f} ms)" if compiled else ""))
    if flagged:
        print(f"{len(flagged)} violation(s) on golds: " + "; ".join(flagged))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="builtin")
    parser.add_argument("--tasks", help="comma-separated glob patterns of task ids")
    parser.add_argument("--limit", type=int, help="the first N tasks only")
    parser.add_argument("--label", default="after")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers-per-gpu", type=int, default=1)
    parser.add_argument("--timeout-s", type=float, default=300)
    parser.add_argument("--json-out")
    parser.add_argument("--summarize", nargs="+", metavar="JSONL")
    args = parser.parse_args()
    if args.summarize:
        return summarize(args.summarize)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
