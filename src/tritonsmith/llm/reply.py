"""What a model returns, and the one protocol every model client follows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable


@dataclass
class Reply:
    """One completion and what it cost."""

    text: str
    """The assistant message's content ('' when the model returned none)."""
    tokens_in: int
    """Prompt tokens, as the provider counted them."""
    tokens_out: int
    """Completion tokens, as the provider counted them."""
    cost: float | None
    """USD for this call; None when the model's price is unknown (never guessed as 0)."""
    model: str
    """The model as it was asked for (e.g. openai/gpt-4o-mini)."""
    cached: bool = False
    """Served from the record/replay cache: no provider call was made now and nothing was spent;
    tokens, cost and latency are those recorded when the call was made."""
    latency_s: float = 0.0
    """Wall time of the provider call that produced this reply (retries excluded)."""
    finish_reason: str | None = None
    """Why the model stopped, as the provider says ('stop', 'length', ...); None if it did not say."""
    estimate_reason: str | None = None
    """Why tokens_in and tokens_out are estimates rather than the provider's count (a reply written by
    hand into a queue); None when they are the provider's count."""

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class LLM(Protocol):
    """Anything that completes a chat: `complete(messages, **params) -> Reply`."""

    def complete(self, messages: list[dict[str, str]], **params) -> Reply: ...
