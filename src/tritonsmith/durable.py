"""The files a run or bench keeps: appended so that a killed process loses at most the line it was
writing, and read so that a damaged or unreadable file is one sentence naming it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class FileError(ValueError):
    """A file that cannot be read or is damaged; the message is one sentence naming it."""


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
