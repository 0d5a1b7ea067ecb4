"""Tasks that travel to a node that need not share the driver's disk (a Ray actor's).

A suite's generated task file names other files by absolute path (its gold file, a perf script, a
KernelBench problem file), in its string literals and in the code it carries as text (a harness). The
driver packs the task with every existing file so named, recursively; the node unpacks them under a
cache folder, mirroring the driver's paths, and rewrites those paths in the task and in the copies.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tritonsmith.task import Task, TaskError
from tritonsmith.util import pyast

MAX_BYTES = 256 * 2**20  # of all files of one task together: a task names code, not data sets


@dataclass(frozen=True)
class TaskBundle:
    """A task and the files it names, keyed by the driver's absolute paths (the task file included)."""

    task: Task
    files: dict[str, bytes]
    digest: str


def pack_task(task: Task) -> TaskBundle:
    """The task as loaded on the driver (narrowed cases and all), with its file and every file it names."""
    files: dict[str, bytes] = {}
    todo = [str(task.path)] + [path for text in _text_fields(task).values() for path in named_files(text)]
    total = 0
    while todo:
        path = todo.pop()
        if path in files:
            continue
        try:
            files[path] = data = Path(path).read_bytes()
        except OSError as err:
            raise TaskError(f"{task.path}: cannot read {path}, which the task names ({err.strerror or err}).") from None
        total += len(data)
        if total > MAX_BYTES:
            raise TaskError(f"{task.path}: the files the task names exceed {MAX_BYTES >> 20} MiB, too much to ship "
                            "to a cluster node with every evaluation.")
        if path.endswith(".py"):
            todo.extend(named_files(data.decode(errors="replace")))
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{hashlib.sha256(files[path]).hexdigest()}\0".encode())
    digest.update(repr(dataclasses.astuple(dataclasses.replace(task, path=Path("/")))).encode())
    return TaskBundle(task, files, digest.hexdigest())


def named_files(source: str, depth: int = 0) -> list[str]:
    """Absolute paths of existing regular files in the string literals of Python source, also in literals
    that are Python code themselves (a suite's harness), two levels deep."""
    try:
        tree = pyast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        value = node.value
        if "\n" not in value and value.startswith("/") and len(value) < 4096:
            if os.path.isfile(value):
                found.append(value)
        elif "\n" in value and depth < 2:
            found.extend(named_files(value, depth + 1))
    return found


def unpack_task(bundle: TaskBundle, cache_dir: str | Path) -> Task:
    """Write the bundle's files under `cache_dir` (once per bundle; safe for several processes at once)
    and return the task with its path and the paths it names rewritten to the copies."""
    root = Path(cache_dir) / bundle.digest[:24]
    mapping = {path: str(root / path.lstrip("/")) for path in bundle.files}
    rewrite = _rewriter(mapping)
    for path, data in bundle.files.items():
        target = Path(mapping[path])
        if target.exists():
            continue
        if path.endswith(".py"):
            data = rewrite(data.decode(errors="surrogateescape")).encode(errors="surrogateescape")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        os.replace(partial, target)  # atomic: another actor on the node sees the whole file or none
    fields = {name: rewrite(text) for name, text in _text_fields(bundle.task).items()}
    return dataclasses.replace(bundle.task, path=Path(mapping[str(bundle.task.path)]), **fields)


def _text_fields(task: Task) -> dict[str, str]:
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if isinstance(getattr(task, f.name), str)}


def _rewriter(mapping: dict[str, str]):
    """Replaces each whole path of `mapping` in one pass (a path inside a longer one is left alone)."""
    if not mapping:
        return lambda text: text
    alternatives = "|".join(re.escape(path) for path in sorted(mapping, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w./-])(?:{alternatives})(?![\w./-])")
    return lambda text: pattern.sub(lambda match: mapping[match.group(0)], text)
