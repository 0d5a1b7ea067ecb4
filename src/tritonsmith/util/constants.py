"""The value of a constant expression read from source without running it: task fields (`1 << 24`), the
bounds of a perf script's loops, a kernel's config lists. Bounded, so a crafted expression cannot make it
compute anything big."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
             ast.FloorDiv: lambda a, b: a // b, ast.Div: lambda a, b: a / b, ast.Mod: lambda a, b: a % b,
             ast.Pow: lambda a, b: a ** b, ast.LShift: lambda a, b: a << b}
MAX_BITS = 256  # shapes and byte counts are far below; a bigger number is a mistake or an attack


def constant(node: ast.AST, names: Mapping[str, Any] | None = None, max_bits: int = MAX_BITS) -> Any:
    """What ast.literal_eval gives, plus names bound in `names`, `-x` and `+x` of any number, and arithmetic on
    numbers (`arithmetic`); lists and tuples both as lists. ValueError (or TypeError) for anything else."""
    if isinstance(node, ast.Name) and names is not None and node.id in names:
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        return arithmetic(node.op, constant(node.left, names, max_bits), constant(node.right, names, max_bits),
                          max_bits)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [constant(item, names, max_bits) for item in node.elts]
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {constant(k, names, max_bits): constant(v, names, max_bits)
                for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = constant(node.operand, names, max_bits)
        if _number(value):
            return -value if isinstance(node.op, ast.USub) else value
    return ast.literal_eval(node)


def arithmetic(op: ast.operator, left: Any, right: Any, max_bits: int = MAX_BITS) -> Any:
    """`left op right` on numbers (not bools). Operands and results are bounded to `max_bits` bits before
    anything big is computed, so `((10**64)**64)**64` fails at once; ValueError for what has no value."""
    if not (_number(left) and _number(right)):
        raise ValueError("arithmetic only on numbers")
    if isinstance(op, (ast.Pow, ast.LShift)) and isinstance(left, int) and isinstance(right, int) and (
            right > max_bits or (isinstance(op, ast.Pow) and abs(left).bit_length() * right > max_bits)):
        raise ValueError("arithmetic only on small numbers")
    try:
        result = OPERATORS[type(op)](left, right)
    except (ArithmeticError, ValueError):  # 1 / 0, 10.0 ** 400, 1 << -1
        raise ValueError("arithmetic that has no value") from None
    if isinstance(result, complex) or (isinstance(result, int) and result.bit_length() > max_bits):
        raise ValueError("arithmetic only on small numbers")
    return result


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
