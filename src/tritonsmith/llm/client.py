"""LiteLLM behind one `complete` call: retries, pricing, key checks and record/replay.

LiteLLM is imported on the first provider call, never at import time: it takes seconds to
import, and it would fetch a price table from the internet unless told to use its own copy.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
import re
import threading
import time
from dataclasses import fields
from pathlib import Path

from .cache import ReplyCache, request_key
from .errors import LLMError, MissingKey, ReplayMiss
from .reply import LLM, Reply
from .scrub import scrub, scrub_literal

log = logging.getLogger(__name__)

MODES = ("record", "replay", "off")
LOCAL_SERVER_KEY = "EMPTY"  # what vLLM's and SGLang's docs pass when the server checks no key
_MAX_BACKOFF_S = 60.0

_REPLY_FIELDS = {f.name for f in fields(Reply)} - {"cached"}

_litellm_module = None
_import_lock = threading.Lock()


def _litellm():
    """Import LiteLLM once, offline and quiet."""
    global _litellm_module
    with _import_lock:
        if _litellm_module is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-table download
            try:
                import litellm
            except ImportError:
                raise LLMError("LiteLLM is not installed: pip install tritonsmith's dependencies "
                               "(pip install -e .) to call models.") from None
            litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
            if "LITELLM_LOG" not in os.environ:
                for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                    logging.getLogger(name).setLevel(logging.CRITICAL)
            _litellm_module = litellm
    return _litellm_module


class LiteLLMClient:
    """One model, reached through LiteLLM. Thread-safe; see `make_llm` for the arguments."""

    def __init__(self, model: str, *, api_base: str | None, api_key: str | None, cache: ReplyCache | None,
                 mode: str, price_per_mtok: tuple[float, float] | None, timeout_s: float,
                 max_retries: int, retry_base_s: float):
        self.model = model
        self.api_base = api_base
        self.mode = mode
        self.cache = cache
        self.price_per_mtok = price_per_mtok
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_base_s = retry_base_s
        self._api_key = api_key
        self._ready = False
        self._ready_lock = threading.Lock()
        self._key_env: list[str] = []
        self._provider: str | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"LiteLLMClient(model={self.model!r}, api_base={self.api_base!r}, mode={self.mode!r})"

    @property
    def where(self) -> str:
        return self.api_base or (f"the {self._provider} provider" if self._provider else "its provider")

    def complete(self, messages: list[dict[str, str]], **params) -> Reply:
        """One chat completion. `cache_salt` goes into the cache key and not to the provider."""
        cache_salt = params.pop("cache_salt", None)
        if self.cache is None:
            return self._call(messages, params)
        key = request_key(self.model, messages, params, cache_salt)
        with self.cache.key_lock(key):
            recorded = self.cache.get(key)
            if recorded is not None:
                return Reply(**{k: v for k, v in recorded.items() if k in _REPLY_FIELDS}, cached=True)
            if self.mode == "replay":
                raise ReplayMiss(f"No recorded reply to this request for {self.model} in {self.cache.path} "
                                 "(replay makes no provider calls): record it first with mode='record'.",
                                 key=key)
            self.cache.begin(key, self._worst_case(messages, params))
            try:
                reply = self._call(messages, params)
            except LLMError:
                self.cache.failed(key)
                raise
            request = {"model": self.model, "messages": messages, "params": params, "cache_salt": cache_salt}
            recorded = {k: v for k, v in reply.to_dict().items() if k != "cached"}
            self.cache.append(key, request, recorded, scrub=self._scrub_literal)
            return reply

    def worst_case_usd(self, messages: list[dict[str, str]], **params) -> float | None:
        """The most this request can cost now: 0 if it is recorded (served from the cache), else the prompt
        priced at one token per byte (no tokenizer makes more) plus `max_tokens` of reply; None when the
        price or `max_tokens` is unknown."""
        cache_salt = params.pop("cache_salt", None)
        if self.cache is not None and self.cache.get(request_key(self.model, messages, params, cache_salt)):
            return 0.0
        return self._worst_case(messages, params)

    def _worst_case(self, messages: list[dict[str, str]], params: dict) -> float | None:
        prices, max_tokens = self._prices(), params.get("max_tokens")
        if prices is None or not max_tokens:
            return None
        prompt_bytes = sum(len(str(m.get("content", "")).encode()) + 16 for m in messages)  # 16: role, framing
        return prompt_bytes * prices[0] + int(max_tokens) * prices[1]

    def priced(self) -> bool:
        """Whether this model's price is known (given, or in LiteLLM's price map): a dollar limit needs it."""
        return self._prices() is not None

    def _prices(self) -> tuple[float, float] | None:
        """USD per input and per output token: the caller's, else LiteLLM's price map, else None."""
        if self.price_per_mtok is not None:
            return self.price_per_mtok[0] / 1e6, self.price_per_mtok[1] / 1e6
        try:
            info = _litellm().get_model_info(self.model)
            prices = info.get("input_cost_per_token"), info.get("output_cost_per_token")
        except Exception:  # not in the map
            return None
        return None if None in prices else (float(prices[0]), float(prices[1]))

    def _scrub(self, text: str) -> str:
        return scrub(text, self._api_key)

    def _scrub_literal(self, text: str) -> str:
        return scrub_literal(text, self._api_key)

    def prepare(self) -> None:
        """Know the provider and have its key now, before anything else is done: LLMError (MissingKey for a
        hosted provider without its key) otherwise. Calls make no network attempt; `complete` calls it."""
        self._prepare(_litellm())

    def _prepare(self, litellm) -> None:
        """Once: know the provider and have its key, before any network attempt."""
        with self._ready_lock:
            if self._ready:
                return
            try:
                self._provider = litellm.get_llm_provider(self.model, api_base=self.api_base)[1]
            except Exception:
                raise LLMError(f"LiteLLM cannot tell which provider serves {self.model!r}: name it as "
                               f"provider/model, e.g. openai/{self.model} with api_base for an "
                               "OpenAI-compatible server.") from None
            try:
                env = litellm.validate_environment(model=self.model, api_base=self.api_base)
                missing = [name for name in env.get("missing_keys") or [] if not name.endswith("_API_BASE")]
            except Exception:  # an exotic provider LiteLLM cannot check: let the call tell
                missing = []
            self._key_env = missing
            if self._api_key is None and missing:
                if self.api_base is None:
                    raise MissingKey(f"No API key for {self.model}: set {' and '.join(missing)} in the "
                                     "environment or pass api_key (for a local server, pass api_base).",
                                     variables=missing)
                self._api_key = LOCAL_SERVER_KEY  # a local OpenAI-compatible server that checks no key
            self._ready = True

    def _call(self, messages: list[dict[str, str]], params: dict) -> Reply:
        """Call the provider, retrying what may pass (429, timeouts, 5xx, connection errors)."""
        litellm = _litellm()
        self._prepare(litellm)
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                response = _within(self.timeout_s, lambda: litellm.completion(
                    model=self.model, messages=messages, api_base=self.api_base, api_key=self._api_key,
                    timeout=self.timeout_s, num_retries=0, max_retries=0,  # the retrying is ours
                    drop_params=True, **params))
            except Exception as exc:
                failure = _Failure.of(exc, litellm, local=_is_local(self.api_base))
                if not failure.retryable or attempt == attempts:
                    raise LLMError(self._scrub(failure.sentence(self, attempt)),
                                   detail=self._scrub(str(exc))) from None
                delay = self._backoff(attempt, failure.retry_after_s)
                log.warning("%s", self._scrub(f"{self.model} at {self.where}: {failure.what}; "
                                              f"retry {attempt} of {self.max_retries} in {delay:.1f} s"))
                time.sleep(delay)
                continue
            return self._reply(response, time.monotonic() - started, litellm)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        """Exponential backoff with jitter; a server's Retry-After is honoured (up to a minute)."""
        delay = min(_MAX_BACKOFF_S, self.retry_base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, _MAX_BACKOFF_S))
        return delay

    def _reply(self, response, latency_s: float, litellm) -> Reply:
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        return Reply(text=self._scrub_literal(choice.message.content or ""), tokens_in=tokens_in,
                     tokens_out=tokens_out, cost=self._cost(tokens_in, tokens_out, litellm), model=self.model,
                     latency_s=round(latency_s, 4), finish_reason=getattr(choice, "finish_reason", None))

    def _cost(self, tokens_in: int, tokens_out: int, litellm) -> float | None:
        """USD: the caller's price if given, else LiteLLM's local price map, else unknown (None)."""
        if self.price_per_mtok is not None:
            price_in, price_out = self.price_per_mtok
            return (tokens_in * price_in + tokens_out * price_out) / 1e6
        try:
            info = litellm.get_model_info(self.model)
            if info.get("input_cost_per_token") is None or info.get("output_cost_per_token") is None:
                return None
            cost_in, cost_out = litellm.cost_per_token(model=self.model, prompt_tokens=tokens_in,
                                                       completion_tokens=tokens_out)
            return float(cost_in + cost_out)
        except Exception:  # not in the map: unknown, never guessed
            return None


