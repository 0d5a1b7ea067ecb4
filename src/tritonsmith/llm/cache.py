"""Record and replay: every reply kept in an append-only JSONL file, keyed on the request.

One line per call, flushed and fsynced, so a killed run loses at most the call in flight;
a torn last line (the kill hit mid-write) is skipped on load. The key covers the model, the
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
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._replies: dict[str, dict] = {}
        self._load()

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
