"""Pulling the candidate's source out of a model's reply, robustly."""

from __future__ import annotations

import ast
import re

from tritonsmith.util import pyast

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


class FormatError(ValueError):
    """The reply holds no usable code; the message is fed back to the model as-is."""


def extract_code(reply: str, entry_point: str) -> str:
    """The fenced block that defines `entry_point` (the last one, if several do); an unfenced reply
    that parses as Python and defines it is accepted too. Several blocks that only together define
    the entry point (kernels in one, wrapper in another) are joined."""
    blocks = [body for lang, body in _FENCE.findall(reply) if lang.lower() in ("", "python", "py", "python3")]
    if not blocks and "```" in reply:
        unterminated = reply.split("```", 1)[1]
        blocks = [unterminated.split("\n", 1)[1] if "\n" in unterminated else ""]
    if not blocks:
        blocks = [reply]
    defining = [b for b in blocks if _defines(b, entry_point)]
    joined = "\n\n".join(b.strip() for b in blocks) + "\n"
    if defining:
        chosen = defining[-1]
        if "@triton.jit" not in chosen and any("@triton.jit" in b for b in blocks):
            return joined  # kernels in one block, the wrapper in another
        return chosen.strip() + "\n"  # a syntax error is the evaluator's to report, with its line
    if len(blocks) > 1 and _defines(joined, entry_point):
        return joined
    if not _FENCE.search(reply) and "```" not in reply:
        raise FormatError("Your reply contained no code block. Reply with one ```python block holding the whole "
                          f"module: imports, the @triton.jit kernels and `{entry_point}`.")
    raise FormatError(f"No code block in your reply defines `{entry_point}`. Reply with one ```python "
                      "block holding the whole module, including it.")


def _defines(source: str, entry_point: str) -> bool:
    """Whether `source` binds `entry_point` at top level: a def, a class, or an assignment (a TritonBench-G
    task may ask for `chunk_gate_recurrent = ChunkGateRecurrent.apply`)."""
    try:
        tree = pyast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):  # CPython's parser gives up on some text
        name = re.escape(entry_point)
        return bool(re.search(rf"^(def {name}\b|class {name}\b|{name}\s*(:[^=\n]*)?=(?!=))", source, re.MULTILINE))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == entry_point:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == entry_point for target in targets for t in ast.walk(target)):
            return True
    return False

