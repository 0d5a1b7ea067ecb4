"""Ctrl-C: the first stops every part from starting new work, drops what is in flight and saves; the
second exits at once. SIGTERM (a batch scheduler's stop, `timeout`, `kill`) is the first Ctrl-C too: the worker
processes are closed with their children (a keeper's compilers ran on for minutes after a bench killed so).

The command's handler (`install`): the first SIGINT or SIGTERM sets `STOP`, which the agent's lineages and the
bench's tasks check before each step, and raises KeyboardInterrupt in the main thread as usual, so
whatever it waits on is left; the second exits at once. A library caller without the handler gets
the same from its own KeyboardInterrupt where the agent catches it (its run alone stops).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

STOP = threading.Event()


SIGNALS = (signal.SIGINT, signal.SIGTERM)
received: int | None = None  # the signal that stopped the command


class Interrupted(Exception):
    """A run stopped at Ctrl-C; its finished work is saved and the same command resumes it."""


def interrupted() -> bool:
    return STOP.is_set()


def exit_code() -> int:
    """What a shell reports for a command the signal received ended (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (received or signal.SIGINT)


def install():
    """Handle SIGINT and SIGTERM as above (main thread only); returns the handlers it replaced, for `restore`."""
    global received
    received = None
    return {signum: signal.signal(signum, _first) for signum in SIGNALS}


def restore(previous) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _first(signum, frame) -> None:
    global received
    received = signum
    STOP.set()
    for each in SIGNALS:
        signal.signal(each, _second)
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    sys.stderr.write(f"\ntritonsmith: stopping ({name}): nothing new is started and what is in flight is dropped "
                     "(Ctrl-C again to exit at once)\n")
    raise KeyboardInterrupt


def _second(signum, frame) -> None:
    sys.stderr.write("\ntritonsmith: exiting at once\n")
    sys.stderr.flush()
    os._exit(128 + signum)
