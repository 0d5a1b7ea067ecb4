"""Which tasks can measure a solver on a device: a task qualifies when its own gold (baseline) kernel
passes its own evaluation there.

`tritonsmith bench --solver baseline` evaluates every gold against itself; each outcome is classified
here (qualified, or unqualified with a reason a reader can check: the reference fails, the gold needs
another GPU vendor or more GPU memory than the device has, the gold exceeds the time limit, the gold fails its
own checks) and kept per device
model in $XDG_CACHE_HOME/tritonsmith/qualification/<device>.jsonl, so that later benches with any solver
on that device label their tasks without evaluating the golds again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from tritonsmith import __version__
from tritonsmith.durable import append_line, device_file
from tritonsmith.evaluate.errors import out_of_memory
from tritonsmith.evaluate.pool import ALONE, short_of_memory
from tritonsmith.task import Task

# what a kernel written for one vendor's GPUs uses that the other's Triton backend rejects
AMD_ONLY = ("waves_per_eu", "fp8e4b8", "fp8e5b16", "matrix_instr_nonkdim", "kpack", "amdgcn", "rocm", "hip",
            "instruction_sched_variant", "float8_e4m3fnuz", "float8_e5m2fnuz")  # (the fnuz fp8 types: MI300's,
# which torch on CUDA cannot hand to cuBLAS: "Cannot convert ScalarType Float8_e4m3fnuz to cudaDataType")
NVIDIA_ONLY = ("ptx", "nvvm", "wgmma", "tcgen05", "sm_90", "sm_100", "nvidia", "cuda-only", "fp8e4nv")
# device-library functions of one vendor, which the other's linker leaves unresolved (a gold calling ROCm's ocml
# through tl.extern on an NVIDIA GPU: "ptxas fatal: Unresolved extern function '__ocml_pown_f32'"); parts of names
AMD_ONLY_SYMBOLS = ("__ocml_", "__ockl_", "__triton_hip_")
NVIDIA_ONLY_SYMBOLS = ("__nv_",)


@dataclass
class Qualification:
    task: str
    qualified: bool
    reason: str
    """Why not, in one line; for a qualified task, what was dropped or noted (may be empty)."""
    device: str | None = None
    at: str | None = None
    version: str | None = None
    """The tritonsmith that judged it: another version's judgement is not reused (its evaluator may differ)."""
    made_alone: bool = False
    """Its gold ran short of GPU memory beside other evaluations, and was made alone (WorkerPool.alone_tasks):
    a later bench on this device model makes its evaluations alone at once, after the other tasks."""


def classify(task: str, status: str, message: str, device: str | None, task_error: bool = False,
             dropped: list[str] | None = None, skipped: list[str] | None = None) -> Qualification:
    """The qualification of a task from its gold's evaluation against itself on `device` (`dropped`: checks whose
    reference did not reproduce; `skipped`: perf cases whose reference raised, which the suite skips)."""
    first = next((line.strip() for line in (message or "").splitlines() if line.strip()), "")

    def unqualified(reason: str) -> Qualification:
        return Qualification(task, False, reason, device)
    if status == "passed":
        notes = ([f"{len(dropped)} check(s) dropped: the reference is not reproducible there"] if dropped else []) + (
            [f"{len(skipped)} perf case(s) skipped: the reference raises there"] if skipped else [])
        return Qualification(task, True, "; ".join(notes), device)
    vendor = other_vendor(message, device)
    if vendor:
        return unqualified(f"the gold needs {vendor} GPUs: {first}")
    if out_of_memory(message) and (ALONE in message or not short_of_memory(message)):
        return unqualified(f"the gold needs more GPU memory than this device has: {first}")
    if task_error:
        if "were not ready within the" in message:  # (job_result.to_result: a timeout before any candidate code)
            return unqualified(f"the gold exceeds the time limit: {first}")
        if "not reproducible" in message:
            return unqualified(f"the reference is not reproducible: {first}")
        return unqualified(f"the reference fails on this device: {first}")
    if status == "timeout":
        return unqualified(f"the gold exceeds the time limit: {first}")
    if status == "crashed":
        return unqualified(f"the gold crashes: {first}")
    return unqualified(f"the gold fails its own evaluation ({status}): {first}")


def gpu_only_note(tasks: Sequence[Task], device_kind: str | None) -> str | None:
    """The line a bench on the CPU says up front when some selected tasks need a GPU (Task.gpu_only, read from their
    code: they fail on the CPU), or None."""
    count = sum(1 for task in tasks if task.gpu_only)
    if device_kind != "cpu" or not count:
        return None
    if count == 1:
        which = "the selected task needs" if len(tasks) == 1 else f"1 of the {len(tasks)} selected tasks needs"
        return (f"{which} a GPU (`tritonsmith tasks show ID` says why), so on the CPU its evaluation fails: run it on "
                "a GPU with --device cuda")
    which = f"all {count}" if count == len(tasks) else f"{count} of the {len(tasks)}"
    return (f"{which} selected tasks need a GPU (gpu-only in `tritonsmith tasks`, and `tasks show ID` says why), so "
            "on the CPU their evaluation fails: run them on a GPU with --device cuda")


def other_vendor(message: str, device: str | None) -> str | None:
    """'AMD' or 'NVIDIA' when the failure names a feature of the other vendor's GPUs than `device`'s."""
    if not device:
        return None
    on_amd = any(word in device for word in ("AMD", "Instinct", "Radeon", "MI2", "MI3"))
    text = (message or "").lower()
    words, symbols = (NVIDIA_ONLY, NVIDIA_ONLY_SYMBOLS) if on_amd else (AMD_ONLY, AMD_ONLY_SYMBOLS)
    found = [w for w in words if re.search(rf"\b{re.escape(w)}\b", text)] + [s for s in symbols if s in text]
    return ("NVIDIA" if on_amd else "AMD") if found else None


class QualificationStore:
    """The qualifications found on one device model, by `task_content_key` (the task file's content, its cases
    and the seeds)."""

    def __init__(self, device: str, folder: str | Path | None = None):
        self.device = device
        self.path = device_file("qualification", device, ".jsonl")
        if folder:
            self.path = Path(folder) / self.path.name

    def save(self, key: str, qualification: Qualification) -> None:
        qualification.device = qualification.device or self.device
        qualification.at = qualification.at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        qualification.version = qualification.version or __version__
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_line(self.path, json.dumps({"key": key, **asdict(qualification)}) + "\n")

    def load(self) -> dict[str, Qualification]:
        """key -> the latest qualification made by this version; unreadable lines, and other versions', are
        skipped (the file is a cache)."""
        found: dict[str, Qualification] = {}
        try:
            lines = self.path.read_text().splitlines()
        except OSError:
            return found
        for line in lines:
            try:
                data = json.loads(line)
                key = data.pop("key")
                if data.get("version") == __version__:
                    found[key] = Qualification(**data)
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
        return found
