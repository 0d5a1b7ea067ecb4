"""The model a command will talk to, checked before anything is made; and what a command on a queued
model says when it stops with prompts waiting."""

from __future__ import annotations

import json
import os
import sys

from tritonsmith.cli.errors import EXIT_PENDING, UsageError


def check_model(config) -> None:
    """Before anything is made: the model's provider is known and its API key is there."""
    from tritonsmith.llm.queue import PREFIX

    if config.replay:
        return
    if config.model.startswith(PREFIX) and config.budget_usd is not None:
        raise UsageError(f"a dollar budget cannot be kept with {config.model}: what a queued reply costs is not "
                         "known before it comes, so drop --budget-usd (a token or wall-time budget works).")
    client = model_client(config.model, config.api_base, config.api_key_env, config.price_per_mtok)
    if config.budget_usd is not None and not client.priced():
        from tritonsmith.llm.budget import unknown_price
        raise UsageError(unknown_price(config.model))


def model_client(model: str, api_base: str | None, api_key_env: str | None,
                 price_per_mtok: list[float] | None = None):
    """A client of `model` (no record/replay cache) whose provider is known and whose API key is there."""
    from tritonsmith.llm import LLMError, MissingKey, make_llm

    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise UsageError(f"--api-key-env {api_key_env}: the environment variable {api_key_env} is not set.")
    try:
        client = make_llm(model, api_base=api_base, api_key=key, mode="off",
                          price_per_mtok=tuple(price_per_mtok) if price_per_mtok else None)
        client.prepare()
    except MissingKey as err:
        raise UsageError(f"no API key for {model}: set {' or '.join(err.variables)}, or name the variable "
                         "that holds it with --api-key-env (for a local server, give its --api-base).") from None
    except LLMError as err:
        raise UsageError(str(err)) from None
    return client


def report_waiting(pending, again: str, as_json: bool = False) -> int:
    """A run or bench on a queued model stopped with prompts waiting: one sentence, exit status 3."""
    from tritonsmith.llm.queue import waiting_sentence

    sentence = waiting_sentence(len(pending.waiting), pending.folder, pending.model, again)
    if as_json:  # a JSON reader gets JSON, whatever happened
        print(json.dumps({"waiting": len(pending.waiting), "queue": pending.folder, "message": sentence}))
    print(f"tritonsmith: {sentence}", file=sys.stderr)
    return EXIT_PENDING