class _Failure:
    """What went wrong with one attempt, whether retrying may help, and how to say it."""

    def __init__(self, kind: str, retryable: bool, what: str, status: int | None = None,
                 message: str = "", retry_after_s: float | None = None):
        self.kind, self.retryable, self.what = kind, retryable, what
        self.status, self.message, self.retry_after_s = status, message, retry_after_s

    @classmethod
    def of(cls, exc: Exception, litellm, local: bool = False) -> _Failure:
        status = getattr(exc, "status_code", None)
        status = status if isinstance(status, int) else None
        message = _provider_message(exc) or "no reason given"
        if isinstance(exc, litellm.Timeout) or _caused_by(exc, ("APITimeoutError", "TimeoutException",
                                                               "_DeadlinePassed")):
            return cls("timeout", True, "timed out", status)
        text = str(exc)
        if _caused_by(exc, ("JSONDecodeError",)) or "no 'choices'" in text:  # LiteLLM calls these HTTP 500
            what = "a body that is not JSON" if _caused_by(exc, ("JSONDecodeError",)) else "JSON without 'choices'"
            return cls("malformed", True, f"not a chat completion ({what})", None, what)
        if local and _caused_by(exc, ("ConnectionRefusedError",)):  # nothing listens here: waiting will not help
            return cls("refused", False, "connection refused", status)
        # The transport's own errors, not LiteLLM's APIConnectionError, which also wraps its parsing bugs.
        if _caused_by(exc, ("ConnectError", "NetworkError", "RemoteProtocolError", "ConnectionError", "gaierror")):
            return cls("unreachable", True, "unreachable", status)
        if isinstance(exc, litellm.RateLimitError) or status == 429:
            return cls("rate_limited", True, "rate limited (HTTP 429)", 429, message, _retry_after(exc))
        if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError) or status in (401, 403):
            return cls("auth", False, "authentication failed", status, message)
        if isinstance(exc, litellm.NotFoundError) or status == 404:
            return cls("not_found", False, "model not found", status, message)
        if isinstance(exc, litellm.ContextWindowExceededError):
            return cls("context", False, "prompt too long", status, message)
        if status in (405, 501):  # the URL answers, but not to a chat completion: retrying will not change that
            return cls("no_chat", False, f"no chat completions (HTTP {status})", status, message)
        if status is not None and (status >= 500 or status == 408):
            return cls("server", True, f"server error (HTTP {status})", status, message, _retry_after(exc))
        if status is not None and 400 <= status < 500:
            return cls("bad_request", False, f"bad request (HTTP {status})", status, message)
        return cls("other", False, type(exc).__name__, status, message)

    def sentence(self, client: LiteLLMClient, attempts: int) -> str:
        model, where = client.model, client.where
        tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
        if self.kind == "malformed":
            return (f"{model} at {where} answered with something that is not a chat completion ({self.message}) "
                    f"after {tries}: check that it is an OpenAI-compatible server (api_base ends in /v1) and "
                    "that no proxy is answering in its place.")
        if self.kind == "no_chat":
            said = "" if re.fullmatch(r"(Error code: )?\d*|no reason given", self.message) else f": {self.message}"
            return (f"{model} at {where} does not serve chat completions (HTTP {self.status}{said}): check that it "
                    "is an OpenAI-compatible server and that api_base ends in /v1.")
        if self.kind == "refused":
            return (f"Could not reach {model} at {where}: nothing is listening there (connection refused): "
                    "start the server, or check api_base.")
        if self.kind == "unreachable":
            fix = ("check that the server is running and that api_base is right" if client.api_base
                   else "check this machine's network connection")
            return f"Could not reach {model} at {where} after {tries}: {fix}."
        if self.kind == "timeout":
            return (f"{model} at {where} did not answer within {client.timeout_s:g} s ({tries}): "
                    "raise timeout_s, or check the server's load.")
        if self.kind == "rate_limited":
            return (f"{model} at {where} was still rate limited (HTTP 429) after {tries}: "
                    "wait and resume the run, or run fewer lineages at once.")
        if self.kind == "server":
            return (f"{model} at {where} still failed with a server error (HTTP {self.status}) after "
                    f"{tries}: the provider is down or overloaded, so resume the run later.")
        if self.kind == "auth":
            key = " or ".join(client._key_env) or "your API key setting"
            return (f"{model} at {where} rejected the API key (HTTP {self.status}): check {key}, "
                    "or the api_key you passed.")
        if self.kind == "not_found":
            served = " and that the server serves it under that name" if client.api_base else ""
            return f"{model} was not found at {where} (HTTP 404): check the model name{served}."
        if self.kind == "context":
            return f"The prompt is too long for {model}'s context window: shorten it or use a longer-context model."
        if self.kind == "bad_request":
            return f"{model} at {where} rejected the request (HTTP {self.status}): {self.message}."
        return f"Calling {model} at {where} failed ({self.what}): {self.message}."


