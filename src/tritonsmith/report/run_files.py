"""A run folder's files, read forgivingly: a missing or unreadable file is None, a torn last line dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tritonsmith.durable import parse_events
from tritonsmith.summary import RunSummary


def read_summary(path: Path) -> RunSummary | None:
    """A run's summary.json as its typed value; None where it is missing or is not a summary."""
    try:
        return RunSummary.load(path)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def read_trajectory(path: Path) -> list[dict[str, Any]]:
    """A run's events; [] where the file cannot be read (a report shows what there is)."""
    return parse_events(read_text(path) or "")
