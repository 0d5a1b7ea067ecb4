"""Small readers of Python syntax trees that discovery shares: positions in the source text, call and
decorator names, a function's parameters and how a call binds them, and the names an expression reads."""

from __future__ import annotations

import ast
import io

from tritonsmith.tune.knobs import Span


class SourceText:
    """The source a tree was parsed from: spans in characters (ast gives UTF-8 byte columns) and node text."""

    def __init__(self, source: str):
        self.source = source
        self.lines = io.StringIO(source).readlines()

    def span(self, node: ast.AST) -> Span:
        return Span(node.lineno, self.char_col(node.lineno, node.col_offset),
                    node.end_lineno, self.char_col(node.end_lineno, node.end_col_offset))

    def char_col(self, line: int, byte_col: int) -> int:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text.encode()[:byte_col].decode(errors="replace"))

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)


def decorator_name(node: ast.AST) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Name):
        return target.id
    return None


def call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def calls(fn: ast.AST, names: tuple[str, ...]) -> bool:
    return any(isinstance(n, ast.Call) and call_name(n) in names for n in ast.walk(fn))


def params(fn: ast.FunctionDef) -> list[str]:
    return [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]


def constexprs(fn: ast.FunctionDef) -> list[str]:
    args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
    return [a.arg for a in args if a.annotation is not None and ast.unparse(a.annotation).endswith("constexpr")]


def defaults(fn: ast.FunctionDef) -> dict[str, ast.AST | None]:
    """Parameter name -> its default expression (None: no default), positional then keyword-only."""
    positional = fn.args.posonlyargs + fn.args.args
    values = [None] * (len(positional) - len(fn.args.defaults)) + list(fn.args.defaults)
    found = {a.arg: d for a, d in zip(positional, values)}
    found.update({a.arg: d for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults)})
    return found


def bind(fn: ast.FunctionDef, call: ast.Call) -> dict[str, ast.AST]:
    """Parameter name -> argument expression of a call (positional arguments up to the first *args)."""
    names = params(fn)
    bound: dict[str, ast.AST] = {}
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred) or index >= len(names):
            break
        bound[names[index]] = arg
    for keyword in call.keywords:
        if keyword.arg is not None:
            bound[keyword.arg] = keyword.value
    return bound


def argument(call: ast.Call, keyword: str, position: int) -> ast.AST | None:
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    return call.args[position] if len(call.args) > position else None


def local_values(fn: ast.FunctionDef) -> dict[str, list[ast.AST]]:
    values: dict[str, list[ast.AST]] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    values.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
            values.setdefault(node.target.id, []).append(node.value)
    return values


def names_read(expr: ast.AST, local: dict[str, list[ast.AST]], depth: int = 0) -> set[str]:
    """Names `expr` reads, expanded through local assignments (a few levels deep)."""
    found: set[str] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            found.add(node.id)
            if depth < 3:
                for value in local.get(node.id, []):
                    found |= names_read(value, local, depth + 1)
    return found


def target_names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def covers(expr: ast.AST) -> bool:
    """next_power_of_2(X), perhaps inside max(..., c) or int(...): a block that holds all of X."""
    if not isinstance(expr, ast.Call):
        return False
    name = call_name(expr)
    if name == "next_power_of_2":
        return True
    if name in ("max", "int"):
        return any(covers(arg) for arg in expr.args)
    return False
