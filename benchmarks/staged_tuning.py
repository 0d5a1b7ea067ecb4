"""Trusted autotuning staged (`autotuning.staged_bench`: a config that cannot win is benchmarked briefly) against
in full (`TRITONSMITH_TRUSTED_TUNING=full`), on a GPU: each task's gold evaluated against itself once each way,
`tritonsmith eval SUITE:TASK --baseline --json` in a process of its own with a Triton cache of its own (so the
autotuner's choice is made again, not read back; the two ways in turn first). Per task and way: the
evaluation's seconds, the reference's seconds and tuning counts, the baseline's time per perf case, and what
each autotuning chose with every config's time (Triton's cache files: not an autotuner with pre-hooks, which
Triton does not cache). With --parallel-compiles N, each task is also evaluated staged with its configs compiled
N at a time ahead of their benchmarks (TRITONSMITH_PARALLEL_COMPILES: the configs ahead of their benchmarks, and each case's kernels ahead of the
reference's runs). The comparison that matters is the last: the staged choice's time in the full way's
own benchmarks over the best there (the baselines' times are two runs apart, noise included). Writes JSON
lines; --summarize renders them.

    PYTHONPATH=src python benchmarks/staged_tuning.py --suite tritonbench-g:PATH --tasks a,b --out staged.jsonl \
        [--budget-s 500] [--staged-only c]
    python benchmarks/staged_tuning.py --summarize staged.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _format import number  # benchmarks/ is on sys.path when a script runs

from tritonsmith.util.stats import geometric_mean

WAYS = ("staged", "full")


def evaluate(suite: str, task: str, way: str, timeout_s: float, device: str = "cuda", parallel: int = 0) -> dict:
    """One evaluation of `task`'s gold against itself, its trusted autotuning `way`."""
    with tempfile.TemporaryDirectory(prefix="staged-tuning-") as cache:
        env = dict(os.environ, TRITON_CACHE_DIR=cache, TRITONSMITH_TRUSTED_TUNING="full" if way == "full" else "staged",
                   TRITONSMITH_PARALLEL_COMPILES=str(parallel if way == "parallel" else 0))
        began = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-m", "tritonsmith", "eval", f"{suite}:{task}", "--baseline",
                                   "--device", device, "--json"], capture_output=True, text=True, env=env,
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"task": task, "way": way, "status": "over the limit", "wall_s": round(timeout_s, 1),
                    "choices": autotune_choices(cache)}
        wall_s = round(time.perf_counter() - began, 1)
        choices = autotune_choices(cache)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        return {"task": task, "way": way, "status": "no result", "wall_s": wall_s, "stderr": done.stderr[-600:]}
    if not isinstance(result, dict) or "status" not in result:  # the command's own error ({"error": ...})
        error = result.get("error") if isinstance(result, dict) else result
        return {"task": task, "way": way, "status": "error", "message": str(error)[:300], "wall_s": wall_s}
    evidence = result.get("evidence") or {}
    phases = evidence.get("phases_s") or {}
    return {"task": task, "way": way, "status": result.get("status"), "message": (result.get("message") or "")[:300],
            "wall_s": wall_s, "references_s": phases.get("references"),
            "reference_runs_s": phases.get("references.reference_runs"), "compiles_s": phases.get("references.compiles"),
            "tuning": evidence.get("reference_tuning"), "compiled_ahead": evidence.get("compiled_ahead"),
            "compiles_ahead_s": phases.get("references.compiles_ahead"),
            "baseline_ms": [case.get("baseline_ms") for case in result.get("perf") or []],
            "device": evidence.get("device"), "torch": evidence.get("torch"), "triton": evidence.get("triton"),
            "choices": choices}


def autotune_choices(cache: str) -> dict[str, dict[str, float]]:
    """Each autotuning in Triton's cache `cache` (TRITON_CACHE_AUTOTUNING=1): {its file's path in the cache and
    its key: {config: median ms}}."""
    found = {}
    for path in sorted(Path(cache).rglob("*.autotune.json")):
        try:
            data = json.loads(path.read_text())
            timings = {json.dumps(config, sort_keys=True, default=str): float(figures[0] if isinstance(figures, list)
                                                                                else figures)
                       for config, figures in data["configs_timings"]}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            continue
        found[f"{path.relative_to(cache)} {data.get('key')}"] = timings
    return found


def compare_choices(staged: dict[str, dict[str, float]], full: dict[str, dict[str, float]]) -> tuple[int, int, float]:
    """(autotunings in both, those whose choices differ, the worst time of the staged choice in the full way's
    benchmarks over the best there). Called the other way round it is the control: the full way's choice in the
    staged way's benchmarks, where two autotunings' noise alone makes the choices differ (on an H100 both were
    up to 1.09 for 5 to 30 us matmuls: docs/benchmarks.md, Sixteenth set)."""
    compared, differing, worst = 0, 0, 1.0
    for name, timings in staged.items():
        others = full.get(name)
        if not timings or not others:
            continue
        chosen, best = min(timings, key=timings.get), min(others, key=others.get)
        if chosen not in others or not others[best] > 0:
            continue
        compared += 1
        differing += chosen != best
        worst = max(worst, others[chosen] / others[best])
    return compared, differing, worst


