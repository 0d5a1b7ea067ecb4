"""Each task's gold (its baseline kernel) as a candidate file, TASK_ID.py in a folder, for `bench --solver dir:`:
the golds evaluated as any candidate is, so that the baseline is also timed alone and each perf case records its
time beside the candidate against alone (the margin `measuring.BASELINE_SLOWER` allows a candidate that slows its
baseline; `gold_pass.py` summarises it). A gold's own evaluation (`--solver baseline`) skips that timing.

    PYTHONPATH=src python benchmarks/write_golds.py builtin /tmp/golds
    PYTHONPATH=src python -m tritonsmith bench --suite builtin --solver dir:/tmp/golds --out golds_as_candidates
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tritonsmith.suites import load_suite


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite", help="a suite as bench takes it (builtin, tritonbench-g:PATH, ...)")
    parser.add_argument("out", type=Path, help="the folder to write TASK_ID.py files into")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tasks = load_suite(args.suite)
    written = 0
    for task in tasks:
        if task.baseline:
            (args.out / f"{task.id}.py").write_text(task.baseline, encoding="utf-8")
            written += 1
    print(f"{written} golds of {len(tasks)} tasks written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
