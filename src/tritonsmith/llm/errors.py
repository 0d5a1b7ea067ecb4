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
