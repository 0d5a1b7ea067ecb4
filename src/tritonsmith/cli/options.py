"""Options more than one command takes, written once: the run settings (`run`, `bench`), the suite
(`bench`, `tasks`), and `--out` checked as a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from tritonsmith.cli.errors import UsageError

SUITE_HELP = "builtin, dir:PATH (our task files), tritonbench-g:PATH, kernelbench:PATH or geak-rocm:PATH"


def add_run_options(parser: argparse.ArgumentParser, per_task: bool = False) -> list[str]:
    """The settings of an agent run (RunConfig's fields), for `run` and for `bench` (`per_task`: its budgets
    are each task's). Returns the names they are parsed into; all but `config` are RunConfig's fields."""
    per = " (per task)" if per_task else ""
    names: list[str] = []

    def add(*flags, **settings) -> None:
        names.append(parser.add_argument(*flags, **settings).dest)

    add("--config", help="a YAML file of run settings (command-line options override it)")
    add("--model", help="the model as LiteLLM names it, e.g. openai/gpt-4o or hosted_vllm/NAME; or "
        "queue:DIR[@MODEL]: prompts written to DIR/pending, replies read from DIR/replies")
    add("--api-base", help="base URL of an OpenAI-compatible server (vLLM, SGLang, Ollama)")
    add("--api-key-env", help="environment variable holding the API key")
    add("--mode", choices=["generate", "optimize"], help="generate: write a kernel from the task's instruction "
        "(default); optimize: make a given kernel faster (--start-from, or the task's baseline)")
    if not per_task:
        add("--start-from", help="optimize mode: the kernel file to start from (default: the baseline)")
    add("--rounds", type=int, help="rounds per lineage (sequential scaling)")
    add("--parallel", type=int, help="lineages side by side (parallel scaling)")
    add("--trap", type=int, help="failed fixes in a row before a lineage restarts")
    add("--temperature", type=float, help="sampling temperature of every generation, 0 to 2 (default 0.7)")
    add("--budget-usd", type=float, help=f"dollars{per}")
    add("--budget-tokens", type=int, help=f"tokens{per}")
    add("--budget-wall-s", type=float, help=f"seconds{per}")
    add("--price-per-mtok", metavar="IN,OUT", help="the model's USD per million input and output tokens, for a "
        "model whose price LiteLLM does not know (a dollar budget needs it)")
    add("--device", help="auto, cpu, cuda or cuda:N")
    add("--gpus", help="comma-separated GPU indices, one evaluation worker each")
    add("--cluster", help="evaluate on a Ray cluster, one actor per GPU: ray, ray:auto or ray:HOST:PORT "
        "(docs/cluster.md)")
    add("--eval-timeout-s", type=float, help="seconds one evaluation may take, its task's "
        "references included (default 600 on a GPU, 300 on the CPU)")
    add("--workers-per-gpu", type=int, help="evaluations at once on each GPU (they take turns to time; default 1)")
    add("--corpus", action="append", help="extra example corpus: a folder of .py files or a JSON list")
    add("--no-hardware", dest="hardware_knowledge", action="store_false", default=None,
        help="leave the detected GPU's hardware profile out of the prompts")
    add("--no-guide", dest="guide_knowledge", action="store_false", default=None,
        help="leave the Triton guide's sections out of the prompts")
    add("--no-one-shot", dest="one_shot", action="store_false", default=None,
        help="retrieve no example kernel for the prompts")
    add("--replay", action="store_true", default=None, help="replay a recorded run offline")
    parser.set_defaults(run_options=[name for name in names if name != "config"])
    return names


def run_settings(args: argparse.Namespace):
    """The RunConfig of `--config` with the command line's run options over it; its example corpora read
    once here, so that one that cannot be read stops the command before it makes anything."""
    from tritonsmith.agent.config import RunConfig
    from tritonsmith.agent.context import add_corpora
    from tritonsmith.config import load_config
    from tritonsmith.knowledge.retrieval import ExampleCorpus

    config = load_config(RunConfig, args.config, {name: getattr(args, name) for name in args.run_options})
    add_corpora(ExampleCorpus(), config.corpus)
    return config


def add_suite_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", default="builtin", help=SUITE_HELP)
    parser.add_argument("--instructions", help="tritonbench-g/geak-rocm: the instructions JSON, if not beside PATH")
    parser.add_argument("--perf-scripts", help="tritonbench-g: the folder of <stem>_perf.py scripts, if not in "
                        "GEAK-eval's layout two levels above PATH")


def out_folder(path: str | Path) -> Path:
    """`--out` as a folder; a UsageError if it, or a folder above it, is an existing file."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"--out {path}: {folder} is a file, not a folder; choose another --out.")
    return path
