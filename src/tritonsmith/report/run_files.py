"""A run folder's files, read forgivingly: a missing or unreadable file is None, a torn last line dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tritonsmith.durable import parse_events


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
    """A run's events; [] where the file cannot be read (a report shows what there is)."""
    return parse_events(read_text(path) or "")
