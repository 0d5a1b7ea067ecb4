"""Triton's shared kernel cache, which trusted processes load from, is never written by the candidate's process
(issue 15): it writes a cache of its own, backed read-only by the shared one (that it cannot write the shared
one at all is in test_sandbox.py, write_outside_job)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tritonsmith.evaluate.triton_cache import MANAGER, SHARED_ENV, use_job_cache

COMPILE = textwrap.dedent("""
    import sys
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget

    @triton.jit
    def double(x, y, n, BLOCK: tl.constexpr):
        offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        tl.store(y + offsets, tl.load(x + offsets, mask=offsets < n) * 2, mask=offsets < n)

    block = int(sys.argv[1])
    source = triton.compiler.ASTSource(fn=double, signature={"x": "*fp32", "y": "*fp32", "n": "i32", "BLOCK": "constexpr"},
                                       constexprs={"BLOCK": block})
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32))  # ptxas ships with Triton: no GPU needed
    sys.stdout.buffer.write(compiled.asm["cubin"])
""")


def compile_kernel(block: int, env: dict[str, str], script: Path) -> bytes:
    """A real compile of `script` to a cubin for an H100/H200, in a fresh process with `env`."""
    script.write_text(COMPILE)  # @triton.jit needs a source file
    env = dict(os.environ, **env)
    env.pop("TRITON_INTERPRET", None)
    done = subprocess.run([sys.executable, str(script), str(block)], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout


def files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_job_cache_reads_the_shared_one_first_and_writes_only_its_own(tmp_path):
    shared, private, script = tmp_path / "shared", tmp_path / "job" / "triton-cache", tmp_path / "double.py"
    trusted = compile_kernel(128, {"TRITON_CACHE_DIR": str(shared)}, script)  # a trusted process fills it
    before = files(shared)
    assert any(name.endswith(".cubin") for name in before)
    job = {"TRITON_CACHE_DIR": str(private), "TRITON_CACHE_MANAGER": MANAGER, SHARED_ENV: str(shared)}

    assert compile_kernel(128, job, script) == trusted
    assert not any(name.endswith(".cubin") for name in files(private))  # found in the shared cache, not compiled
    compile_kernel(256, job, script)  # a kernel the shared cache lacks: compiled into the job's own
    assert any(name.endswith(".cubin") for name in files(private))
    assert files(shared) == before

    for name, data in before.items():  # a candidate plants its own cubin, and a group naming it, under the same keys
        planted = private / name
        planted.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".cubin"):
            data = b"planted"
        elif "__grp__" in name:
            data = data.replace(str(shared).encode(), str(private).encode())
        planted.write_bytes(data)
    plain = {"TRITON_CACHE_DIR": str(private)}
    assert compile_kernel(128, plain, script) == b"planted"  # what Triton's own manager would load
    assert compile_kernel(128, job, script) == trusted
    assert files(shared) == before


def test_the_candidates_process_uses_the_jobs_own_caches(tmp_path, monkeypatch):
    for name in ("TRITON_CACHE_DIR", "TRITON_CACHE_MANAGER", SHARED_ENV, "CUDA_CACHE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRITON_HOME", str(tmp_path / "home"))
    said = use_job_cache(str(tmp_path / "job"))
    from triton import knobs
    from triton.runtime.cache import get_cache_manager
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "job" / "triton-cache") == knobs.cache.dir
    assert os.environ["CUDA_CACHE_PATH"] == str(tmp_path / "job" / "cuda-cache")
    manager = get_cache_manager("00" * 32)
    shared = tmp_path / "home" / ".triton" / "cache"
    assert type(manager).__name__ == "LayeredCache" and manager.shared_dir.startswith(str(shared))
    assert said == f"Triton's cache: the job's own, backed read-only by {shared}"


def test_the_evaluators_processes_keep_autotuning_choices_in_the_cache(cpu_pool):
    """TRITON_CACHE_AUTOTUNING=1 in every host and keeper: the baseline's @triton.autotune choice, made once by a
    trusted process, is read from the shared cache by every job instead of being tuned again (Triton skips
    that cache on the interpreter, so here it is only checked that every process asks for it)."""
    def environment(pid: int) -> dict[str, str]:
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        return dict(item.decode().split("=", 1) for item in raw if b"=" in item)

    host = cpu_pool._hosts[0]
    keepers = [keeper for group in cpu_pool._keepers.values() for keeper in group.members]
    assert host is not None and keepers
    for process in [host.process, *(keeper.process for keeper in keepers)]:
        assert environment(process.pid).get("TRITON_CACHE_AUTOTUNING") == "1"


def test_an_autotuning_choice_is_read_from_the_shared_cache_only(tmp_path, monkeypatch):
    """A choice planted in the job's own cache (the worst config for the baseline's kernel, say) is never
    read; the shared cache's, which a trusted process made, is."""
    from tritonsmith.evaluate.triton_cache import LayeredCache
    shared, private = tmp_path / "shared", tmp_path / "job"
    monkeypatch.setenv("TRITON_CACHE_DIR", str(private))
    monkeypatch.setenv(SHARED_ENV, str(shared))
    cache = LayeredCache("somekey")
    name = "kernel.autotune.json"
    planted = cache.put('{"key": [1], "configs_timings": []}', name, binary=False)
    assert Path(planted).exists() and cache.get_file(name) is None
    assert cache.get_file("kernel.json") is None and Path(cache.put("{}", "kernel.json", binary=False)).exists()
    assert cache.get_file("kernel.json") is not None  # what is not an autotuning choice: the job's own, as before
    (shared / "somekey").mkdir(parents=True)
    (shared / "somekey" / name).write_text('{"key": [1], "configs_timings": []}')
    assert cache.get_file(name) == str(shared / "somekey" / name)
