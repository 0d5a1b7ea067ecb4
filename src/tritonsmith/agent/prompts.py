"""The words the agent sends: one function per role (Generator, Reflector, Optimizer).

Prompts are deterministic functions of their inputs (no clocks, no randomness), so a recorded run
replays exactly from its LLM cache.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tritonsmith.evaluate.result import EvalResult, PerfResult
from tritonsmith.task import Task
from tritonsmith.util import pyast

Messages = list[dict[str, str]]

SYSTEM = """\
You are an expert GPU kernel engineer. You write Triton kernels that are correct first and fast second.
Rules for every kernel you write:
- Reply with exactly one ```python code block holding the complete module: imports, the @triton.jit
  kernels, and the entry-point function with the exact signature asked for.
- The entry point must do the task's computation in Triton kernels that it launches. Plain PyTorch is
  allowed only for glue: allocating outputs, views, .contiguous(), reading shapes and strides. Calling
  PyTorch's implementation of the operation itself is rejected.
- {inputs}; no threads, streams, subprocesses or caching of outputs between calls.
- Inputs can have any size allowed by the task, including sizes that are not powers of two and size 1:
  mask every load and store."""

# What the rule on inputs says, by the task's contract: the evaluator rejects a change to an input unless
# the task updates its arguments in place; an external suite's test (a harness) checks what the original did.
INPUTS_RULE = {
    "new": "Return new tensors; never modify the inputs in place (the evaluator checks them afterwards)",
    "in_place": ("This task updates some of its arguments in place, as its reference does: write the results "
                 "into those tensors (what is written into them is checked), and return what the signature "
                 "returns"),
    "as_reference": ("Treat the inputs as the reference does: update an argument in place exactly where the "
                     "reference or its test does (what is written into it is checked), and otherwise leave "
                     "the inputs unchanged and return new tensors"),
}


# The Reflector's and Optimizer's words reach the next generation as what they are: a reading, not a fact.
REFLECTION_HEADING = ("Analysis and fix plan (a reviewer's reading of the error above, not verified: where it "
                      "disagrees with the error, trust the error):")
OPTIMIZATION_HEADING = "Optimisation plan (a suggestion, not measured: keep the kernel correct first):"


def system_prompt(task: Task) -> str:
    """The Generator's rules; the one on inputs follows the task's contract."""
    contract = "in_place" if task.in_place else "as_reference" if task.harness else "new"
    return SYSTEM.format(inputs=INPUTS_RULE[contract])


def environment(device_name: str | None, versions: str) -> str:
    """Where a candidate is checked and how it is timed, for every role: both decide what works and what pays."""
    constexpr = ("An int argument equal to 1 is specialised by Triton into a tl.constexpr, which is not a tensor "
                 "and has no .to(): do not call tensor methods on scalar arguments.")
    if device_name is None:
        return (f"Correctness is checked on this machine's CPU with Triton's interpreter (TRITON_INTERPRET=1, "
                f"{versions}), against the PyTorch reference on every correctness case at 3 seeds. The "
                "interpreter runs each program with NumPy: some constructs that compile on a GPU fail here, "
                "e.g. a Python scalar condition combined with a block mask (`mask = offs < n and flag`): build "
                f"masks from tensors with `&`. {constexpr} Nothing is timed on this run: speed is not measured, "
                "so write the clearest correct kernel.")
    return (f"Correctness is checked on {device_name} ({versions}) against the PyTorch reference on every "
            "correctness case at 3 seeds, then on the perf shapes, and again after timing. Speed is measured "
            "with triton.testing.do_bench (CUDA events, L2 cache flushed between runs, warm-up discarded): the "
            "median of 5 rounds in which your entry point, the baseline and the PyTorch reference are timed "
            "interleaved on the same inputs; a task's speedup is the geometric mean over its perf shapes. The "
            "whole entry point is timed, every launch and allocation included, so fusing small kernels saves "
            f"their launch overhead (a few microseconds each). {constexpr}")


@dataclass
class Context:
    """What every prompt of a run shares: built once per run."""

    task: Task
    task_text: str
    environment: str = ""
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
    if context.environment:
        parts.append(f"## How your kernel is checked and timed\n{context.environment}")
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
    return [{"role": "system", "content": system_prompt(context.task)}, {"role": "user", "content": "\n\n".join(parts)}]


def reflection(context: Context, source: str, result: EvalResult, error_guide: str = "") -> Messages:
    """The Reflector: a failed candidate becomes an analysis and a fix plan (no code)."""
    report = failure_report(result)
    guide = f"\n\n## Guide notes that may apply\n{error_guide}" if error_guide else ""
    where = f"## How the kernel was checked\n{context.environment}\n\n" if context.environment else ""
    user = (f"{context.task_text}\n\n{where}## Candidate kernel\n```python\n{source.strip()}\n```\n\n"
            f"## Evaluation: FAILED\n{report}{guide}\n\nExplain the root cause in a few sentences, then give a "
            "concrete, numbered fix plan. Say which parts the error shows for certain and which are your guesses. "
            "Do not write the full kernel.")
    return [{"role": "system", "content": "You are an expert Triton kernel debugger."},
            {"role": "user", "content": user}]


def optimization(context: Context, source: str, result: EvalResult) -> Messages:
    """The Optimizer: a passing candidate's timings become a strategy to make it faster (no code)."""
    user = (f"{context.task_text}\n\n"
            + (f"## How the kernel is timed\n{context.environment}\n\n" if context.environment else "")
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
    tree = pyast.parse(source)
    found = [ast.get_source_segment(source, node) for node in tree.body
             if isinstance(node, ast.FunctionDef) and node.name in names]
    return "\n\n\n".join(text for text in found if text)


def _case_text(case: dict) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in case.items() if k != "dtype")
    return f"({dims}, {case['dtype']})"
