"""Turning a benchmark on disk into tasks: `resolve_task("builtin:softmax")`, `load_suite("builtin")`,
`load_suite("dir:PATH")` (a folder of task files in our format)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tritonsmith.task import Task, TaskError, load_task

SUITES = ("builtin", "dir:PATH", "tritonbench-g:PATH", "kernelbench:PATH", "geak-rocm:PATH")


@dataclass(frozen=True)
class Unsupported:
    """A file of a benchmark on disk that cannot become a task, and why, in one line."""

    path: Path
    reason: str


class Suite(list):
    """The tasks of a suite in order (a list of Task), and `unsupported`: the files of the benchmark that
    could not be read as tasks, each with its reason. A suite never fails whole for one bad file."""

    def __init__(self, tasks: list[Task] = (), unsupported: list[Unsupported] = ()):
        super().__init__(tasks)
        self.unsupported = list(unsupported)


def builtin_dir() -> Path:
    return Path(str(resources.files("tritonsmith.suites.builtin")))


def load_suite(name: str, instructions: str | None = None, perf_scripts: str | None = None) -> Suite:
    kind, _, where = name.partition(":")
    if kind == "tritonbench-g" and where:
        from tritonsmith.suites.tritonbench import load_tritonbench_g
        return load_tritonbench_g(where, instructions=instructions, perf_scripts=perf_scripts)
    if kind == "kernelbench" and where:
        from tritonsmith.suites.kernelbench import load_kernelbench
        return load_kernelbench(where)
    if kind == "geak-rocm" and where:
        from tritonsmith.suites.geak_rocm import load_geak_rocm
        return load_geak_rocm(where, instructions=instructions)
    if kind == "builtin" and not where:
        folder, label = builtin_dir(), "builtin"
    elif kind == "dir" and where:
        folder, label = Path(where), "dir"
        if not folder.is_dir():
            raise TaskError(f"{where}: no such folder of task files.")
    else:
        raise TaskError(f"unknown suite {name!r}: the suites are {', '.join(SUITES)}.")
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not files:
        raise TaskError(f"{folder}: the folder holds no task files (*.py).")
    tasks = [load_task(p, suite=label) for p in files]
    seen: dict[str, Path] = {}
    for task in tasks:
        if task.id in seen:
            raise TaskError(f"{task.path}: field ID {task.id!r} is already used by {seen[task.id]}.")
        seen[task.id] = task.path
    return Suite(tasks)


def resolve_task(spec: str, instructions: str | None = None, perf_scripts: str | None = None) -> Task:
    """A task file path, `SUITE:ID`, or the id of a built-in task (`instructions` and `perf_scripts` as for
    load_suite)."""
    path = Path(spec)
    if path.suffix == ".py" or path.exists():
        if not path.exists():
            raise TaskError(f"{spec}: no such task file.")
        return load_task(path)
    suite, _, task_id = spec.rpartition(":")
    suite = suite or "builtin"
    tasks = load_suite(suite, instructions=instructions, perf_scripts=perf_scripts)
    for task in tasks:
        if task.id == task_id:
            return task
    from tritonsmith.suites.generated import described_task_id
    for unsupported in tasks.unsupported:  # named by its file's name less .py (a described suite's rule too)
        if task_id in (unsupported.path.stem, described_task_id(unsupported.path.stem)):
            raise TaskError(f"{spec}: {unsupported.path.name} is not supported: {unsupported.reason}")
    raise TaskError(f"{spec}: no task with id {task_id!r} in suite {suite!r} "
                    "(list them with `tritonsmith tasks`).")
