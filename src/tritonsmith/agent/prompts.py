"""The words the agent sends: one function per role (Generator, Reflector, Optimizer).

Prompts are deterministic functions of their inputs (no clocks, no randomness), so a recorded run
replays exactly from its LLM cache.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tritonsmith.evaluate.result import EvalResult, PerfResult
from tritonsmith.task import Task

Messages = list[dict[str, str]]

SYSTEM = """\
You are an expert GPU kernel engineer. You write Triton kernels that are correct first and fast second.
Rules for every kernel you write:
- Reply with exactly one ```python code block holding the complete module: imports, the @triton.jit
  kernels, and the entry-point function with the exact signature asked for.
- The entry point must do the task's computation in Triton kernels that it launches. Plain PyTorch is
  allowed only for glue: allocating outputs, views, .contiguous(), reading shapes and strides. Calling
  PyTorch's implementation of the operation itself is rejected.
- Return new tensors; never modify the inputs in place; no threads, streams, subprocesses or caching of
  outputs between calls.
- Inputs can have any size allowed by the task, including sizes that are not powers of two and size 1:
  mask every load and store."""


@dataclass
class Context:
    """What every prompt of a run shares: built once per run."""

    task: Task
    task_text: str
    hardware: str = ""
    guide: str = ""
    example: str = ""


def task_description(task: Task) -> str:
    if task.reference_source:  # a suite adapter says what to show: its test, or the model to rewrite
        return (f"## Task: {task.id}\n{task.instruction.strip()}\n\nDefine (keep these exact signatures):\n"
                f"    {task.signature}\n\n```python\n{task.reference_source.strip()}\n```")
    reference = _functions(task.source(), ("make_inputs", "reference"))
    shapes = ", ".join(_case_text(c) for c in task.perf_cases[:4]) or "see the correctness cases"
    awkward = ", ".join(_case_text(c) for c in task.correctness_cases[:6])
    return (f"## Task: {task.id}\n{task.instruction.strip()}\n\nEntry point (keep this exact signature):\n"
            f"    {task.signature}\n\n## PyTorch reference (how inputs are made and what must be computed)\n"
            f"```python\n{reference}\n```\n\nChecked on shapes such as {awkward}; timed on {shapes}.")


def generation(context: Context, previous: str | None = None, feedback: str | None = None) -> Messages:
    parts = [context.task_text]
    if context.hardware:
        parts.append(f"## Target hardware\n{context.hardware}")
    if context.guide:
        parts.append(f"## Triton guide (relevant sections)\n{context.guide}")
    if context.example:
        parts.append(f"## Example: a verified Triton kernel for a related task\n{context.example}")
    if previous is not None:
        parts.append(f"## Your previous kernel\n```python\n{previous.strip()}\n```")
    if feedback:
        parts.append(f"## Feedback on it\n{feedback.strip()}")
    if previous is None:
        ask = "Write the kernel."
    elif feedback and "FAILED" in feedback:
        ask = "Write the corrected kernel, following the fix plan."
    else:
        ask = "Write a faster kernel that stays correct, following the optimisation plan."
    parts.append(f"{ask} Reply with one ```python block holding the whole module.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def reflection(context: Context, source: str, result: EvalResult, error_guide: str = "") -> Messages:
    """The Reflector: a failed candidate becomes an analysis and a fix plan (no code)."""
    report = failure_report(result)
    guide = f"\n\n## Guide notes that may apply\n{error_guide}" if error_guide else ""
    user = (f"{context.task_text}\n\n## Candidate kernel\n```python\n{source.strip()}\n```\n\n## Evaluation: FAILED\n"
            f"{report}{guide}\n\nExplain the root cause in a few sentences, then give a concrete, numbered fix plan. "
            "Do not write the full kernel.")
    return [{"role": "system", "content": "You are an expert Triton kernel debugger."},
            {"role": "user", "content": user}]


def optimization(context: Context, source: str, result: EvalResult) -> Messages:
    """The Optimizer: a passing candidate's timings become a strategy to make it faster (no code)."""
    user = (f"{context.task_text}\n\n"
            + (f"## Target hardware\n{context.hardware}\n\n" if context.hardware else "")
            + f"## Current kernel (verified correct)\n```python\n{source.strip()}\n```\n\n## Measurements\n"
            f"{performance_report(result)}\n\nSay whether the kernel is memory- or compute-bound and how far from the "
            "roof it is, name the main bottleneck, and give one concrete optimisation strategy as a numbered plan "
            "(tiling, fusion, vectorisation, block sizes, num_warps/num_stages, memory layout). Do not write the full "
            "kernel.")
    return [{"role": "system", "content": "You are an expert in GPU performance and Triton."},
            {"role": "user", "content": user}]