class _DeadlinePassed(Exception):
    """A call that did not finish within its whole timeout (a server may answer each read in time and
    still never finish)."""


def _within(timeout_s: float, call):
    """`call()`, given up after `timeout_s` seconds in all. The call runs in a daemon thread that is left
    behind at the deadline (LiteLLM cannot be cancelled); its own per-read timeout ends it later."""
    outcome: dict = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="llm-call", daemon=True).start()
    if not done.wait(timeout_s):
        raise _DeadlinePassed(f"no complete reply within {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _is_local(api_base: str | None) -> bool:
    """Whether `api_base` is this machine (a refused connection there means no server is running)."""
    if not api_base:
        return False
    import ipaddress
    from urllib.parse import urlsplit
    host = urlsplit(api_base).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
        return address.is_loopback or address.is_unspecified
    except ValueError:
        return False


def _caused_by(exc: BaseException, names: tuple[str, ...]) -> bool:
    """Whether any exception in the chain is of a class (or base class) with one of `names`."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(cls.__name__ in names for cls in type(exc).__mro__):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _provider_message(exc: Exception) -> str:
    """The provider's own words, one line, without LiteLLM's prefixes."""
    text = str(getattr(exc, "message", None) or exc)
    text = text.rsplit("Exception - ", 1)[-1]
    text = " ".join(text.split())
    return (text[:200] + "...") if len(text) > 200 else text.rstrip(".")


def _retry_after(exc: Exception) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    try:
        return float(headers.get("retry-after")) if headers is not None else None
    except (TypeError, ValueError):
        return None


# Providers of our own, by the prefix of the model's name (imported only when named); any other name is LiteLLM's.
PROVIDERS = {"queue:": "tritonsmith.llm.queue"}


def make_llm(model: str, *, api_base: str | None = None, api_key: str | None = None,
             cache_path: str | Path | None = None, mode: str = "record",
             price_per_mtok: tuple[float, float] | None = None, timeout_s: float = 600,
             max_retries: int = 5, retry_base_s: float = 1.0) -> LLM:
    """A client for `model` (LiteLLM's provider/model name, e.g. anthropic/claude-sonnet-4-5, or
    openai/NAME with `api_base` for a vLLM, SGLang or Ollama server; or `queue:DIR[@MODEL]`, requests
    written to a folder and replies read from it, for a machine with no internet: llm/queue.py).

    api_key: else the provider's environment variable (e.g. OPENAI_API_KEY); never written anywhere.
    cache_path: JSONL file of recorded replies. mode: "record" (hits served from the cache, misses
    called and recorded), "replay" (misses raise ReplayMiss; no provider calls), "off" (no cache).
    price_per_mtok: (input, output) USD per million tokens; wins over LiteLLM's price map.
    timeout_s: per attempt, in all (a server that trickles its reply is given up on too).
    max_retries: retries after the first attempt, with exponential backoff from retry_base_s (and
    jitter), on 429, timeouts, 5xx and connection errors only; a refused connection to this machine's
    own address (no server running) is not retried.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not model:
        raise ValueError("model must name a model, e.g. openai/gpt-4o-mini")
    if mode == "replay" and cache_path is None:
        raise ValueError("mode='replay' needs a cache_path to replay from")
    if mode == "replay" and not Path(cache_path).exists():
        raise LLMError(f"Nothing to replay: {cache_path} does not exist (record it first with mode='record').")
    cache = ReplyCache(cache_path) if cache_path is not None and mode != "off" else None
    prefix = next((prefix for prefix in PROVIDERS if model.startswith(prefix)), None)
    if prefix is not None:
        return importlib.import_module(PROVIDERS[prefix]).make_client(model, cache=cache, mode=mode)
    return LiteLLMClient(model, api_base=api_base, api_key=api_key, cache=cache, mode=mode,
                         price_per_mtok=price_per_mtok, timeout_s=timeout_s, max_retries=max_retries,
                         retry_base_s=retry_base_s)