def run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    staged_only = set(filter(None, (args.staged_only or "").split(",")))
    parallel_only = set(filter(None, (args.parallel_only or "").split(",")))
    tasks = [t for t in args.tasks.split(",") if t] + sorted(staged_only) + sorted(parallel_only)
    with open(args.out, "a") as out:
        for turn, task in enumerate(dict.fromkeys(tasks)):
            ways = WAYS if turn % 2 == 0 else WAYS[::-1]
            if task in parallel_only:
                ways = ("parallel",)
            elif task in staged_only:
                ways = ("staged", "parallel") if args.parallel_compiles > 1 else ("staged",)
            elif args.parallel_compiles > 1:
                ways = (*ways, "parallel")
            for way in ways:
                left = args.budget_s - (time.perf_counter() - began)
                if left < 30:
                    print(f"budget spent: {task} ({way}) not started", flush=True)
                    return 0
                row = evaluate(args.suite, task, way, min(args.timeout_s, left), args.device, args.parallel_compiles)
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(f"{task:<28} {way:<7} {row['status']:<14} {row['wall_s']:>7.1f}s  tuning {row.get('tuning')}",
                      flush=True)
    return 0


def summarize(path: str) -> int:
    rows: dict[str, dict[str, dict]] = {}
    for line in open(path):
        row = json.loads(line)
        rows.setdefault(row["task"], {})[row["way"]] = row
    print("| task | seconds staged | seconds in full | seconds staged, compiled ahead in parallel "
          "| reference runs staged / in full (s) | of them compiling "
          "| configs kept / cut | choices differing (of autotunings compared) | staged choice / best, in the full way's benchmarks (worst) "
          "| full choice / best, in the staged way's benchmarks (worst: the control) "
          "| baseline staged / in full (geo. mean, worst case) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for task, ways in rows.items():
        staged, full, parallel = ways.get("staged", {}), ways.get("full", {}), ways.get("parallel", {})
        tuning = staged.get("tuning") or {}
        ratios = [s / f for s, f in zip(staged.get("baseline_ms") or [], full.get("baseline_ms") or [], strict=False)
                  if s and f]
        compared = (f"{number(geometric_mean(ratios), 3)}, {number(max(ratios), 3)} ({len(ratios)} cases)"
                    if ratios else "-")
        count, differing, worst = compare_choices(staged.get("choices") or {}, full.get("choices") or {})
        control = compare_choices(full.get("choices") or {}, staged.get("choices") or {})[2]  # two runs' noise alone
        choices = (f"{differing} of {count}", number(worst, 3), number(control, 3)) if count else ("-", "-", "-")
        print(f"| {task} | {seconds(staged)} | {seconds(full)} | {seconds(parallel)} "
              f"| {number(staged.get('reference_runs_s'), 1)} / "
              f"{number(full.get('reference_runs_s'), 1)} | {number(staged.get('compiles_s'), 1)} / "
              f"{number(full.get('compiles_s'), 1)} | {tuning.get('kept', '-')} / {tuning.get('cut', '-')} "
              f"| {choices[0]} | {choices[1]} | {choices[2]} | {compared} |")
    for task, ways in rows.items():  # why an evaluation did not pass, where it said
        for way, row in ways.items():
            if row.get("status") != "passed" and (row.get("message") or row.get("stderr")):
                print(f"\n{task} ({way}): {row['status']}: {row.get('message') or row.get('stderr')}")
    return 0


def seconds(row: dict) -> str:
    if not row:
        return "-"
    return f"{row['wall_s']:.0f}" + ("" if row.get("status") == "passed" else f" ({row.get('status')})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", help="the suite, e.g. tritonbench-g:PATH")
    parser.add_argument("--tasks", default="", help="tasks evaluated both ways, comma-separated")
    parser.add_argument("--staged-only", default="", help="tasks evaluated staged only (in full they exceed the limit)")
    parser.add_argument("--parallel-only", default="", help="tasks evaluated only staged with --parallel-compiles (one "
                        "at a time they exceed the limit: ROCm's test_triton_sort)")
    parser.add_argument("--out", help="JSON lines, appended to")
    parser.add_argument("--parallel-compiles", type=int, default=0,
                        help="also evaluate each task staged with TRITONSMITH_PARALLEL_COMPILES at this")
    parser.add_argument("--device", default="cuda", help="cuda (what it is for); cpu only checks the script")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="limit of one evaluation")
    parser.add_argument("--budget-s", type=float, default=500.0, help="no evaluation starts after this many seconds")
    parser.add_argument("--summarize", metavar="JSONL", help="render a file this script wrote")
    args = parser.parse_args()
    if args.summarize:
        return summarize(args.summarize)
    if not (args.suite and args.out and (args.tasks or args.staged_only or args.parallel_only)):
        parser.error("--suite, --out and --tasks (or --staged-only, --parallel-only) are needed")
    if args.parallel_only and args.parallel_compiles < 2:
        parser.error("--parallel-only needs --parallel-compiles 2 or more (its tasks are evaluated only so)")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
