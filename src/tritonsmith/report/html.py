"""One self-contained HTML report of a bench folder: summary, plots, and every task's trajectory.

This module writes the page and its summary. Nothing is fetched when it is read: inline CSS and a
little vanilla JS (assets.py), SVG plots drawn in Python (plots.py). Every text from a run is html-escaped.
Each task's page (trajectory.py) carries its trajectory gzipped and base64-encoded, inflated by the browser
(DecompressionStream) when the page is first opened, so a bench of 200 agent runs stays a few MB.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from tritonsmith.report.assets import CSS, JS
from tritonsmith.report.format import (
    date_text,
    duration_text,
    percent_text,
    sort_value,
    speed_class,
    speedup_text,
    status_pill,
    tokens_text,
    usd_text,
)
from tritonsmith.report.metrics import suite_metrics, task_rows
from tritonsmith.report.plots import plots_html
from tritonsmith.report.run_files import read_summary
from tritonsmith.report.trajectory import task_page_html
from tritonsmith.runs.records import TaskRecord
from tritonsmith.runs.store import ResultsStore
from tritonsmith.summary import RunSummary


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
    summaries = {task: read_summary(bench / record.run_dir / "summary.json") if record.run_dir else None
                 for task, record in by_task.items()}
    order = [row["task"] for row in rows]
    neighbours = [(order[i - 1] if i else None, order[i + 1] if i + 1 < len(order) else None) for i in range(len(order))]
    pages = [task_page_html(bench, by_task[task], summaries[task], anchors, around)
             for task, around in zip(order, neighbours)]
    title = f"tritonsmith bench: {settings.get('suite') or 'suite'}" + (
        f" with {settings['model']}" if settings.get("model") else "")
    body = "\n".join([
        _header(settings, summaries, len(rows), metrics["devices"]),
        '<main>',
        '<section class="page" id="summary">',
        _headline(metrics),
        plots_html(metrics, rows, anchors),
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


def _header(settings: dict[str, Any], summaries: dict[str, RunSummary | None], tasks: int,
            recorded: dict[str, int]) -> str:
    devices = sorted({s.device for s in summaries.values() if s and s.device} | set(recorded))
    device = ", ".join(devices) or (f"{settings['device']} (as asked)" if settings.get("device") else "not recorded")
    if len(devices) > 1:
        device += " (a bench resumed on another machine: its totals mix them)"
    facts = [("suite", settings.get("suite")), ("solver", settings.get("solver")),
             ("model", settings.get("model")), ("device", device), ("mode", settings.get("mode")),
             ("lineages × rounds", f"{settings['parallel']} × {settings['rounds']}"
              if settings.get("parallel") and settings.get("rounds") and settings.get("solver") == "agent" else None),
             ("tasks", tasks), ("started", date_text(settings.get("created_at"))),
             ("report", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))]
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(str(v))}</dd></div>" for k, v in facts if v)
    return (f'<header><div class="bar"><a class="brand" href="#summary">tritonsmith <span>bench report</span></a>'
            f'<nav><a href="#summary">summary</a><a href="#tasks">tasks</a></nav></div>'
            f'<dl class="facts">{items}</dl></header>')


def _headline(metrics: dict[str, Any]) -> str:
    speedup, fast = metrics["speedup"], metrics["fast_p"]
    usd = metrics["cost"]["usd"]["total"]
    cards = [
        ("exec accuracy", percent_text(metrics["exec_accuracy"]), f"{metrics['exec_ok']} of {metrics['tasks']} tasks correct"),
        ("call accuracy", percent_text(metrics["call_accuracy"]), f"{metrics['call_ok']} of {metrics['tasks']} tasks ran"),
        ("speedup (geomean)", speedup_text(speedup["geomean"]),
         (f"over {speedup['tasks']} timed correct tasks" + _before_note(metrics["tuning"]))
         if speedup["geomean"] else speedup["reason"]),
        ("fast_1.0", "n/a" if metrics["fast_p_reason"] else percent_text(fast.get("1.0")),
         metrics["fast_p_reason"] or "correct and faster than the baseline, beyond the timing noise"),
        ("spent", usd_text(usd) if usd is not None else "$?",
         f"{tokens_text(metrics['cost']['tokens']['total'])} tokens · {duration_text(metrics['cost']['wall_s']['total'])}"),
    ]
    html = "".join(f'<div class="card"><div class="label">{escape(label)}</div><div class="value">{escape(value)}'
                   f'</div><div class="note">{escape(note or "")}</div></div>' for label, value, note in cards)
    statuses = "".join(f'<span class="tally">{status_pill(status)}<b>{count}</b></span>'
                       for status, count in sorted(metrics["statuses"].items(), key=lambda kv: -kv[1]))
    return f'<div class="cards">{html}</div><div class="statuses">{statuses}</div>'


def _before_note(tuning: dict[str, Any] | None) -> str:
    before = tuning["speedup_before"]["geomean"] if tuning else None
    return f"; {speedup_text(before)} before tuning" if before is not None else ""


def _metrics_table(metrics: dict[str, Any]) -> str:
    speedup, cost = metrics["speedup"], metrics["cost"]
    rows = [
        ("tasks", str(metrics["tasks"]), ""),
        ("call accuracy", percent_text(metrics["call_accuracy"]), f"{metrics['call_ok']} tasks: a candidate ran"),
        ("exec accuracy", percent_text(metrics["exec_accuracy"]), f"{metrics['exec_ok']} tasks: a candidate passed"),
        ("speedup, geometric mean", speedup_text(speedup["geomean"]),
         speedup["reason"] or f"over {speedup['tasks']} correct tasks with a measured speedup"),
        ("speedup, arithmetic mean", speedup_text(speedup["arithmetic_mean"]),
         "GEAK's “average speedup”: pulled up by a few large values; the geometric mean is the headline"),
    ]
    tuning = metrics["tuning"]
    if tuning:
        before, gain = tuning["speedup_before"], tuning["gain"]
        rows += [
            ("speedup before tuning, geometric mean", speedup_text(before["geomean"]),
             before["reason"] or f"the same tasks' winners before the last stage tuned them ({before['tasks']} tasks)"),
            ("tasks tuned", f"{tuning['tuned_tasks']} of {tuning['attempted_tasks']}",
             "the tuned kernel replaced the winner; the others kept the untuned kernel"),
            ("speedup from tuning, geometric mean", speedup_text(gain["geomean"]),
             f"the tuner's own measurement over {gain['tasks']} tasks; 1× where the untuned kernel was kept"),
        ]
    rows += [(f"fast_{p}", "n/a" if value is None else percent_text(value),
              metrics["fast_p_reason"] or f"correct and more than {p}× the baseline beyond the timing noise, "
              "over all tasks") for p, value in metrics["fast_p"].items()]
    rows += [(f"pass@{point['k']}", percent_text(point["value"]),
              f"{point['tasks_with_fewer_lineages']} tasks had fewer than {point['k']} lineages"
              if point["tasks_with_fewer_lineages"] else "unbiased estimator over each task's lineages")
             for point in metrics["pass_at_k"]]
    for key, label, fmt in (("tokens", "tokens", tokens_text), ("usd", "dollars", usd_text), ("wall_s", "time", duration_text)):
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
            (row["status"], status_pill(row["status"]), ""),
            (sort_value(row["speedup"]), speedup_text(row["speedup"]), speed_class(row["speedup"])),
            *([(sort_value(row["speedup_before_tuning"]), speedup_text(row["speedup_before_tuning"]),
                speed_class(row["speedup_before_tuning"]))] if tuned else []),
            (sort_value(row["speedup_vs_torch"]), speedup_text(row["speedup_vs_torch"]), speed_class(row["speedup_vs_torch"])),
            (row["lineages_passed"], f'{row["lineages_passed"]}/{row["lineages"]}', ""),
            (row["tokens"], tokens_text(row["tokens"]), ""),
            (sort_value(row["usd"]), usd_text(row["usd"]), ""),
            (row["wall_s"], duration_text(row["wall_s"]), ""),
        ]
        tds = "".join(f'<td data-v="{escape(str(value), quote=True)}" class="{"num " if i > 1 else ""}{extra}">{html}</td>'
                      for i, (value, html, extra) in enumerate(cells))
        title = f' title="{escape(reason, quote=True)}"' if reason else ""
        body.append(f"<tr{title}>{tds}</tr>")
    return (f'<h2 id="tasks">Tasks</h2><div class="tools"><input type="search" id="filter" '
            f'placeholder="filter tasks (name or status)" aria-label="filter tasks"><span id="shown"></span></div>'
            f'<table class="tasks sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def _anchors(tasks: Iterable[str]) -> dict[str, str]:
    """task-<id>, or task-<suite>-<id> where two suites share an id; safe in a URL and an HTML id."""
    tasks = list(tasks)
    short = [task.split(":")[-1] for task in tasks]
    anchors = {}
    for task, name in zip(tasks, short):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name if short.count(name) == 1 else task)
        anchors[task] = f"task-{slug}"
    return anchors
