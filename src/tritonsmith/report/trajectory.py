"""A task's page: its facts, a timeline of its candidates, and its trajectory event by event.

The trajectory is rendered to HTML, gzipped and base64-encoded, and inflated by the browser when the page
is first opened; prompt sections repeated within a task are shown once.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from html import escape
from pathlib import Path
from typing import Any

from tritonsmith.report.format import (
    STATUS_LABELS,
    duration_text,
    ms_text,
    number_text,
    percent_text,
    speed_class,
    speedup_text,
    status_pill,
    tokens_text,
    usd_text,
    yes_no,
)
from tritonsmith.report.run_files import read_text, read_trajectory
from tritonsmith.report.text import clip_html, code_html, diff_html, rich_html, text_blocks, text_html
from tritonsmith.runs.records import TaskRecord
from tritonsmith.summary import RunSummary
from tritonsmith.tune.label import config_label

SHARED_MIN_CHARS = 300  # prompt blocks this long in all, shown earlier in the task, become a reference to them
SHARED_MIN_BLOCK = 40  # shorter blocks are never looked up
FINAL_STAGE = ("final_measure", "tune")  # events after the search, outside any lineage


def task_page_html(bench: Path, record: TaskRecord, summary: RunSummary | None, anchors: dict[str, str],
               neighbours: tuple[str | None, str | None]) -> str:
    anchor = anchors[record.task]
    previous, following = neighbours
    nav = ('<nav class="pager"><a href="#tasks">← all tasks</a>'
           + (f'<a href="#{anchors[previous]}">‹ {escape(previous)}</a>' if previous else "")
           + (f'<a href="#{anchors[following]}">{escape(following)} ›</a>' if following else "") + "</nav>")
    facts = [("status", status_pill(record.status)), ("speedup vs baseline", escape(speedup_text(record.speedup))),
             ("vs torch", escape(speedup_text(record.speedup_vs_torch))), ("tokens", escape(tokens_text(record.tokens))),
             ("cost", escape(usd_text(record.usd))), ("time", escape(duration_text(record.wall_s))),
             ("solver", escape(record.solver))]
    if record.tuning:
        facts.insert(2, ("speedup before tuning", escape(speedup_text(record.speedup_before_tuning))))
    if summary:
        facts += [("best candidate", escape(str(summary.best_candidate or "none"))),
                  ("candidates", escape(_count_text(summary.candidates))),
                  ("trap restarts", escape(_count_text(summary.restarts)))]
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
    if summary and summary.stop_reason:
        notes.append(f'<p class="callout">Stopped because: {escape(str(summary.stop_reason))}</p>')
    events = read_trajectory(bench / record.run_dir / "trajectory.jsonl") if record.run_dir else []
    best = read_text(bench / record.run_dir / "best.py") if record.run_dir else None
    head = (f'<section class="page task" id="{anchor}" hidden>{nav}<h1>{escape(record.task)}</h1>'
            f'<dl class="facts task-facts">{grid}</dl>{"".join(notes)}{_timeline(record, events, anchor)}')
    if not events:
        why = ("no run folder was recorded for this task" if not record.run_dir
               else f"no trajectory in {record.run_dir}")
        return head + f'<p class="muted">No trajectory: {escape(why)} (solver {escape(record.solver)}).</p></section>'
    body = _trajectory(events, anchor)
    if best:
        body = (f'<details class="best"><summary>best.py: the winning kernel</summary>'
                f'{code_html(best)}</details>') + body
    blob = base64.b64encode(gzip.compress(body.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")
    return (head + '<div class="trajectory"><p class="muted">Loading the trajectory…</p></div>'
            f'<script type="application/gzip+base64" class="blob">{blob}</script></section>')


def _count_text(count: int | None) -> str:
    return "" if count is None else str(count)  # None: the summary.json read did not hold it


def _tuning_label(tuning: dict[str, Any]) -> str:
    """Applied with which launch configuration, or kept the untuned kernel; and the search's size."""
    gain = tuning.get("speedup_from_tuning")
    if tuning.get("tuned"):
        label = f"applied: {config_label(tuning.get('config') or {})}" + (f", {speedup_text(gain)} over the untuned winner"
                                                                      if gain else "")
    else:
        label = "kept the untuned kernel"
    search = [f"{tuning['trials']} trials" if tuning.get("trials") is not None else "",
              duration_text(tuning["elapsed_s"]) if tuning.get("elapsed_s") is not None else ""]
    search = [part for part in search if part]
    return label + (f" ({' in '.join(search)})" if search else "")


