"""`tritonsmith queue`: answer the prompts a run on a queued model (queue:DIR) left waiting, or count them."""

from __future__ import annotations

import argparse
import sys

from tritonsmith.cli.errors import EXIT_PASSED, UsageError
from tritonsmith.cli.models import model_client


def register(commands) -> None:
    queue = commands.add_parser("queue", help="answer the prompts a run on a queued model (queue:DIR) left waiting, "
                                "or count them")
    queue.add_argument("action", choices=["answer", "status"])
    queue.add_argument("folder", help="the queue folder DIR of --model queue:DIR")
    queue.add_argument("--model", help="answer: the model that answers, as for `run` (default: the one each prompt "
                       "names, from queue:DIR@MODEL)")
    queue.add_argument("--api-base", help="answer: base URL of an OpenAI-compatible server (vLLM, SGLang, Ollama)")
    queue.add_argument("--api-key-env", help="answer: environment variable holding the API key")
    queue.add_argument("--jobs", type=int, default=4, help="answer: prompts answered at once (default 4)")
    queue.set_defaults(handler=queue_command)


def queue_command(args: argparse.Namespace) -> int:
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
            clients[model] = model_client(model, args.api_base, args.api_key_env)
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
