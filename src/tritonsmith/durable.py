"""Appending to a JSON-lines file so that a killed process loses at most the line it was writing."""

from __future__ import annotations

import os
from pathlib import Path


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
