"""A job's result as the caller makes it: the host's message, its absence or a timeout turned into an
EvalResult, and the figures added that the candidate's process never sees (the roofline fractions, the
physical bound on a timing). Runs in the caller; no torch, no candidate code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tritonsmith.evaluate.peaks import fractions
from tritonsmith.evaluate.processes import DeviceError, last_line, log_tail
from tritonsmith.evaluate.result import EvalResult
from tritonsmith.evaluate.verdict import reject
from tritonsmith.knowledge.hardware import profile_for
from tritonsmith.task import Task, TaskError
from tritonsmith.util.stats import geometric_mean

PHYSICAL_MARGIN = 3.0  # a kernel timed above 3x its device's peak (per call, L2 flushed) was not measured: loose,
# since a task's flop and byte counts may overstate the work (a causal mask, broadcast reads)


def to_result(message: dict[str, Any] | None, timed_out: bool, timeout: float, job_dir: Path,
              sandbox: dict[str, Any]) -> EvalResult:
    """The EvalResult of one job from the host's message (None: the host died or hung), with the tails of the
    candidate's stdout and stderr. Raises TaskError when the task, not the candidate, failed."""
    stdout, stderr = log_tail(job_dir / "stdout.log"), log_tail(job_dir / "stderr.log")
    last = last_line(stderr)
    payload = (message or {}).get("result")
    if payload and "task_error" in payload:
        raise TaskError(payload["task_error"])
    if payload and "sandbox_error" in payload:  # nobody's kernel is to blame: no candidate would run here
        raise DeviceError(f"the evaluator could not start a candidate's process on this machine "
                          f"({last or 'no error written'}); "
                          "TRITONSMITH_NAMESPACES=0 or TRITONSMITH_LANDLOCK=0 runs without that part of the "
                          "sandbox, and every result's evidence says so")
    phase = (message or {}).get("phase")
    if timed_out and phase in ("setup", "references", "timing.references"):
        when = ("(before any candidate code ran)" if phase != "timing.references" else
                "(a check after timing, made when its perf case was timed)")
        raise TaskError(f"the task's inputs and references were not ready within the {timeout:g} s limit of one "
                        f"evaluation {when}: the task is too slow to prepare, or the "
                        "GPU was busy with other evaluations' timing, which this one waits for (several "
                        "evaluations per GPU, or other tritonsmith processes on it); give it more time "
                        "(--timeout for eval, --eval-timeout-s for run and bench) or smaller cases")
    if timed_out:
        result = EvalResult("timeout", False, False, f"the candidate did not finish within {timeout:g} s and was "
                            f"killed (during {phase or 'the evaluation'})")
    elif payload is not None:
        result = EvalResult.from_dict(payload)  # the checker's verdict: built once, here
        result.evidence.setdefault("guards", []).append("leftover_processes")  # host-side
    elif message is None:
        result = EvalResult("crashed", False, False, "the evaluator's worker host died during the evaluation")
        if not sandbox.get("namespaces"):  # outside a PID namespace the candidate can signal its host
            reject(result, "the evaluator's worker host was killed while the candidate ran, and without a PID "
                           "namespace the candidate could have killed it")
    else:
        result = EvalResult("crashed", False, False, f"the evaluator's checker died (exit status "
                            f"{message.get('exit_code')}) without a verdict")
    leftovers = (message or {}).get("leftover_processes")
    if leftovers:  # counted by the host, outside the candidate's reach: it outlived the candidate's process
        reject(result, f"the candidate left {leftovers} process(es) running after its process ended (the evaluator "
                       "killed them)")
    result.stdout_tail, result.stderr_tail = stdout, stderr
    if result.status == "crashed" and "without writing its result" in result.message and last:
        result.message += f"; the last line of its stderr: {last}"
    return result


def add_roofline(result: EvalResult, task: Task, peaks: dict[str, Any] | None) -> None:
    """Each perf case's GB/s and TFLOP/s as fractions of the datasheet peaks of the device's hardware profile
    and of its measured peaks, and their geometric means. Computed here, in the caller, from figures the
    worker never sees: candidate code cannot bend them."""
    device = result.evidence.get("device")
    profile = profile_for(device)
    if profile is None:
        result.evidence["roofline"] = f"no hardware profile matches {device!r}"
    for p in result.perf:
        dtype = (task.perf_cases[p.index] if 0 <= p.index < len(task.perf_cases) else {}).get("dtype")
        sheet_tflops = profile.peak_tflops(dtype) if profile and dtype else None
        p.bandwidth_fraction = p.gbps / profile.bandwidth_gbps if p.gbps and profile else None
        p.compute_fraction = p.tflops / sheet_tflops if p.tflops and sheet_tflops else None
        p.measured_bandwidth_fraction, p.measured_compute_fraction = fractions(p.gbps, p.tflops, dtype, peaks)
    for name in ("bandwidth_fraction", "compute_fraction", "measured_bandwidth_fraction", "measured_compute_fraction"):
        setattr(result, name, geometric_mean([getattr(p, name) for p in result.perf]))


def check_physical(result: EvalResult) -> None:
    """A candidate timed faster than its device's peak bandwidth or compute allows (per-call timer, L2 flushed)
    was not measured: its timings are rejected. Computed here, from figures its process never sees. Compute is
    held to the device's highest peak of any type, not its case's: a case's dtype says what its inputs mostly
    are, not which units its kernel may use (a float32 dot runs on tf32 tensor cores by default, 7x float32's
    peak on an H100; TritonBench-G's int8 matmuls are labelled float32, and their golds were rejected)."""
    profile = profile_for(result.evidence.get("device"))
    top = max(profile.tflops.values(), default=None) if profile else None
    for p in result.perf:
        if p.timer != "per call":
            continue
        compute = p.tflops / top if p.tflops and top else None
        for name, value in (("bandwidth", p.bandwidth_fraction), ("compute (its highest, of any type)", compute)):
            if value is not None and value > PHYSICAL_MARGIN:
                reject(result, f"perf case {p.label}: the candidate's time implies {100 * value:.0f}% of the "
                               f"device's datasheet peak {name}: the timings were not measured")


def worker_overhead(message: dict[str, Any] | None, result: EvalResult) -> float | None:
    """Seconds the host spent on a job beyond the checker's own time (evidence['worker_overhead_s'])."""
    if not message or message.get("elapsed_s") is None:
        return None
    worker_s = result.evidence.get("worker_s")
    return None if worker_s is None else round(message["elapsed_s"] - worker_s, 3)
