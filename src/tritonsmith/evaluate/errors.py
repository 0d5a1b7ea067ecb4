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
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    lines.append(text.replace(candidate_path, CANDIDATE_FILE))
    cause = exc.__cause__ or exc.__context__
    if cause is not None and type(exc).__name__ == "InterpreterError":
        lines.append("caused by: " + "".join(traceback.format_exception_only(type(cause), cause)).strip())
    return _cap("\n".join(lines))


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
