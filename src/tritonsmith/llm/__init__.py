"""Talking to models: providers (through LiteLLM), retries, budgets, tokens and cost, record and replay.

Importing this package imports no provider SDK: LiteLLM loads on the first provider call.
"""

from .budget import Budget
from .client import make_llm
from .errors import BudgetExceeded, LLMError, MissingKey, ReplayMiss, RepliesPending, ReplyPending
from .reply import LLM, Reply

__all__ = ["LLM", "Budget", "BudgetExceeded", "LLMError", "MissingKey", "RepliesPending", "Reply", "ReplayMiss",
           "ReplyPending", "make_llm"]
