"""The results store of a bench folder: what a bench has finished, durable record by record.

    bench.json      the bench's settings (suite, solver, model, rounds, ...), written once the bench has
                    started; a resume with other identity settings is refused, unless the folder holds
                    nothing else (a start that failed before any task ran: its settings are replaced)
    results.jsonl   one TaskRecord per finished task, appended, flushed and fsynced
    deferred.jsonl  the first try of each task that ran short of GPU memory beside other evaluations and was
                    queued again (`defer`): a resume runs such a task after the others, from that try, so that
                    a pass cut off before the end of its queue does not begin the next call with every such task
                    at once, each running short again beside the others
    .lock           held while a bench runs in the folder (who: pid, host, since)

A killed bench loses at most the tasks in flight: every finished task is on disk before the
next one is reported, and a torn last line (the kill hit mid-write) is skipped on load.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tritonsmith.durable import LOCK_FILE, append_line, left_by_write_atomic, read_json, write_atomic
from tritonsmith.runs.records import TaskRecord, latest

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
DEFERRED_FILE = "deferred.jsonl"
SETTINGS_FILE = "bench.json"

# Settings that change what the records mean: a resume may not mix two of them in one folder.
IDENTITY_KEYS = ("suite", "tasks", "solver", "model", "mode", "rounds", "parallel", "device")


# What a bench folder holds before its first task has made anything (and a temporary settings file that a
# killed write left: durable.write_atomic's).
_SETTINGS_ONLY = {SETTINGS_FILE, LOCK_FILE}


class SettingsMismatch(ValueError):
    """A resume asked for other identity settings than those the bench folder was run with."""


class ResultsStore:
    """results.jsonl and bench.json of one bench folder. Thread-safe; the folder is made on first write."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()

    @property
    def results_path(self) -> Path:
        return self.folder / RESULTS_FILE

    @property
    def settings_path(self) -> Path:
        return self.folder / SETTINGS_FILE

    def append(self, record: TaskRecord) -> None:
        """Write one finished task durably (flushed and fsynced) before returning."""
        line = json.dumps(record.to_dict(), ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            append_line(self.results_path, line)

    def defer(self, task: str, first: dict[str, Any]) -> None:
        """Note `task`'s first try, which ran short of GPU memory beside others (MemoryRetryDeferred.first)."""
        line = json.dumps({"task": task, "first": first}, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            append_line(self.folder / DEFERRED_FILE, line)

    def deferred(self) -> dict[str, dict[str, Any]]:
        """The first try of each task queued again for want of GPU memory and not finished since (`defer`)."""
        with self._lock:
            path = self.folder / DEFERRED_FILE
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        tries: dict[str, dict[str, Any]] = {}
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                tries[str(entry["task"])] = dict(entry["first"])
            except (ValueError, TypeError, KeyError):
                continue  # a torn last line
        done = self.finished()
        return {task: first for task, first in tries.items() if task not in done}

    def records(self) -> list[TaskRecord]:
        """Every finished task, in the order first finished; a task run again keeps its last record."""
        return latest(self._read())

    def finished(self) -> set[str]:
        """The tasks that have a record (errors included): a resume skips them."""
        return {record.task for record in self.records()}

    def save_settings(self, settings: dict[str, Any], identity: Iterable[str] = IDENTITY_KEYS) -> dict[str, Any]:
        """Write bench.json the first time; on a resume, check the identity settings and keep the file.
        A folder that holds bench.json and nothing else (a bench that stopped before any task ran) takes the
        new settings. Results without a bench.json (it was deleted) are refused: they could be any solver's.

        Returns the settings in force (the stored ones on a resume). Raises SettingsMismatch, with one
        sentence naming the differences, when an identity setting differs from the stored one.
        """
        with self._lock:
            stored = self._checked(settings, identity)
            if stored is not None:
                return stored
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.settings_path, json.dumps(settings, indent=2, default=str) + "\n")
            return dict(settings)

    def check_settings(self, settings: dict[str, Any], identity: Iterable[str] = IDENTITY_KEYS) -> None:
        """save_settings' checks, writing nothing: a bench checks them before it starts anything."""
        with self._lock:
            self._checked(settings, identity)

    def holds_work(self) -> bool:
        """Whether the folder holds anything a bench made besides its settings: results, or a task's run."""
        if not self.folder.is_dir():
            return False
        return any(entry.name not in _SETTINGS_ONLY and not left_by_write_atomic(entry.name, SETTINGS_FILE)
                   for entry in self.folder.iterdir())

    def _checked(self, settings: dict[str, Any], identity: Iterable[str]) -> dict[str, Any] | None:
        """The stored settings a resume keeps; None where `settings` are to be written."""
        stored = self._load_settings()
        if stored is None and self.results_path.exists() and self.results_path.stat().st_size:
            raise SettingsMismatch(
                f"The bench folder {self.folder} holds results but no {SETTINGS_FILE}, so nothing says which "
                "solver and settings they came from: restore it, or use another folder.")
        if stored is None or not self.holds_work():
            return None
        differences = [f"{key} {stored.get(key)!r} (now {settings.get(key)!r})"
                       for key in identity if stored.get(key) != settings.get(key)]
        if differences:
            raise SettingsMismatch(
                f"The bench folder {self.folder} was run with {', '.join(differences)}; "
                "resume it with the same settings or use another folder.")
        return stored

    def load_settings(self) -> dict[str, Any] | None:
        with self._lock:
            return self._load_settings()

    def _load_settings(self) -> dict[str, Any] | None:
        return read_json(self.settings_path, "bench settings")

    def _read(self) -> list[TaskRecord]:
        with self._lock:
            if not self.results_path.exists():
                return []
            data = self.results_path.read_bytes()
        records = []
        for number, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append(TaskRecord.from_dict(json.loads(line)))
            except (ValueError, TypeError, KeyError, AttributeError):
                log.warning("skipping unreadable line %d of %s (a torn write?)", number, self.results_path)
        return records