def _tune_line(event: dict[str, Any]) -> str:
    """One tune event in words: what was chosen, the tuner's timings, and why it stopped."""
    if event.get("reason") and event.get("original_ms") is None:
        return f"kept the untuned kernel: {event['reason']}"
    times = (f"{ms_text(event['original_ms'])} → {ms_text(event['tuned_ms'])}"
             if event.get("original_ms") is not None and event.get("tuned_ms") is not None else "")
    gain = event.get("speedup_from_tuning")
    if event.get("tuned"):  # decided after the tuned kernel's final full evaluation
        head = f"applied {config_label(event.get('config') or {})}" + (f": {speedup_text(gain)} faster than the untuned winner"
                                                                 if gain else "")
    else:
        head = "kept the untuned kernel" + (f": {event['reason']}" if event.get("reason") else "")
    search = (f"{event['trials']} trials in {duration_text(event.get('elapsed_s'))}"
              if event.get("trials") is not None else "")
    stop = f"stopped: {event['stop_reason']}" if event.get("stop_reason") else ""
    return " · ".join(part for part in (head, times, search, stop) if part)


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
        tail = f'<span class="muted small">best {speedup_text(outcome.speedup)}</span>' if outcome and outcome.speedup else ""
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
                    f'{text_html(str(event.get("message", "")))}</div>')
        if kind == "final_measure":
            result = event.get("result") or {}
            return (f'<div class="event eval"><div class="ev-head"><span class="role r-evaluate">final measurement'
                    f'</span><span class="meta">candidate {escape(str(event.get("candidate", "?")))}, timed again'
                    f'</span>{status_pill(result.get("status", "error"))}</div>{_result(result)}</div>')
        if kind == "tune":
            return (f'<div class="event"><div class="ev-head"><span class="role r-optimize">tune</span>'
                    f'<span class="meta">launch parameters of the winner</span></div>'
                    f'<div class="facts-line">{escape(_tune_line(event))}</div></div>')
        if kind == "trap":
            origin = event.get("restart_from")
            return (f'<div class="event trap"><span class="role r-trap">debugging trap</span> too many failed fixes '
                    f'in a row: the lineage restarts from {escape(origin) if origin else "scratch"}.</div>')
        return f'<div class="event"><span class="role">{escape(kind)}</span>{text_html(json.dumps(event, indent=1, default=str))}</div>'

    def llm_call(self, event: dict[str, Any]) -> str:
        kind = event["type"]
        where = f"{_round_label(event)} {kind}"
        meta = [f"{tokens_text(event.get('tokens_in'))} in", f"{tokens_text(event.get('tokens_out'))} out"]
        if event.get("cost") is not None:
            meta.append(usd_text(event["cost"]))
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
                f'</span></summary>{rich_html(reply)}</details></div>')

    def message(self, message: dict[str, Any], where: str) -> str:
        """A prompt message; a run of blocks shown earlier in the task becomes one 'same as' line."""
        parts, repeated, lines, chars = [], [], 0, 0
        for block in text_blocks(str(message.get("content", ""))):
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
            parts.append(f'<div class="section" id="{element_id}">{rich_html(block, clip=False)}</div>')
            lines, chars = lines + block.count("\n") + 2, chars + len(block)
        parts.append(self.repeated(repeated))
        return (f'<div class="message"><div class="msg-role">{escape(str(message.get("role", "")))}</div>'
                f'{clip_html("".join(parts), lines, chars)}</div>')

    def kernel_reference(self, block: str) -> str | None:
        """A '## heading' block holding only a candidate already shown: the heading and a reference to it."""
        match = re.fullmatch(r"(##[^\n]*)\n```[a-z]*\n(.*?)\n?```\s*", block, flags=re.S)
        known = self.kernels.get(match[2].strip()) if match else None
        if not known:
            return None
        return (f'<div class="section">{rich_html(match[1], clip=False)}<div class="shared"><span class="muted">the kernel '
                f'of candidate {escape(known[1])} ({match[2].count(chr(10)) + 1} lines)</span> <button class="reveal" '
                f'data-src="{escape(known[0], quote=True)}">show</button></div></div>')

    def repeated(self, blocks: list[str]) -> str:
        if sum(map(len, blocks)) < SHARED_MIN_CHARS:
            return "".join(f'<div class="section">{rich_html(block, clip=False)}</div>' for block in blocks)
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
            code = f'<div class="code-title">{escape(candidate)} in full</div>{code_html(source, element_id)}'
        elif previous[1] == source:
            code = f'<div class="code-title">{escape(candidate)}: identical to {escape(previous[0])}</div>'
        else:
            code = (f'<div class="code-title">{escape(candidate)}: changes from {escape(previous[0])} '
                    f'<button class="whole">show whole file</button></div>{diff_html(previous[1], source, previous[0], candidate)}'
                    f'<div class="whole-file" hidden>{code_html(source, element_id)}</div>')
        self.last_source[lineage] = (candidate, source)
        if previous is None or previous[1] != source:
            self.kernels.setdefault(source.strip(), (element_id, candidate))
        result = event.get("result") or {}
        return (f'<div class="event eval"><div class="ev-head"><span class="role r-evaluate">evaluate</span>'
                f'<span class="meta">candidate {escape(candidate)}</span>{status_pill(result.get("status", "error"))}</div>'
                f'<div class="candidate">{code}</div>{_result(result)}</div>')


