"""The checker's end of its conversation with the candidate's process (runs in the checker's process,
evaluate/checker.py; never beside candidate code).

One command at a time goes down the commands pipe; the replies, one JSON line each, come up the events pipe
(evaluate/worker.py writes them), and so do the figures sent before a command's reply (a first call's, each
timed sample), noted with this process's clock as they arrive; the host writes the candidate's process's exit
status on a third pipe.
Whatever a message claims can only count against the candidate: guard violations and kernel names are
collected from every line. The first failure found stops the conversation (`_Stop`).
"""

from __future__ import annotations

import os
import select
import time
from typing import Any

from tritonsmith.evaluate.runtime import CHANNEL_REPLACED_EXIT, LineReader, write_message


class _Stop(Exception):
    """The verdict is known: ask the candidate's process nothing more."""


class Conversation:
    """The pipes to the candidate's process, and what it has been found to do so far: the first failure
    (`fail`), every guard violation (`violate`) and the kernels it launched."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.message = ""
        self.violations: list[str] = []
        self.kernels: list[str] = []
        self.figures: dict[int, dict[str, Any]] = {}
        """A first call's figures by check key, as first sent (before its output was handed over)."""
        self.sample_log: dict[int, list[tuple[float, str, float, int]]] = {}
        """Each timed sample of a perf case as it arrived, by check key: (this process's clock when it arrived,
        function, milliseconds a call, calls), sent by the candidate's process as it was taken; only while that
        perf case's `time` command is in flight (`timing_key`)."""
        self.timing_key: int | None = None

    def fail(self, status: str, message: str) -> _Stop:
        if self.status is None:
            self.status, self.message = status, message
        return _Stop()

    def violate(self, message: str) -> None:
        if message not in self.violations:
            self.violations.append(message)

    def connect(self, commands: int, events: LineReader, candidate_exit: int) -> None:
        self.commands, self.events, self.candidate_exit = commands, events, candidate_exit
        self.exit_code: int | None = None

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command and wait for its reply; a candidate's process that ends first stops the evaluation."""
        try:
            write_message(self.commands, command)
        except OSError:
            pass
        events = self.events
        while True:
            message = events.pop()
            if message is not None:
                self.note(message)
                if message.get("done") == command["do"]:
                    return message
                continue
            waiting = [self.candidate_exit] + ([] if events.closed else [events.fd])
            ready, _, _ = select.select(waiting, [], [])
            if events.fd in ready:
                events.fill()
            elif self.candidate_exit in ready:
                while events.fill(block=False):  # what it wrote before it ended comes first
                    pass
                while (message := events.pop()) is not None:
                    self.note(message)
                    if message.get("done") == command["do"]:
                        return message
                raise self.candidate_ended()

    def note(self, message: dict[str, Any]) -> None:
        """What any message claims that can only count against the candidate: violations, kernels launched; and
        a first call's figures, the first sent for its check (later ones, sent after candidate code has run
        again, are not taken)."""
        key, figures = message.get("figures"), message.get("fresh")
        if type(key) is int and isinstance(figures, dict):
            self.figures.setdefault(key, figures)
        key, ms, calls = message.get("sample"), message.get("ms"), message.get("calls")
        if type(key) is int and key == self.timing_key and type(ms) in (int, float) and type(calls) is int:
            self.sample_log.setdefault(key, []).append((time.perf_counter(), str(message.get("name"))[:16],
                                                        float(ms), calls))
        for violation in message.get("violations") or []:
            self.violate(str(violation))
        for name in message.get("kernels") or []:
            if str(name) not in self.kernels:
                self.kernels.append(str(name))

    def candidate_ended(self) -> _Stop:
        data = os.read(self.candidate_exit, 64)
        try:
            code = int(data.decode().strip())
        except ValueError:
            code = None
        self.exit_code = code
        if code == CHANNEL_REPLACED_EXIT:
            self.violate("the candidate replaced its process's channel to the checker (another file under the "
                         "events pipe's number)")
            return self.fail("rejected", "the candidate replaced its process's channel to the checker")
        if code == 0:
            self.violate("the candidate's process exited with status 0 before the evaluation finished: the "
                         "candidate faked a successful exit (os._exit or similar)")
            return self.fail("rejected", "the candidate faked a successful exit")
        if code is not None and code >= 128:
            import signal
            number = code - 128
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            return self.fail("crashed", f"the candidate's process was killed by signal {name} (a segfault or "
                             "illegal memory access in the candidate, or the out-of-memory killer)")
        return self.fail("crashed", f"the candidate's process exited with status {code} without writing its result "
                         "(the candidate may have closed or broken the evaluator's files)")

    def take_failure(self, reply: dict[str, Any]) -> None:
        failure = reply.get("failure")
        if isinstance(failure, dict) and failure.get("status") in ("compile_error", "runtime_error", "rejected"):
            raise self.fail(failure["status"], str(failure.get("message", "")))


def keys_of(value: Any) -> set[int]:
    """The check keys a reply lists (anything else in the list is ignored)."""
    return {k for k in value if type(k) is int} if isinstance(value, list) else set()


def int_of(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 40 else 0
