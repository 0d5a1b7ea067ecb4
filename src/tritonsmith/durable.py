"""The files a run or bench keeps: appended so that a killed process loses at most the line it was
writing, read so that a damaged or unreadable file is one sentence naming it, and a folder locked so
that two processes never write one run or bench at once."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"


class FileError(ValueError):
    """A file that cannot be read or is damaged; the message is one sentence naming it."""


class FolderInUse(FileError):
    """Another process holds the folder's lock; the message says which (pid, host, since when)."""


@contextmanager
def folder_lock(folder: str | Path, what: str = "folder") -> Iterator[None]:
    """Hold `folder`'s lock (made if missing) while the block runs; FolderInUse if another process holds it.

    An flock on FOLDER/.lock: the kernel drops it when its holder dies, however it dies, so a lock left by
    a dead process is simply taken over. The file says who holds it, for the message a second process gets."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by the processes we start
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise FolderInUse(f"the {what} {folder} is in use by another tritonsmith process ({_holder(path)}): "
                          f"wait for it to finish or stop it, or choose another folder.") from None
    try:
        since = time.strftime("%Y-%m-%d %H:%M:%S%z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays, so no one ever locks an unlinked copy


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):  # it is writing who it is just now
        return "it is starting"


def read_text(path: str | Path, what: str = "file") -> str:
    """The text of `path`, UTF-8; FileError (naming `what` and the path) if it cannot be read or is not text."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise FileError(f"cannot read the {what} {path} ({err.strerror or err}).") from None
    except UnicodeDecodeError as err:
        raise FileError(f"the {what} {path} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
                        f"{err.start}).") from None


def read_json(path: str | Path, what: str = "file") -> Any:
    """`path` parsed as JSON, None if it does not exist; FileError naming it if it is damaged."""
    path = Path(path)
    if not path.exists():
        return None
    text = read_text(path, what)
    try:
        return json.loads(text)
    except ValueError as err:
        line, column = getattr(err, "lineno", None), getattr(err, "colno", None)
        where = f" at line {line} column {column}" if line else ""
        raise FileError(f"the {what} {path} is damaged (not valid JSON{where}): restore it, or start "
                        "again in another folder.") from None


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` whole or not at all: into a temporary file beside it (named for this process and
    thread), then renamed over it, so a reader, or a writer killed midway, never leaves half a file."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(text.encode("utf-8"))
    os.replace(temporary, path)


def left_by_write_atomic(name: str, target: str) -> bool:
    """Whether a file named `name` is a temporary file that `write_atomic` of `target` (a file name) left."""
    return name.startswith(f".{target}.") and name.endswith(".tmp")


def append_line(path: Path, line: str, mode: int = 0o644) -> None:
    """Append `line` (ending in a newline) with one O_APPEND write, so processes sharing the file interleave
    whole lines, and fsync it before returning. A torn last line left by a killed writer stays alone on its
    line: the new one starts on the next."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
    try:
        size = os.fstat(fd).st_size
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        data = (("\n" if torn else "") + line).encode()
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_events(text: str) -> list[dict[str, Any]]:
    """The events of a JSON-lines file's text (a run's trajectory.jsonl); a line torn by a killed run is
    skipped (a resumed run's events follow it on lines of their own)."""
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def cache_folder(*parts: str) -> Path:
    """$XDG_CACHE_HOME/tritonsmith/PARTS (default ~/.cache/tritonsmith/PARTS): what tritonsmith can make again."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "tritonsmith", *parts)


def device_file(folder: str, device_name: str, suffix: str) -> Path:
    """The cache file of one device model in `folder`, named from the device's name (`nvidia-h200.json`)."""
    slug = re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-") or "device"
    return cache_folder(folder) / f"{slug}{suffix}"
