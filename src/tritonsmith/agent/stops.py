"""How a run stops early: one typed exception that carries its sentence and its kind."""

from __future__ import annotations

INTERRUPTED = "interrupted by Ctrl-C or SIGTERM: the steps in flight were dropped and run again on resume"


class RunStopped(Exception):
    """The whole run stops here; finished work is saved and the run can resume.
    kind: budget | llm | start | interrupted."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind
