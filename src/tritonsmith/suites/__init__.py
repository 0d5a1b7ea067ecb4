"""Turning a benchmark on disk into tasks: `resolve_task("builtin:softmax")`, `load_suite("builtin")`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from tritonsmith.task import Task, TaskError, load_task

SUITES = ("builtin",)


def builtin_dir() -> Path:
    return Path(str(resources.files("tritonsmith.suites.builtin")))


def load_suite(name: str) -> list[Task]:
    if name != "builtin":
        raise TaskError(f"unknown suite {name!r}: the suites are {', '.join(SUITES)}.")
    files = sorted(p for p in builtin_dir().glob("*.py") if not p.name.startswith("_"))
    return [load_task(p, suite="builtin") for p in files]


def resolve_task(spec: str) -> Task:
    """A task file path, `SUITE:ID`, or the id of a built-in task."""
    path = Path(spec)
    if path.suffix == ".py" or path.exists():
        if not path.exists():
            raise TaskError(f"{spec}: no such task file.")
        return load_task(path)
    suite, _, task_id = spec.rpartition(":")
    suite = suite or "builtin"
    for task in load_suite(suite):
        if task.id == task_id:
            return task
    raise TaskError(f"{spec}: no task with id {task_id!r} in suite {suite!r} "
                    "(list them with `tritonsmith tasks`).")
