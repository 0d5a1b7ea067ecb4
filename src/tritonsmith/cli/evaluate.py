"""`tritonsmith eval`: one candidate kernel against one task."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from tritonsmith.cli.errors import EXIT_FAILED, EXIT_PASSED, UsageError


def register(commands) -> None:
    ev = commands.add_parser("eval", help="evaluate one candidate kernel against one task")
    ev.add_argument("task", help="a task file, SUITE:ID (e.g. builtin:softmax), or a built-in task id")
    ev.add_argument("candidate", nargs="?", help="the candidate's Python source file")
    ev.add_argument("--baseline", action="store_true", help="evaluate the task's own baseline kernel instead")
    ev.add_argument("--device", default="auto", help="auto, cpu (Triton interpreter, correctness only), cuda or cuda:N")
    ev.add_argument("--json", action="store_true", help="print the full EvalResult as JSON")
    ev.add_argument("--timeout", type=float, default=None, help="seconds before the candidate is killed")
    ev.add_argument("--seeds", default="0,1,2", help="seeds for every correctness case (at least 3)")
    ev.set_defaults(handler=eval_command)


def eval_command(args: argparse.Namespace) -> int:
    from tritonsmith.durable import read_text
    from tritonsmith.evaluate import EvalConfig, evaluate

    task = task_argument(args)
    if args.baseline == bool(args.candidate):
        raise UsageError("give either a candidate file or --baseline.")
    if args.baseline:
        if not task.baseline:
            raise UsageError(f"task {task.name} has no baseline kernel.")
        source, path = task.baseline, Path(f"{task.id} baseline")
    else:
        path = Path(args.candidate)
        source = read_text(path, "candidate")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds takes comma-separated whole numbers (got {args.seeds!r}).") from None
    if len(seeds) < 3:
        raise UsageError("--seeds needs at least 3 seeds, so that one lucky input cannot pass a wrong kernel.")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be positive (got {args.timeout:g}).")
    from tritonsmith.agent.config import DEVICE_FORM
    if not re.fullmatch(DEVICE_FORM, args.device):
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N (got {args.device!r}).")
    if not args.json:
        print(f"evaluating {path} on task {task.name} ...", file=sys.stderr, flush=True)
    # the baseline against itself, as `bench --solver baseline` qualifies it (a PyTorch gold launches no Triton)
    result = evaluate(task, source, device=args.device, config=EvalConfig(seeds=seeds), timeout_s=args.timeout,
                      gold=args.baseline)
    if args.candidate:
        result.message = named_as_given(result.message, args.candidate)
        for case in result.cases:
            case.message = case.message and named_as_given(case.message, args.candidate)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.summary())
    return EXIT_PASSED if result.passed else EXIT_FAILED


def task_argument(args: argparse.Namespace):
    """The task `args.task` names; where it is a .py file that is no task file but the candidate argument names a
    task, a UsageError saying the order (`eval wrong.py softmax` read the candidate as a task)."""
    from tritonsmith.suites import resolve_task
    from tritonsmith.task import TaskError

    try:
        return resolve_task(args.task)
    except TaskError as not_a_task:
        if not (args.task.endswith(".py") and Path(args.task).is_file() and args.candidate):
            raise
        try:
            resolve_task(args.candidate)
        except TaskError:
            raise not_a_task from None
        raise UsageError(f"{args.task} is not a task file, and {args.candidate} names a task: the order is "
                         f"`tritonsmith eval TASK CANDIDATE` (tritonsmith eval {args.candidate} {args.task}).") from None


def named_as_given(message: str, candidate: str) -> str:
    """The evaluator names the candidate's file by its own copy's name (candidate.py, with the same line numbers):
    said to the user, it is the file they gave."""
    from tritonsmith.evaluate.errors import CANDIDATE_FILE

    return re.sub(rf"\b{re.escape(CANDIDATE_FILE)}(?=\"?,? line )", lambda _: candidate, message)
