"""The agent's GPU path end to end, with a scripted model in-process (no LLM, no network): timed
candidates, Optimizer prompts with real measurements, the final re-measurement of finalists, and tuning.

    PYTHONPATH=src python benchmarks/agent_gpu_smoke.py --out /tmp/agent-smoke [--tune-budget-s 20]
    PYTHONPATH=src python benchmarks/agent_gpu_smoke.py --out /tmp/agent-smoke --task layernorm  # the tuner's gain

With --task other than softmax the model offers only the task's baseline, so any speedup is the tuner's.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.session import solve_task
from tritonsmith.llm import Reply
from tritonsmith.suites import resolve_task

ROOT = Path(__file__).resolve().parents[1]


class ScriptedLLM:
    """Generations cycle through correct kernels given in advance; plans are fixed text."""

    def __init__(self, kernels: list[str]):
        self.kernels = kernels
        self.calls = 0
        self.lock = threading.Lock()

    def complete(self, messages, **params) -> Reply:
        with self.lock:
            self.calls += 1
            number = self.calls
        system = messages[0]["content"]
        if "performance" in system:
            text = "Memory-bound; plan: keep one read and one write per element."
        elif "debugger" in system:
            text = "Fix the failing case."
        else:
            text = f"```python\n{self.kernels[number % len(self.kernels)]}\n```"
        return Reply(text=text, tokens_in=len(str(messages)) // 4, tokens_out=len(text) // 4, cost=None,
                     model="scripted")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/agent-smoke")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tune-budget-s", type=float, default=30, help="the last stage's tuning budget (0: off)")
    parser.add_argument("--task", default="softmax", help="a built-in task; other than softmax, the model offers its baseline")
    args = parser.parse_args()
    task = resolve_task(args.task)
    kernels = [task.baseline]
    if args.task == "softmax":
        kernels.insert(0, (ROOT / "examples/softmax_candidate.py").read_text())
    config = RunConfig(model="scripted", device=args.device, rounds=2, parallel=2, final_candidates=2,
                       final_timing_rounds=6, tune_budget_s=args.tune_budget_s)
    summary = solve_task(task, config, args.out, llm=ScriptedLLM(kernels), quiet=False)
    prompts = [json.loads(line) for line in open(Path(args.out) / "trajectory.jsonl")]
    optimizer_prompts = [e for e in prompts if e["type"] == "optimize"]
    print(json.dumps({k: getattr(summary, k) for k in ("solved", "best_candidate", "speedup", "speedup_vs_torch",
                                               "speed_measured", "statuses", "agent_overhead_per_round_s",
                                               "device", "tuning")}, indent=2, default=str))
    if optimizer_prompts:
        print("optimizer prompt measurements:" + optimizer_prompts[0]["messages"][1]["content"].split(
            "## Measurements")[1][:800])
    return 0 if summary.speed_measured else 1


if __name__ == "__main__":
    sys.exit(main())
