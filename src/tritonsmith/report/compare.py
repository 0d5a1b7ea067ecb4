"""Two bench folders side by side: per task, then the suite metrics of both with their deltas (B - A)."""

from __future__ import annotations

from pathlib import Path

from tritonsmith.report.metrics import suite_metrics, task_rows
from tritonsmith.runs.records import TaskRecord
from tritonsmith.runs.store import ResultsStore

MISSING = "-"


def compare(folder_a: str | Path, folder_b: str | Path) -> str:
    """The text of `tritonsmith compare DIR_A DIR_B`: an aligned table per task, then the suite metrics."""
    records_a, records_b = load_records(folder_a), load_records(folder_b)
    lines = [f"A: {_describe(folder_a)}", f"B: {_describe(folder_b)}", ""]
    tuned = any(record.tuning for record in records_a + records_b)
    untuned = ["untuned A", "untuned B"] if tuned else []  # the speedups before tuning, only where a bench tuned
    task_table = [[row["task"], row["status_a"] or MISSING, row["status_b"] or MISSING,
                   _speedup(row["speedup_a"]), _speedup(row["speedup_b"]), _speedup(row["speedup_b_over_a"]),
                   *([_speedup(row["speedup_before_tuning_a"]), _speedup(row["speedup_before_tuning_b"])]
                     if tuned else []),
                   tokens_text(row["tokens_a"]), tokens_text(row["tokens_b"]),
                   usd_text(row["usd_a"]) if row["status_a"] else MISSING,
                   usd_text(row["usd_b"]) if row["status_b"] else MISSING]
                  for row in compare_rows(records_a, records_b)]
    lines += _table(["task", "status A", "status B", "speedup A", "speedup B", "B/A", *untuned,
                     "tokens A", "tokens B", "$ A", "$ B"], task_table, left=3)
    only_a = {r.task for r in records_a} - {r.task for r in records_b}
    only_b = {r.task for r in records_b} - {r.task for r in records_a}
    if only_a or only_b:
        lines += ["", f"{len(only_a)} task(s) only in A, {len(only_b)} only in B: "
                      "each bench's metrics are over its own tasks."]
    metric_table = [[row["metric"], "unknown" if row["a_unknown"] else _format(row["a"], row["kind"]),
                     "unknown" if row["b_unknown"] else _format(row["b"], row["kind"]),
                     _format(row["delta"], row["kind"], delta=True)]
                    for row in compare_metrics(suite_metrics(records_a), suite_metrics(records_b))]
    lines += [""] + _table(["metric", "A", "B", "B - A"], metric_table, left=1)
    return "\n".join(lines) + "\n"


def load_records(folder: str | Path) -> list[TaskRecord]:
    store = ResultsStore(folder)
    if not store.results_path.exists():
        raise FileNotFoundError(f"{folder} has no {store.results_path.name}: it is not a bench folder.")
    return store.records()


def compare_rows(records_a: list[TaskRecord], records_b: list[TaskRecord]) -> list[dict]:
    """One row per task of either bench, sorted by task; a side without the task has None."""
    rows_a = {row["task"]: row for row in task_rows(records_a)}
    rows_b = {row["task"]: row for row in task_rows(records_b)}
    rows = []
    for task in sorted(rows_a.keys() | rows_b.keys()):
        a, b = rows_a.get(task, {}), rows_b.get(task, {})
        speedup_a, speedup_b = a.get("speedup"), b.get("speedup")
        rows.append({
            "task": task, "status_a": a.get("status"), "status_b": b.get("status"),
            "speedup_a": speedup_a, "speedup_b": speedup_b,
            "speedup_b_over_a": speedup_b / speedup_a if speedup_a and speedup_b else None,
            "speedup_before_tuning_a": a.get("speedup_before_tuning"),
            "speedup_before_tuning_b": b.get("speedup_before_tuning"),
            "tokens_a": a.get("tokens"), "tokens_b": b.get("tokens"),
            "usd_a": a.get("usd"), "usd_b": b.get("usd"),
        })
    return rows


