"""Where a value comes from: the assignments of the module and of each wrapper function (each if-branch
apart), and following a launch argument through them to the sites that set it: literals, rules, or places
the tuner cannot change (inputs, flags, constants, blocks sized to cover a whole dimension)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from tritonsmith.tune.syntax import covers, defaults, target_names

MAX_DEPTH = 5


@dataclass
class Site:
    """Where one value comes from, before sites are merged into knobs."""

    node: ast.AST  # the expression to rewrite, or the statement that makes it unrewritable
    kind: str  # literal | rule | cover | constant | flag | input
    why: str = ""
    variable: str | None = None
    branch: str | None = None
    chain: tuple[str, ...] = ()
    tied: tuple[ast.AST, ...] = ()  # grid literals that must change with it
    insert: tuple[int, int] | None = None  # (line, col) for an absent option
    value: int | None = None
    origin: str = ""


@dataclass
class Assignment:
    value: ast.AST | None  # None: the name gets a value the tuner cannot follow
    node: ast.AST
    why: str = ""
    branch: str | None = None


@dataclass
class Scope:
    assignments: dict[str, list[Assignment]] = field(default_factory=dict)
    arguments: dict[str, ast.AST | None] = field(default_factory=dict)  # name -> default expression


def build_scope(body: list[ast.stmt], arguments: dict[str, ast.AST | None] | None) -> Scope:
    """The assignments of a module's or function's statements, each tagged with the if-branch it is in."""
    scope = Scope(arguments=arguments or {})

    def add(name: str, assignment: Assignment) -> None:
        scope.assignments.setdefault(name, []).append(assignment)

    def visit(statements: list[ast.stmt], branch: str | None) -> None:
        for stmt in statements:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    _assign_target(target, stmt.value, stmt, branch, add)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None and isinstance(stmt.target, ast.Name):
                add(stmt.target.id, Assignment(stmt.value, stmt, branch=branch))
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                for name in target_names(stmt.target):
                    add(name, Assignment(None, stmt, "a loop variable", branch))
                visit(stmt.body, branch)
                visit(stmt.orelse, branch)
            elif isinstance(stmt, ast.If):
                visit(stmt.body, f"{stmt.lineno}:body")
                visit(stmt.orelse, f"{stmt.lineno}:else")
            elif isinstance(stmt, (ast.While, ast.With, ast.AsyncWith)):
                visit(stmt.body, branch)
                visit(getattr(stmt, "orelse", []), branch)
            elif isinstance(stmt, ast.Try):
                for part in (stmt.body, *[h.body for h in stmt.handlers], stmt.orelse, stmt.finalbody):
                    visit(part, branch)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    add((alias.asname or alias.name).split(".")[0], Assignment(None, stmt, "imported", branch))

    visit(body, None)
    return scope


def _assign_target(target: ast.AST, value: ast.AST, stmt: ast.stmt, branch: str | None,
                   add: Callable[[str, Assignment], None]) -> None:
    if isinstance(target, ast.Name):
        add(target.id, Assignment(value, stmt, branch=branch))
    elif isinstance(target, (ast.Tuple, ast.List)):
        if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) \
                and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts):
            for sub_target, sub_value in zip(target.elts, value.elts):
                _assign_target(sub_target, sub_value, stmt, branch, add)
        else:
            for name in target_names(target):
                add(name, Assignment(None, stmt, "unpacked from the inputs", branch))


class Names:
    """Name resolution in one module: its own scope, each wrapper function's (built on first use), and
    the sites that give an expression its value."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.module_scope = build_scope(tree.body, arguments=None)
        self.scopes: dict[int, Scope] = {}

    def function_scope(self, fn: ast.AST | None) -> Scope:
        if fn is None:
            return self.module_scope
        if id(fn) not in self.scopes:
            arguments = defaults(fn)
            for arg in (fn.args.vararg, fn.args.kwarg):
                if arg is not None:
                    arguments[arg.arg] = None
            self.scopes[id(fn)] = build_scope(fn.body, arguments)
        return self.scopes[id(fn)]

    def lookup(self, name: str, scope: Scope) -> tuple[list[Assignment], Scope]:
        if name in scope.assignments:
            return scope.assignments[name], scope
        if name in scope.arguments:
            default = scope.arguments[name]
            why = "" if default is not None else "an argument of the wrapper"
            return [Assignment(default, default or self.tree, why)], scope
        if scope is not self.module_scope and name in self.module_scope.assignments:
            return self.module_scope.assignments[name], self.module_scope
        return [], scope

    def resolve(self, expr: ast.AST, scope: Scope, chain: tuple[str, ...] = (), variable: str | None = None,
                branch: str | None = None, depth: int = 0) -> list[Site]:
        """The sites that give `expr` its value: literals, rules, or places the tuner cannot change."""
        if isinstance(expr, ast.Name) and depth < MAX_DEPTH:
            return self._resolve_name(expr, scope, chain, branch, depth)
        if isinstance(expr, ast.IfExp):
            return (self.resolve(expr.body, scope, chain, variable, branch, depth)
                    + self.resolve(expr.orelse, scope, chain, variable, branch, depth))
        if isinstance(expr, ast.Constant):
            if isinstance(expr.value, int) and not isinstance(expr.value, bool):
                return [Site(expr, "literal", variable=variable, branch=branch, chain=chain, value=expr.value)]
            return [Site(expr, "constant", f"a constant {expr.value!r}", variable, branch, chain)]
        if isinstance(expr, (ast.Compare, ast.BoolOp)) or (isinstance(expr, ast.UnaryOp)
                                                            and isinstance(expr.op, ast.Not)):
            return [Site(expr, "flag", "a flag", variable, branch, chain)]
        if covers(expr):
            return [Site(expr, "cover", "sized to cover a whole dimension (next_power_of_2 without a cap): "
                         "smaller breaks it, larger only wastes work", variable, branch, chain)]
        return [Site(expr, "rule", variable=variable, branch=branch, chain=chain)]

    def _resolve_name(self, expr: ast.Name, scope: Scope, chain: tuple[str, ...], branch: str | None,
                      depth: int) -> list[Site]:
        assignments, owner = self.lookup(expr.id, scope)
        if not assignments:
            return [Site(expr, "input", "not assigned in this file", expr.id, branch, chain + (expr.id,))]
        sites = []
        for assignment in assignments:
            if assignment.value is None:
                node = assignment.node if hasattr(assignment.node, "lineno") else expr
                sites.append(Site(node, "input", assignment.why or "not a plain assignment",
                                  expr.id, assignment.branch, chain + (expr.id,)))
            else:
                sites.extend(self.resolve(assignment.value, owner, chain + (expr.id,), expr.id,
                                          assignment.branch, depth + 1))
        return sites
