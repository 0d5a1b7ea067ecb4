"""The `tritonsmith` command. Heavy imports happen inside each subcommand, never at import time."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_PENDING = 3  # a run or bench on a queued model (queue:DIR) stopped with prompts waiting for replies
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a command SIGPIPE ended


class UsageError(Exception):
    """A mistake the user can fix; printed as one sentence, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    from tritonsmith import interrupt
    from tritonsmith.config import ConfigError
    from tritonsmith.durable import FileError
    from tritonsmith.evaluate.pool import DeviceError
    from tritonsmith.task import TaskError
    previous = None
    if threading.current_thread() is threading.main_thread():
        interrupt.STOP.clear()
        previous = interrupt.install()  # Ctrl-C: stop starting work and save; again: exit at once
    try:
        status = args.handler(args)
        sys.stdout.flush()  # a closed pipe is found here, not at interpreter exit
        return status
    except (UsageError, TaskError, DeviceError, ConfigError, FileError) as err:
        if getattr(args, "json", False):  # a JSON reader gets JSON, whatever happened
            print(json.dumps({"error": str(err)}))
        print(f"tritonsmith: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `tritonsmith tasks | head -1`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush is quiet
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("tritonsmith: interrupted", file=sys.stderr)
        return interrupt.EXIT_INTERRUPTED
    except _Interrupted as stop:
        print(f"tritonsmith: interrupted: {stop}", file=sys.stderr)
        return interrupt.EXIT_INTERRUPTED
    finally:
        if previous is not None:  # main() called from Python: its caller's handler again
            interrupt.restore(previous)


class _Interrupted(Exception):
    """A command stopped at Ctrl-C with its finished work saved; the message says how to go on."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tritonsmith", description="LLM agents that write correct, fast Triton kernels, measured honestly.")
    from tritonsmith import __version__
    parser.add_argument("--version", action="version", version=f"tritonsmith {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")

    ev = commands.add_parser("eval", help="evaluate one candidate kernel against one task")
    ev.add_argument("task", help="a task file, SUITE:ID (e.g. builtin:softmax), or a built-in task id")
    ev.add_argument("candidate", nargs="?", help="the candidate's Python source file")
    ev.add_argument("--baseline", action="store_true", help="evaluate the task's own baseline kernel instead")
    ev.add_argument("--device", default="auto", help="auto, cpu (Triton interpreter, correctness only), cuda or cuda:N")
    ev.add_argument("--json", action="store_true", help="print the full EvalResult as JSON")
    ev.add_argument("--timeout", type=float, default=None, help="seconds before the candidate is killed")
    ev.add_argument("--seeds", default="0,1,2", help="seeds for every correctness case (at least 3)")
    ev.set_defaults(handler=_cmd_eval)

    run = commands.add_parser("run", help="let an LLM agent write (or speed up) a kernel for a task")
    run.add_argument("task", help="a task file, SUITE:ID, or a built-in task id")
    run.add_argument("--config", help="a YAML file of run settings (command-line options override it)")
    run.add_argument("--model", help="the model as LiteLLM names it, e.g. openai/gpt-4o or hosted_vllm/NAME; or "
                     "queue:DIR[@MODEL]: prompts written to DIR/pending, replies read from DIR/replies")
    run.add_argument("--api-base", help="base URL of an OpenAI-compatible server (vLLM, SGLang, Ollama)")
    run.add_argument("--api-key-env", help="environment variable holding the API key")
    run.add_argument("--mode", choices=["generate", "optimize"])
    run.add_argument("--start-from", help="optimize mode: the kernel file to start from (default: the baseline)")
    run.add_argument("--rounds", type=int, help="rounds per lineage (sequential scaling)")
    run.add_argument("--parallel", type=int, help="lineages side by side (parallel scaling)")
    run.add_argument("--trap", type=int, help="failed fixes in a row before a lineage restarts")
    run.add_argument("--temperature", type=float)
    run.add_argument("--budget-usd", type=float)
    run.add_argument("--budget-tokens", type=int)
    run.add_argument("--budget-wall-s", type=float)
    run.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    run.add_argument("--gpus", help="comma-separated GPU indices, one evaluation worker each")
    run.add_argument("--cluster", help="evaluate on a Ray cluster, one actor per GPU: ray, ray:auto or ray:HOST:PORT (docs/cluster.md)")
    run.add_argument("--corpus", action="append", help="extra example corpus: a folder of .py files or a JSON list")
    run.add_argument("--no-hardware", dest="hardware_knowledge", action="store_false", default=None)
    run.add_argument("--no-guide", dest="guide_knowledge", action="store_false", default=None)
    run.add_argument("--no-one-shot", dest="one_shot", action="store_false", default=None)
    run.add_argument("--replay", action="store_true", default=None, help="replay a recorded run offline")
    run.add_argument("--out", help="the run folder (default runs/TASK/MODEL); rerunning on it resumes")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.set_defaults(handler=_cmd_run)

    bench = commands.add_parser("bench", help="run a solver over a whole suite and record every task")
    bench.add_argument("--suite", default="builtin", help="builtin, dir:PATH (our task files), tritonbench-g:PATH, "
                       "kernelbench:PATH or geak-rocm:PATH")
    bench.add_argument("--instructions", help="tritonbench-g/geak-rocm: the instructions JSON, if not beside PATH")
    bench.add_argument("--perf-scripts", help="tritonbench-g: the folder of <stem>_perf.py scripts, if not in "
                       "GEAK-eval's layout two levels above PATH")
    bench.add_argument("--solver", default="agent", help="agent, baseline (each task's own baseline) or dir:PATH "
                       "(pre-written candidates, PATH/<task id>.py)")
    bench.add_argument("--tasks", help="comma-separated glob patterns of task ids, e.g. 'soft*,matmul'")
    bench.add_argument("--out", required=True, help="the bench folder")
    bench.add_argument("--resume", action="store_true", help="continue the bench in --out, skipping finished tasks")
    bench.add_argument("--jobs", type=int, help="tasks at once (default: one per GPU for baseline/dir solvers, "
                       "1 for the agent); on the CPU also the number of interpreter workers")
    bench.add_argument("--config", help="a YAML file of run settings (as for `run`)")
    for name in ("--model", "--api-base", "--api-key-env", "--device", "--gpus"):
        bench.add_argument(name)
    bench.add_argument("--mode", choices=["generate", "optimize"])
    bench.add_argument("--rounds", type=int)
    bench.add_argument("--parallel", type=int)
    bench.add_argument("--trap", type=int)
    bench.add_argument("--budget-usd", type=float, help="per task")
    bench.add_argument("--cluster", help="evaluate on a Ray cluster, one actor per GPU: ray, ray:auto or ray:HOST:PORT (docs/cluster.md)")
    bench.add_argument("--workers-per-gpu", type=int, help="evaluations at once on each GPU (they take turns to "
                       "time; default 1)")
    bench.add_argument("--json", action="store_true", help="print the suite metrics as JSON")
    bench.set_defaults(handler=_cmd_bench)

    queue = commands.add_parser("queue", help="answer the prompts a run on a queued model (queue:DIR) left waiting, "
                                "or count them")
    queue.add_argument("action", choices=["answer", "status"])
    queue.add_argument("folder", help="the queue folder DIR of --model queue:DIR")
    queue.add_argument("--model", help="answer: the model that answers, as for `run` (default: the one each prompt "
                       "names, from queue:DIR@MODEL)")
    queue.add_argument("--api-base", help="answer: base URL of an OpenAI-compatible server (vLLM, SGLang, Ollama)")
    queue.add_argument("--api-key-env", help="answer: environment variable holding the API key")
    queue.add_argument("--jobs", type=int, default=4, help="answer: prompts answered at once (default 4)")
    queue.set_defaults(handler=_cmd_queue)

    tune = commands.add_parser("tune", help="search a verified kernel's launch parameters on the GPU")
    tune.add_argument("task", help="a task file, SUITE:ID, or a built-in task id")
    tune.add_argument("kernel", help="the kernel's Python source file")
    tune.add_argument("--budget-s", type=float, default=600, help="seconds of tuning (default 600)")
    tune.add_argument("--out", help="the tuned kernel's file (default KERNEL.tuned.py)")
    tune.add_argument("--device", default="cuda", help="cuda or cuda:N")
    tune.set_defaults(handler=_cmd_tune)

    peaks = commands.add_parser("peaks", help="the GPU's measured copy bandwidth and matmul FLOP/s (cached)")
    peaks.add_argument("--device", default="cuda", help="cuda or cuda:N")
    peaks.add_argument("--refresh", action="store_true", help="measure again even if cached")
    peaks.add_argument("--json", action="store_true")
    peaks.set_defaults(handler=_cmd_peaks)

    report = commands.add_parser("report", help="write a bench folder's self-contained HTML report")
    report.add_argument("bench")
    report.add_argument("--out", help="the HTML file (default BENCH/report.html)")
    report.set_defaults(handler=_cmd_report)

    compare = commands.add_parser("compare", help="two bench folders side by side, per task and overall")
    compare.add_argument("bench_a")
    compare.add_argument("bench_b")
    compare.set_defaults(handler=_cmd_compare)

    tasks = commands.add_parser("tasks", help="list tasks, or show one with `tasks show ID`")
    tasks.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    tasks.add_argument("task_id", nargs="?", help="with show: the task")
    tasks.add_argument("--suite", default="builtin", help="builtin, dir:PATH (our task files), tritonbench-g:PATH, "
                       "kernelbench:PATH or geak-rocm:PATH")
    tasks.add_argument("--instructions", help="tritonbench-g/geak-rocm: the instructions JSON, if not beside PATH")
    tasks.add_argument("--perf-scripts", help="tritonbench-g: the folder of <stem>_perf.py scripts, if not in "
                       "GEAK-eval's layout two levels above PATH")
    tasks.add_argument("--json", action="store_true", help="the tasks and the unsupported files as JSON")
    tasks.set_defaults(handler=_cmd_tasks)

    completion = commands.add_parser("completion", help="print a shell completion script: "
                                      "eval \"$(tritonsmith completion bash)\"")
    completion.add_argument("shell", choices=["bash", "zsh"])
    completion.set_defaults(handler=_cmd_completion)
    return parser


def _cmd_completion(args: argparse.Namespace) -> int:
    from tritonsmith.completion import completion_script
    from tritonsmith.suites import load_suite

    ids = [task.id for task in load_suite("builtin")]
    words = {"eval": ids, "run": ids, "tune": ids, "tasks": ids}
    print(completion_script(_parser(), args.shell, words), end="")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from tritonsmith.durable import read_text
    from tritonsmith.evaluate import EvalConfig, evaluate
    from tritonsmith.suites import resolve_task

    task = resolve_task(args.task)
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
    if args.device not in ("auto", "cpu", "cuda") and not args.device.startswith("cuda:"):
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N (got {args.device!r}).")
    if not args.json:
        print(f"evaluating {path} on task {task.name} ...", file=sys.stderr, flush=True)
    result = evaluate(task, source, device=args.device, config=EvalConfig(seeds=seeds), timeout_s=args.timeout)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.summary())
    return EXIT_PASSED if result.passed else EXIT_FAILED


def _cmd_run(args: argparse.Namespace) -> int:
    from tritonsmith.agent.config import RunConfig
    from tritonsmith.agent.run import run_task
    from tritonsmith.config import load_config
    from tritonsmith.llm import LLMError
    from tritonsmith.suites import resolve_task

    task = resolve_task(args.task)
    overrides = {name: getattr(args, name) for name in (
        "model", "api_base", "api_key_env", "mode", "start_from", "rounds", "parallel", "trap", "temperature",
        "budget_usd", "budget_tokens", "budget_wall_s", "device", "gpus", "corpus", "hardware_knowledge",
        "guide_knowledge", "one_shot", "replay", "cluster")}
    config = load_config(RunConfig, args.config, overrides)
    if not config.model:
        raise UsageError("name a model with --model (e.g. openai/gpt-4o, or hosted_vllm/NAME with --api-base).")
    out = _out_folder(args.out or Path("runs") / task.id / config.model.replace("/", "_"))
    _check_model(config)
    print(f"run folder: {out} (rerun the same command to resume)", file=sys.stderr, flush=True)
    from tritonsmith.interrupt import Interrupted
    from tritonsmith.llm import RepliesPending
    try:
        summary = run_task(task, config, out, quiet=args.quiet)
    except LLMError as err:
        raise UsageError(str(err)) from None
    except RepliesPending as pending:
        return _waiting(pending, "run the same command again")
    except (Interrupted, KeyboardInterrupt):
        raise _Interrupted(f"finished work is saved in {out}: rerun the same command to resume.") from None
    print((out / "summary.md").read_text())
    if summary["stop_kind"] in ("llm", "start"):
        raise UsageError(f"{summary['stop_reason']} Finished work is saved in {out}: fix this and rerun the same "
                         "command to resume.")
    return EXIT_PASSED if summary["solved"] else EXIT_FAILED


def _cmd_bench(args: argparse.Namespace) -> int:
    from tritonsmith.agent.config import RunConfig
    from tritonsmith.config import load_config
    from tritonsmith.runs.bench import run_bench
    from tritonsmith.runs.store import ResultsStore

    overrides = {name: getattr(args, name) for name in (
        "model", "api_base", "api_key_env", "mode", "rounds", "parallel", "trap", "budget_usd", "device", "gpus",
        "workers_per_gpu", "cluster")}
    config = load_config(RunConfig, args.config, overrides)
    if args.solver == "agent" and not config.model:
        raise UsageError("the agent solver needs --model (or use --solver baseline or --solver dir:PATH).")
    out = _out_folder(args.out)
    if args.solver == "agent":
        _check_model(config)
    if ResultsStore(out).load_settings() is not None and not args.resume:
        raise UsageError(f"{out} already holds a bench: pass --resume to continue it, or choose another --out.")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1.")
    from tritonsmith.interrupt import Interrupted
    from tritonsmith.llm import RepliesPending
    try:
        records = run_bench(args.suite, args.solver, config, out, pattern=args.tasks, instructions=args.instructions,
                            perf_scripts=args.perf_scripts, jobs=args.jobs)
    except RepliesPending as pending:
        return _waiting(pending, "run the same command again with --resume", as_json=args.json)
    except (Interrupted, KeyboardInterrupt):
        raise _Interrupted(f"the finished tasks are saved in {out}: rerun the same command with --resume to go "
                           "on.") from None
    from tritonsmith.report.metrics import suite_metrics
    metrics = suite_metrics(records)
    print(json.dumps(metrics, indent=2, default=str) if args.json else _metrics_text(metrics))
    print(f"results: {out / 'results.jsonl'}  (report: tritonsmith report {out})", file=sys.stderr)
    return EXIT_PASSED if all(r.status != "error" for r in records) else EXIT_FAILED


def _check_model(config) -> None:
    """Before anything is made: the model's provider is known and its API key is there."""
    from tritonsmith.llm.queue import PREFIX

    if config.replay:
        return
    if config.model.startswith(PREFIX) and config.budget_usd is not None:
        raise UsageError(f"a dollar budget cannot be kept with {config.model}: what a queued reply costs is not "
                         "known before it comes, so drop --budget-usd (a token or wall-time budget works).")
    _model_client(config.model, config.api_base, config.api_key_env)


def _model_client(model: str, api_base: str | None, api_key_env: str | None):
    """A client of `model` (no record/replay cache) whose provider is known and whose API key is there."""
    from tritonsmith.llm import LLMError, MissingKey, make_llm

    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise UsageError(f"--api-key-env {api_key_env}: the environment variable {api_key_env} is not set.")
    try:
        client = make_llm(model, api_base=api_base, api_key=key, mode="off")
        client.prepare()
    except MissingKey as err:
        raise UsageError(f"no API key for {model}: set {' or '.join(err.variables)}, or name the variable "
                         "that holds it with --api-key-env (for a local server, give its --api-base).") from None
    except LLMError as err:
        raise UsageError(str(err)) from None
    return client


def _waiting(pending, again: str, as_json: bool = False) -> int:
    """A run or bench on a queued model stopped with prompts waiting: one sentence, exit status 3."""
    from tritonsmith.llm.queue import waiting_sentence

    sentence = waiting_sentence(len(pending.waiting), pending.folder, pending.model, again)
    if as_json:  # a JSON reader gets JSON, whatever happened
        print(json.dumps({"waiting": len(pending.waiting), "queue": pending.folder, "message": sentence}))
    print(f"tritonsmith: {sentence}", file=sys.stderr)
    return EXIT_PENDING


def _cmd_queue(args: argparse.Namespace) -> int:
    from tritonsmith.llm import LLMError
    from tritonsmith.llm.queue import PREFIX, QueueFolder, answer_waiting

    queue = QueueFolder(args.folder)
    if not queue.folder.is_dir():
        raise UsageError(f"{queue.folder} is not a queue folder (no such folder): give the DIR of --model queue:DIR.")
    waiting, answered = queue.waiting(), queue.answered()
    if args.action == "status":
        by_hand = sum(not path.with_suffix(".json").exists() for path in answered)
        print(f"{queue.folder}: {len(waiting)} {'prompt waits' if len(waiting) == 1 else 'prompts wait'} for a reply "
              f"in {queue.pending}; {len(answered)} answered in {queue.replies}"
              + (f" ({by_hand} by hand)" if by_hand else ""))
        return EXIT_PASSED
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1.")
    if args.model and args.model.startswith(PREFIX):
        raise UsageError(f"--model {args.model} is a queue itself: name the model that answers, e.g. openai/gpt-4o.")
    if not waiting:
        print(f"no prompt waits in {queue.pending}: nothing to answer.", file=sys.stderr)
        return EXIT_PASSED
    clients: dict[str, object] = {}

    def client_for(wanted: str | None):
        model = args.model or wanted
        if not model:
            raise UsageError(f"the prompts in {queue.pending} name no model: pass --model (e.g. openai/gpt-4o).")
        if model not in clients:
            clients[model] = _model_client(model, args.api_base, args.api_key_env)
        return clients[model]

    def start(total: int) -> None:
        print(f"{total} {'prompt waits' if total == 1 else 'prompts wait'} in {queue.pending}; answering "
              f"{min(args.jobs, total)} at once", file=sys.stderr, flush=True)

    answered_now = []

    def progress(done: int, total: int, name: str, reply) -> None:
        answered_now.append(name)
        cost = "price unknown" if reply.cost is None else f"${reply.cost:.4f}"
        print(f"[{done}/{total}] {name[:12]} answered by {reply.model}: {reply.tokens_in} tokens in, "
              f"{reply.tokens_out} out, {cost}", file=sys.stderr, flush=True)

    try:
        answer_waiting(queue.folder, client_for, jobs=args.jobs, on_answer=progress, on_start=start)
    except LLMError as err:
        kept = f" ({len(answered_now)} answered before it are kept in {queue.replies})" if answered_now else ""
        raise UsageError(f"{str(err).rstrip('.')}{kept}.") from None
    print(f"answered {len(answered_now)} in {queue.replies}: run the command that asked for them again.",
          file=sys.stderr)
    return EXIT_PASSED


def _out_folder(path: str | Path) -> Path:
    """`--out` as a folder; a UsageError if it, or a folder above it, is an existing file."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"--out {path}: {folder} is a file, not a folder; choose another --out.")
    return path


def _cmd_tune(args: argparse.Namespace) -> int:
    from tritonsmith.durable import read_text
    from tritonsmith.knowledge.hardware import profile_for
    from tritonsmith.suites import resolve_task
    from tritonsmith.tune import PoolMeasure, tune_kernel

    task = resolve_task(args.task)
    path = Path(args.kernel)
    source = read_text(path, "kernel")
    if args.budget_s <= 0:
        raise UsageError("--budget-s must be positive.")
    def progress(trial, best_ms: float) -> None:
        label = ", ".join(f"{k}={v}" for k, v in sorted(trial.config.items())) or "the original"
        time = f"{trial.ms:.4g} ms" if trial.ms is not None else trial.status
        best = f"best {best_ms:.4g} ms" if best_ms < float("inf") else "nothing timed yet"
        print(f"[{trial.started_s + trial.duration_s:6.1f}/{args.budget_s:g} s] {trial.phase:<8} {label}: {time}  ({best})",
              file=sys.stderr, flush=True)

    with _gpu_pool("tune", "tuning measures speed", args.device) as pool:
        measure = PoolMeasure(pool, task, original=source)
        result = tune_kernel(task, source, measure, args.budget_s, verify=measure.verifier(),
                             profile=profile_for(pool.device_name), on_trial=progress)
    out = Path(args.out) if args.out else path.with_suffix(".tuned.py")
    out.write_text(result.tuned_source)
    print(result.summary())
    print(f"tuned kernel: {out}", file=sys.stderr)
    return EXIT_PASSED if result.verified else EXIT_FAILED


def _gpu_pool(command: str, what: str, device: str, **options):
    """Warm workers on `device` for a command only a GPU can do; where there is none, advice that works
    (not `--device cpu`, which cannot time kernels)."""
    from tritonsmith.evaluate import WorkerPool
    from tritonsmith.evaluate.pool import DeviceError

    advice = (f"{what} on a GPU, and the CPU interpreter cannot time kernels: run `tritonsmith {command}` on a "
              "machine with a GPU and a CUDA or ROCm build of torch.")
    if not device.startswith("cuda"):
        raise UsageError(advice)
    try:
        pool = WorkerPool(device=device, **options)
    except DeviceError:
        raise UsageError(f"no GPU is visible: {advice}") from None
    if pool.device_kind == "cpu":
        pool.close()
        raise UsageError(f"no GPU is visible: {advice}")
    return pool


def _cmd_peaks(args: argparse.Namespace) -> int:
    from tritonsmith.evaluate import EvalConfig
    from tritonsmith.evaluate.peaks import PeaksError, cache_path
    from tritonsmith.knowledge.hardware import profile_for

    with _gpu_pool("peaks", "peaks are measured", args.device, config=EvalConfig(measured_peaks=False)) as pool:
        try:
            peaks = pool.measure_peaks(refresh=args.refresh)
        except PeaksError as err:
            raise UsageError(f"{err}.") from None
    if args.json:
        print(json.dumps(peaks, indent=2))
        return EXIT_PASSED
    profile = profile_for(peaks["device"])
    def of_sheet(value: float, sheet: float | None) -> str:
        return f" ({value / sheet:.0%} of the datasheet's {sheet:g})" if sheet else ""
    print(f"{peaks['device']} (measured {peaks.get('measured_at', '?')}, torch {peaks.get('torch', '?')}, "
          f"triton {peaks.get('triton', '?')})")
    print(f"copy: {peaks['copy_gbps']:.0f} GB/s read+write{of_sheet(peaks['copy_gbps'], profile and profile.bandwidth_gbps)}"
          + (f", best of {len(peaks['copy_all_gbps'])} ({peaks.get('copy_best')})" if peaks.get("copy_all_gbps") else ""))
    for dtype, value in peaks["tflops"].items():
        print(f"matmul {dtype}: {value:.1f} TFLOP/s{of_sheet(value, profile and profile.peak_tflops(dtype))}")
    for dtype, value in peaks.get("tflops_dropped", {}).items():
        print(f"matmul {dtype}: {value} not used (implausible against the datasheet)")
    print(f"cached in {cache_path(peaks['device'])}", file=sys.stderr)
    return EXIT_PASSED


def _metrics_text(m: dict) -> str:
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
    return "\n".join(lines)


def _cmd_report(args: argparse.Namespace) -> int:
    from tritonsmith.report.html import write_report

    try:
        path = write_report(args.bench, args.out)
    except FileNotFoundError as err:
        raise UsageError(str(err).rstrip(".") + ".") from None
    print(path)
    return EXIT_PASSED


def _cmd_compare(args: argparse.Namespace) -> int:
    from tritonsmith.report.compare import compare

    try:
        print(compare(args.bench_a, args.bench_b))
    except FileNotFoundError as err:
        raise UsageError(str(err).rstrip(".") + ".") from None
    return EXIT_PASSED


def _cmd_tasks(args: argparse.Namespace) -> int:
    from tritonsmith.suites import load_suite, resolve_task

    if args.action == "show":
        if not args.task_id:
            raise UsageError("`tritonsmith tasks show` needs a task id, e.g. `tritonsmith tasks show softmax`.")
        task = resolve_task(args.task_id if ":" in args.task_id or args.task_id.endswith(".py")
                            else f"{args.suite}:{args.task_id}", args.instructions, args.perf_scripts)
        if args.json:
            print(json.dumps(_task_dict(task), indent=2))
        else:
            print(_task_text(task))
        return EXIT_PASSED
    tasks = load_suite(args.suite, instructions=args.instructions, perf_scripts=args.perf_scripts)
    unsupported = [{"path": str(u.path), "reason": u.reason} for u in tasks.unsupported]
    if args.json:
        print(json.dumps({"tasks": [_task_dict(t) for t in tasks], "unsupported": unsupported}, indent=2))
        return EXIT_PASSED
    print(f"{'id':<28} {'kind':<14} {'level':<5} {'dtypes':<32} gpu-only")
    for t in tasks:
        print(f"{t.id:<28} {t.kind:<14} {t.difficulty or '-'!s:<5} {','.join(t.dtypes):<32} {'yes' if t.gpu_only else ''}")
    print(f"{len(tasks)} tasks in suite {args.suite}")
    if unsupported:
        print(f"{len(unsupported)} {'file' if len(unsupported) == 1 else 'files'} not supported:")
        for u in tasks.unsupported:
            print(f"  {u.path.name}: {u.reason}")
    return EXIT_PASSED


def _task_dict(task) -> dict:
    return {"id": task.id, "suite": task.suite, "kind": task.kind, "difficulty": task.difficulty,
            "entry_point": task.entry_point, "signature": task.signature, "instruction": task.instruction,
            "dtypes": task.dtypes, "correctness_cases": list(task.correctness_cases),
            "perf_cases": list(task.perf_cases), "gpu_only": task.gpu_only, "has_baseline": task.baseline is not None,
            "path": str(task.path)}


def _task_text(task) -> str:
    lines = [f"{task.name}  ({task.kind}, difficulty {task.difficulty or '-'})", "", task.signature, "",
             task.instruction.rstrip(), "", "correctness cases:"]
    lines += [f"  {case}" for case in task.correctness_cases]
    lines += ["perf cases:"] + [f"  {case}" for case in task.perf_cases]
    if task.gpu_only:
        lines.append(f"GPU only: {task.gpu_only}")
    lines.append(f"baseline: {'yes' if task.baseline else 'none'}    file: {task.path}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