def failure_report(result: EvalResult) -> str:
    lines = [f"status: {result.status}", result.message.strip()]
    bad = [c for c in result.cases if not c.ok]
    if bad and bad[0].message and bad[0].message not in result.message:
        lines.append(f"first failing check: {bad[0].label} seed {bad[0].seed}: {bad[0].message}")
    if result.guard_violations:
        lines.append("guards: " + "; ".join(result.guard_violations))
    if result.stderr_tail.strip() and result.status in ("crashed", "runtime_error"):
        lines.append("stderr (end):\n" + result.stderr_tail.strip()[-1500:])
    return "\n".join(line for line in lines if line)


def performance_report(result: EvalResult) -> str:
    if not result.perf:
        return f"not timed ({result.speedup_reason or 'no GPU'})"
    lines = []
    for p in result.perf:
        parts = [f"{p.label}: {p.candidate_ms * 1000:.1f} us"]
        if p.baseline_ms:
            parts.append(f"baseline {p.baseline_ms * 1000:.1f} us (speedup {p.speedup:.2f}x)")
        if p.reference_ms:
            parts.append(f"PyTorch {p.reference_ms * 1000:.1f} us")
        if p.gbps is not None and (p.bandwidth_fraction is not None or p.measured_bandwidth_fraction is not None):
            parts.append(f"{p.gbps:.0f} GB/s = {_of_roofs(p.measured_bandwidth_fraction, p.bandwidth_fraction, 'copy bandwidth')}")
        if p.tflops is not None and (p.compute_fraction is not None or p.measured_compute_fraction is not None):
            parts.append(f"{p.tflops:.1f} TFLOP/s = {_of_roofs(p.measured_compute_fraction, p.compute_fraction, 'matmul FLOP/s')}")
        roof = roofline_verdict(*_binding(p))
        if roof:
            parts.append(roof)
        lines.append("- " + ", ".join(parts))
    if result.speedup is not None:
        lines.append(f"overall speedup vs baseline: {result.speedup:.3f}x (geometric mean)")
    return "\n".join(lines)


def roofline_verdict(bandwidth_fraction: float | None, compute_fraction: float | None,
                     bandwidth_basis: str = "", compute_basis: str = "") -> str:
    """Which roof binds (the larger fraction of its peak) and how far below it the kernel is. The
    bases name the peaks ("measured", "datasheet") when the caller knows them."""
    if bandwidth_fraction is None and compute_fraction is None:
        return ""
    memory = (bandwidth_fraction or 0.0) >= (compute_fraction or 0.0)
    fraction = bandwidth_fraction if memory else compute_fraction
    basis = bandwidth_basis if memory else compute_basis
    return (f"{'memory' if memory else 'compute'}-bound: at {100 * fraction:.0f}% of the "
            f"{basis + ' ' if basis else ''}{'bandwidth' if memory else 'compute'} roof, "
            f"{100 * max(0.0, 1 - fraction):.0f}% headroom")


def _binding(p: PerfResult) -> tuple[float | None, float | None, str, str]:
    """Each roof as a fraction of this GPU's measured peak where one was measured, else of the datasheet's."""
    if p.measured_bandwidth_fraction is None and p.measured_compute_fraction is None:
        return p.bandwidth_fraction, p.compute_fraction, "", ""
    bandwidth, bandwidth_basis = ((p.measured_bandwidth_fraction, "measured") if p.measured_bandwidth_fraction
                                  is not None else (p.bandwidth_fraction, "datasheet"))
    compute, compute_basis = ((p.measured_compute_fraction, "measured") if p.measured_compute_fraction
                              is not None else (p.compute_fraction, "datasheet"))
    return bandwidth, compute, bandwidth_basis, compute_basis


def _of_roofs(measured: float | None, sheet: float | None, what: str) -> str:
    if measured is None:
        return f"{100 * sheet:.0f}% of peak {'bandwidth' if 'bandwidth' in what else 'compute'}"
    text = f"{100 * measured:.0f}% of this GPU's measured {what}"
    return text + (f" ({100 * sheet:.0f}% of the datasheet peak)" if sheet is not None else "")


def _functions(source: str, names: tuple[str, ...]) -> str:
    tree = ast.parse(source)
    found = [ast.get_source_segment(source, node) for node in tree.body
             if isinstance(node, ast.FunctionDef) and node.name in names]
    return "\n\n\n".join(text for text in found if text)


def _case_text(case: dict) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in case.items() if k != "dtype")
    return f"({dims}, {case['dtype']})"
