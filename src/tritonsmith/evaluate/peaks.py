"""Measured peaks of a GPU: copy bandwidth and matmul FLOP/s, measured once per device and cached.

Datasheet peaks are rarely reachable (an H100's 3.35 TB/s copy runs at about 3 TB/s), so "fraction
of peak" against the datasheet alone says less than it seems. Here the roofs are measured:

- copy: the best of a Triton copy kernel (a few block sizes) and `torch.Tensor.copy_`, over 1 GiB
  buffers (or a quarter of free memory), counting bytes read plus bytes written;
- matmul: `torch.matmul` of 8192x8192 random matrices per dtype (bfloat16, float16; float32 with TF32
  off, i.e. the non-matrix units, as the datasheet's float32 figure; tf32 with it on).

Timer: triton.testing.do_bench, median. Measuring takes about ten seconds and runs in its own
process (`python -m tritonsmith.evaluate.peaks`), so the caller never imports torch. The result is
cached per device name under $XDG_CACHE_HOME/tritonsmith/peaks/; `tritonsmith peaks --refresh`
measures again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tritonsmith.durable import device_file

MATMUL_N = 8192
MATMUL_DTYPES = ("bfloat16", "float16", "float32", "tf32")
COPY_BLOCKS = (1024, 4096, 8192)


class PeaksError(RuntimeError):
    """Peaks could not be measured; the message says why."""


def cache_path(device_name: str) -> Path:
    return device_file("peaks", device_name, ".json")


_failed: dict[str, str] = {}  # device name -> why measuring failed in this process: not retried by every pool


def load_cached(device_name: str) -> dict[str, Any] | None:
    path = cache_path(device_name)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("device") != device_name:
        return None
    return plausible(data)


def plausible(data: dict[str, Any]) -> dict[str, Any] | None:
    """`data` with every figure checked against the datasheet where there is a profile (0.3x to 1.1x of it):
    None if the copy bandwidth is off, else without the matmul figures that are (listed in `tflops_dropped`;
    e.g. ROCm runs "tf32" as fp32 unless told otherwise). The cache is a file any process of the user can
    write, generated kernels included."""
    from tritonsmith.knowledge.hardware import profile_for

    copy, tflops = data.get("copy_gbps"), data.get("tflops")
    if not (isinstance(copy, (int, float)) and copy > 0 and isinstance(tflops, dict)):
        return None
    profile = profile_for(data.get("device"))

    def off(value: Any, sheet: float | None) -> bool:
        return not (isinstance(value, (int, float)) and value > 0) or bool(sheet and not 0.3 * sheet <= value <= 1.1 * sheet)

    if off(copy, profile.bandwidth_gbps if profile else None):
        return None
    dropped = {k: v for k, v in tflops.items() if off(v, profile.peak_tflops(k) if profile else None)}
    if not dropped:
        return data
    kept = {k: v for k, v in tflops.items() if k not in dropped}
    return {**data, "tflops": kept, "tflops_dropped": {**data.get("tflops_dropped", {}), **dropped}}


def peaks_for(device_name: str, env: dict[str, str] | None = None, refresh: bool = False,
              timeout_s: float = 180) -> dict[str, Any]:
    """The cached peaks of `device_name`, or measured now (in a child process on the GPU `env` selects).
    Raises PeaksError; a failure is remembered for this process and not measured again unless `refresh`."""
    if not refresh:
        cached = load_cached(device_name)
        if cached is not None:
            return cached
        failure = _failed.get(device_name)
        if failure is not None:
            raise PeaksError(failure)
    try:
        data = _measure_in_child(device_name, env, timeout_s)
    except PeaksError as err:
        _failed[device_name] = str(err)
        raise
    _failed.pop(device_name, None)
    _store(cache_path(device_name), data)
    return data


def _measure_in_child(device_name: str, env: dict[str, str] | None, timeout_s: float) -> dict[str, Any]:
    try:
        done = subprocess.run([sys.executable, "-m", "tritonsmith.evaluate.peaks"], env=env, capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as err:
        raise PeaksError(f"measuring the device's peaks took over {timeout_s:g} s") from err
    except OSError as err:
        raise PeaksError(f"measuring the device's peaks could not start: {err}") from err
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    try:
        data = json.loads(lines[-1]) if lines else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PeaksError(f"measuring the device's peaks failed: {tail}")
    if data.get("error"):
        raise PeaksError(data["error"])
    if data.get("device") != device_name:
        raise PeaksError(f"peaks were measured on {data.get('device')!r}, not on {device_name!r}")
    checked = plausible(data)
    if checked is None:
        raise PeaksError(f"the measured copy bandwidth, {data.get('copy_gbps')} GB/s, is implausible for a "
                         f"{device_name}: peaks not used")
    data = checked
    return data


def _store(path: Path, data: dict[str, Any]) -> None:
    """Write atomically; a cache that cannot be written (read-only home) only costs a measurement next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass


def measure() -> dict[str, Any]:
    """Measure this process's current GPU. Imports torch and triton."""
    import torch
    import triton

    if not torch.cuda.is_available():
        return {"error": "peaks are measured on a GPU, and PyTorch sees none"}
    copies, nbytes = _copy_peaks()
    if not copies:
        return {"error": "the copy kernel did not copy: peaks not measured"}
    best_copy = max(copies, key=copies.get)
    return {
        "device": torch.cuda.get_device_name(0),
        "copy_gbps": round(copies[best_copy], 1),
        "copy_best": best_copy,
        "copy_all_gbps": {k: round(v, 1) for k, v in copies.items()},
        "copy_buffer_bytes": nbytes,
        "tflops": {k: round(v, 1) for k, v in _matmul_peaks().items()},
        "matmul_n": MATMUL_N,
        "timer": "triton.testing.do_bench(return_mode='median')",
        "torch": torch.__version__, "triton": triton.__version__,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _copy_peaks() -> tuple[dict[str, float], int]:
    """GB/s (bytes read + written) of each copy variant, and the buffer size; {} if a copy was wrong."""
    import torch
    import triton
    import triton.language as tl
    from triton.testing import do_bench

    @triton.jit
    def copy_kernel(src, dst, n, BLOCK: tl.constexpr):
        offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offsets < n
        tl.store(dst + offsets, tl.load(src + offsets, mask=mask), mask=mask)

    free, _ = torch.cuda.mem_get_info()
    nbytes = min(2**30, free // 4) // 16 * 16
    src = torch.randn(nbytes // 4, device="cuda")
    dst = torch.empty_like(src)
    n = src.numel()
    moved = 2 * nbytes
    copies: dict[str, float] = {}
    for block in COPY_BLOCKS:
        for warps in (4, 8):
            grid = (triton.cdiv(n, block),)
            ms = do_bench(lambda b=block, w=warps, g=grid: copy_kernel[g](src, dst, n, BLOCK=b, num_warps=w),
                          warmup=50, rep=300, return_mode="median")
            if not torch.equal(src, dst):
                return {}, nbytes
            copies[f"triton BLOCK={block} num_warps={warps}"] = moved / ms / 1e6
            dst.zero_()
    ms = do_bench(lambda: dst.copy_(src), warmup=50, rep=300, return_mode="median")
    copies["torch copy_"] = moved / ms / 1e6
    return copies, nbytes


def _matmul_peaks() -> dict[str, float]:
    """TFLOP/s of torch.matmul on MATMUL_N-square random matrices, per dtype."""
    import torch
    from triton.testing import do_bench

    tflops: dict[str, float] = {}
    saved_tf32 = torch.backends.cuda.matmul.allow_tf32
    try:
        for name in MATMUL_DTYPES:
            dtype = torch.float32 if name in ("float32", "tf32") else getattr(torch, name)
            torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
            a = torch.randn(MATMUL_N, MATMUL_N, device="cuda", dtype=dtype)
            b = torch.randn(MATMUL_N, MATMUL_N, device="cuda", dtype=dtype)
            ms = do_bench(lambda a=a, b=b: torch.matmul(a, b), warmup=100, rep=500, return_mode="median")
            tflops[name] = 2 * MATMUL_N**3 / ms / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved_tf32
    return tflops


def fractions(gbps: float | None, tflops: float | None, dtype: str | None,
              peaks: dict[str, Any] | None) -> tuple[float | None, float | None]:
    """(bandwidth, compute) as fractions of the measured peaks; None where either side is missing."""
    if not peaks:
        return None, None
    copy = peaks.get("copy_gbps")
    bandwidth = gbps / copy if gbps and copy else None
    peak = (peaks.get("tflops") or {}).get(dtype) if dtype else None
    compute = tflops / peak if tflops and peak else None
    return bandwidth, compute


if __name__ == "__main__":
    try:
        print(json.dumps(measure()))
    except Exception as err:  # noqa: BLE001 - one line for the parent, whatever broke
        print(json.dumps({"error": f"measuring the device's peaks failed: {type(err).__name__}: {err}"}))
        sys.exit(1)
