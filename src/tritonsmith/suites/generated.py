"""What the external-suite adapters share: which files of a folder are read, where generated task
files go, how they are written, finding a suite's instructions JSON, and loading each file on its
own so that one file that cannot be read is listed rather than failing the suite."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from tritonsmith.durable import cache_folder
from tritonsmith.suites import Suite, Unsupported
from tritonsmith.task import Task, TaskError

NOT_TASKS = ("__init__.py", "conftest.py")  # package and pytest plumbing beside the tasks, never a task
# Where GEAK-eval keeps the instructions, relative to the task folder: beside it in its data folder
# (geak_eval/data/TritonBench/data/, geak_eval/data/ROCm/data/, on its geak-release-rocm branch).
INSTRUCTION_PLACES = (".", "..")


def task_files(folder: Path) -> list[Path]:
    """The folder's *.py files, except package plumbing and files whose name starts with '_'."""
    return sorted(p for p in folder.glob("*.py") if p.name not in NOT_TASKS and not p.name.startswith("_"))


def generated_dir(folder: Path) -> Path:
    """Where the generated task files of a suite folder live: the user's cache, never the checkout."""
    base = cache_folder("suites")
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return base / f"{folder.name}-{key}"


def write_if_changed(path: Path, text: str) -> None:
    """Leave an unchanged file alone, so a suite loaded by many processes is not rewritten under them."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def load_each(files: Iterable[Path], load_one: Callable[[Path], Task | None]) -> Suite:
    """The tasks `load_one` makes of `files` (None: not a task, skipped); a file it raises a TaskError for
    is listed in `unsupported` with the error's sentence, less the file's path."""
    suite = Suite()
    for path in files:
        try:
            task = load_one(path)
        except TaskError as err:
            suite.unsupported.append(Unsupported(path, str(err).removeprefix(f"{path}: ")))
            continue
        except (OSError, UnicodeDecodeError) as err:
            suite.unsupported.append(Unsupported(path, f"cannot read the file ({err})."))
            continue
        if task is not None:
            suite.append(task)
    return suite


def find_instructions(folder: Path, files: Iterable[Path], instructions: str | Path | None,
                      record: str) -> dict[str, dict]:
    """file name -> entry, from a JSON list of records with at least `file` and `instruction`: the file
    named by --instructions, else, of the JSON files in the task folder and beside it, the one that names
    the most of these files. `record` describes the expected fields for the messages, e.g. "{instruction,
    file, ...}"."""
    if instructions:
        named = Path(instructions)
        try:
            entries = _entries(json.loads(named.read_text()))
        except (OSError, ValueError) as err:
            raise TaskError(f"{named}: cannot read the instructions JSON ({err}).") from None
        if entries is None:
            raise TaskError(f"{named}: the instructions must be a JSON list of {record} records.")
        return entries
    names = {p.name for p in files}
    best: tuple[int, dict[str, dict]] = (0, {})
    for place in INSTRUCTION_PLACES:
        for candidate in sorted((folder / place).glob("*.json")):
            try:
                entries = _entries(json.loads(candidate.read_text()))
            except (OSError, ValueError):
                continue
            if entries is not None and len(names & set(entries)) > best[0]:
                best = (len(names & set(entries)), entries)
    if not best[0]:
        raise TaskError(f"{folder}: no instructions JSON (a list of {record} naming these files) in the task "
                        "folder or beside it; name it with --instructions FILE (GEAK-eval keeps it beside the "
                        "task folder on its geak-release-rocm branch).")
    return best[1]


def _entries(data: object) -> dict[str, dict] | None:
    if isinstance(data, list) and data and all(isinstance(e, dict) and isinstance(e.get("file"), str)
                                               and isinstance(e.get("instruction"), str) for e in data):
        return {Path(e["file"]).name: e for e in data}
    return None
