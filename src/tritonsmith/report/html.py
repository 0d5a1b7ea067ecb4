"""One self-contained HTML report of a bench folder: summary, plots, and every task's trajectory.

Nothing is fetched when it is read: inline CSS, a little vanilla JS, and SVG plots drawn here. Every
text from a run is html-escaped here. Each task's trajectory is rendered to HTML, gzipped and
base64-encoded, and inflated by the browser (DecompressionStream) when its page is first opened, so
a bench of 200 agent runs stays a few MB; prompt sections repeated within a task are shown once.
"""

from __future__ import annotations

import base64
import difflib
import gzip
import json
import math
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from tritonsmith.report.metrics import suite_metrics, task_rows
from tritonsmith.runs.records import TaskRecord
from tritonsmith.runs.store import ResultsStore

STATUS_LABELS = {"passed": "passed", "wrong_output": "wrong output", "compile_error": "compile error",
                 "runtime_error": "runtime error", "timeout": "timeout", "crashed": "crashed",
                 "rejected": "rejected", "error": "error", "format_error": "format error"}
CLIP_LINES, CLIP_CHARS = 40, 4000  # longer texts start clipped, with a "show all" button
SHARED_MIN_CHARS = 300  # prompt blocks this long in all, shown earlier in the task, become a reference to them
SHARED_MIN_BLOCK = 40  # shorter blocks are never looked up
FINAL_STAGE = ("final_measure", "tune")  # events after the search, outside any lineage


def write_report(bench_folder: str | Path, out_path: str | Path | None = None) -> Path:
    """Write the bench's report (default BENCH/report.html) and return its path."""
    bench = Path(bench_folder)
    store = ResultsStore(bench)
    if not store.settings_path.exists() and not store.results_path.exists():
        raise FileNotFoundError(f"{bench} is not a bench folder: it has neither bench.json nor results.jsonl.")
    settings = store.load_settings() or {}
    records = store.records()
    out = Path(out_path) if out_path is not None else bench / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(bench, settings, records), encoding="utf-8")
    return out


def render_report(bench: Path, settings: dict[str, Any], records: list[TaskRecord]) -> str:
    metrics = suite_metrics(records)
    rows = task_rows(records)
    anchors = _anchors([row["task"] for row in rows])
    by_task = {record.task: record for record in records}
    summaries = {task: _read_json(bench / record.run_dir / "summary.json") if record.run_dir else None
                 for task, record in by_task.items()}
    order = [row["task"] for row in rows]
    neighbours = [(order[i - 1] if i else None, order[i + 1] if i + 1 < len(order) else None) for i in range(len(order))]
    pages = [_task_page(bench, by_task[task], summaries[task], anchors, around)
             for task, around in zip(order, neighbours)]
    title = f"tritonsmith bench: {settings.get('suite') or 'suite'}" + (
        f" with {settings['model']}" if settings.get("model") else "")
    body = "\n".join([
        _header(settings, summaries, len(rows)),
        '<main>',
        '<section class="page" id="summary">',
        _headline(metrics),
        _plots(metrics, rows, anchors),
        _metrics_table(metrics),
        _task_table(rows, anchors),
        '</section>',
        *pages,
        '</main>',
    ])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{escape(title)}</title>'
            f'<style>{CSS}</style></head>\n<body>\n{body}\n<script>{JS}</script>\n</body></html>\n')


# --- the summary page ---------------------------------------------------------------------------

def _header(settings: dict[str, Any], summaries: dict[str, Any], tasks: int) -> str:
    devices = sorted({s["device"] for s in summaries.values() if s and s.get("device")})
    device = ", ".join(devices) or (f"{settings['device']} (as asked)" if settings.get("device") else "not recorded")
    facts = [("suite", settings.get("suite")), ("solver", settings.get("solver")),
             ("model", settings.get("model")), ("device", device), ("mode", settings.get("mode")),
             ("lineages × rounds", f"{settings['parallel']} × {settings['rounds']}"
              if settings.get("parallel") and settings.get("rounds") and settings.get("solver") == "agent" else None),
             ("tasks", tasks), ("started", _date(settings.get("created_at"))),
             ("report", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))]
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(str(v))}</dd></div>" for k, v in facts if v)
    return (f'<header><div class="bar"><a class="brand" href="#summary">tritonsmith <span>bench report</span></a>'
            f'<nav><a href="#summary">summary</a><a href="#tasks">tasks</a></nav></div>'
            f'<dl class="facts">{items}</dl></header>')


def _headline(metrics: dict[str, Any]) -> str:
    speedup, fast = metrics["speedup"], metrics["fast_p"]
    usd = metrics["cost"]["usd"]["total"]
    cards = [
        ("exec accuracy", _pct(metrics["exec_accuracy"]), f"{metrics['exec_ok']} of {metrics['tasks']} tasks correct"),
        ("call accuracy", _pct(metrics["call_accuracy"]), f"{metrics['call_ok']} of {metrics['tasks']} tasks ran"),
        ("speedup (geomean)", _x(speedup["geomean"]),
         (f"over {speedup['tasks']} timed correct tasks" + _before_note(metrics["tuning"]))
         if speedup["geomean"] else speedup["reason"]),
        ("fast_1.0", _pct(fast.get("1.0")), "correct and faster than the baseline"),
        ("spent", _usd(usd) if usd is not None else "$?",
         f"{_tokens(metrics['cost']['tokens']['total'])} tokens · {_duration(metrics['cost']['wall_s']['total'])}"),
    ]
    html = "".join(f'<div class="card"><div class="label">{escape(label)}</div><div class="value">{escape(value)}'
                   f'</div><div class="note">{escape(note or "")}</div></div>' for label, value, note in cards)
    statuses = "".join(f'<span class="tally">{_pill(status)}<b>{count}</b></span>'
                       for status, count in sorted(metrics["statuses"].items(), key=lambda kv: -kv[1]))
    return f'<div class="cards">{html}</div><div class="statuses">{statuses}</div>'


def _before_note(tuning: dict[str, Any] | None) -> str:
    before = tuning["speedup_before"]["geomean"] if tuning else None
    return f"; {_x(before)} before tuning" if before is not None else ""


