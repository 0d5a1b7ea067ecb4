"""The @triton.jit functions of a source and what discovery needs to know of each: its decorators, the
constexprs that size blocks (tl.arange extents, block shapes, directly, through a local or through a jit
helper), and whether it (or a helper it calls) calls tl.dot or loops."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tritonsmith.tune.syntax import (
    bind,
    call_name,
    calls,
    constexprs,
    decorator_name,
    local_values,
    names_read,
)

SHAPE_FIRST_ARG = ("zeros", "full", "empty")  # tl.zeros(shape, ...): the first argument is a block shape
SHAPE_ALL_ARGS = ("arange", "reshape", "broadcast_to", "view")
HELPER_FIXPOINT_ROUNDS = 10


@dataclass
class Kernels:
    jit: dict[str, ast.FunctionDef]
    decorators: dict[str, dict[str, ast.AST]]
    """Per kernel: its decorators by name (jit, autotune, heuristics)."""
    block: dict[str, set[str]]
    """Per kernel: the constexprs used as block extents or shapes."""
    dot: dict[str, bool]
    loop: dict[str, bool]


def find_kernels(tree: ast.Module) -> Kernels:
    """Every @triton.jit function of `tree`, with its block-size constexprs, tl.dot calls and loops."""
    jit: dict[str, ast.FunctionDef] = {}
    decorators: dict[str, dict[str, ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = {decorator_name(d): d for d in node.decorator_list}
            if "jit" in names:
                jit[node.name] = node
                decorators[node.name] = names
    scopes = {name: (set(constexprs(fn)), local_values(fn)) for name, fn in jit.items()}
    block = {name: _local_block_params(fn, *scopes[name]) for name, fn in jit.items()}
    dot = {name: calls(fn, ("dot", "dot_scaled")) for name, fn in jit.items()}
    loop = {name: any(isinstance(n, (ast.For, ast.While)) for n in ast.walk(fn)) for name, fn in jit.items()}
    kernels = Kernels(jit, decorators, block, dot, loop)
    for _ in range(HELPER_FIXPOINT_ROUNDS):
        if not _through_helpers(kernels, scopes):
            break
    return kernels


def _through_helpers(kernels: Kernels, scopes: dict[str, tuple[set[str], dict[str, list[ast.AST]]]]) -> bool:
    """One round of the fixpoint over helper calls: a kernel inherits its helpers' tl.dot, loops and block
    parameters (through the arguments it passes them). Whether anything changed."""
    jit, block, dot, loop = kernels.jit, kernels.block, kernels.dot, kernels.loop
    changed = False
    for name, fn in jit.items():
        own_constexprs, local = scopes[name]
        for call in ast.walk(fn):
            callee = call.func.id if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) else None
            if callee not in jit or callee == name:
                continue
            if (dot[callee] and not dot[name]) or (loop[callee] and not loop[name]):
                dot[name] |= dot[callee]
                loop[name] |= loop[callee]
                changed = True
            for param, arg in bind(jit[callee], call).items():
                if param in block[callee]:
                    found = names_read(arg, local) & own_constexprs
                    if not found <= block[name]:
                        block[name] |= found
                        changed = True
    return changed


def _local_block_params(fn: ast.FunctionDef, own_constexprs: set[str], local: dict[str, list[ast.AST]]) -> set[str]:
    found: set[str] = set()
    for call in ast.walk(fn):
        if not isinstance(call, ast.Call):
            continue
        name = call_name(call)
        if name in SHAPE_FIRST_ARG:
            shapes = call.args[:1] + [k.value for k in call.keywords if k.arg == "shape"]
        elif name in SHAPE_ALL_ARGS:
            shapes = call.args + [k.value for k in call.keywords]
        else:
            continue
        for shape in shapes:
            found |= names_read(shape, local) & own_constexprs
    return found
