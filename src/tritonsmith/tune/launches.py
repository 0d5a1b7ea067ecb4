"""The launches `kernel[grid](...)` of a source and, for each launch parameter they set, the sites that give
it its value: the argument's expression followed through the wrapper's assignments, a literal the grid
repeats tied to it, or an insertion point where num_warps / num_stages is absent."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tritonsmith.tune.autotune import heuristic_entries
from tritonsmith.tune.kernels import Kernels
from tritonsmith.tune.knobs import LAUNCH_OPTIONS, Autotune, Use, role_of
from tritonsmith.tune.scopes import MAX_DEPTH, Names, Scope, Site
from tritonsmith.tune.syntax import SourceText, bind, call_name, constexprs, defaults

SiteKey = tuple
Sites = dict[SiteKey, tuple[Site, list[Use], list[str]]]
"""Site key -> the site, the launch parameters it sets, and their roles: one knob each."""


class LaunchReader:
    """Reads every launch of the source into sites, the launch lines per kernel, and per kernel the
    META['...'] keys its grid lambdas read."""

    def __init__(self, tree: ast.Module, text: SourceText, names: Names, kernels: Kernels,
                 autotunes: dict[str, Autotune]):
        self.tree, self.text, self.names, self.kernels, self.autotunes = tree, text, names, kernels, autotunes
        self.sites: Sites = {}
        self.launches: dict[str, list[int]] = {name: [] for name in kernels.jit}
        self.grid_meta: dict[str, set[str]] = {name: set() for name in kernels.jit}

    def read(self) -> LaunchReader:
        for call, scope_node in self._calls():
            self.launches[call.func.value.id].append(call.lineno)
            self._launch(call, scope_node)
        return self

    def _calls(self) -> Iterator[tuple[ast.Call, ast.AST | None]]:
        """(call, enclosing function or None) for every kernel[grid](...) in the source."""
        jit = self.kernels.jit

        def walk(node: ast.AST, scope: ast.AST | None):
            for child in ast.iter_child_nodes(node):
                inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scope
                if (isinstance(child, ast.Call) and isinstance(child.func, ast.Subscript)
                        and isinstance(child.func.value, ast.Name) and child.func.value.id in jit):
                    yield child, scope
                yield from walk(child, inner)
        yield from walk(self.tree, None)

    def _launch(self, call: ast.Call, scope_node: ast.AST | None) -> None:
        kernel = call.func.value.id
        fn = self.kernels.jit[kernel]
        scope = self.names.function_scope(scope_node)
        grid = call.func.slice
        grid_names, meta = self._grid_names(grid, scope)
        self.grid_meta[kernel] |= meta
        provided = self._provided(kernel)
        bound = bind(fn, call)
        given = {k.arg: k.value for k in call.keywords if k.arg in LAUNCH_OPTIONS}
        params = [(p, bound.get(p)) for p in constexprs(fn)] + [(o, given.get(o)) for o in LAUNCH_OPTIONS]
        for param, expr in params:
            if param in provided:
                continue
            found = self._param_sites(call, kernel, fn, param, expr, scope, grid)
            for site in found:
                dependent = bool(set(site.chain) & grid_names) or param in meta or bool(site.tied)
                self._add(site, Use(kernel, param, call.lineno, dependent), role_of(param, self.kernels.block[kernel]),
                          call)

    def _provided(self, kernel: str) -> set[str]:
        """The parameters a kernel's decorators set, not its launches."""
        provided = set()
        decorators = self.kernels.decorators[kernel]
        if kernel in self.autotunes:  # its configs set num_warps and num_stages too
            provided |= set(self.autotunes[kernel].params) | set(LAUNCH_OPTIONS)
        if "heuristics" in decorators:
            provided |= set(heuristic_entries(decorators["heuristics"]))
        return provided

    def _param_sites(self, call: ast.Call, kernel: str, fn: ast.FunctionDef, param: str, expr: ast.AST | None,
                     scope: Scope, grid: ast.AST) -> list[Site]:
        """The sites of one launch parameter at one launch ([] where there is nothing to rewrite)."""
        if expr is None and param in LAUNCH_OPTIONS:
            has_star_kwargs = any(k.arg is None for k in call.keywords)
            if has_star_kwargs or not (call.args or call.keywords) or (param == "num_stages"
                                                                      and not self.kernels.loop[kernel]):
                return []  # **kwargs may set it; no argument to add it after; no loop for it to pipeline
            return [Site(call, "literal", insert=self._insertion_point(call), origin="default",
                         value=4 if param == "num_warps" else None)]
        if expr is None:
            own_defaults = defaults(fn)
            if param not in own_defaults or own_defaults[param] is None:
                return []  # not passed here (or passed through *args): nothing to rewrite at this launch
            found = self.names.resolve(own_defaults[param], scope)
            for site in found:
                site.tied = self._grid_literals(grid, site)
            return found
        found = self.names.resolve(expr, scope)
        if isinstance(expr, ast.Constant):
            for site in found:
                site.tied = self._grid_literals(grid, site)
        return found

    def _add(self, site: Site, use: Use, role: str, call: ast.Call) -> None:
        key = ("insert", call.lineno, call.col_offset, use.param) if site.insert else (id(site.node), site.variable)
        if key in self.sites:
            self.sites[key][1].append(use)
            self.sites[key][2].append(role)
        else:
            self.sites[key] = (site, [use], [role])

    def _insertion_point(self, call: ast.Call) -> tuple[int, int]:
        nodes = list(call.args) + list(call.keywords)
        last = max(nodes, key=lambda n: (n.end_lineno, n.end_col_offset))
        return last.end_lineno, self.text.char_col(last.end_lineno, last.end_col_offset)

    def _grid_names(self, grid: ast.AST, scope: Scope) -> tuple[set[str], set[str]]:
        """Names the grid reads (through local assignments) and META['...'] keys of a grid lambda."""
        names: set[str] = set()
        meta: set[str] = set()
        frontier = [grid]
        for _ in range(MAX_DEPTH):
            next_frontier = []
            for expr in frontier:
                for node in ast.walk(expr):
                    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                            and isinstance(node.slice.value, str):
                        meta.add(node.slice.value)
                    if isinstance(node, ast.Name) and node.id not in names:
                        names.add(node.id)
                        for assignment in self.names.lookup(node.id, scope)[0]:
                            if assignment.value is not None:
                                next_frontier.append(assignment.value)
            frontier = next_frontier
        return names, meta

    @staticmethod
    def _grid_literals(grid: ast.AST, site: Site) -> tuple[ast.AST, ...]:
        """Literals in an inline grid that repeat an inline launch literal: cdiv(n, 1024), n // 1024."""
        if site.kind != "literal" or not isinstance(site.node, ast.Constant):
            return ()
        value = site.node.value
        tied = []
        for node in ast.walk(grid):
            divisor = None
            if isinstance(node, ast.Call) and call_name(node) == "cdiv" and len(node.args) == 2:
                divisor = node.args[1]
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv):
                divisor = node.right
            if isinstance(divisor, ast.Constant) and divisor.value == value and divisor is not site.node:
                tied.append(divisor)
        return tuple(tied)
