"""`tritonsmith run`: the agent on one task, in a run folder that a rerun resumes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tritonsmith.cli.errors import EXIT_FAILED, EXIT_PASSED, CommandInterrupted, UsageError
from tritonsmith.cli.models import check_model, report_waiting
from tritonsmith.cli.options import add_run_options, out_folder, run_settings


def register(commands) -> None:
    run = commands.add_parser("run", help="let an LLM agent write (or speed up) a kernel for a task")
    run.add_argument("task", help="a task file, SUITE:ID, or a built-in task id")
    add_run_options(run)
    run.add_argument("--out", help="the run folder (default runs/TASK/MODEL); rerunning on it resumes")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    from tritonsmith.agent.session import check_settings, solve_task
    from tritonsmith.llm import LLMError
    from tritonsmith.suites import resolve_task

    task = resolve_task(args.task)
    config = run_settings(args)
    if not config.model:
        raise UsageError("name a model with --model (e.g. openai/gpt-4o, or hosted_vllm/NAME with --api-base).")
    check_settings(config)
    out = out_folder(args.out or Path("runs") / task.id / config.model.replace("/", "_"))
    check_model(config)
    print(f"run folder: {out} (rerun the same command to resume)", file=sys.stderr, flush=True)
    from tritonsmith.interrupt import Interrupted
    from tritonsmith.llm import RepliesPending
    try:
        summary = solve_task(task, config, out, quiet=args.quiet)
    except LLMError as err:
        raise UsageError(str(err)) from None
    except RepliesPending as pending:
        return report_waiting(pending, "run the same command again")
    except (Interrupted, KeyboardInterrupt):
        raise CommandInterrupted(f"finished work is saved in {out}: rerun the same command to resume.") from None
    print(summary.text())
    if summary.stop_kind in ("llm", "start"):
        raise UsageError(f"{summary.stop_reason} Finished work is saved in {out}: fix this and rerun the same "
                         "command to resume.")
    return EXIT_PASSED if summary.solved else EXIT_FAILED
