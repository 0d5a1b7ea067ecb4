"""Coarse-to-fine vs random vs exhaustive search at equal budgets, replayed on measured tables.

Input: rows written by `benchmarks/tune_suite.py --strategy exhaustive` on a GPU (every feasible
configuration of a task measured once, with how long measuring it took). Each strategy is replayed
offline on that table (tune/replay.py) at each budget; random over 20 seeds. Runs on the CPU.

    PYTHONPATH=src python benchmarks/tune_strategies.py tables.jsonl [--budgets 10,20,40,80]
"""

from __future__ import annotations

import argparse
import json
import sys

from tritonsmith.knowledge.hardware import profile_for
from tritonsmith.suites import load_suite
from tritonsmith.tune import compare_strategies, rows_table, table_from_trials
from tritonsmith.tune.space import config_label


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("tables", help="JSONL from tune_suite.py --strategy exhaustive")
    parser.add_argument("--budgets", default="10,20,40,80", help="seconds of (recorded) measuring time")
    parser.add_argument("--seeds", type=int, default=20, help="runs of the random strategy per budget")
    args = parser.parse_args()
    tasks = {t.id: t for t in load_suite("builtin")}
    budgets = [float(b) for b in args.budgets.split(",")]
    for line in open(args.tables):
        row = json.loads(line)
        if row.get("strategy") != "exhaustive" or "trials" not in row:
            continue
        task = tasks[row["task"]]
        table = table_from_trials(row["trials"])
        passing = [r for r in table.values() if r.status == "passed" and r.ms is not None]
        original = table.get(config_label({}))
        if not passing or original is None or original.ms is None:
            print(f"\n### {task.id}: skipped (the original or every configuration failed)")
            continue
        mean_cost = sum(r.duration_s for r in table.values()) / len(table)
        print(f"\n### {task.id} ({row['device']}): {len(table)} configurations measured, {len(passing)} passed, "
              f"{mean_cost:.1f} s per measurement; fastest {min(r.ms for r in passing):.4g} ms, "
              f"original {original.ms:.4g} ms; stopped: {row['stop_reason']}\n")
        rows = compare_strategies(task, task.baseline, table, budgets, seeds=range(args.seeds),
                                  profile=profile_for(row["device"]))
        print(rows_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