def compare_metrics(metrics_a: dict, metrics_b: dict) -> list[dict]:
    """The headline suite metrics of two benches with B - A; `kind` says how to show each value."""
    ks = sorted({point["k"] for metrics in (metrics_a, metrics_b) for point in metrics["pass_at_k"]})
    tuned = bool(metrics_a.get("tuning") or metrics_b.get("tuning"))

    def pick(metrics: dict) -> list[tuple[str, float | None, str, bool]]:
        speedup, cost = metrics["speedup"], metrics["cost"]
        unpriced = cost["usd"]["reason"] is not None
        pass_at = {point["k"]: point["value"] for point in metrics["pass_at_k"]}
        rows = [("tasks", metrics["tasks"], "count"),
                ("call accuracy", metrics["call_accuracy"], "fraction"),
                ("exec accuracy", metrics["exec_accuracy"], "fraction"),
                ("speedup, geometric mean", speedup["geomean"], "speedup"),
                ("speedup, arithmetic mean (GEAK)", speedup["arithmetic_mean"], "speedup"),
                ("tasks with a speedup", speedup["tasks"], "count")]
        if tuned:
            tuning = metrics.get("tuning") or {}
            rows += [("speedup before tuning, geometric mean", (tuning.get("speedup_before") or {}).get("geomean"),
                      "speedup"),
                     ("tasks tuned", tuning.get("tuned_tasks"), "count"),
                     ("speedup from tuning, geometric mean", (tuning.get("gain") or {}).get("geomean"), "speedup")]
        rows += [(f"fast_{p}", value, "fraction") for p, value in metrics["fast_p"].items()]
        rows += [(f"pass@{k}", pass_at.get(k), "fraction") for k in ks]
        rows += [("tokens", cost["tokens"]["total"], "tokens"),
                 ("tokens per solved task", cost["tokens"]["per_solved_task"], "tokens"),
                 ("$", cost["usd"]["total"], "usd"),
                 ("$ per solved task", cost["usd"]["per_solved_task"], "usd"),
                 ("task wall time", cost["wall_s"]["total"], "seconds")]
        return [(name, value, kind, unpriced and kind == "usd") for name, value, kind in rows]

    rows = []
    for (name, a, kind, unknown_a), (_, b, _, unknown_b) in zip(pick(metrics_a), pick(metrics_b)):
        delta = b - a if a is not None and b is not None else None
        rows.append({"metric": name, "a": a, "b": b, "delta": delta, "kind": kind,
                     "a_unknown": unknown_a, "b_unknown": unknown_b})  # a dollar figure with an unpriced call
    return rows


def _describe(folder: str | Path) -> str:
    settings = ResultsStore(folder).load_settings() or {}
    details = [f"{key} {settings[key]}" for key in ("suite", "solver", "model", "rounds", "parallel", "device")
               if settings.get(key) is not None]
    return f"{folder}" + (f" ({', '.join(details)})" if details else "")


def _format(value: float | None, kind: str, delta: bool = False) -> str:
    if value is None:
        return MISSING
    sign = "+" if delta and value >= 0 else ""
    if kind == "fraction":
        return f"{sign}{value * 100:.1f}" + (" pt" if delta else "%")
    if kind == "speedup":
        return f"{sign}{value:.3f}" if delta else f"{value:.3f}x"
    if kind == "usd":
        return f"{sign}{value:.4f}" if delta else f"${value:.4f}"
    if kind == "seconds":
        return f"{sign}{value:.1f} s"
    return f"{sign}{value:,.0f}"


def _speedup(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}x"


def tokens_text(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def usd_text(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def _table(headers: list[str], rows: list[list[str]], left: int) -> list[str]:
    """Aligned columns: the first `left` columns left-aligned (names), the rest right-aligned (numbers)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) if i < left else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), line(["-" * width for width in widths])] + [line(row) for row in rows]
