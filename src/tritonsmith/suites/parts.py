"""Reading a benchmark file that holds kernel code, a separator line, then its tests (TritonBench-G and
GEAK's ROCm benchmark): the two parts, and what the tests use of the kernel part, which is what a
candidate must define. Load time only: nothing here imports torch or runs the file."""

from __future__ import annotations

import ast
import copy
import re
import symtable
from dataclasses import dataclass
from pathlib import Path

from tritonsmith.task import TaskError
from tritonsmith.util import pyast

SEPARATOR = "#" * 146
KINDS = ("function", "class", "kernel", "object")  # the order in which required names are listed
_KERNEL_DECORATOR = re.compile(r"\b(jit|autotune|heuristics)\b")


@dataclass(frozen=True)
class Parts:
    """A task file cut at its separator line."""

    path: Path
    kernel: str  # the code above the separator: what a candidate replaces
    test: str  # the code below it
    test_line: int  # the file's line number of the test part's first line, less one

    def kernel_tree(self) -> ast.Module:
        return pyast.parse(self.kernel)

    def test_tree(self) -> ast.Module:
        return pyast.parse(self.test)


def separator_line(lines: list[str]) -> int | None:
    """The index of the first line that is the separator (146 '#', spaces around allowed), or None."""
    return next((i for i, line in enumerate(lines) if line.strip() == SEPARATOR), None)


def split_parts(path: Path) -> Parts:
    """The kernel part and the test part, or a TaskError naming the file."""
    lines = path.read_text().splitlines()
    cut = separator_line(lines)
    if cut is None:
        raise TaskError(f"{path}: no separator line of 146 '#' between the kernels and the tests.")
    rest = lines[cut + 1:]
    blank = next((i for i, line in enumerate(rest) if line), len(rest))  # empty lines that strip("\n") drops
    parts = Parts(path, "\n".join(lines[:cut]).rstrip() + "\n", "\n".join(rest).strip("\n") + "\n", cut + 1 + blank)
    for source, offset in ((parts.kernel, 0), (parts.test, parts.test_line)):
        try:
            pyast.parse(source)
        except SyntaxError as err:
            raise TaskError(f"{path}: line {(err.lineno or 0) + offset}: not valid Python ({err.msg}).") from None
    return parts


def top_level(tree: ast.Module) -> dict[str, ast.stmt]:
    """Each name the module binds at its top level -> the statement that binds it last, whose value the
    module ends with (a `def matmul` after `from torch import matmul` is a function to define)."""
    names: dict[str, ast.stmt] = {}
    for node in tree.body:
        for name in bound_names(node):
            names[name] = node
    return names


def bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*"]
    return []


def kind(node: ast.stmt) -> str:
    """function, class, kernel (a @triton.jit, autotune or heuristics def), object or import."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "import"
    if isinstance(node, ast.ClassDef):
        return "class"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        kernel = any(_KERNEL_DECORATOR.search(ast.unparse(d.func if isinstance(d, ast.Call) else d))
                     for d in node.decorator_list)
        return "kernel" if kernel else "function"
    return "object"


def free_names(source: str) -> set[str]:
    """The global names `source` reads anywhere (decorators, defaults and function bodies included) but
    never binds at its top level: what it takes from the code it is appended to."""
    try:
        table = symtable.symtable(source, "<test part>", "exec")
    except SyntaxError as err:  # what the parser accepts and the compiler does not (a misplaced `global`)
        raise TaskError(f"line {err.lineno} of the test part: not valid Python ({err.msg}).") from None
    read: set[str] = set()
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    tables = [table]
    while tables:
        current = tables.pop()
        tables.extend(current.get_children())
        for symbol in current.get_symbols():
            if symbol.is_global() and symbol.is_referenced():
                read.add(symbol.get_name())
            if symbol.is_declared_global() and symbol.is_assigned():
                bound.add(symbol.get_name())
    return read - bound


def without_definitions(source: str, names: set[str]) -> tuple[str, list[str]]:
    """`source` without its top-level functions and classes named in `names` (decorators included),
    and the names dropped. A test part that repeats a kernel-part definition would otherwise replace
    the candidate's with its own copy, and test that copy."""
    lines = source.splitlines()
    drop: set[int] = set()
    dropped = []
    for node in pyast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in names:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop.update(range(first - 1, node.end_lineno))
            dropped.append(node.name)
    return "\n".join(line for i, line in enumerate(lines) if i not in drop) + "\n", dropped


def used_by_tests(kernel: ast.Module, test: str, also: list[str] = ()) -> tuple[list[str], list[ast.stmt]]:
    """(what a candidate must define, the kernel part's imports the tests need): the names of the kernel
    part that `test` reads without binding them, plus `also`, ordered functions, classes, kernels,
    objects (each in the kernel part's order); and the import statements that bind the rest."""
    defined = top_level(kernel)
    wanted = free_names(test) | set(also)
    by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
    imports: list[ast.stmt] = []
    for name, node in defined.items():
        if name not in wanted:
            continue
        if kind(node) == "import":
            if node not in imports:
                imports.append(node)
        else:
            by_kind[kind(node)].append(name)
    return [name for k in KINDS for name in by_kind[k]], imports


def signature(tree: ast.Module, names: list[str]) -> str:
    """The def lines of the required functions and kernels, a class's line and its methods', and an
    object's assignment if short, one per line (as the prompt shows them under "Define")."""
    nodes = top_level(tree)
    lines: list[str] = []
    for name in names:
        node = nodes[name]
        if isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases + node.keywords)
            lines.append(f"class {node.name}({bases}):" if bases else f"class {node.name}:")
            lines += ["    " + _def_line(n) for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines.append(_def_line(node))
        else:
            text = ast.unparse(node)
            lines.append(text if "\n" not in text and len(text) <= 100 else f"{name} = ...")
    return "\n    ".join(lines)


def _def_line(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    header = copy.copy(node)
    header.decorator_list, header.body = [], [ast.Expr(ast.Constant(...))]
    return ast.unparse(header).splitlines()[0]
