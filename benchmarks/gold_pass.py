"""A suite's golds against themselves: the tables of `bench --solver baseline` on a whole suite.

The bench is run with the CLI (resumable, so a long pass can be made in pieces); this script turns its
results.jsonl into the Markdown of docs/benchmarks.md: how many golds qualify, why the others do not
(grouped), how close each timed gold is to itself (it should be 1), and where the evaluation's time goes.

    PYTHONPATH=src python -m tritonsmith bench --suite tritonbench-g:PATH --solver baseline --out tbg  # --resume to go on
    python benchmarks/gold_pass.py tbg/results.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
from collections import Counter, defaultdict
from types import SimpleNamespace

from _format import number, percentile

from tritonsmith.evaluate.measuring import (
    BASELINE_SLOWER,
    BASELINE_SLOWER_MIN_MS,
    CLOCK_BASELINE_SLOWER,
    baseline_slowed,
)
from tritonsmith.report.metrics import devices
from tritonsmith.runs.qualify import AMD_ONLY_SYMBOLS


def load(paths: list[str]) -> list[dict]:
    records: dict[str, dict] = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    records[record["task"]] = record  # the latest record of a task wins, as on resume
    return list(records.values())


def reason_kind(record: dict) -> str:
    """A short class of why a gold failed its own evaluation, for grouping."""
    text = " ".join(record.get(key) or "" for key in ("qualification", "error")).lower() or record.get("status") or ""
    if record.get("status") == "rejected":  # a guard's or timed-call rule's words name compiles and memory too
        return "rejected: " + ("first call on new inputs slow (host)" if "inputs it had not seen" in text
                               else "reuses results" if "reuses results" in text else "a guard")
    amd_library = "|".join(map(re.escape, AMD_ONLY_SYMBOLS))  # (qualify's: ROCm's device library, by name)
    for pattern, kind in ((r"needs amd|waves_per_eu|fp8e4b8|fnuz|\bhip\b|" + amd_library, "needs an AMD GPU"),
                          (r"cannot import name \S+ from 'triton|no module named 'triton", "imports a Triton API this "
                           "Triton lacks"),
                          (r"illegal memory access", "illegal memory access"),
                          (r"address space", "invalid address space"),
                          (r"needs more gpu memory", "needs more GPU memory than the device has"),
                          (r"out of memory", "out of memory"),
                          (r"compilationerror|compile_error|compile error|does not compile|failed to compile", "does not compile here"),
                          (r"computes from memory it never wrote", "computes from memory it never wrote"),
                          (r"not reproducible", "reference not reproducible"),
                          (r"differs from the reference|is \S+, expected ", "wrong output against its own reference"),
                          (r"not ready within the", "inputs and references not ready within the time limit"),
                          (r"timed out|timeout", "timeout")):
        if re.search(pattern, text):
            return kind
    return record.get("status") or "other"


def counts(record: dict) -> bool:
    """Whether a gold stood: qualified against itself, or (the golds as candidates, `dir:`) passed."""
    return bool(record.get("qualified") or record.get("solver") == "dir" and record["status"] == "passed")


def baseline_beside_alone(record: dict) -> list[tuple[float, float, bool]]:
    """Each perf case's baseline time beside the candidate, its time alone and whether the evaluator rejected it
    for the difference (measuring.baseline_slowed; the host clock's margin where the record's device is "cpu"),
    where the two were compared (a case carries `baseline_alone_ms` only then; `baseline_ms` is recorded since
    session 27, before it the speedup times the candidate's time)."""
    on_gpu = record.get("device") != "cpu"
    pairs = []
    for case in record.get("perf_cases") or []:
        beside = case.get("baseline_ms") or (case.get("speedup") or 0) * (case.get("candidate_ms") or 0)
        if case.get("baseline_alone_ms") and beside:
            alone = case["baseline_alone_ms"]
            pairs.append((beside, alone, baseline_slowed(beside, alone, on_gpu)))
    return pairs


def summarize(records: list[dict]) -> str:
    total = len(records)
    standing = sum(map(counts, records))
    if all(r.get("solver") == "dir" for r in records):  # the golds as candidates (write_golds.py): no qualifying
        lines = [f"{standing} of {total} golds, evaluated as candidates (`--solver dir:`), passed.", ""]
    else:
        lines = [f"{standing} of {total} golds qualify (pass their own evaluation on this device).", ""]
    by_device = Counter(devices([SimpleNamespace(device=record.get("device")) for record in records]))
    if len(by_device) > 1:  # a pass resumed on another GPU model: its golds were each judged on one of them
        lines += ["Devices: " + ", ".join(f"{name} ({count})" for name, count in by_device.most_common())
                  + ": a pass resumed on other machines.", ""]
    statuses = Counter(r["status"] for r in records)
    lines.append("Statuses: " + ", ".join(f"{status} {count}" for status, count in statuses.most_common()) + ".")
    failing = defaultdict(list)
    for record in records:
        if not counts(record):
            failing[reason_kind(record)].append(record["task"].split(":", 1)[-1])
    if failing:
        lines += ["", "| why a gold does not qualify (or, as a candidate, pass) | tasks |", "| --- | --- |"]
        for kind, tasks in sorted(failing.items(), key=lambda item: -len(item[1])):
            lines.append(f"| {kind} ({len(tasks)}) | {', '.join(sorted(tasks))} |")
    retried = [r for r in records if r.get("memory_retry")]
    if retried:  # recorded since session 13: evaluations short of memory beside others, made again (alone, or
        # since session 15 first later beside others, alone only if that ran short too)
        later = "evaluated again later, beside others"
        lines += ["", f"Made again after running short of GPU memory beside others: {len(retried)} ("
                      + ", ".join(f"{r['task'].split(':', 1)[-1]} {r['status']} after "
                                  f"{r['memory_retry'].get('status')}"
                                  + (" (later, beside others)" if later in r["memory_retry"].get("note", "")
                                     else " (alone)") for r in retried) + ")."]
    ratios = sorted(r["speedup"] for r in records if r.get("speedup"))
    if ratios:
        within = sum(0.98 <= ratio <= 1.02 for ratio in ratios)
        lines += ["", f"Gold against itself: {within} of {len(ratios)} timed golds within 0.98-1.02 "
                      f"(min {ratios[0]:.3f}, median {statistics.median(ratios):.3f}, max {ratios[-1]:.3f})."]
        outside = [r for r in records if r.get("speedup") and not 0.98 <= r["speedup"] <= 1.02]
        for record in sorted(outside, key=lambda r: r["speedup"]):
            lines.append(f"- {record['task'].split(':', 1)[-1]}: {record['speedup']:.3f} "
                         f"(noise {number(record.get('speedup_noise'), 3)})")
    cases = [(r["task"].split(":", 1)[-1], case) for r in records for case in r.get("perf_cases") or []
             if case.get("speedup")]
    if cases:  # recorded since 2026-12-05 (session 11): which perf cases moved a gold's speedup
        within = sum(0.98 <= case["speedup"] <= 1.02 for _, case in cases)
        stopped = Counter(str(case.get("timing_stopped")) for _, case in cases)
        timers = Counter(str(case.get("timer")) for _, case in cases)
        lines += ["", f"Perf cases of the timed golds: {within} of {len(cases)} within 0.98-1.02; timing stopped: "
                      + ", ".join(f"{k} {v}" for k, v in stopped.most_common()) + "; timers: "
                      + ", ".join(f"{k} {v}" for k, v in timers.most_common()) + "."]
        worst = sorted(cases, key=lambda item: abs(item[1]["speedup"] - 1), reverse=True)[:10]
        lines += ["", "| task | perf case | ratio | its 95% interval | rounds | stopped | timer | candidate ms |",
                  "| --- | --- | ---: | ---: | ---: | --- | --- | ---: |"]
        for task, case in worst:
            interval = case.get("ratio_ci")
            lines.append(f"| {task} | {case.get('label')} | {case['speedup']:.3f} | "
                         f"{'n/a' if interval is None else f'±{100 * interval:.1f}%'} | "
                         f"{case.get('rounds')} | {case.get('timing_stopped')} | {case.get('timer')} | "
                         f"{number(case.get('candidate_ms'), 4)} |")
    gaps = [(case["clock_gap_ms"]["candidate"] - other) / (case["candidate_ms"] * (case.get("calls_per_sample") or 1))
            for _, case in cases for name, other in (case.get("clock_gap_ms") or {}).items()
            if name != "candidate" and case.get("candidate_ms")]
    if gaps:  # recorded since session 16: the checker's clock against each sample (measuring.check_sample_clock)
        gaps.sort()
        lines += ["", f"The checker's clock, the candidate's gap less the baseline's, in samples: min {gaps[0]:.3f}, "
                      f"median {statistics.median(gaps):.3f}, p99 {percentile(gaps, 0.99):.3f}, max {gaps[-1]:.3f} "
                      f"over {len(gaps)} perf cases (rejected beyond half a sample and 0.5 ms, and more: measuring.py)."]
    beside = [pair for record in records for pair in baseline_beside_alone(record)]
    if beside:  # a candidate's evaluation (dir:), not the gold's own: the baseline beside it against alone
        ratios = sorted(ms / alone for ms, alone, _ in beside)
        over = sum(slowed for _, _, slowed in beside)
        lines += ["", f"The baseline beside the candidate against its time alone (before any candidate code ran), "
                      f"in perf cases: min {ratios[0]:.3f}, median {statistics.median(ratios):.3f}, p99 "
                      f"{percentile(ratios, 0.99):.3f}, max {ratios[-1]:.3f} over {len(ratios)}; {over} rejected "
                      f"by it (over {BASELINE_SLOWER:g}x on a GPU, {CLOCK_BASELINE_SLOWER:g}x on the host clock, "
                      f"and slower by {BASELINE_SLOWER_MIN_MS:g} ms)."]
    walls = [r["wall_s"] for r in records if r.get("wall_s")]
    if walls:
        lines += ["", f"Seconds per task: median {statistics.median(walls):.1f}, "
                      f"p90 {percentile(walls, 0.9):.1f}, total {sum(walls):.0f}."]
    phases = defaultdict(list)
    for record in records:
        for name, seconds in (record.get("phases_s") or {}).items():
            phases[name].append(seconds)
    if phases:
        lines.append("Median seconds per stage: " + ", ".join(
            f"{name} {statistics.median(values):.2f}" for name, values in phases.items()) + ".")
        lines.append("Seconds per stage, all tasks: " + ", ".join(
            f"{name} {sum(values):.0f}" for name, values in sorted(phases.items(), key=lambda kv: -sum(kv[1]))) + ".")
        slowest = sorted((r for r in records if r.get("wall_s")), key=lambda r: -r["wall_s"])[:8]
        lines += ["", "| slowest task | seconds | its largest stages |", "| --- | ---: | --- |"]
        for record in slowest:
            stages = sorted((record.get("phases_s") or {}).items(), key=lambda kv: -kv[1])[:5]
            lines.append(f"| {record['task'].split(':', 1)[-1]} | {record['wall_s']:.1f} | "
                         + ", ".join(f"{name} {seconds:.1f}" for name, seconds in stages) + " |")
        if any(name.startswith("references.") for name in phases):
            lines.append("(references.* split `references`: its stages, then making_inputs, reference_runs and "
                         "gpu_lock_wait across them; tuning_alone_wait is part of reference_runs.)")
    return "\n".join(lines)


def deferred(paths: list[str], records: list[dict]) -> list[str]:
    """The tasks of these benches queued again for want of GPU memory and not finished since (the
    deferred.jsonl beside each results.jsonl): a resume runs them last."""
    from tritonsmith.runs.store import ResultsStore

    waiting = {task for path in paths for task in ResultsStore(os.path.dirname(path) or ".").deferred()}
    return sorted(task.split(":", 1)[-1] for task in waiting - {record["task"] for record in records})


def cut_off(paths: list[str], records: list[dict]) -> list[str]:
    """The tasks still running when a call of these benches was cut off (the last `running:` line of each
    log.* beside a results.jsonl, as gold_pass.sh keeps them) and not finished since, with how many calls cut
    them off and the longest they had run: a task that outlasts every call restarts in each (its limit is
    then to be set below a call's length)."""
    done = {record["task"] for record in records}
    calls: Counter = Counter()
    longest: dict[str, int] = {}
    for path in paths:
        folder = os.path.dirname(path) or "."
        for name in sorted(os.listdir(folder)):
            if not name.startswith("log."):
                continue
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                last = next((line for line in reversed(handle.read().splitlines()) if "] running: " in line), "")
            for task, seconds in re.findall(r"(\S+:\S+) \((\d+) s", last.split("] running: ", 1)[-1]):
                if task not in done:
                    calls[task] += 1
                    longest[task] = max(longest.get(task, 0), int(seconds))
    return [f"{task.split(':', 1)[-1]} ({count} call(s), {longest[task]} s at most)"
            for task, count in calls.most_common()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="results.jsonl of baseline benches (later files win)")
    paths = parser.parse_args().results
    records = load(paths)
    print(summarize(records))
    waiting = deferred(paths, records)
    if waiting:
        print(f"\nQueued again for want of GPU memory, not finished yet (a resume runs them last): {len(waiting)} "
              f"({', '.join(waiting)}).")
    unfinished = cut_off(paths, records)
    if unfinished:
        print(f"\nStill running when a call was cut off, not finished since: {', '.join(unfinished)}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
