"""Rebuild a gold pass's folder (what benchmarks/device/gold_pass.sh resumes from .bench/NAME.tgz) from its
results kept in docs/data, with the bench.json its bench would have written: `bench` refuses to resume results
whose settings are missing.

    PYTHONPATH=src python benchmarks/restore_pass.py docs/data/s28/tbg4_results.jsonl tbg4 \
        tritonbench-g:.bench/geak-eval/geak_eval/data/TritonBench/data/TritonBench_G_v1 --workers-per-gpu 4
    tar czf .bench/tbg4.tgz tbg4
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from tritonsmith.agent.config import RunConfig
from tritonsmith.runs.bench import bench_settings
from tritonsmith.runs.store import ResultsStore


def restore(results: Path, folder: Path, suite: str, workers: int, eval_timeout_s: float) -> dict:
    """`folder` made anew with `results` and the settings of gold_pass.sh's bench (`--solver baseline`)."""
    settings = bench_settings(suite, "baseline", RunConfig(workers_per_gpu=workers, eval_timeout_s=eval_timeout_s),
                              None)
    folder.mkdir(parents=True, exist_ok=False)
    shutil.copyfile(results, folder / "results.jsonl")
    (folder / "bench.json").write_text(json.dumps(settings, indent=2, default=str) + "\n")
    ResultsStore(folder).check_settings(settings)  # as the resumed bench will
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a pass's results.jsonl, as kept in docs/data")
    parser.add_argument("folder", type=Path, help="the pass folder to make (must not exist)")
    parser.add_argument("suite", help="the suite, exactly as gold_passes.sh names it")
    parser.add_argument("--workers-per-gpu", type=int, default=4)
    parser.add_argument("--eval-timeout-s", type=float, default=450.0)
    args = parser.parse_args()
    restore(args.results, args.folder, args.suite, args.workers_per_gpu, args.eval_timeout_s)
    count = sum(1 for line in (args.folder / "results.jsonl").read_text().splitlines() if line.strip())
    print(f"{args.folder}: {count} results, bench.json for {args.suite}")


if __name__ == "__main__":
    main()