def _metrics_table(metrics: dict[str, Any]) -> str:
    speedup, cost = metrics["speedup"], metrics["cost"]
    rows = [
        ("tasks", str(metrics["tasks"]), ""),
        ("call accuracy", _pct(metrics["call_accuracy"]), f"{metrics['call_ok']} tasks: a candidate ran"),
        ("exec accuracy", _pct(metrics["exec_accuracy"]), f"{metrics['exec_ok']} tasks: a candidate passed"),
        ("speedup, geometric mean", _x(speedup["geomean"]),
         speedup["reason"] or f"over {speedup['tasks']} correct tasks with a measured speedup"),
        ("speedup, arithmetic mean", _x(speedup["arithmetic_mean"]),
         "GEAK's “average speedup”: pulled up by a few large values; the geometric mean is the headline"),
    ]
    tuning = metrics["tuning"]
    if tuning:
        before, gain = tuning["speedup_before"], tuning["gain"]
        rows += [
            ("speedup before tuning, geometric mean", _x(before["geomean"]),
             before["reason"] or f"the same tasks' winners before the last stage tuned them ({before['tasks']} tasks)"),
            ("tasks tuned", f"{tuning['tuned_tasks']} of {tuning['attempted_tasks']}",
             "the tuned kernel replaced the winner; the others kept the untuned kernel"),
            ("speedup from tuning, geometric mean", _x(gain["geomean"]),
             f"the tuner's own measurement over {gain['tasks']} tasks; 1× where the untuned kernel was kept"),
        ]
    rows += [(f"fast_{p}", _pct(value), f"correct and more than {p}× the baseline, over all tasks")
             for p, value in metrics["fast_p"].items()]
    rows += [(f"pass@{point['k']}", _pct(point["value"]),
              f"{point['tasks_with_fewer_lineages']} tasks had fewer than {point['k']} lineages"
              if point["tasks_with_fewer_lineages"] else "unbiased estimator over each task's lineages")
             for point in metrics["pass_at_k"]]
    for key, label, fmt in (("tokens", "tokens", _tokens), ("usd", "dollars", _usd), ("wall_s", "time", _duration)):
        spent = cost[key]
        note = spent.get("reason") or (f"{fmt(spent['per_task'])} per task, {fmt(spent['per_solved_task'])} per solved task"
                                       if spent["total"] is not None else "")
        if key == "wall_s":
            note += " (sum of per-task times)"
        rows.append((label, fmt(spent["total"]), note))
    body = "".join(f'<tr><th scope="row">{escape(name)}</th><td class="num">{escape(value)}</td>'
                   f'<td class="note">{escape(note)}</td></tr>' for name, value, note in rows)
    return f'<h2 id="metrics">Suite metrics</h2><table class="metrics"><tbody>{body}</tbody></table>'


def _task_table(rows: list[dict[str, Any]], anchors: dict[str, str]) -> str:
    tuned = any(row["tuned"] is not None for row in rows)
    heads = [("task", "text"), ("status", "text"), ("speedup", "num"), ("before tuning", "num"), ("vs torch", "num"),
             ("lineages passed", "num"), ("tokens", "num"), ("$", "num"), ("time", "num")]
    if not tuned:
        heads.remove(("before tuning", "num"))
    head = "".join(f'<th class="{kind}" data-kind="{kind}" tabindex="0">{escape(name)}</th>' for name, kind in heads)
    body = []
    for row in rows:
        reason = row.get("error") or (row.get("speed_reason") if row["speedup"] is None and row["exec_ok"] else None)
        cells = [
            (row["task"], f'<a href="#{anchors[row["task"]]}">{escape(row["task"])}</a>', ""),
            (row["status"], _pill(row["status"]), ""),
            (_sortable(row["speedup"]), _x(row["speedup"]), _speed_class(row["speedup"])),
            *([(_sortable(row["speedup_before_tuning"]), _x(row["speedup_before_tuning"]),
                _speed_class(row["speedup_before_tuning"]))] if tuned else []),
            (_sortable(row["speedup_vs_torch"]), _x(row["speedup_vs_torch"]), _speed_class(row["speedup_vs_torch"])),
            (row["lineages_passed"], f'{row["lineages_passed"]}/{row["lineages"]}', ""),
            (row["tokens"], _tokens(row["tokens"]), ""),
            (_sortable(row["usd"]), _usd(row["usd"]), ""),
            (row["wall_s"], _duration(row["wall_s"]), ""),
        ]
        tds = "".join(f'<td data-v="{escape(str(value), quote=True)}" class="{"num " if i > 1 else ""}{extra}">{html}</td>'
                      for i, (value, html, extra) in enumerate(cells))
        title = f' title="{escape(reason, quote=True)}"' if reason else ""
        body.append(f"<tr{title}>{tds}</tr>")
    return (f'<h2 id="tasks">Tasks</h2><div class="tools"><input type="search" id="filter" '
            f'placeholder="filter tasks (name or status)" aria-label="filter tasks"><span id="shown"></span></div>'
            f'<table class="tasks sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


# --- plots: inline SVG drawn here ---------------------------------------------------------------

def _plots(metrics: dict[str, Any], rows: list[dict[str, Any]], anchors: dict[str, str]) -> str:
    charts = [_figure("Speedup per task (vs baseline, log scale)", _speedup_bars(rows, anchors),
                      _unmeasured_note(rows), wide=True)]
    sequential, parallel = metrics["sequential"], metrics["parallel"]
    if len(sequential) > 1:
        xs = [p["round"] + 1 for p in sequential]
        charts.append(_figure("Accuracy after each round (sequential scaling)",
                              _line_chart(xs, _accuracy_series(sequential), "round", percent=True)))
        charts.append(_figure("Speedup after each round (geomean over correct tasks)",
                              _line_chart(xs, _speedup_series(sequential), "round")))
    if len(parallel) > 1:
        xs = [p["k"] for p in parallel]
        charts.append(_figure("Accuracy with the first K lineages (parallel scaling)",
                              _line_chart(xs, _accuracy_series(parallel), "lineages K", percent=True)))
        charts.append(_figure("Speedup with the first K lineages",
                              _line_chart(xs, _speedup_series(parallel), "lineages K")))
    if len(sequential) <= 1 and len(parallel) <= 1:
        charts.append('<p class="muted">No scaling plots: every task had one lineage of one round.</p>')
    return f'<h2 id="plots">Plots</h2><div class="plots">{"".join(charts)}</div>'


def _figure(title: str, svg: str, note: str = "", wide: bool = False) -> str:
    caption = f'<figcaption>{escape(title)}</figcaption>'
    note_html = f'<p class="muted small">{escape(note)}</p>' if note else ""
    return f'<figure class="{"wide" if wide else ""}">{caption}{svg}{note_html}</figure>'


def _accuracy_series(points: list[dict]) -> list[tuple[str, str, list[float | None]]]:
    return [("exec accuracy", "var(--pass)", [p["exec_accuracy"] for p in points]),
            ("call accuracy", "var(--accent)", [p["call_accuracy"] for p in points])]


def _speedup_series(points: list[dict]) -> list[tuple[str, str, list[float | None]]]:
    return [("geometric mean", "var(--accent)", [p["speedup_geomean"] for p in points]),
            ("arithmetic mean", "var(--warn)", [p["speedup_arithmetic_mean"] for p in points])]


def _unmeasured_note(rows: list[dict[str, Any]]) -> str:
    failed = sum(not row["exec_ok"] for row in rows)
    untimed = sum(row["exec_ok"] and row["speedup"] is None for row in rows)
    parts = [f"{failed} failed" if failed else "", f"{untimed} correct but not timed" if untimed else ""]
    parts = [p for p in parts if p]
    return f"Not shown: {' and '.join(parts)}." if parts else ""


def _speedup_bars(rows: list[dict[str, Any]], anchors: dict[str, str]) -> str:
    """One bar per timed correct task, fastest first, up from 1× or down below it; names when few."""
    timed = sorted((row for row in rows if row["speedup"]), key=lambda row: -row["speedup"])
    if not timed:
        return '<p class="muted">No task has a measured speedup.</p>'
    named = len(timed) <= 40
    width, top, left, right = 960, 12, 52, 8
    bottom = 96 if named else 26
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
        link = f'<a href="#{anchors[row["task"]]}"><title>{escape(row["task"])}: {_x(row["speedup"])}</title>'
        parts.append(f'{link}<rect x="{x + gap / 2:.1f}" y="{min(y, base):.1f}" width="{max(step - gap, 0.8):.1f}" '
                     f'height="{max(abs(base - y), 1):.1f}" fill="{colour}" rx="{min(2.0, step / 6):.1f}"/>')
        if named:
            name = row["task"].split(":")[-1]
            name = name if len(name) <= 18 else name[:17] + "…"
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
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_x(10 ** tick, short=True)}</text>')
    return "".join(lines)


