"""Triton's kernel cache in the candidate's process (runs there only, before and after candidate code).

The shared cache (`TRITON_CACHE_DIR`, else `~/.triton/cache`) is where the checker and the reference keeper,
which never run candidate code, load compiled kernels and launcher libraries from. A candidate that could
write it could plant a slower cubin under the baseline's key, or a launcher library that trusted processes
would load. So the candidate's process may write it only in its trusted window, before the candidate is
imported (the task's baseline is compiled then, `worker.CandidateRun.warm_baseline`); `seal` then points
Triton at the job's own cache, which the shared one backs read-only (`LayeredCache`), and narrows the
filesystem to the job folder (confine.py). CUDA's own compute cache is the job's from the start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

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


def seal(job_dir: str, shared: str | None, narrow: Callable[[], None] | None) -> None:
    """Just before the candidate is imported: Triton writes the job's own cache from now on, reading `shared`
    first, and `narrow` (confine.py's second Landlock layer, if the shared cache was writable) takes the shared
    cache's write access away."""
    private = os.path.join(job_dir, "triton-cache")
    os.makedirs(private, exist_ok=True)
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
    if narrow is not None:
        narrow()


def describe(shared: str | None, sealed: bool) -> str:
    """What the candidate's process does with Triton's cache, for the evidence."""
    if shared and sealed:
        return (f"Triton's cache: {shared} written only before the candidate was imported (its baseline "
                "compiled), then read-only, the job's own for the rest")
    if shared:
        return f"Triton's cache: the job's own, backed read-only by {shared}"
    return "Triton's cache: the job's own"


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
