"""Record and replay: every reply kept in an append-only JSONL file, keyed on the request.

One line per call, flushed and fsynced, so a killed run loses at most the call in flight;
a torn last line (the kill hit mid-write) is skipped on load. Beside it, NAME.pending.jsonl
logs each provider call as it starts and, if it fails, as it fails: a call started and never
answered nor failed was cut off by a kill, and may have been paid for. The two files are the
run's ledger (`recorded_spend`): what every call made so far cost, whichever process made it. The key covers the model, the
messages and the sampling parameters (and a caller's `cache_salt`), never the API key or
the server address, so a recording made against one server replays against another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

from tritonsmith.durable import append_line

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_REPLY_KEYS = {"text", "tokens_in", "tokens_out", "cost", "model"}


def request_key(model: str, messages: list[dict], params: dict, cache_salt: object = None) -> str:
    """A stable hash of what determines a reply."""
    request = {"model": model, "messages": messages, "params": params, "cache_salt": cache_salt}
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


class ReplyCache:
    """Replies by request key, loaded from and appended to one JSONL file. Thread-safe."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.pending_path = self.path.with_name(f"{self.path.stem}.pending{self.path.suffix}")
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._replies: dict[str, dict] = {}
        self._ledger = _Ledger()
        self._load()
        self._load_pending()

    def __len__(self) -> int:
        return len(self._replies)

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        for number, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key, reply = record["key"], record["reply"]
                if not isinstance(key, str) or not _REPLY_KEYS <= set(reply):
                    raise KeyError("reply")
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                log.warning("skipping unreadable line %d of %s (a torn write?)", number, self.path)
                continue
            self._replies.setdefault(key, reply)  # the first recording of a request wins
            self._ledger.answered(key, reply)

    def _load_pending(self) -> None:
        if not self.pending_path.exists():
            return
        for line in self.pending_path.read_bytes().split(b"\n"):
            try:
                event = json.loads(line)
                self._ledger.pending(event["key"], event["event"], event.get("worst_case_usd"))
            except (ValueError, KeyError, TypeError):
                continue  # a torn line: that call is counted as never started, its reply (if any) still counts

    def recorded_spend(self) -> dict:
        """What the calls recorded in these files cost, as loaded: calls, tokens_in, tokens_out, usd,
        unpriced_calls, unpriced_models, estimated_calls (whose tokens are estimates), and interrupted_calls (started, then cut off by a kill: their
        tokens are unknown; their worst-case price is in usd where it was known, else they are unpriced)."""
        return self._ledger.totals()

    def begin(self, key: str, worst_case_usd: float | None) -> None:
        """Log that a provider call for `key` starts now (before it is made, so a kill cannot hide it)."""
        self._log_pending({"key": key, "event": "start", "worst_case_usd": worst_case_usd})

    def failed(self, key: str) -> None:
        """Log that the call for `key` ended without a reply (an error: not paid for)."""
        self._log_pending({"key": key, "event": "fail"})

    def _log_pending(self, event: dict) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_line(self.pending_path, json.dumps(event) + "\n", mode=0o600)

    def key_lock(self, key: str) -> threading.Lock:
        """The lock that makes identical concurrent requests call the provider once."""
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def get(self, key: str) -> dict | None:
        with self._lock:
            return self._replies.get(key)

    def append(self, key: str, request: dict, reply: dict, *, scrub=lambda text: text) -> None:
        """Write one call durably (flushed and fsynced) and remember it."""
        record = {"version": FORMAT_VERSION, "key": key,
                  "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "request": request, "reply": reply}
        line = scrub(json.dumps(record, ensure_ascii=False, default=str)) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_line(self.path, line, mode=0o600)  # prompts and replies: the owner's only
            self._replies.setdefault(key, json.loads(line)["reply"])


class _Ledger:
    """Replies recorded and calls started or failed, per request key; totals on demand."""

    def __init__(self):
        self.replies: dict[str, int] = {}
        self.started: dict[str, list[float | None]] = {}
        self.failures: dict[str, int] = {}
        self.calls = self.tokens_in = self.tokens_out = self.unpriced_calls = self.estimated_calls = 0
        self.usd = 0.0
        self.unpriced_models: set[str] = set()

    def answered(self, key: str, reply: dict) -> None:
        self.replies[key] = self.replies.get(key, 0) + 1
        self.calls += 1
        self.tokens_in += int(reply.get("tokens_in") or 0)
        self.tokens_out += int(reply.get("tokens_out") or 0)
        self.estimated_calls += bool(reply.get("estimate_reason"))
        if reply.get("cost") is None:
            self.unpriced_calls += 1
            self.unpriced_models.add(str(reply.get("model")))
        else:
            self.usd += float(reply["cost"])

    def pending(self, key: str, event: str, worst_case_usd: float | None) -> None:
        if event == "start":
            self.started.setdefault(key, []).append(worst_case_usd)
        elif event == "fail":
            self.failures[key] = self.failures.get(key, 0) + 1

    def totals(self) -> dict:
        usd, unpriced, interrupted = self.usd, self.unpriced_calls, 0
        for key, worst in self.started.items():
            cut_off = len(worst) - self.replies.get(key, 0) - self.failures.get(key, 0)
            for price in worst[:max(0, cut_off)]:
                interrupted += 1
                if price is None:
                    unpriced += 1
                else:
                    usd += price
        return {"calls": self.calls + interrupted, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
                "usd": usd, "unpriced_calls": unpriced, "unpriced_models": sorted(self.unpriced_models),
                "interrupted_calls": interrupted, "estimated_calls": self.estimated_calls}
