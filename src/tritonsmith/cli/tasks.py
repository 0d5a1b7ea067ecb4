"""`tritonsmith tasks` (list a suite's tasks, or show one) and `tritonsmith completion` (a shell script)."""

from __future__ import annotations

import argparse
import json

from tritonsmith.cli.errors import EXIT_PASSED, UsageError
from tritonsmith.cli.options import add_suite_options

ACTIONS = ("list", "show")


def register(commands) -> None:
    tasks = commands.add_parser("tasks", help="list tasks, or show one with `tasks show ID`")
    tasks.add_argument("action", nargs="?", choices=ACTIONS, default="list", type=_action,
                       help="list (the default) or show")
    tasks.add_argument("task_id", nargs="?", help="with show: the task")
    add_suite_options(tasks)
    tasks.add_argument("--json", action="store_true", help="the tasks and the unsupported files as JSON")
    tasks.set_defaults(handler=tasks_command)

    completion = commands.add_parser("completion", help="print a shell completion script: "
                                      "eval \"$(tritonsmith completion bash)\"")
    completion.add_argument("shell", choices=["bash", "zsh"])
    completion.set_defaults(handler=completion_command)


def tasks_command(args: argparse.Namespace) -> int:
    from tritonsmith.suites import load_suite, resolve_task

    if args.action == "show":
        if not args.task_id:
            raise UsageError("`tritonsmith tasks show` needs a task id, e.g. `tritonsmith tasks show softmax`.")
        task = resolve_task(args.task_id if ":" in args.task_id or args.task_id.endswith(".py")
                            else f"{args.suite}:{args.task_id}", args.instructions, args.perf_scripts)
        if args.json:
            print(json.dumps(task_dict(task), indent=2))
        else:
            print(task_text(task))
        return EXIT_PASSED
    tasks = load_suite(args.suite, instructions=args.instructions, perf_scripts=args.perf_scripts)
    unsupported = [{"path": str(u.path), "reason": u.reason} for u in tasks.unsupported]
    if args.json:
        print(json.dumps({"tasks": [task_dict(t) for t in tasks], "unsupported": unsupported}, indent=2))
        return EXIT_PASSED
    print(tasks_table(tasks))
    print(f"{len(tasks)} {'task' if len(tasks) == 1 else 'tasks'} in suite {args.suite}")
    if unsupported:
        print(f"{len(unsupported)} {'file' if len(unsupported) == 1 else 'files'} not supported:")
        for u in tasks.unsupported:
            print(f"  {u.path.name}: {u.reason}")
    return EXIT_PASSED


def _action(word: str) -> str:
    """`tasks ID` is a common slip for `tasks show ID`: the error says so."""
    if word not in ACTIONS:
        raise argparse.ArgumentTypeError(f"{word!r} is neither list nor show; to show a task: tritonsmith tasks show "
                                         f"{word}")
    return word


def tasks_table(tasks) -> str:
    """One row per task, each column as wide as its longest entry (KernelBench's ids run to 60 characters)."""
    rows = [("id", "kind", "level", "dtypes", "gpu-only")]
    rows += [(t.id, t.kind, str(t.difficulty or "-"), ",".join(t.dtypes), "yes" if t.gpu_only else "") for t in tasks]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join((" ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " " + row[-1]).rstrip()
                     for row in rows)


def task_dict(task) -> dict:
    return {"id": task.id, "suite": task.suite, "kind": task.kind, "difficulty": task.difficulty,
            "entry_point": task.entry_point, "signature": task.signature, "instruction": task.instruction,
            "dtypes": task.dtypes, "correctness_cases": list(task.correctness_cases),
            "perf_cases": list(task.perf_cases), "gpu_only": task.gpu_only, "has_baseline": task.baseline is not None,
            "path": str(task.path)}


def task_text(task) -> str:
    lines = [f"{task.name}  ({task.kind}, difficulty {task.difficulty or '-'})", "", task.signature, "",
             task.instruction.rstrip(), "", "correctness cases:"]
    lines += [f"  {case}" for case in task.correctness_cases]
    lines += ["perf cases:"] + [f"  {case}" for case in task.perf_cases]
    if task.gpu_only:
        lines.append(f"GPU only: {task.gpu_only}")
    lines.append(f"baseline: {'yes' if task.baseline else 'none'}    file: {task.path}")
    return "\n".join(lines)


def completion_command(args: argparse.Namespace) -> int:
    from tritonsmith.cli import build_parser
    from tritonsmith.completion import completion_script
    from tritonsmith.suites import load_suite

    ids = [task.id for task in load_suite("builtin")]
    words = {"eval": ids, "run": ids, "tune": ids, "tasks": ids}
    print(completion_script(build_parser(), args.shell, words), end="")
    return 0