def _result(result: dict[str, Any]) -> str:
    status = result.get("status", "error")
    facts = [f"call_ok {yes_no(result.get('call_ok'))}", f"exec_ok {yes_no(result.get('exec_ok'))}"]
    cases = result.get("cases") or []
    if cases:
        facts.append(f"{sum(bool(c.get('ok')) for c in cases)}/{len(cases)} checks passed")
    if result.get("speedup") is not None:
        facts.append(f"speedup {speedup_text(result['speedup'])}")
    if result.get("speedup_vs_torch") is not None:
        facts.append(f"vs torch {speedup_text(result['speedup_vs_torch'])}")
    if result.get("wall_s") is not None:
        facts.append(f"evaluated in {result['wall_s']:.1f} s")
    parts = [f'<div class="result s-border-{escape(status)}"><div class="facts-line">{escape(" · ".join(facts))}</div>']
    if result.get("message"):
        parts.append(text_html(result["message"]))
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
                         f'{text_html(result[stream])}</details>')
    if result.get("evidence"):
        parts.append(f'<details><summary>evidence</summary>'
                     f'{text_html(json.dumps(result["evidence"], indent=1, default=str))}</details>')
    return "".join(parts) + "</div>"


def _failing_case(case: dict[str, Any]) -> str:
    fields = [("case", case.get("label")), ("seed", case.get("seed")), ("phase", case.get("phase")),
              ("max abs err", number_text(case.get("max_abs_err"))), ("max rel err", number_text(case.get("max_rel_err"))),
              ("first bad index", case.get("first_bad_index")),
              ("mismatched", f"{case['mismatched']:,} of {case.get('elements') or 0:,}"
               if case.get("mismatched") is not None else None)]
    cells = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(str(v))}</dd></div>" for k, v in fields if v is not None)
    message = text_html(case["message"]) if case.get("message") else ""
    return f'<div class="failing"><div class="sub">first failing check</div><dl class="facts">{cells}</dl>{message}</div>'


def _timings(perf: list[dict[str, Any]]) -> str:
    columns = [("case", "label", str), ("candidate", "candidate_ms", ms_text), ("baseline", "baseline_ms", ms_text),
               ("torch", "reference_ms", ms_text), ("speedup", "speedup", speedup_text), ("vs torch", "speedup_vs_torch", speedup_text),
               ("GB/s", "gbps", lambda v: f"{v:,.0f}"), ("TFLOP/s", "tflops", lambda v: f"{v:,.1f}"),
               ("% measured BW", "measured_bandwidth_fraction", percent_text), ("% datasheet BW", "bandwidth_fraction", percent_text),
               ("% measured FLOP/s", "measured_compute_fraction", percent_text), ("% datasheet FLOP/s", "compute_fraction", percent_text)]
    used = [c for c in columns if c[1] == "label" or any(p.get(c[1]) is not None for p in perf)]
    head = "".join(f'<th class="{"text" if key == "label" else "num"}">{escape(name)}</th>' for name, key, _ in used)
    rows = []
    for p in perf:
        cells = []
        for _, key, fmt in used:
            value = p.get(key)
            shown = "—" if value is None else fmt(value)
            extra = speed_class(value) if key in ("speedup", "speedup_vs_torch") else ""
            cells.append(f'<td class="{"text" if key == "label" else "num"} {extra}">{escape(shown)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="timings"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'



def _round_id(lineage: Any, round_index: Any) -> str:
    return f"L{'s' if lineage is None else lineage}-R{'s' if round_index is None else round_index}"


def _round_label(event: dict[str, Any]) -> str:
    lineage, round_index = event.get("lineage"), event.get("round")
    return "the start kernel's" if lineage is None else f"L{lineage} round {round_index}"