def _line_chart(xs: list[int], series: list[tuple[str, str, list[float | None]]], x_label: str,
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
        label = f"{tick * 100:.0f}%" if percent else _x(tick, short=True)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y_of(tick):.1f}" y2="{y_of(tick):.1f}" '
                     f'class="grid{" one" if not percent and tick == 1 else ""}"/>'
                     f'<text x="{left - 6}" y="{y_of(tick) + 4:.1f}" class="tick" text-anchor="end">{label}</text>')
    every = max(1, math.ceil(len(xs) / 12))
    for x in xs[::every]:
        parts.append(f'<text x="{x_of(x):.1f}" y="{height - bottom + 16}" class="tick" text-anchor="middle">{x}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" class="label" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
    legend = []
    for name, colour, ys in series:
        points = [(x_of(x), y_of(y), y) for x, y in zip(xs, ys) if y is not None]
        if not points:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py, _) in enumerate(points))
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.2"/>')
        for (px, py, y), x in zip(points, [x for x, y in zip(xs, ys) if y is not None]):
            value = f"{y * 100:.1f}%" if percent else _x(y)
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


# --- a task's page ------------------------------------------------------------------------------

def _task_page(bench: Path, record: TaskRecord, summary: dict[str, Any] | None, anchors: dict[str, str],
               neighbours: tuple[str | None, str | None]) -> str:
    anchor = anchors[record.task]
    previous, following = neighbours
    nav = ('<nav class="pager"><a href="#tasks">← all tasks</a>'
           + (f'<a href="#{anchors[previous]}">‹ {escape(previous)}</a>' if previous else "")
           + (f'<a href="#{anchors[following]}">{escape(following)} ›</a>' if following else "") + "</nav>")
    facts = [("status", _pill(record.status)), ("speedup vs baseline", escape(_x(record.speedup))),
             ("vs torch", escape(_x(record.speedup_vs_torch))), ("tokens", escape(_tokens(record.tokens))),
             ("cost", escape(_usd(record.usd))), ("time", escape(_duration(record.wall_s))),
             ("solver", escape(record.solver))]
    if record.tuning:
        facts.insert(2, ("speedup before tuning", escape(_x(record.speedup_before_tuning))))
    if summary:
        facts += [("best candidate", escape(str(summary.get("best_candidate") or "none"))),
                  ("candidates", escape(str(summary.get("candidates", "")))),
                  ("trap restarts", escape(str(summary.get("restarts", ""))))]
    if record.tuning:
        facts.append(("tuning", escape(_tuning_label(record.tuning))))
    grid = "".join(f"<div><dt>{escape(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    notes = []
    if record.error:
        notes.append(f'<p class="callout fail">{escape(record.error)}</p>')
    if record.speedup is None and record.speed_reason:
        notes.append(f'<p class="callout">Speed not measured: {escape(record.speed_reason)}</p>')
    if record.tuning and not record.tuning.get("tuned"):
        why = record.tuning.get("reason") or record.tuning.get("stop_reason")
        notes.append(f'<p class="callout">Tuning kept the untuned kernel{": " + escape(why) if why else "."}</p>')
    if summary and summary.get("stop_reason"):
        notes.append(f'<p class="callout">Stopped because: {escape(str(summary["stop_reason"]))}</p>')
    events = _read_trajectory(bench / record.run_dir / "trajectory.jsonl") if record.run_dir else []
    best = _read_text(bench / record.run_dir / "best.py") if record.run_dir else None
    head = (f'<section class="page task" id="{anchor}" hidden>{nav}<h1>{escape(record.task)}</h1>'
            f'<dl class="facts task-facts">{grid}</dl>{"".join(notes)}{_timeline(record, events, anchor)}')
    if not events:
        why = ("no run folder was recorded for this task" if not record.run_dir
               else f"no trajectory in {record.run_dir}")
        return head + f'<p class="muted">No trajectory: {escape(why)} (solver {escape(record.solver)}).</p></section>'
    body = _trajectory(events, anchor)
    if best:
        body = (f'<details class="best"><summary>best.py: the winning kernel</summary>'
                f'{_code(best)}</details>') + body
    blob = base64.b64encode(gzip.compress(body.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")
    return (head + '<div class="trajectory"><p class="muted">Loading the trajectory…</p></div>'
            f'<script type="application/gzip+base64" class="blob">{blob}</script></section>')


def _tuning_label(tuning: dict[str, Any]) -> str:
    """Applied with which launch configuration, or kept the untuned kernel; and the search's size."""
    gain = tuning.get("speedup_from_tuning")
    if tuning.get("tuned"):
        label = f"applied: {_config_label(tuning.get('config'))}" + (f", {_x(gain)} over the untuned winner"
                                                                      if gain else "")
    else:
        label = "kept the untuned kernel"
    search = [f"{tuning['trials']} trials" if tuning.get("trials") is not None else "",
              _duration(tuning["elapsed_s"]) if tuning.get("elapsed_s") is not None else ""]
    search = [part for part in search if part]
    return label + (f" ({' in '.join(search)})" if search else "")


def _tune_line(event: dict[str, Any]) -> str:
    """One tune event in words: what was chosen, the tuner's timings, and why it stopped."""
    if event.get("reason") and event.get("original_ms") is None:
        return f"kept the untuned kernel: {event['reason']}"
    times = (f"{_ms(event['original_ms'])} → {_ms(event['tuned_ms'])}"
             if event.get("original_ms") is not None and event.get("tuned_ms") is not None else "")
    gain = event.get("speedup_from_tuning")
    if event.get("tuned"):  # decided after the tuned kernel's final full evaluation
        head = f"applied {_config_label(event.get('config'))}" + (f": {_x(gain)} faster than the untuned winner"
                                                                 if gain else "")
    else:
        head = "kept the untuned kernel" + (f": {event['reason']}" if event.get("reason") else "")
    search = (f"{event['trials']} trials in {_duration(event.get('elapsed_s'))}"
              if event.get("trials") is not None else "")
    stop = f"stopped: {event['stop_reason']}" if event.get("stop_reason") else ""
    return " · ".join(part for part in (head, times, search, stop) if part)


def _config_label(config: dict[str, Any] | None) -> str:
    return ", ".join(f"{knob}={value}" for knob, value in sorted((config or {}).items())) or "the original"


def _timeline(record: TaskRecord, events: list[dict[str, Any]], anchor: str) -> str:
    """One row per lineage: a square per candidate, coloured by status, linking to its round."""
    rows: dict[Any, list[str]] = {}
    for event in events:
        if event.get("type") not in ("evaluate", "format_error"):
            continue
        status = (event.get("result") or {}).get("status", "error") if event["type"] == "evaluate" else "format_error"
        lineage, round_index = event.get("lineage"), event.get("round")
        target = f"{anchor}/{_round_id(lineage, round_index)}"
        rows.setdefault(lineage, []).append(
            f'<a class="sq s-{escape(status)}" href="#{escape(target, quote=True)}" '
            f'title="{escape(str(event.get("candidate") or _round_id(lineage, round_index)))}: '
            f'{escape(STATUS_LABELS.get(status, status))}"></a>')
    if not rows:
        return ""
    outcomes = {lin.lineage: lin for lin in record.lineages}
    lines = []
    for lineage in sorted(rows, key=lambda k: -1 if k is None else k):
        outcome = outcomes.get(lineage)
        tail = f'<span class="muted small">best {_x(outcome.speedup)}</span>' if outcome and outcome.speedup else ""
        label = "start" if lineage is None else f"L{lineage}"
        lines.append(f'<div class="tl-row"><span class="tl-label">{label}</span>{"".join(rows[lineage])}{tail}</div>')
    return f'<div class="timeline">{"".join(lines)}</div>'


def _trajectory(events: list[dict[str, Any]], anchor: str) -> str:
    """Events grouped by lineage, then round, each group in the order it happened."""
    groups: dict[Any, dict[Any, list[dict[str, Any]]]] = {}
    final_stage = [event for event in events if event.get("type") in FINAL_STAGE]
    for event in events:
        if event.get("type") not in FINAL_STAGE:
            groups.setdefault(event.get("lineage"), {}).setdefault(event.get("round"), []).append(event)
    renderer = _EventRenderer(anchor)
    parts = []
    for lineage in sorted(groups, key=lambda k: -1 if k is None else k):
        title = "Start kernel (optimize mode)" if lineage is None else f"Lineage {lineage}"
        rounds = []
        for round_index in sorted(groups[lineage], key=lambda r: -1 if r is None else r):
            label = "" if round_index is None else f"round {round_index}"
            inner = "".join(renderer.event(event) for event in groups[lineage][round_index])
            rounds.append(f'<div class="round" id="{anchor}/{_round_id(lineage, round_index)}">'
                          f'<div class="round-label">{label}</div><div class="events">{inner}</div></div>')
        parts.append(f'<section class="lineage" id="{anchor}/L{"s" if lineage is None else lineage}">'
                     f'<h2>{title}</h2>{"".join(rounds)}</section>')
    if final_stage:
        inner = "".join(renderer.event(event) for event in final_stage)
        parts.append(f'<section class="lineage" id="{anchor}/final"><h2>After the search: final measurement and '
                     f'tuning</h2><div class="round"><div class="round-label"></div><div class="events">{inner}'
                     f'</div></div></section>')
    return "".join(parts)


class _EventRenderer:
    """Renders one task's events; remembers each lineage's last candidate and the prompt sections shown."""

    def __init__(self, anchor: str):
        self.anchor = anchor
        self.last_source: dict[Any, tuple[str, str]] = {}
        self.shown: dict[str, tuple[str, str]] = {}  # prompt block -> (element id, where it was shown)
        self.kernels: dict[str, tuple[str, str]] = {}  # candidate source, stripped -> (element id, candidate)
        self.count = 0

    def event(self, event: dict[str, Any]) -> str:
        kind = event.get("type", "?")
        if kind in ("generate", "reflect", "optimize"):
            return self.llm_call(event)
        if kind == "evaluate":
            return self.evaluation(event)
        if kind == "format_error":
            return (f'<div class="event"><div class="ev-head"><span class="role r-error">format error</span></div>'
                    f'{_text_block(str(event.get("message", "")))}</div>')
        if kind == "final_measure":
            result = event.get("result") or {}
            return (f'<div class="event eval"><div class="ev-head"><span class="role r-evaluate">final measurement'
                    f'</span><span class="meta">candidate {escape(str(event.get("candidate", "?")))}, timed again'
                    f'</span>{_pill(result.get("status", "error"))}</div>{_result(result)}</div>')
        if kind == "tune":
            return (f'<div class="event"><div class="ev-head"><span class="role r-optimize">tune</span>'
                    f'<span class="meta">launch parameters of the winner</span></div>'
                    f'<div class="facts-line">{escape(_tune_line(event))}</div></div>')
        if kind == "trap":
            origin = event.get("restart_from")
            return (f'<div class="event trap"><span class="role r-trap">debugging trap</span> too many failed fixes '
                    f'in a row: the lineage restarts from {escape(origin) if origin else "scratch"}.</div>')
        return f'<div class="event"><span class="role">{escape(kind)}</span>{_text_block(json.dumps(event, indent=1, default=str))}</div>'

    def llm_call(self, event: dict[str, Any]) -> str:
        kind = event["type"]
        where = f"{_round_label(event)} {kind}"
        meta = [f"{_tokens(event.get('tokens_in'))} in", f"{_tokens(event.get('tokens_out'))} out"]
        if event.get("cost") is not None:
            meta.append(_usd(event["cost"]))
        if event.get("latency_s") is not None:
            meta.append(f"{event['latency_s']:.1f} s")
        if event.get("cached"):
            meta.append("from cache")
        messages = event.get("messages") or []
        size = sum(len(str(m.get("content", ""))) for m in messages)
        prompt = "".join(self.message(m, where) for m in messages)
        reply = str(event.get("reply", ""))
        reply_open = " open" if kind != "generate" else ""
        return (f'<div class="event llm"><div class="ev-head"><span class="role r-{kind}">{kind}</span>'
                f'<span class="meta">{escape(" · ".join(meta))}</span></div>'
                f'<details class="prompt"><summary>prompt <span class="muted">{len(messages)} messages, '
                f'{size:,} characters</span></summary>{prompt}</details>'
                f'<details class="reply"{reply_open}><summary>reply <span class="muted">{len(reply):,} characters'
                f'</span></summary>{_rich(reply)}</details></div>')

    def message(self, message: dict[str, Any], where: str) -> str:
        """A prompt message; a run of blocks shown earlier in the task becomes one 'same as' line."""
        parts, repeated, lines, chars = [], [], 0, 0
        for block in _blocks(str(message.get("content", ""))):
            if len(block) >= SHARED_MIN_BLOCK and block in self.shown:
                repeated.append(block)
                continue
            parts.append(self.repeated(repeated))
            repeated = []
            kernel = self.kernel_reference(block)
            if kernel:
                parts.append(kernel)
                continue
            element_id = f"{self.anchor}/p{len(self.shown)}"
            if len(block) >= SHARED_MIN_BLOCK:
                self.shown[block] = (element_id, where)
            parts.append(f'<div class="section" id="{element_id}">{_rich(block, clip=False)}</div>')
            lines, chars = lines + block.count("\n") + 2, chars + len(block)
        parts.append(self.repeated(repeated))
        return (f'<div class="message"><div class="msg-role">{escape(str(message.get("role", "")))}</div>'
                f'{_clip("".join(parts), lines, chars)}</div>')

    def kernel_reference(self, block: str) -> str | None:
        """A '## heading' block holding only a candidate already shown: the heading and a reference to it."""
        match = re.fullmatch(r"(##[^\n]*)\n```[a-z]*\n(.*?)\n?```\s*", block, flags=re.S)
        known = self.kernels.get(match[2].strip()) if match else None
        if not known:
            return None
        return (f'<div class="section">{_rich(match[1], clip=False)}<div class="shared"><span class="muted">the kernel '
                f'of candidate {escape(known[1])} ({match[2].count(chr(10)) + 1} lines)</span> <button class="reveal" '
                f'data-src="{escape(known[0], quote=True)}">show</button></div></div>')

    def repeated(self, blocks: list[str]) -> str:
        if sum(map(len, blocks)) < SHARED_MIN_CHARS:
            return "".join(f'<div class="section">{_rich(block, clip=False)}</div>' for block in blocks)
        first = self.shown[blocks[0]]
        head = blocks[0].split("\n", 1)[0]
        head = head if len(head) <= 80 else head[:79].rsplit(" ", 1)[0] + "…"
        more = len(blocks) - 1
        label = f"“{head}”" + (f" and {more} more block{'s' if more > 1 else ''}" if more else "")
        sources = " ".join(self.shown[block][0] for block in blocks)
        return (f'<div class="shared"><span class="muted">{escape(label)}, {sum(map(len, blocks)):,} characters: '
                f'as in {escape(first[1])}</span> <button class="reveal" data-src="{escape(sources, quote=True)}">'
                f'show</button></div>')

    def evaluation(self, event: dict[str, Any]) -> str:
        candidate = str(event.get("candidate", "?"))
        source = str(event.get("source", ""))
        lineage = event.get("lineage")
        previous = self.last_source.get(lineage)
        element_id = f"{self.anchor}/src-{candidate}"
        if previous is None:
            code = f'<div class="code-title">{escape(candidate)} in full</div>{_code(source, element_id)}'
        elif previous[1] == source:
            code = f'<div class="code-title">{escape(candidate)}: identical to {escape(previous[0])}</div>'
        else:
            code = (f'<div class="code-title">{escape(candidate)}: changes from {escape(previous[0])} '
                    f'<button class="whole">show whole file</button></div>{_diff(previous[1], source, previous[0], candidate)}'
                    f'<div class="whole-file" hidden>{_code(source, element_id)}</div>')
        self.last_source[lineage] = (candidate, source)
        if previous is None or previous[1] != source:
            self.kernels.setdefault(source.strip(), (element_id, candidate))
        result = event.get("result") or {}
        return (f'<div class="event eval"><div class="ev-head"><span class="role r-evaluate">evaluate</span>'
                f'<span class="meta">candidate {escape(candidate)}</span>{_pill(result.get("status", "error"))}</div>'
                f'<div class="candidate">{code}</div>{_result(result)}</div>')


def _result(result: dict[str, Any]) -> str:
    status = result.get("status", "error")
    facts = [f"call_ok {_yes(result.get('call_ok'))}", f"exec_ok {_yes(result.get('exec_ok'))}"]
    cases = result.get("cases") or []
    if cases:
        facts.append(f"{sum(bool(c.get('ok')) for c in cases)}/{len(cases)} checks passed")
    if result.get("speedup") is not None:
        facts.append(f"speedup {_x(result['speedup'])}")
    if result.get("speedup_vs_torch") is not None:
        facts.append(f"vs torch {_x(result['speedup_vs_torch'])}")
    if result.get("wall_s") is not None:
        facts.append(f"evaluated in {result['wall_s']:.1f} s")
    parts = [f'<div class="result s-border-{escape(status)}"><div class="facts-line">{escape(" · ".join(facts))}</div>']
    if result.get("message"):
        parts.append(_text_block(result["message"]))
    if result.get("speedup") is None and result.get("speedup_reason") and status == "passed":
        parts.append(f'<p class="muted small">speed not measured: {escape(result["speedup_reason"])}</p>')
    for violation in result.get("guard_violations") or []:
        parts.append(f'<p class="guard">guard: {escape(str(violation))}</p>')
    failing = next((c for c in cases if not c.get("ok")), None)
    if failing:
        parts.append(_failing_case(failing))
    if result.get("perf"):
        parts.append(_timings(result["perf"]))
    for stream in ("stderr_tail", "stdout_tail"):
        if result.get(stream) and status != "passed":
            parts.append(f'<details><summary>{stream.replace("_tail", "")} (end)</summary>'
                         f'{_text_block(result[stream])}</details>')
    if result.get("evidence"):
        parts.append(f'<details><summary>evidence</summary>'
                     f'{_text_block(json.dumps(result["evidence"], indent=1, default=str))}</details>')
    return "".join(parts) + "</div>"


def _failing_case(case: dict[str, Any]) -> str:
    fields = [("case", case.get("label")), ("seed", case.get("seed")), ("phase", case.get("phase")),
              ("max abs err", _num(case.get("max_abs_err"))), ("max rel err", _num(case.get("max_rel_err"))),
              ("first bad index", case.get("first_bad_index")),
              ("mismatched", f"{case['mismatched']:,} of {case.get('elements') or 0:,}"
               if case.get("mismatched") is not None else None)]
    cells = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(str(v))}</dd></div>" for k, v in fields if v is not None)
    message = _text_block(case["message"]) if case.get("message") else ""
    return f'<div class="failing"><div class="sub">first failing check</div><dl class="facts">{cells}</dl>{message}</div>'


def _timings(perf: list[dict[str, Any]]) -> str:
    columns = [("case", "label", str), ("candidate", "candidate_ms", _ms), ("baseline", "baseline_ms", _ms),
               ("torch", "reference_ms", _ms), ("speedup", "speedup", _x), ("vs torch", "speedup_vs_torch", _x),
               ("GB/s", "gbps", lambda v: f"{v:,.0f}"), ("TFLOP/s", "tflops", lambda v: f"{v:,.1f}"),
               ("% measured BW", "measured_bandwidth_fraction", _pct), ("% datasheet BW", "bandwidth_fraction", _pct),
               ("% measured FLOP/s", "measured_compute_fraction", _pct), ("% datasheet FLOP/s", "compute_fraction", _pct)]
    used = [c for c in columns if c[1] == "label" or any(p.get(c[1]) is not None for p in perf)]
    head = "".join(f'<th class="{"text" if key == "label" else "num"}">{escape(name)}</th>' for name, key, _ in used)
    rows = []
    for p in perf:
        cells = []
        for _, key, fmt in used:
            value = p.get(key)
            shown = "—" if value is None else fmt(value)
            extra = _speed_class(value) if key in ("speedup", "speedup_vs_torch") else ""
            cells.append(f'<td class="{"text" if key == "label" else "num"} {extra}">{escape(shown)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="timings"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


# --- text ----------------------------------------------------------------------------------------

def _diff(before: str, after: str, before_name: str, after_name: str) -> str:
    lines = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), before_name, after_name, lineterm="", n=3):
        kind = ("head" if line.startswith(("---", "+++")) else "hunk" if line.startswith("@@")
                else "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx")
        lines.append(f'<span class="d-{kind}">{escape(line)}</span>')
    return _clip(f'<pre class="diff">{"".join(lines)}</pre>', len(lines), sum(map(len, lines)))


def _code(source: str, element_id: str | None = None) -> str:
    attribute = f' id="{escape(element_id, quote=True)}"' if element_id else ""
    return _clip(f'<pre class="code"{attribute}>{escape(source)}</pre>', source.count("\n") + 1, len(source))


def _text_block(text: str) -> str:
    return _clip(f'<pre class="text">{escape(text)}</pre>', text.count("\n") + 1, len(text))


def _blocks(text: str) -> list[str]:
    """Paragraphs split at blank lines, a ``` fenced block kept whole."""
    blocks: list[str] = []
    for piece in text.split("\n\n"):
        if blocks and blocks[-1].count("```") % 2:
            blocks[-1] += "\n\n" + piece
        else:
            blocks.append(piece)
    return blocks


def _rich(text: str, clip: bool = True) -> str:
    """Prose in a readable font, ``` fenced code as code; everything escaped."""
    pieces = re.split(r"(```[^\n]*\n.*?(?:```|\Z))", text, flags=re.S)
    html = []
    for piece in pieces:
        if piece.startswith("```"):
            body = piece.split("\n", 1)[1] if "\n" in piece else ""
            html.append(f'<pre class="code">{escape(body.removesuffix("```").rstrip())}</pre>')
        elif piece.strip():
            html.append(f'<div class="prose">{escape(piece.strip())}</div>')
    html = "".join(html)
    return _clip(html, text.count("\n") + 1, len(text)) if clip else html


def _clip(html: str, lines: int, chars: int) -> str:
    if lines <= CLIP_LINES and chars <= CLIP_CHARS:
        return html
    return (f'<div class="clip">{html}</div><button class="more">show all '
            f'({lines:,} lines, {chars:,} characters)</button>')


# --- small formatting helpers --------------------------------------------------------------------

def _pill(status: str) -> str:
    return f'<span class="pill s-{escape(status, quote=True)}">{escape(STATUS_LABELS.get(status, status))}</span>'


def _speed_class(value: float | None) -> str:
    if value is None:
        return ""
    return "faster" if value >= 1.0 else "slower"


def _x(value: float | None, short: bool = False) -> str:
    if value is None:
        return "—"
    if short:
        return f"{value:.3g}×"
    return f"{value:.2f}×" if value < 100 else f"{value:,.0f}×"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _usd(value: float | None) -> str:
    if value is None:
        return "?"
    return f"${value:.2f}" if value >= 0.095 or value == 0 else f"${value:.3f}" if value >= 0.0095 else f"${value:.4f}"


def _tokens(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.1f}k" if value >= 1e3 else f"{value:.0f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} µs" if value < 1 else f"{value:.3f} ms"


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:.3g}"


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _sortable(value: float | None) -> str:
    return "" if value is None else repr(value)


