"""The ways a call to a model ends other than with a reply, each one sentence a user can act on."""

from __future__ import annotations


class LLMError(RuntimeError):
    """A model could not be called: no API key, server unreachable, model not found, provider down.

    The message is one sentence that says what to do; `detail` keeps the provider's own words
    (scrubbed of keys) for logs."""

    def __init__(self, message: str, *, detail: str | None = None):
        super().__init__(message)
        self.detail = detail


class MissingKey(LLMError):
    """No API key for a hosted provider; `variables` are the environment variables that would hold it."""

    def __init__(self, message: str, *, variables: list[str]):
        super().__init__(message)
        self.variables = variables


class BudgetExceeded(LLMError):
    """A budget limit is reached; `limit` names it (rounds, tokens, usd, wall_s)."""

    def __init__(self, message: str, *, limit: str):
        super().__init__(message)
        self.limit = limit


class ReplayMiss(LLMError):
    """Replay mode met a request that was never recorded; `key` is the request's cache key."""

    def __init__(self, message: str, *, key: str):
        super().__init__(message)
        self.key = key


class ReplyPending(Exception):
    """A queued request (`queue:DIR`) has no reply yet: it waits in `path` for one. Not an LLMError: nothing
    failed, so the agent pauses the lineage that asked and lets every other one go on."""

    def __init__(self, message: str, *, key: str, folder: str, model: str | None = None):
        super().__init__(message)
        self.key, self.folder, self.model = key, folder, model


class RepliesPending(Exception):
    """A run (or a bench) went as far as it could and stopped because queued requests wait for replies;
    everything finished is saved, and the same command goes on once they are answered."""

    def __init__(self, waiting: list[ReplyPending]):
        self.waiting = list(waiting)
        folders = sorted({pending.folder for pending in self.waiting})
        count = len(self.waiting)
        super().__init__(f"{'1 request waits for a reply' if count == 1 else f'{count} requests wait for replies'} "
                         f"in {', '.join(folders)}")

    @property
    def folder(self) -> str:
        return self.waiting[0].folder

    @property
    def model(self) -> str | None:
        return next((pending.model for pending in self.waiting if pending.model), None)
