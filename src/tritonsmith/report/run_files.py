"""A run folder's files, read forgivingly: a missing or unreadable file is None, a torn last line dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def read_trajectory(path: Path) -> list[dict[str, Any]]:
    events = []
    text = read_text(path) or ""
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            break  # a torn last line from a killed run
    return events
