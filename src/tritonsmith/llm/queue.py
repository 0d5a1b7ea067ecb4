"""The queue provider, `queue:DIR` (or `queue:DIR@MODEL`, naming the model wanted): a model reached through
files, for a GPU machine that cannot reach the internet while the model is on a machine that can.

    DIR/pending/KEY.json   a request waiting for its reply: the model wanted (or null), the messages, the
                           sampling parameters and the cache salt
    DIR/replies/KEY.md     its reply, exactly the model's text (`tritonsmith queue answer`, or by hand)
    DIR/replies/KEY.json   what `queue answer` learnt of the call: model, tokens, cost, finish reason; absent
                           for a reply written by hand, whose tokens are then estimated and whose price is unknown

KEY is the hex digest of the record/replay cache's key (`cache.request_key`) over the model wanted, the messages,
the parameters and the cache salt: the same command asks for the same keys, and with `@MODEL` they are the keys a
direct run with `--model MODEL` records. A request without its reply raises ReplyPending (its file is written
first); a reply read is recorded in the run's reply cache like any provider's, and its request file removed.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from tritonsmith.durable import write_atomic

from .cache import ReplyCache, request_key
from .errors import LLMError, ReplayMiss, ReplyPending
from .reply import Reply
from .scrub import scrub_literal

PREFIX = "queue:"
CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English text and code: a token is about 4 characters
HAND_WRITTEN = (f"the reply was written by hand into the queue: tokens estimated at {CHARS_PER_TOKEN} characters "
                "each (no provider counted them), price unknown")
_REPLY_FIELDS = {f.name for f in fields(Reply)} - {"cached"}
_META_FIELDS = ("model", "tokens_in", "tokens_out", "cost", "finish_reason", "latency_s")


def parse_model(model: str) -> tuple[Path, str | None]:
    """`queue:DIR` or `queue:DIR@MODEL` as (DIR, MODEL or None). DIR may not contain '@'; MODEL may."""
    spec = model[len(PREFIX):]
    folder, _, wanted = spec.partition("@")
    if not folder:
        raise LLMError(f"{model!r} names no queue folder: write queue:DIR (or queue:DIR@MODEL to name the model "
                       "that should answer).")
    return Path(folder), wanted or None


def waiting_sentence(count: int, folder: str | Path, model: str | None, again: str) -> str:
    """The one sentence a run that stopped for replies ends with."""
    prompts, them = ("1 prompt waits", "it") if count == 1 else (f"{count} prompts wait", "them")
    return (f"{prompts} in {Path(folder) / 'pending'}: answer {them} (tritonsmith queue answer {folder} --model "
            f"{model or 'MODEL'}, or by hand as {Path(folder) / 'replies'}/KEY.md) and {again}.")


@dataclass
class Request:
    """One request waiting in the queue, as its file holds it."""

    name: str
    """The file's stem: the key's hex digest."""
    model: str | None
    messages: list[dict]
    params: dict


class QueueFolder:
    """The files of one queue folder: requests written, replies read and written (each atomically)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.pending = self.folder / "pending"
        self.replies = self.folder / "replies"

    def make(self) -> None:
        try:
            self.pending.mkdir(parents=True, exist_ok=True)
            self.replies.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LLMError(f"Cannot use {self.folder} as a queue folder ({err.strerror or err}): "
                           "choose a folder this user can write.") from None

    def ask(self, name: str, key: str, model: str | None, messages: list[dict], params: dict,
            cache_salt: object) -> None:
        """Write the request's file, unless it is already waiting."""
        path = self.pending / f"{name}.json"
        if path.exists():
            return
        request = {"key": key, "model": model, "messages": messages, "params": params, "cache_salt": cache_salt,
                   "asked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_atomic(path, json.dumps(request, indent=1, ensure_ascii=False, default=str))

    def done(self, name: str) -> None:
        """The reply has been read: the request no longer waits."""
        (self.pending / f"{name}.json").unlink(missing_ok=True)

    def has_reply(self, name: str) -> bool:
        return (self.replies / f"{name}.md").exists()

    def waiting(self) -> list[Path]:
        """The request files without a reply, oldest name first."""
        if not self.pending.is_dir():
            return []
        return [path for path in sorted(self.pending.glob("*.json")) if not self.has_reply(path.stem)]

    def answered(self) -> list[Path]:
        return sorted(self.replies.glob("*.md")) if self.replies.is_dir() else []

    def request(self, path: Path) -> Request:
        """A request file, read back; LLMError naming it if it is damaged."""
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
            messages, params = data["messages"], data.get("params") or {}
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages) \
                    or not isinstance(params, dict):
                raise TypeError("messages must be a list of objects")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise LLMError(f"The request {path} is damaged ({type(err).__name__}): delete it, and the run that asked "
                           "for it asks again when run again.") from None
        return Request(path.stem, data.get("model"), messages, params)

    def read_reply(self, name: str, messages: list[dict], fallback_model: str) -> Reply:
        """The reply `name`, with its tokens and cost from `queue answer`'s record, else estimated and unknown.
        LLMError, one sentence naming the file, if it cannot be used."""
        path = self.replies / f"{name}.md"
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise LLMError(f"The reply {path} is not UTF-8 text: write the model's reply there as plain text, or "
                           "delete it to leave the request waiting.") from None
        except OSError as err:
            raise LLMError(f"Cannot read the reply {path} ({err.strerror or err}): make it a readable file holding "
                           "the model's reply, or delete it to leave the request waiting.") from None
        meta = self._meta(name)
        if meta is None:
            if not text.strip():
                raise LLMError(f"The reply {path} is empty: write the model's reply in it, or delete it to leave "
                               "the request waiting.")
            prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
            return Reply(text=text, tokens_in=math.ceil(prompt_chars / CHARS_PER_TOKEN),
                         tokens_out=math.ceil(len(text) / CHARS_PER_TOKEN), cost=None, model=fallback_model,
                         estimate_reason=HAND_WRITTEN)
        return Reply(text=text, tokens_in=meta["tokens_in"], tokens_out=meta["tokens_out"], cost=meta["cost"],
                     model=meta.get("model") or fallback_model, latency_s=meta.get("latency_s") or 0.0,
                     finish_reason=meta.get("finish_reason"))

    def check_replies(self) -> None:
        """Every reply file readable (an empty one needs `queue answer`'s record saying the model sent nothing):
        LLMError naming the first that is not, before a run starts."""
        for path in self.answered():
            self.read_reply(path.stem, [], "")

    def _meta(self, name: str) -> dict | None:
        path = self.replies / f"{name}.json"
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_bytes().decode("utf-8"))
            if not isinstance(meta.get("tokens_in"), int) or not isinstance(meta.get("tokens_out"), int):
                raise TypeError("tokens")
            if meta.get("cost") is not None and not isinstance(meta["cost"], (int, float)):
                raise TypeError("cost")
        except (OSError, ValueError, TypeError, AttributeError) as err:
            raise LLMError(f"The reply's record {path} is damaged ({type(err).__name__}): delete it (the reply's "
                           "tokens are then estimated) or answer the request again.") from None
        return meta

    def write_reply(self, name: str, reply: Reply) -> None:
        """The record first, then the text: a reader that finds the text finds its record."""
        meta = {field: getattr(reply, field) for field in _META_FIELDS}
        meta["answered_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_atomic(self.replies / f"{name}.json", json.dumps(meta, indent=1))
        write_atomic(self.replies / f"{name}.md", reply.text)


class QueueClient:
    """The LLM protocol over a queue folder. Thread-safe; made by `make_llm("queue:DIR")`.

    With a reply cache (the run's), a reply is read from the folder once and served from the cache after, so
    it is charged once; `mode="replay"` reads nothing but the cache."""

    def __init__(self, folder: str | Path, wanted: str | None = None, cache: ReplyCache | None = None,
                 mode: str = "record"):
        self.queue = QueueFolder(folder)
        self.wanted = wanted
        self.model = PREFIX + str(folder) + (f"@{wanted}" if wanted else "")
        self.api_base = None
        self.cache, self.mode = cache, mode
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"QueueClient(folder={str(self.queue.folder)!r}, wanted={self.wanted!r})"

    @property
    def folder(self) -> Path:
        return self.queue.folder

    def prepare(self) -> None:
        """The folder is usable and every reply in it readable, before anything else is done (LLMError if not)."""
        self.queue.make()
        self.queue.check_replies()

    def key(self, messages: list[dict], params: dict, cache_salt: object) -> str:
        return request_key(self.wanted or "queue", messages, params, cache_salt)

    def complete(self, messages: list[dict[str, str]], **params) -> Reply:
        cache_salt = params.pop("cache_salt", None)
        key = self.key(messages, params, cache_salt)
        if self.cache is None:
            return self._answer(key, messages, params, cache_salt)
        with self.cache.key_lock(key):
            recorded = self.cache.get(key)
            if recorded is not None:
                return Reply(**{k: v for k, v in recorded.items() if k in _REPLY_FIELDS}, cached=True)
            if self.mode == "replay":
                raise ReplayMiss(f"No recorded reply to this request in {self.cache.path} (replay reads no queue): "
                                 "run without --replay to read the queue.", key=key)
            reply = self._answer(key, messages, params, cache_salt)
            request = {"model": self.model, "messages": messages, "params": params, "cache_salt": cache_salt}
            self.cache.append(key, request, {k: v for k, v in reply.to_dict().items() if k != "cached"},
                              scrub=scrub_literal)
            return reply

    def priced(self) -> bool:
        """False: what a queued reply costs is not known before it comes."""
        return False

    def worst_case_usd(self, messages: list[dict[str, str]], **params) -> float | None:
        """0 for a reply already recorded; else None: what a queued reply costs is not known before it comes."""
        cache_salt = params.pop("cache_salt", None)
        if self.cache is not None and self.cache.get(self.key(messages, params, cache_salt)):
            return 0.0
        return None

    def _answer(self, key: str, messages: list[dict], params: dict, cache_salt: object) -> Reply:
        name = _name(key)
        if not self.queue.has_reply(name):
            with self._lock:
                self.queue.make()
                self.queue.ask(name, key, self.wanted, messages, params, cache_salt)
            raise ReplyPending(f"the request {self.queue.pending / name}.json waits for its reply", key=key,
                               folder=str(self.folder), model=self.wanted)
        reply = self.queue.read_reply(name, messages, self.model)
        self.queue.done(name)
        return reply


def make_client(model: str, cache: ReplyCache | None = None, mode: str = "record") -> QueueClient:
    """The client `make_llm` gives for `queue:DIR[@MODEL]`."""
    folder, wanted = parse_model(model)
    return QueueClient(folder, wanted, cache=cache, mode=mode)


def answer_waiting(folder: str | Path, client_for: Callable[[str | None], object], jobs: int = 4,
                   on_answer: Callable[[int, int, str, Reply], None] | None = None,
                   on_start: Callable[[int], None] | None = None) -> int:
    """Answer every request waiting in `folder` with `client_for(model wanted)` (a provider's client), `jobs`
    at once; returns how many were answered. Each reply is written as it comes, so an error (raised after
    the calls in flight end) loses none of those answered. `on_start(total)`, once every client is made, and
    `on_answer(done, total, name, reply)` report."""
    from concurrent.futures import ThreadPoolExecutor

    queue = QueueFolder(folder)
    requests = [queue.request(path) for path in queue.waiting()]
    clients = {request.model: client_for(request.model) for request in requests}  # key checks before any call
    if on_start is not None:
        on_start(len(requests))
    failed = threading.Event()
    lock = threading.Lock()
    done = [0]

    def answer(request: Request) -> None:
        if failed.is_set():
            return
        try:
            reply = clients[request.model].complete(request.messages, **request.params)
        except BaseException:
            failed.set()
            raise
        queue.write_reply(request.name, reply)
        with lock:
            done[0] += 1
            if on_answer is not None:
                on_answer(done[0], len(requests), request.name, reply)

    executor = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = [executor.submit(answer, request) for request in requests]
        errors = [future.exception() for future in futures]
    except BaseException:  # Ctrl-C: nothing new starts, the replies written are kept
        failed.set()
        raise
    finally:
        executor.shutdown(wait=not failed.is_set(), cancel_futures=True)
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        raise first
    return done[0]


def _name(key: str) -> str:
    return key.partition(":")[2] or key
