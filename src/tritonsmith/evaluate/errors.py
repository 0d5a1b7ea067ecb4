"""Turning a candidate's exceptions into messages an LLM can act on (runs in the worker)."""

from __future__ import annotations

import traceback

CANDIDATE_FILE = "candidate.py"
MAX_MESSAGE = 4000


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
    compile errors, what caused them: a compile error raised in a @jit function that the kernel calls (tl.flip)
    shows only the kernel's line and a caret, its reason in the error it was raised from."""
    text = head if head is not None else "".join(traceback.format_exception_only(type(exc), exc)).strip()
    cause, depth = exc, 0
    while (type(cause).__name__ == "InterpreterError" or is_compile_error(cause)) and depth < 3:
        cause, depth = cause.__cause__ or cause.__context__, depth + 1
        if cause is None:
            break
        if str(cause) not in text:  # (the innermost reason is often the compile error's last line already)
            text += "\ncaused by: " + "".join(traceback.format_exception_only(type(cause), cause)).strip()
    return text


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