def _date(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return text


def _round_id(lineage: Any, round_index: Any) -> str:
    return f"L{'s' if lineage is None else lineage}-R{'s' if round_index is None else round_index}"


def _round_label(event: dict[str, Any]) -> str:
    lineage, round_index = event.get("lineage"), event.get("round")
    return "the start kernel's" if lineage is None else f"L{lineage} round {round_index}"


def _anchors(tasks: Iterable[str]) -> dict[str, str]:
    """task-<id>, or task-<suite>-<id> where two suites share an id; safe in a URL and an HTML id."""
    tasks = list(tasks)
    short = [task.split(":")[-1] for task in tasks]
    anchors = {}
    for task, name in zip(tasks, short):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name if short.count(name) == 1 else task)
        anchors[task] = f"task-{slug}"
    return anchors


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_trajectory(path: Path) -> list[dict[str, Any]]:
    events = []
    text = _read_text(path) or ""
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            break  # a torn last line from a killed run
    return events


CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#6a7385;--line:#e2e6ec;--accent:#3b6fd8;
--pass:#1f9d55;--fail:#d64545;--warn:#d9822b;--purple:#8a4fd6;--code:#f3f5f8;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1c2027;--ink:#e4e8ef;--muted:#939cad;
--line:#2c323c;--accent:#6d9bf0;--pass:#3cc47a;--fail:#f06a6a;--warn:#f0a050;--purple:#b58cf0;--code:#171b21}}
*{box-sizing:border-box}
html{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
body{margin:0;background:var(--bg);color:var(--ink)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header{background:var(--card);border-bottom:1px solid var(--line);padding:14px 28px 12px}
header .bar{display:flex;align-items:baseline;gap:24px;max-width:1184px;margin:0 auto}
.brand{font-weight:700;font-size:18px;color:var(--ink)}.brand span{font-weight:400;color:var(--muted)}
header nav a{margin-right:16px;color:var(--muted)}
dl.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:10px auto 0;max-width:1184px}
dl.facts div{min-width:0}dl.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
dl.facts dd{margin:0;font-weight:500;overflow-wrap:anywhere}
main{max-width:1240px;margin:0 auto;padding:20px 28px 80px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:18px;margin:34px 0 12px}
.muted{color:var(--muted)}.small{font-size:12.5px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.card .value{font-size:30px;font-weight:650;font-variant-numeric:tabular-nums;margin:2px 0}
.card .note{font-size:12.5px;color:var(--muted)}
.statuses{margin-top:12px;display:flex;flex-wrap:wrap;gap:10px}.tally b{margin-left:5px;font-variant-numeric:tabular-nums}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap;
color:#fff;background:var(--muted)}
.s-passed{background:var(--pass)}.s-wrong_output{background:var(--warn)}.s-rejected{background:var(--purple)}
.s-compile_error,.s-runtime_error{background:var(--fail)}.s-crashed{background:#9b2c2c}
.s-timeout{background:#b7791f}.s-error{background:#5a6270}
.s-format_error{background:repeating-linear-gradient(45deg,var(--fail) 0 3px,transparent 3px 6px);border:1px solid var(--fail)}
.plots{display:grid;grid-template-columns:1fr 1fr;gap:14px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
figure.wide{grid-column:1/-1}figcaption{font-weight:600;margin-bottom:6px}
svg{width:100%;height:auto;display:block}
svg .grid{stroke:var(--line);stroke-width:1}svg .axis{stroke:var(--muted);stroke-width:1.2}
svg .grid.one{stroke:var(--muted);stroke-dasharray:4 4}svg .name{font-size:11.5px;fill:var(--ink)}
svg .tick{fill:var(--muted);font-size:11px}svg .label{fill:var(--muted);font-size:12px}
svg a rect:hover{opacity:.7}
.legend{display:flex;gap:16px;font-size:12.5px;color:var(--muted);margin-top:2px}
.legend i{display:inline-block;width:12px;height:3px;border-radius:2px;margin-right:6px;vertical-align:middle}
table{border-collapse:separate;border-spacing:0;background:var(--card);border:1px solid var(--line);border-radius:10px}
th,td{padding:6px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
tr:last-child td,tr:last-child th{border-bottom:0}
thead th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);background:var(--card);
position:sticky;top:0;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.metrics{min-width:60%}table.metrics th{font-weight:500;white-space:nowrap}table.metrics td.note{color:var(--muted);font-size:13px}
table.tasks{width:100%}table.tasks tbody tr:hover{background:var(--code)}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:hover{color:var(--ink)}
th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
.faster{color:var(--pass);font-weight:600}.slower{color:var(--fail)}
.tools{display:flex;align-items:center;gap:12px;margin-bottom:10px}
#filter{font:inherit;padding:6px 10px;border:1px solid var(--line);border-radius:8px;width:320px;background:var(--card);color:var(--ink)}
.pager{display:flex;gap:18px;font-size:14px}
.task-facts{margin:8px 0 14px}
.callout{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--warn);border-radius:6px;padding:8px 12px}
.callout.fail{border-left-color:var(--fail)}
.timeline{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px;margin:12px 0}
.tl-row{display:flex;align-items:center;gap:4px;margin:3px 0}.tl-label{width:44px;font-size:12px;color:var(--muted)}
.sq{width:18px;height:18px;border-radius:4px;display:inline-block}.sq:hover{outline:2px solid var(--ink)}
.tl-row .small{margin-left:10px}
.lineage>h2{position:sticky;top:0;background:var(--bg);padding:6px 0;z-index:2;border-bottom:1px solid var(--line)}
.round{display:grid;grid-template-columns:76px 1fr;gap:12px;margin:14px 0}
.round-label{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;padding-top:10px}
.events{display:flex;flex-direction:column;gap:10px;min-width:0}
.event{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px;min-width:0}
.event.trap{border-style:dashed}
.ev-head{display:flex;align-items:center;gap:10px;margin-bottom:6px}
.ev-head .pill{margin-left:auto}
.role{font-size:12px;font-weight:700;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.r-generate{color:var(--accent)}.r-reflect{color:var(--warn)}.r-optimize{color:var(--pass)}.r-evaluate{color:var(--ink)}
.r-error{color:var(--fail)}.r-trap{color:var(--purple)}
.meta{font-size:12.5px;color:var(--muted);font-variant-numeric:tabular-nums}
details{margin:4px 0}summary{cursor:pointer;font-weight:500;font-size:13.5px}
summary .muted{font-weight:400;margin-left:6px}
.message{border-left:3px solid var(--line);padding-left:10px;margin:8px 0}
.msg-role{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.shared{font-size:13px;margin:4px 0}
button{font:inherit;font-size:12px;border:1px solid var(--line);background:var(--card);color:var(--accent);
border-radius:6px;padding:1px 8px;cursor:pointer}button:hover{border-color:var(--accent)}
.prose{white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0}
pre{font:12.5px/1.45 var(--mono);background:var(--code);border:1px solid var(--line);border-radius:8px;
padding:8px 10px;margin:6px 0;overflow-x:auto;white-space:pre}
pre.text{white-space:pre-wrap;overflow-wrap:anywhere}
.diff span{display:block}.d-add{background:rgba(31,157,85,.14)}.d-del{background:rgba(214,69,69,.14)}
.d-hunk{color:var(--accent)}.d-head{color:var(--muted)}
.clip{max-height:26em;overflow:hidden;position:relative}
.clip::after{content:"";position:absolute;left:0;right:0;bottom:0;height:4em;background:linear-gradient(transparent,var(--card))}
.clip.open{max-height:none}.clip.open::after{display:none}
.code-title{font-size:13px;font-weight:500;display:flex;gap:10px;align-items:center}
.result{border-left:4px solid var(--muted);padding:2px 0 2px 10px;margin-top:8px}
.s-border-passed{border-color:var(--pass)}.s-border-wrong_output{border-color:var(--warn)}
.s-border-rejected{border-color:var(--purple)}.s-border-timeout{border-color:#b7791f}
.s-border-compile_error,.s-border-runtime_error,.s-border-crashed{border-color:var(--fail)}
.facts-line{font-size:13px;font-variant-numeric:tabular-nums}
.guard{color:var(--purple);font-weight:500;margin:4px 0}
.failing .sub{font-size:12px;font-weight:600;color:var(--fail);margin-top:8px}.failing dl.facts{margin:4px 0}
table.timings{margin:8px 0;font-size:13px}table.timings th,table.timings td{padding:4px 10px}
details.best{margin:10px 0 4px}
@media (max-width:800px){.plots{grid-template-columns:1fr}.round{grid-template-columns:1fr}main{padding:12px}}
"""

JS = r"""
(function () {
  "use strict";
  var pages = document.querySelectorAll("main > section.page");
  var title = document.title;

  function inflate(page) {
    var blob = page.querySelector("script.blob");
    if (!blob) return Promise.resolve();
    var holder = page.querySelector(".trajectory");
    if (!window.DecompressionStream) {
      holder.textContent = "This browser cannot unpack the trajectory (it lacks DecompressionStream).";
      return Promise.resolve();
    }
    var bytes = Uint8Array.from(atob(blob.textContent.trim()), function (c) { return c.charCodeAt(0); });
    blob.remove();
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(function (html) { holder.innerHTML = html; });
  }

  function route() {
    var hash;
    try { hash = decodeURIComponent(location.hash.slice(1)) || "summary"; } catch (e) { hash = "summary"; }
    var target = document.getElementById(hash);
    var name = hash.split("/")[0];
    var page = document.getElementById(name);
    if (!page || !page.classList.contains("page")) page = target ? target.closest("section.page") : null;
    if (!page) page = document.getElementById("summary");
    pages.forEach(function (p) { p.hidden = p !== page; });
    document.title = page.id === "summary" ? title : page.querySelector("h1").textContent + " · " + title;
    inflate(page).then(function () {
      var element = document.getElementById(hash);
      if (element && element !== page) element.scrollIntoView({block: "start"});
      else window.scrollTo(0, 0);
      if (element && element.classList.contains("round")) {
        element.querySelectorAll(".events details").forEach(function (d) { d.open = true; });
      }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    if (button.classList.contains("more")) {
      var clip = button.previousElementSibling;
      var open = clip.classList.toggle("open");
      button.dataset.label = button.dataset.label || button.textContent;
      button.textContent = open ? "show less" : button.dataset.label;
    } else if (button.classList.contains("reveal")) {
      var holder = button.parentNode;
      button.dataset.src.split(" ").forEach(function (id) {
        var copy = document.getElementById(id).cloneNode(true);
        copy.removeAttribute("id");
        holder.before(copy);
      });
      holder.remove();
    } else if (button.classList.contains("whole")) {
      var whole = button.closest(".candidate").querySelector(".whole-file");
      whole.hidden = !whole.hidden;
      button.textContent = whole.hidden ? "show whole file" : "hide whole file";
    }
  });

  var table = document.querySelector("table.sortable");
  if (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("th").forEach(function (th, column) {
      function sort() {
        var ascending = !th.classList.contains("asc");
        table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(ascending ? "asc" : "desc");
        var numeric = th.dataset.kind === "num";
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.v, y = b.cells[column].dataset.v;
          if (numeric) {
            if (x === "" || y === "") return (x === "") - (y === "");  // unmeasured last
            return ascending ? x - y : y - x;
          }
          return ascending ? x.localeCompare(y) : y.localeCompare(x);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
    var filter = document.getElementById("filter"), shown = document.getElementById("shown");
    filter.addEventListener("input", function () {
      var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean), count = 0;
      Array.prototype.forEach.call(body.rows, function (row) {
        var text = row.textContent.toLowerCase();
        var keep = words.every(function (w) { return text.indexOf(w) >= 0; });
        row.hidden = !keep;
        count += keep;
      });
      shown.textContent = words.length ? count + " of " + body.rows.length + " tasks" : "";
    });
  }

  window.addEventListener("hashchange", route);
  route();
})();
"""
