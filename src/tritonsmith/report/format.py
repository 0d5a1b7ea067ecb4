"""Small formatters shared by the report's pages: status pills, speedups, percents, money, tokens, times."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

STATUS_LABELS = {"passed": "passed", "wrong_output": "wrong output", "compile_error": "compile error",
                 "runtime_error": "runtime error", "timeout": "timeout", "crashed": "crashed",
                 "rejected": "rejected", "error": "error", "format_error": "format error"}


def status_pill(status: str) -> str:
    return f'<span class="pill s-{escape(status, quote=True)}">{escape(STATUS_LABELS.get(status, status))}</span>'


def speed_class(value: float | None) -> str:
    if value is None:
        return ""
    return "faster" if value >= 1.0 else "slower"


def speedup_text(value: float | None, short: bool = False) -> str:
    if value is None:
        return "—"
    if short:
        return f"{value:.3g}×"
    return f"{value:.2f}×" if value < 100 else f"{value:,.0f}×"


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def usd_text(value: float | None) -> str:
    if value is None:
        return "?"
    return f"${value:.2f}" if value >= 0.095 or value == 0 else f"${value:.3f}" if value >= 0.0095 else f"${value:.4f}"


def tokens_text(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.1f}k" if value >= 1e3 else f"{value:.0f}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def ms_text(value: float) -> str:
    return f"{value * 1000:.1f} µs" if value < 1 else f"{value:.3f} ms"


def number_text(value: float | None) -> str | None:
    return None if value is None else f"{value:.3g}"


def yes_no(value: Any) -> str:
    return "yes" if value else "no"


def sort_value(value: float | None) -> str:
    return "" if value is None else repr(value)


def date_text(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return text
