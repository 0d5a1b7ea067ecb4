"""Where an evaluation in flight is: the checker notes each stage as it starts in the job folder, and the caller
reads it to say what a long evaluation is doing (a bench's "running:" line). For display only: the job folder
is the candidate's to write too, so what is read is cut short and kept to plain words, and never decides
anything."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

STAGE_FILE = "stage"
_PLAIN = re.compile(r"[A-Za-z_.]{1,40}")


def note_stage(job_dir: str | os.PathLike[str], name: str) -> None:
    """Say that the job's `name` stage starts now (the checker, as each stage starts; best effort)."""
    try:
        Path(job_dir, STAGE_FILE).write_text(f"{name}\t{time.time():.3f}\n")
    except OSError:
        pass


def read_stage(job_dir: str | os.PathLike[str]) -> str | None:
    """"references for 230 s": the job's stage and how long it has been in it; None when nothing plain is noted."""
    try:
        with open(Path(job_dir, STAGE_FILE), "rb") as file:
            text = file.read(200).decode(errors="replace")
    except OSError:
        return None
    name, _, since = text.strip().partition("\t")
    try:
        seconds = max(0.0, time.time() - float(since))
    except ValueError:
        return None
    if not _PLAIN.fullmatch(name) or seconds > 10 ** 7:
        return None
    return f"{name} for {seconds:.0f} s"
