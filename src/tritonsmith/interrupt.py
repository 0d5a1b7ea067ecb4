"""Ctrl-C: the first stops every part from starting new work, drops what is in flight and saves; the
second exits at once.

The command's handler (`install`): the first SIGINT sets `STOP`, which the agent's lineages and the
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


class Interrupted(Exception):
    """A run stopped at Ctrl-C; its finished work is saved and the same command resumes it."""
EXIT_INTERRUPTED = 128 + signal.SIGINT  # what a shell reports for a command Ctrl-C ended


def interrupted() -> bool:
    return STOP.is_set()


def install():
    """Handle SIGINT as above (main thread only); returns the handler it replaced, for `restore`."""
    return signal.signal(signal.SIGINT, _first)


def restore(previous) -> None:
    signal.signal(signal.SIGINT, previous)


def _first(signum, frame) -> None:
    STOP.set()
    signal.signal(signal.SIGINT, _second)
    sys.stderr.write("\ntritonsmith: stopping: nothing new is started and what is in flight is dropped "
                     "(Ctrl-C again to exit at once)\n")
    raise KeyboardInterrupt


def _second(signum, frame) -> None:
    sys.stderr.write("\ntritonsmith: exiting at once\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)
