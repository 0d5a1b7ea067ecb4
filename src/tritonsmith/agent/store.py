"""A run is a folder. Everything is written as it happens, so a killed run loses at most one step.

    config.json        the run's configuration (never an API key)
    state.json         lineages, budget and candidates; rewritten atomically after every step
    trajectory.jsonl   every prompt, reply, candidate and EvalResult, appended in order
    llm_cache.jsonl    the record/replay cache of LLM calls (and llm_cache.pending.jsonl: calls started)
    candidates/        every candidate as a .py file
    best.py, summary.json, summary.md   written when the run ends
    .lock              held while a process runs in the folder (who: pid, host, since)
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from tritonsmith.durable import append_line, parse_events, read_json, write_atomic


class RunStore:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "candidates").mkdir(exist_ok=True)
        self._lock = threading.Lock()

    @property
    def cache_path(self) -> Path:
        return self.folder / "llm_cache.jsonl"

    def load_state(self) -> dict[str, Any] | None:
        return read_json(self.folder / "state.json", "run state")

    def load_config(self) -> dict[str, Any] | None:
        return read_json(self.folder / "config.json", "run configuration")

    def save_config(self, config: dict[str, Any]) -> None:
        self._write_atomic("config.json", json.dumps(config, indent=2))

    def save_state(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._write_atomic("state.json", json.dumps(state, indent=1, default=str))

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=str) + "\n"
        with self._lock:
            append_line(self.folder / "trajectory.jsonl", line)

    def save_candidate(self, candidate_id: str, source: str) -> None:
        (self.folder / "candidates" / f"{candidate_id}.py").write_text(source)

    def candidate_source(self, candidate_id: str) -> str:
        return (self.folder / "candidates" / f"{candidate_id}.py").read_text()

    def write(self, name: str, text: str) -> None:
        self._write_atomic(name, text)

    def trajectory(self) -> list[dict[str, Any]]:
        path = self.folder / "trajectory.jsonl"
        return parse_events(path.read_text()) if path.exists() else []

    def keep_events(self, keep) -> int:
        """Rewrite the trajectory (atomically) with only the events `keep(event)` accepts; returns how many
        were dropped. For a resume: the steps a kill interrupted are run again and must not appear twice."""
        with self._lock:
            events = self.trajectory()
            kept = [event for event in events if keep(event)]
            if len(kept) < len(events):
                self._write_atomic("trajectory.jsonl", "".join(json.dumps(e, default=str) + "\n" for e in kept))
            return len(events) - len(kept)

    def _write_atomic(self, name: str, text: str) -> None:
        write_atomic(self.folder / name, text)
