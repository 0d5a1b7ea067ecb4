"""Triton's kernel cache in the candidate's process (set up there before CUDA starts, before any candidate code).

The shared cache (`TRITON_CACHE_DIR`, else `~/.triton/cache`) is where trusted processes, the checker and the
reference keeper, load compiled kernels and launcher libraries from, and where they compile the task's
baseline before any candidate runs (references.py, `time_baseline`). A candidate that could write it could
plant a slower cubin under the baseline's key, or a launcher library that a trusted process would load. So
the candidate's process writes only a cache of its own in its job folder (`use_job_cache`; confine.py lets it
write nothing else), which the shared cache backs read-only and first (`LayeredCache`): what it plants in its
own never shadows what a trusted process compiled. CUDA's compute cache is the job's too.
"""

from __future__ import annotations

import json
import os

from triton.runtime.cache import FileCacheManager

SHARED_ENV = "TRITONSMITH_SHARED_TRITON_CACHE"
MANAGER = f"{__name__}:LayeredCache"


def shared_cache_dir() -> str | None:
    """The Triton cache trusted processes use (as Triton finds it), created if missing; None if it cannot be."""
    home = os.environ.get("TRITON_HOME") or os.path.expanduser("~")
    path = os.environ.get("TRITON_CACHE_DIR") or os.path.join(home, ".triton", "cache")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path


def use_job_cache(job_dir: str) -> str:
    """Point Triton and CUDA at the job's own caches, Triton's backed read-only by the shared one. Returns what
    was done, for the evidence."""
    shared = shared_cache_dir()
    private = os.path.join(job_dir, "triton-cache")
    os.makedirs(private, exist_ok=True)
    os.environ["CUDA_CACHE_PATH"] = os.path.join(job_dir, "cuda-cache")  # read when CUDA starts
    os.environ["TRITON_CACHE_DIR"] = private
    os.environ["TRITON_CACHE_MANAGER"] = MANAGER
    if shared:
        os.environ[SHARED_ENV] = shared
    else:
        os.environ.pop(SHARED_ENV, None)
    try:
        from triton import knobs
        for name in ("dir", "manager_class"):  # a value set in code would win over the environment
            if name in vars(knobs.cache):
                delattr(knobs.cache, name)
    except ImportError:  # Triton before 3.4 reads the environment on every use
        pass
    return (f"Triton's cache: the job's own, backed read-only by {shared}" if shared else
            "Triton's cache: the job's own")


class LayeredCache(FileCacheManager):
    """A Triton cache manager: the job's own cache (Triton's `TRITON_CACHE_DIR`, which it writes), backed by the
    shared cache (`TRITONSMITH_SHARED_TRITON_CACHE`), which it only reads and looks in first, so that an entry
    the candidate planted in its own cache never shadows one compiled by a trusted process."""

    def __init__(self, key: str, override: bool = False, dump: bool = False):
        super().__init__(key, override, dump)
        shared = os.environ.get(SHARED_ENV)
        self.shared_dir = os.path.join(shared, key) if shared and not (override or dump) else None

    def get_file(self, filename: str) -> str | None:
        if self.shared_dir is not None:
            path = os.path.join(self.shared_dir, filename)
            if os.path.exists(path):
                return path
        if filename.endswith(".autotune.json"):  # an autotuning choice is read from the shared cache only:
            return None  # one planted in the job's would pick the baseline's worst config where the keeper made none
        return super().get_file(filename)

    def get_group(self, filename: str) -> dict[str, str] | None:
        if self.shared_dir is not None:
            group = _group(os.path.join(self.shared_dir, f"__grp__{filename}"))
            if group is not None:
                return group
        return super().get_group(filename)


def _group(path: str) -> dict[str, str] | None:
    """A group file's children (name -> path), if the file and every child exist (as Triton reads it)."""
    try:
        with open(path) as handle:
            children = json.load(handle).get("child_paths")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(children, dict) or not all(isinstance(p, str) and os.path.exists(p) for p in children.values()):
        return None
    return dict(children)
