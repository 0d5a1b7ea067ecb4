"""What the external-suite adapters share: where generated task files go, how they are written,
and finding a suite's instructions JSON."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from tritonsmith.task import TaskError


def generated_dir(folder: Path) -> Path:
    """Where the generated task files of a suite folder live: the user's cache, never the checkout."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tritonsmith" / "suites"
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return base / f"{folder.name}-{key}"


def write_if_changed(path: Path, text: str) -> None:
    """Leave an unchanged file alone, so a suite loaded by many processes is not rewritten under them."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def find_instructions(folder: Path, files: Iterable[Path], instructions: str | Path | None,
                      record: str) -> dict[str, dict]:
    """file name -> entry, from a JSON list of records with at least `file` and `instruction`: the file
    named by --instructions, else the first JSON in the task folder or beside it that names these files.
    `record` describes the expected fields for the error messages, e.g. "{instruction, file, ...}"."""
    names = {p.name for p in files}
    candidates = [Path(instructions)] if instructions else sorted(folder.glob("*.json")) + sorted(
        folder.parent.glob("*.json"))
    for candidate in candidates:
        try:
            data = json.loads(candidate.read_text())
        except (OSError, ValueError) as err:
            if instructions:
                raise TaskError(f"{candidate}: cannot read the instructions JSON ({err}).") from None
            continue
        if isinstance(data, list) and data and all(isinstance(e, dict) and isinstance(e.get("file"), str)
                                                   and isinstance(e.get("instruction"), str) for e in data):
            entries = {Path(e["file"]).name: e for e in data}
            if instructions or names & set(entries):
                return entries
        elif instructions:
            raise TaskError(f"{candidate}: the instructions must be a JSON list of {record} records.")
    raise TaskError(f"{folder}: no instructions JSON (a list of {record} naming these files) beside the task "
                    "folder; name it with --instructions FILE.")
