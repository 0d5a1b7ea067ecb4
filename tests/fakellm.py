"""A scripted model behind a real OpenAI-compatible HTTP server on loopback.

Tests point the real client code (LiteLLM included) at it, so what is exercised is the
network path a user's vLLM or SGLang server would see::

    from fakellm import Fail, FakeLLMServer   # tests/ is on sys.path under pytest

    with FakeLLMServer(["first reply", Fail(429), "second reply"]) as server:
        llm = make_llm("openai/scripted-model", api_base=server.url, api_key="dummy")
        llm.complete([{"role": "user", "content": "hi"}])   # -> "first reply"
        server.requests[-1].body["messages"]                 # what the client sent
        server.calls                                         # how many requests arrived

The script is a list whose items are consumed one per request: a string is a reply, a
`Fail` is an HTTP error (or a hang) for that request, a `Trickle` a reply sent one byte at
a time, a `Garbage` an HTTP 200 whose body is not a completion. Or it is a callable
`(messages) -> str` that answers every request. `fail_next(n, ...)` puts n failures in
front of whatever comes next. Usage counts are whitespace-separated words: prompt_tokens
over every message's content, completion_tokens over the reply. A script that runs out
answers 400 (a bad request, which clients do not retry), so a test fails at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Fail:
    """One scripted failure: answer `status` with `message`, after hanging `hang_s` seconds.

    A hang longer than the client's timeout makes the client give up first."""

    status: int = 500
    message: str = "scripted failure"
    hang_s: float = 0.0


@dataclass(frozen=True)
class Trickle:
    """One reply sent one byte every `interval_s` seconds: each read succeeds, the whole never arrives in time."""

    text: str = "a reply that trickles in"
    interval_s: float = 1.0


@dataclass(frozen=True)
class Garbage:
    """One answer of HTTP 200 whose body is not a chat completion (a proxy's error page, a broken server)."""

    body: bytes = b"<html><body>502 Bad Gateway</body></html>"


@dataclass
class RecordedRequest:
    """One request the server received: its path, headers (lower-cased names) and JSON body."""

    path: str
    headers: dict[str, str]
    body: dict = field(default_factory=dict)


Script = Iterable["str | Fail | Trickle | Garbage"] | Callable[[list[dict]], str]


class FakeLLMServer:
    """An OpenAI-compatible chat-completions server on 127.0.0.1 that answers from a script."""

    def __init__(self, script: Script = (), *, model: str = "scripted-model"):
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._answer: Callable[[list[dict]], str] | None = script if callable(script) else None
        self._queue: deque[str | Fail] = deque() if callable(script) else deque(script)
        self._failures: deque[Fail] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to pass as api_base (ends in /v1)."""
        if self._httpd is None:
            raise RuntimeError("the fake LLM server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def calls(self) -> int:
        """How many chat-completion requests arrived (failed ones included)."""
        with self._lock:
            return len(self.requests)

    def add(self, *items: str | Fail) -> None:
        """Append replies or failures to the script."""
        with self._lock:
            self._queue.extend(items)

    def fail_next(self, count: int, status: int = 500, message: str = "scripted failure",
                  hang_s: float = 0.0) -> None:
        """Make the next `count` requests fail (before anything left in the script)."""
        with self._lock:
            self._failures.extend(Fail(status, message, hang_s) for _ in range(count))

    def start(self) -> FakeLLMServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fakellm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are hanging on purpose
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next(self, request: RecordedRequest) -> str | Fail:
        """Record the request and take what answers it."""
        with self._lock:
            self.requests.append(request)
            if self._failures:
                return self._failures.popleft()
            if self._answer is None:
                if not self._queue:
                    return Fail(400, f"fake LLM script exhausted after {len(self.requests) - 1} requests")
                return self._queue.popleft()
        return self._answer(request.body.get("messages", []))


def _words(text: str | None) -> int:
    return len((text or "").split())


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # keep test output clean
            pass

        def do_GET(self):
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
            else:
                self._send(404, _error(f"no route {self.path}", "not_found_error"))

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._send(404, _error(f"no route {self.path}", "not_found_error"))
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, _error("body is not JSON", "invalid_request_error"))
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = server._next(RecordedRequest(self.path, headers, body))
            if isinstance(answer, Fail):
                if answer.hang_s and server._stopping.wait(answer.hang_s):
                    return
                kind = "rate_limit_error" if answer.status == 429 else "server_error"
                self._send(answer.status, _error(answer.message, kind))
                return
            if isinstance(answer, Garbage):
                self._send_raw(200, answer.body)
                return
            if isinstance(answer, Trickle):
                self._trickle(answer, body)
                return
            if body.get("stream"):
                self._send(400, _error("the fake LLM server does not stream", "invalid_request_error"))
                return
            self._send(200, _completion(body, answer))

        def _trickle(self, answer: Trickle, body: dict) -> None:
            data = json.dumps(_completion(body, answer.text)).encode()
            try:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                for index in range(len(data)):
                    if server._stopping.wait(answer.interval_s):
                        return
                    self.wfile.write(data[index:index + 1])
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up

        def _send(self, status: int, payload: dict) -> None:
            self._send_raw(status, json.dumps(payload).encode())

        def _send_raw(self, status: int, data: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): nothing to answer

    return Handler


def _completion(body: dict, answer: str) -> dict:
    prompt_tokens = sum(_words(m.get("content")) for m in body.get("messages", []))
    completion_tokens = _words(answer)
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted-model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _error(message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
