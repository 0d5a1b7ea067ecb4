"""How a command ends: exit statuses, and the errors a command raises to say why."""

from __future__ import annotations

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_PENDING = 3  # a run or bench on a queued model (queue:DIR) stopped with prompts waiting for replies
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a command SIGPIPE ended


class UsageError(Exception):
    """A mistake the user can fix; printed as one sentence, exit status 2."""


class CommandInterrupted(Exception):
    """A command stopped at Ctrl-C with its finished work saved; the message says how to go on."""
