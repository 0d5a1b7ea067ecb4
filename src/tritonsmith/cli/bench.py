"""`tritonsmith bench`: a solver over a whole suite, and the suite's metrics as text."""

from __future__ import annotations

import argparse
import json
import sys

from tritonsmith.cli.errors import EXIT_FAILED, EXIT_PASSED, CommandInterrupted, UsageError
from tritonsmith.cli.models import check_model, report_waiting
from tritonsmith.cli.options import add_run_options, add_suite_options, out_folder, run_settings


def register(commands) -> None:
    bench = commands.add_parser("bench", help="run a solver over a whole suite and record every task")
    add_suite_options(bench)
    bench.add_argument("--solver", default="agent", help="agent, baseline (each task's own baseline) or dir:PATH "
                       "(pre-written candidates, PATH/<task id>.py)")
    bench.add_argument("--tasks", help="comma-separated glob patterns of task ids, e.g. 'soft*,matmul'")
    bench.add_argument("--out", required=True, help="the bench folder")
    bench.add_argument("--resume", action="store_true", help="continue the bench in --out, skipping finished tasks")
    bench.add_argument("--rerun", metavar="STATUSES", help="with --resume, baseline and dir: solvers: run again "
                       "the finished tasks whose record has one of these statuses, e.g. 'timeout,crashed' (after a "
                       "longer --eval-timeout-s, say); their earlier records stay in results.jsonl")
    bench.add_argument("--jobs", type=int, help="tasks at once (default: one per GPU for baseline/dir solvers, "
                       "1 for the agent); on the CPU also the number of interpreter workers")
    add_run_options(bench, per_task=True)
    bench.add_argument("--json", action="store_true", help="print the suite metrics as JSON")
    bench.set_defaults(handler=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    from tritonsmith.runs.bench import EVALUATIONS, solve_suite
    from tritonsmith.runs.store import ResultsStore

    config = run_settings(args)
    rerun = rerun_statuses(args)
    if args.solver == "agent" and not config.model:
        raise UsageError("the agent solver needs --model (or use --solver baseline or --solver dir:PATH).")
    out = out_folder(args.out)
    if args.solver == "agent":
        from tritonsmith.agent.session import check_settings
        check_settings(config)
        check_model(config)
    store = ResultsStore(out)  # (one whose bench stopped before it made anything is not one to keep)
    if store.load_settings() is not None and store.holds_work() and not args.resume:
        raise UsageError(f"{out} already holds a bench: pass --resume to continue it, or choose another --out.")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1.")
    from tritonsmith.interrupt import Interrupted
    from tritonsmith.llm import RepliesPending
    try:
        records = solve_suite(args.suite, args.solver, config, out, pattern=args.tasks, instructions=args.instructions,
                            perf_scripts=args.perf_scripts, jobs=args.jobs, rerun=rerun)
    except RepliesPending as pending:
        return report_waiting(pending, "run the same command again with --resume", as_json=args.json)
    except (Interrupted, KeyboardInterrupt):
        raise CommandInterrupted(f"the finished tasks are saved in {out}: rerun the same command with --resume to go "
                           "on.") from None
    from tritonsmith.report.metrics import suite_metrics
    metrics = suite_metrics(records)
    print(json.dumps(metrics, indent=2, default=str) if args.json else metrics_text(metrics))
    print(f"results: {out / 'results.jsonl'}  (report: tritonsmith report {out})", file=sys.stderr)
    if (out / EVALUATIONS).is_dir():  # baseline and dir: solvers
        print(f"each evaluation, whole: {out / EVALUATIONS}/TASK_ID.json", file=sys.stderr)
    return EXIT_PASSED if all(r.status != "error" for r in records) else EXIT_FAILED


def metrics_text(m: dict) -> str:
    speed = m["speedup"]
    usd = m["cost"]["usd"]["total"]
    lines = [f"tasks {m['tasks']} (all tasks, as GEAK-eval counts): call accuracy {m['call_accuracy']:.1%} "
             f"({m['call_ok']}), execution accuracy {m['exec_accuracy']:.1%} ({m['exec_ok']})"]
    if speed["geomean"] is not None:
        lines.append(f"speedup vs baseline over {speed['tasks']} correct tasks: geometric mean {speed['geomean']:.3f}x, "
                     f"arithmetic mean {speed['arithmetic_mean']:.3f}x (as GEAK reports)")
    else:
        lines.append(f"speedup: not measured ({speed['reason']})")
    qualified = m.get("qualified")
    if qualified:
        mean = qualified["speedup"]["geomean"]
        lines.append(f"qualified tasks {qualified['tasks']} (unqualified {qualified['unqualified']}, unknown "
                     f"{qualified['unknown']}): call accuracy {qualified['call_accuracy'] or 0:.1%}, execution "
                     f"accuracy {qualified['exec_accuracy'] or 0:.1%}"
                     + (f", speedup geometric mean {mean:.3f}x" if mean is not None else ""))
        for task, reason in qualified["unqualified_reasons"].items():
            lines.append(f"  unqualified {task}: {reason}")
    if m["fast_p_reason"]:
        lines.append(f"fast_p: n/a ({m['fast_p_reason']})")
    else:
        lines.append("fast_p (beyond the timing noise): " + ", ".join(f"p={p} {v:.1%}" for p, v in m["fast_p"].items()))
    if m["pass_at_k"]:
        lines.append("pass@k: " + ", ".join(f"k={p['k']} {p['value']:.1%}" for p in m["pass_at_k"]))
    lines.append(f"spent: {m['cost']['tokens']['total']} tokens, " + ("$ unknown" if usd is None else f"${usd:.2f}")
                 + f", {m['cost']['wall_s']['total']:.0f} s")
    lines.extend(devices_lines(m.get("devices") or {}))
    return "\n".join(lines)


def devices_lines(devices: dict[str, int]) -> list[str]:
    """Where the tasks were evaluated; a warning where a bench resumed elsewhere holds several devices' results."""
    if len(devices) == 1:
        return [f"device: {next(iter(devices))}"]
    if not devices:
        return []
    return [f"devices: {', '.join(f'{name} ({count} tasks)' for name, count in devices.items())}: this bench was resumed "
            "on another machine; each speedup was measured on one device, but these totals mix them"]


def rerun_statuses(args: argparse.Namespace) -> set[str]:
    """The statuses --rerun names, checked: it goes with --resume, a baseline or dir: solver and known statuses."""
    if args.rerun is None:
        return set()
    from tritonsmith.evaluate.result import STATUSES
    known = (*STATUSES, "error")
    statuses = {word.strip() for word in args.rerun.split(",") if word.strip()}
    unknown = sorted(statuses - set(known))
    if unknown or not statuses:
        what = f"{', '.join(unknown)} is not a task's status" if unknown else "names no status"
        raise UsageError(f"--rerun {args.rerun!r}: {what}: name some of {', '.join(known)}, comma-separated.")
    if not args.resume:
        raise UsageError("--rerun runs again tasks a bench finished: pass it with --resume and that bench's --out.")
    if args.solver == "agent":
        raise UsageError("--rerun is for the baseline and dir: solvers: an agent task's run folder (tasks/ID) "
                         "holds its finished run, which a resume would only read again; bench it in a new --out.")
    return statuses
