"""Keeping API keys out of everything we write: errors, logs, caches, trajectories."""

from __future__ import annotations

import os
import re

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
# Shapes that are keys wherever they appear (provider error bodies echo keys back).
_SECRET_SHAPES = re.compile(r"(?i)(bearer\s+)[^\s\"',]+|\b(sk|pk|rk)-[A-Za-z0-9_\-]{12,}")
_MIN_SECRET_LEN = 8  # shorter values (e.g. a dummy "EMPTY") are not secrets and would scrub real words


def _secrets(extra: tuple[str | None, ...]) -> list[str]:
    found = {value for name, value in os.environ.items() if _SECRET_NAME.search(name)}
    found.update(value for value in extra if value)
    return sorted((s for s in found if len(s) >= _MIN_SECRET_LEN), key=len, reverse=True)


def scrub(text: str, *secrets: str | None) -> str:
    """`text` with the given secrets, every *KEY/*TOKEN/*SECRET environment value and
    key-shaped strings replaced by [redacted]."""
    return _SECRET_SHAPES.sub(lambda m: (m.group(1) or "") + REDACTED, scrub_literal(text, *secrets))


def scrub_literal(text: str, *secrets: str | None) -> str:
    """Only the exact secrets (and secret environment values): safe for model output, where a
    key-shaped pattern might be legitimate code."""
    for secret in _secrets(secrets):
        text = text.replace(secret, REDACTED)
    return text
