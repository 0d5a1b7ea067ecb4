"""The summary page's plots, drawn here as inline SVG: speedup per task and the scaling curves."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from tritonsmith.report.format import speedup_text


def plots_html(metrics: dict[str, Any], rows: list[dict[str, Any]], anchors: dict[str, str]) -> str:
    timed = metrics["speedup"]["tasks"] > 0  # else every speedup chart would be an empty box: say why once
    charts = [figure_html("Speedup per task (vs baseline, log scale)", speedup_bars_svg(rows, anchors),
                          unmeasured_note(rows), wide=True) if timed else
              f'<p class="muted" id="no-speedup">No speedup plots: {escape(metrics["speedup"]["reason"])}</p>']
    sequential, parallel = metrics["sequential"], metrics["parallel"]
    if len(sequential) > 1:
        xs = [p["round"] + 1 for p in sequential]
        charts.append(figure_html("Accuracy after each round (sequential scaling)",
                                  line_chart_svg(xs, accuracy_series(sequential), "round", percent=True)))
        if timed:
            charts.append(figure_html("Speedup after each round (geomean over correct tasks)",
                                      line_chart_svg(xs, speedup_series(sequential), "round")))
    if len(parallel) > 1:
        xs = [p["k"] for p in parallel]
        charts.append(figure_html("Accuracy with the first K lineages (parallel scaling)",
                                  line_chart_svg(xs, accuracy_series(parallel), "lineages K", percent=True)))
        if timed:
            charts.append(figure_html("Speedup with the first K lineages",
                                      line_chart_svg(xs, speedup_series(parallel), "lineages K")))
    if len(sequential) <= 1 and len(parallel) <= 1:
        charts.append('<p class="muted">No scaling plots: every task had one lineage of one round.</p>')
    return f'<h2 id="plots">Plots</h2><div class="plots">{"".join(charts)}</div>'


def figure_html(title: str, svg: str, note: str = "", wide: bool = False) -> str:
    caption = f'<figcaption>{escape(title)}</figcaption>'
    note_html = f'<p class="muted small">{escape(note)}</p>' if note else ""
    return f'<figure class="{"wide" if wide else ""}">{caption}{svg}{note_html}</figure>'


def accuracy_series(points: list[dict]) -> list[tuple[str, str, list[float | None]]]:
    return [("exec accuracy", "var(--pass)", [p["exec_accuracy"] for p in points]),
            ("call accuracy", "var(--accent)", [p["call_accuracy"] for p in points])]


def speedup_series(points: list[dict]) -> list[tuple[str, str, list[float | None]]]:
    return [("geometric mean", "var(--accent)", [p["speedup_geomean"] for p in points]),
            ("arithmetic mean", "var(--warn)", [p["speedup_arithmetic_mean"] for p in points])]


def unmeasured_note(rows: list[dict[str, Any]]) -> str:
    failed = sum(not row["exec_ok"] for row in rows)
    untimed = sum(row["exec_ok"] and row["speedup"] is None for row in rows)
    parts = [f"{failed} failed" if failed else "", f"{untimed} correct but not timed" if untimed else ""]
    parts = [p for p in parts if p]
    return f"Not shown: {' and '.join(parts)}." if parts else ""


def speedup_bars_svg(rows: list[dict[str, Any]], anchors: dict[str, str]) -> str:
    """One bar per timed correct task, fastest first, up from 1× or down below it; names when few."""
    timed = sorted((row for row in rows if row["speedup"]), key=lambda row: -row["speedup"])
    if not timed:
        return '<p class="muted">No task has a measured speedup.</p>'
    named = len(timed) <= 40
    names = [_short(row["task"].split(":")[-1]) for row in timed]
    width, top, left, right = 960, 12, 52, 8
    bottom = 20 + 4.6 * max(map(len, names)) if named else 26  # room for the longest name at -40 degrees
    height = 240 + bottom
    logs = [math.log10(row["speedup"]) for row in timed]
    low, high = _log_range(min(logs + [0.0]), max(logs + [0.0]))
    plot_h = height - top - bottom

    def y_of(value: float) -> float:
        return top + plot_h * (high - value) / (high - low)

    step = min((width - left - right) / len(timed), 36.0)
    parts = [_log_grid(low, high, y_of, left, left + step * len(timed) if named else width - right)]
    gap = min(4.0, step * 0.2)
    base = y_of(0.0)
    for i, (row, value) in enumerate(zip(timed, logs)):
        y, x = y_of(value), left + i * step
        colour = "var(--pass)" if value >= 0 else "var(--fail)"
        link = f'<a href="#{anchors[row["task"]]}"><title>{escape(row["task"])}: {speedup_text(row["speedup"])}</title>'
        parts.append(f'{link}<rect x="{x + gap / 2:.1f}" y="{min(y, base):.1f}" width="{max(step - gap, 0.8):.1f}" '
                     f'height="{max(abs(base - y), 1):.1f}" fill="{colour}" rx="{min(2.0, step / 6):.1f}"/>')
        if named:
            name = names[i]
            parts.append(f'<text x="{x + step / 2:.1f}" y="{height - bottom + 12}" class="tick name" '
                         f'transform="rotate(-40 {x + step / 2:.1f} {height - bottom + 12})" text-anchor="end">'
                         f'{escape(name)}</text>')
        parts.append("</a>")
    parts.append(f'<line x1="{left}" x2="{left + step * len(timed):.1f}" y1="{base:.1f}" y2="{base:.1f}" class="axis"/>')
    if not named:
        parts.append(f'<text x="{(left + width) / 2:.0f}" y="{height - 6}" class="label" text-anchor="middle">'
                     f'{len(timed)} timed correct tasks, fastest first</text>')
    used = left + right + step * len(timed) if named else width
    cap = f' style="max-width:{used:.0f}px"' if named else ""  # a few bars are not stretched across the page
    return (f'<svg viewBox="0 0 {used:.0f} {height}"{cap} role="img" '
            f'aria-label="speedup per task">{"".join(parts)}</svg>')


def _short(name: str, most: int = 32) -> str:
    """`name` cut in the middle when long, so both ends stay readable (the full name is the bar's tooltip)."""
    return name if len(name) <= most else name[:most // 2 - 1] + "…" + name[-(most // 2):]


def _log_range(low: float, high: float) -> tuple[float, float]:
    """The smallest span of grid lines (log10 of 1, 3, 10, 30, ... and 0.3, 0.1, ...) holding low..high."""
    ticks = _log_ticks(math.floor(low) - 1, math.ceil(high) + 1)
    bottom = max(t for t in ticks if t <= low + 1e-9)
    return bottom, min(t for t in ticks if t >= high - 1e-9 and t > bottom + 1e-9)


def _log_ticks(low: float, high: float) -> list[float]:
    decades = range(math.floor(low), math.ceil(high) + 1)
    return [t for d in decades for t in (d, d + math.log10(3)) if low - 1e-9 <= t <= high + 1e-9]


def _log_grid(low: float, high: float, y_of, left: float, right: float) -> str:
    lines = []
    for tick in _log_ticks(low, high):
        y = y_of(tick)
        lines.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{speedup_text(10 ** tick, short=True)}</text>')
    return "".join(lines)


def line_chart_svg(xs: list[int], series: list[tuple[str, str, list[float | None]]], x_label: str,
                percent: bool = False) -> str:
    width, height, left, right, top, bottom = 460, 220, 48, 12, 14, 40
    values = [v for _, _, ys in series for v in ys if v is not None]
    if not values:
        return '<p class="muted">Nothing measured.</p>'
    if percent:
        low, high = 0.0, 1.0
        ticks = [0, 0.25, 0.5, 0.75, 1.0]
    else:
        low, high = min(values + [1.0]), max(values + [1.0])
        pad = (high - low) * 0.15 or 0.25
        low, high = max(0.0, low - pad), high + pad
        ticks = _nice_ticks(low, high)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(x: int) -> float:
        return left + (plot_w * (x - xs[0]) / (xs[-1] - xs[0]) if xs[-1] != xs[0] else plot_w / 2)

    def y_of(y: float) -> float:
        return top + plot_h * (high - y) / (high - low)

    parts = []
    for tick in ticks:
        label = f"{tick * 100:.0f}%" if percent else speedup_text(tick, short=True)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y_of(tick):.1f}" y2="{y_of(tick):.1f}" '
                     f'class="grid{" one" if not percent and tick == 1 else ""}"/>'
                     f'<text x="{left - 6}" y="{y_of(tick) + 4:.1f}" class="tick" text-anchor="end">{label}</text>')
    every = max(1, math.ceil(len(xs) / 12))
    for x in xs[::every]:
        parts.append(f'<text x="{x_of(x):.1f}" y="{height - bottom + 16}" class="tick" text-anchor="middle">{x}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" class="label" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
    legend = []
    for index, (name, colour, ys) in enumerate(series):
        points = [(x_of(x), y_of(y), y) for x, y in zip(xs, ys) if y is not None]
        if not points:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py, _) in enumerate(points))
        dashes = ' stroke-dasharray="7 5"' if index else ""  # a line drawn over an equal one leaves it visible
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.2"{dashes}/>')
        for (px, py, y), x in zip(points, [x for x, y in zip(xs, ys) if y is not None]):
            value = f"{y * 100:.1f}%" if percent else speedup_text(y)
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.2" fill="{colour}">'
                         f'<title>{escape(name)} at {escape(x_label)} {x}: {value}</title></circle>')
        legend.append(f'<span><i style="background:{colour}"></i>{escape(name)}</span>')
    svg = f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(x_label)}">{"".join(parts)}</svg>'
    return svg + f'<div class="legend">{"".join(legend)}</div>'


def _nice_ticks(low: float, high: float) -> list[float]:
    raw = (high - low) / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.ceil(low / step) * step
    return [round(start + i * step, 10) for i in range(int((high - start) / step) + 1)]
