"""Turning a candidate's exceptions into messages an LLM can act on (runs in the worker)."""

from __future__ import annotations

import traceback

CANDIDATE_FILE = "candidate.py"
MAX_MESSAGE = 4000
MAX_CAUSES = 8  # compile errors a reason is nested in (a @jit function calling another) that are followed


def describe_exception(exc: BaseException, candidate_path: str) -> str:
    """The exception with only the candidate's own frames, and the failing line shown."""
    if isinstance(exc, SyntaxError) and (exc.filename or "").endswith(CANDIDATE_FILE):
        pointer = ""
        if exc.text:
            pointer = f"\n    {exc.text.rstrip()}"
            if exc.offset:
                pointer += "\n    " + " " * (exc.offset - 1 - (len(exc.text) - len(exc.text.lstrip()))) + "^"
        return _cap(f"SyntaxError at candidate.py line {exc.lineno}: {exc.msg}{pointer}")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == candidate_path]
    lines = []
    if frames:
        lines.append("Traceback (candidate frames only):")
        for frame in frames[-6:]:
            lines.append(f"  candidate.py, line {frame.lineno}, in {frame.name}")
            if frame.line:
                lines.append(f"    {frame.line.strip()}")
    lines.append(exception_text(exc).replace(candidate_path, CANDIDATE_FILE))
    return _cap("\n".join(lines))


def exception_text(exc: BaseException, head: str | None = None) -> str:
    """`head` (by default the exception as Python prints its last line) and, for the interpreter's and Triton's
    compile errors, what caused them, to the innermost cause: a compile error raised in a @jit function that the
    kernel calls (tl.flip) shows only the kernel's line and a caret, its reason in the error it was raised from. A
    cause whose line the text already holds word for word is not repeated."""
    text = head if head is not None else _last_line(exc)
    cause, seen = exc, {id(exc)}
    while (type(cause).__name__ == "InterpreterError" or is_compile_error(cause)) and len(seen) <= MAX_CAUSES:
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
        if cause is None or id(cause) in seen:
            break
        seen.add(id(cause))
        line = _last_line(cause)
        if not line or line not in text:
            text += "\ncaused by: " + line
    return text


def out_of_memory(text: str) -> bool:
    """Whether a failure says that the GPU ran out of memory (PyTorch's or CUDA's words)."""
    lowered = text.lower()
    return "out of memory" in lowered or "cudaerrormemoryallocation" in lowered or "alloc_failed" in lowered


def device_fault(exc: BaseException) -> bool:
    """Whether an exception is the GPU's report of a fault of a kernel (CUDA's or HIP's error: an illegal
    address, a device-side assertion), after which the process's context is lost and every call fails; not its
    running out of memory, which the next call may not."""
    text = str(exc)
    fault = type(exc).__name__ == "AcceleratorError" or any(words in text for words in DEVICE_ERRORS)
    return fault and not out_of_memory(text)


DEVICE_ERRORS = ("CUDA error", "HIP error", "Triton Error [CUDA]", "Triton Error [HIP]")
"""How PyTorch and Triton's launchers say that the device reported an error."""


def _last_line(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def is_compile_error(exc: BaseException) -> bool:
    """Triton's compile errors; in interpreter mode there is no compile step to fail."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    module = type(exc).__module__ or ""
    return bool(names & {"CompilationError", "CompileTimeAssertionFailure", "UnsupportedLanguageConstruct"}) or (
        module.startswith("triton.compiler") and "Error" in type(exc).__name__)


def _cap(text: str) -> str:
    if len(text) <= MAX_MESSAGE:
        return text
    half = MAX_MESSAGE // 2
    return text[:half] + "\n... [trimmed] ...\n" + text[-half:]
