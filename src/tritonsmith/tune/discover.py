"""Finding a kernel source's launch parameters without running it (ast only).

A launch parameter is a `tl.constexpr` argument of a `@triton.jit` kernel, or `num_warps` /
`num_stages`, at a launch `kernel[grid](...)`. What the tuner may rewrite is a *knob*: one place in
the source that sets such a value: a literal or rule assigned to a wrapper variable (each branch of
an `if` is its own knob, so shape buckets stay apart), a keyword at the launch, a missing
`num_warps`/`num_stages` (the backend default), an `@triton.autotune` config list, or a
`@triton.heuristics` lambda. Rewriting a knob changes every launch and grid that reads it, so grid
and launch stay consistent; an inline literal that the grid repeats (`cdiv(n, 1024)`) is tied to it.

Only block sizes (extents of `tl.arange` and block shapes), `GROUP*` tile groupings, `num_warps` and
`num_stages` are tunable; any other constexpr may change what the kernel computes and is left alone.
"""

from __future__ import annotations

import ast
import io
import re
from dataclasses import dataclass, field

SHAPE_FIRST_ARG = ("zeros", "full", "empty")  # tl.zeros(shape, ...): the first argument is a block shape
SHAPE_ALL_ARGS = ("arange", "reshape", "broadcast_to", "view")
TUNABLE_ROLES = ("block", "group", "num_warps", "num_stages")
ROLE_ORDER = {"block": 0, "num_warps": 1, "num_stages": 2, "group": 3, "other": 4}
LAUNCH_OPTIONS = ("num_warps", "num_stages")
MAX_DEPTH = 5


class DiscoveryError(ValueError):
    """The source cannot be analysed (not valid Python); the message says why."""


@dataclass(frozen=True)
class Span:
    """A stretch of source: 1-based lines, 0-based character columns, end exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(frozen=True)
class Use:
    """One launch parameter that a knob sets."""

    kernel: str
    param: str
    """A constexpr name, or num_warps / num_stages."""
    line: int
    """The launch's line (the decorator's for autotune and heuristics)."""
    grid_dependent: bool
    """The launch grid reads the same value (e.g. triton.cdiv(n, BLOCK))."""


@dataclass(frozen=True)
class Knob:
    """One place in the source that sets launch parameters: what a rewrite may change."""

    id: str
    """Stable key in a configuration: NAME@LINE:COL, or KERNEL.PARAM for an autotune list."""
    role: str
    """block | group | num_warps | num_stages | other."""
    origin: str
    """literal | rule | default (absent: the backend's default) | autotune | heuristic; for knobs that are
    not tuned also input (from the wrapper's arguments or the inputs' shapes) | constant."""
    expression: str
    """The current source text of the value ('' when absent)."""
    value: int | None
    """The current value when it is a literal (or a known default)."""
    spans: tuple[Span, ...]
    """What a rewrite replaces, all together; a default knob's span is an insertion point."""
    uses: tuple[Use, ...]
    variable: str | None = None
    """The wrapper variable that carries it to the launch."""
    branch: str | None = None
    """The if-branch that assigns it (LINE:body or LINE:else), None outside any branch."""
    dot: bool = False
    """A kernel it feeds calls tl.dot: tiles of at least 16, bounded by shared memory."""
    loop: bool = False
    """A kernel it feeds has a loop (num_stages pipelines loops only)."""
    tunable: bool = True
    reason: str = ""
    """Why it is not tuned ('' when it is)."""
    choices: tuple[int, ...] = ()
    """autotune: the values the existing configs use."""

    @property
    def param(self) -> str:
        return self.uses[0].param

    @property
    def power_of_two(self) -> bool:
        """Every value must be a power of two: a block extent (tl.arange), or num_warps."""
        return self.role in ("block", "num_warps")

    @property
    def kernels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(use.kernel for use in self.uses))

    @property
    def grid_dependent(self) -> bool:
        return any(use.grid_dependent for use in self.uses)

    @property
    def line(self) -> int:
        return self.spans[0].line if self.spans else self.uses[0].line

    def describe(self) -> str:
        params = ", ".join(dict.fromkeys(f"{use.kernel}.{use.param}" for use in self.uses))
        if self.origin == "default":
            current = f"absent (default {self.value})" if self.value is not None else "absent (backend default)"
        elif self.origin == "autotune":
            current = f"autotune configs use {list(self.choices)}"
        else:
            current = self.expression
        flags = [self.origin]
        if self.grid_dependent:
            flags.append("grid reads it")
        if self.power_of_two:
            flags.append("power of two")
        if self.branch:
            flags.append(f"branch {self.branch}")
        state = "tuned" if self.tunable else f"not tuned: {self.reason}"
        return f"{self.id}: {params} = {current} [{', '.join(flags)}] {state}"


@dataclass(frozen=True)
class Autotune:
    """An @triton.autotune decorator's config list, as read from the source."""

    span: Span | None
    """The configs expression (or the module-level list it names): what a rewrite replaces."""
    configs: tuple[dict, ...]
    """Each config's parameters, num_warps and num_stages included when given."""
    params: tuple[str, ...]
    """Every parameter the configs set, in order; num_warps and num_stages last."""
    config_call: str = "triton.Config"
    """How the source spells triton.Config."""
    extras: str = ""
    """Other keyword arguments of the first config (e.g. maxnreg=128), kept in rewritten configs."""
    opaque: str = ""
    """Why the configs could not be read ('' when they could)."""


@dataclass(frozen=True)
class KernelInfo:
    name: str
    line: int
    constexprs: tuple[str, ...]
    block_params: tuple[str, ...]
    """Constexprs used as tl.arange extents or block shapes (directly, locally or via a helper)."""
    uses_dot: bool
    has_loop: bool
    launches: tuple[int, ...]
    autotune: Autotune | None = None
    heuristics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Discovery:
    kernels: tuple[KernelInfo, ...]
    knobs: tuple[Knob, ...]
    """Every knob found, tuned or not, in search order (block sizes, num_warps, num_stages, groups)."""

    @property
    def tunable(self) -> tuple[Knob, ...]:
        return tuple(knob for knob in self.knobs if knob.tunable)

    def knob(self, knob_id: str) -> Knob:
        for knob in self.knobs:
            if knob.id == knob_id:
                return knob
        raise KeyError(f"no knob {knob_id!r}; known: {[k.id for k in self.knobs]}")

    def kernel(self, name: str) -> KernelInfo:
        for kernel in self.kernels:
            if kernel.name == name:
                return kernel
        raise KeyError(f"no kernel {name!r}")

    def describe(self) -> str:
        lines = []
        for kernel in self.kernels:
            facts = [f"constexprs {', '.join(kernel.constexprs) or 'none'}",
                     f"block sizes {', '.join(kernel.block_params) or 'none'}",
                     "tl.dot" if kernel.uses_dot else "no tl.dot", "a loop" if kernel.has_loop else "no loop"]
            if kernel.autotune:
                facts.append(f"autotune: {len(kernel.autotune.configs)} configs" +
                             (f" ({kernel.autotune.opaque})" if kernel.autotune.opaque else ""))
            if kernel.heuristics:
                facts.append(f"heuristics for {', '.join(kernel.heuristics)}")
            launched = f"launched at line {', '.join(map(str, kernel.launches))}" if kernel.launches else "not launched"
            lines.append(f"kernel {kernel.name} (line {kernel.line}): {'; '.join(facts)}; {launched}")
        lines.extend(f"  {knob.describe()}" for knob in self.knobs)
        return "\n".join(lines)


def discover(source: str) -> Discovery:
    """The kernels of `source` and the knobs that set their launch parameters."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise DiscoveryError(f"line {err.lineno}: the source is not valid Python ({err.msg})") from None
    return _Analysis(source, tree).run()


@dataclass
class _Site:
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
class _Assignment:
    value: ast.AST | None  # None: the name gets a value the tuner cannot follow
    node: ast.AST
    why: str = ""
    branch: str | None = None


@dataclass
class _Scope:
    assignments: dict[str, list[_Assignment]] = field(default_factory=dict)
    arguments: dict[str, ast.AST | None] = field(default_factory=dict)  # name -> default expression


class _Analysis:
    def __init__(self, source: str, tree: ast.Module):
        self.source = source
        self.tree = tree
        self.lines = io.StringIO(source).readlines()
        self.jit: dict[str, ast.FunctionDef] = {}
        self.decorators: dict[str, dict[str, ast.AST]] = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = {_decorator_name(d): d for d in node.decorator_list}
                if "jit" in names:
                    self.jit[node.name] = node
                    self.decorators[node.name] = names
        self.module_scope = self._scope(tree.body, arguments=None)
        self.autotunes: dict[str, Autotune] = {}  # kernel -> its parsed @triton.autotune (run() fills it)
        self.scopes: dict[int, _Scope] = {}

    # -- positions -------------------------------------------------------------------------------

    def span(self, node: ast.AST) -> Span:
        return Span(node.lineno, self._char_col(node.lineno, node.col_offset),
                    node.end_lineno, self._char_col(node.end_lineno, node.end_col_offset))

    def _char_col(self, line: int, byte_col: int) -> int:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text.encode()[:byte_col].decode(errors="replace"))

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    # -- kernels ---------------------------------------------------------------------------------

    def run(self) -> Discovery:
        block, dot, loop = self._kernel_facts()
        self.autotunes = {name: self._autotune(found["autotune"])  # parsed once, read at every launch
                          for name, found in self.decorators.items() if "autotune" in found}
        sites: dict[tuple, tuple[_Site, list[Use], list[str]]] = {}  # key -> site, uses, roles
        launches: dict[str, list[int]] = {name: [] for name in self.jit}
        grid_meta: dict[str, set[str]] = {name: set() for name in self.jit}
        for call, scope_node in self._launches():
            kernel = call.func.value.id
            launches[kernel].append(call.lineno)
            self._launch_sites(call, scope_node, block, loop, sites, grid_meta)
        knobs = [self._knob(site, uses, roles, block, dot, loop) for site, uses, roles in sites.values()]
        kernels = []
        for name, fn in self.jit.items():
            autotune = heuristics = None
            if name in self.autotunes:
                autotune = self.autotunes[name]
                knobs.extend(self._autotune_knobs(name, autotune, block[name], dot[name], loop[name], grid_meta[name]))
            if "heuristics" in self.decorators[name]:
                heuristics = self._heuristic_knobs(name, self.decorators[name]["heuristics"], block, dot, loop,
                                                   grid_meta[name], knobs)
            kernels.append(KernelInfo(
                name, fn.lineno, tuple(_constexprs(fn)), tuple(p for p in _params(fn) if p in block[name]),
                dot[name], loop[name], tuple(launches[name]), autotune, tuple(heuristics or ())))
        knobs.sort(key=lambda k: (not k.tunable, ROLE_ORDER.get(k.role, 9), k.line, k.spans[0].col if k.spans else 0))
        return Discovery(tuple(kernels), tuple(knobs))

    def _kernel_facts(self) -> tuple[dict[str, set[str]], dict[str, bool], dict[str, bool]]:
        """Per jit function: its block-extent constexprs, whether it (or a helper) calls tl.dot or loops."""
        scopes = {name: (set(_constexprs(fn)), _local_values(fn)) for name, fn in self.jit.items()}
        block = {name: self._local_block_params(fn, *scopes[name]) for name, fn in self.jit.items()}
        dot = {name: _calls(fn, ("dot", "dot_scaled")) for name, fn in self.jit.items()}
        loop = {name: any(isinstance(n, (ast.For, ast.While)) for n in ast.walk(fn)) for name, fn in self.jit.items()}
        for _ in range(10):  # fixpoint over helper calls
            changed = False
            for name, fn in self.jit.items():
                constexprs, local = scopes[name]
                for call in ast.walk(fn):
                    callee = call.func.id if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) else None
                    if callee not in self.jit or callee == name:
                        continue
                    if (dot[callee] and not dot[name]) or (loop[callee] and not loop[name]):
                        dot[name] |= dot[callee]
                        loop[name] |= loop[callee]
                        changed = True
                    for param, arg in _bind(self.jit[callee], call).items():
                        if param in block[callee]:
                            found = _names(arg, local) & constexprs
                            if not found <= block[name]:
                                block[name] |= found
                                changed = True
            if not changed:
                break
        return block, dot, loop

    def _local_block_params(self, fn: ast.FunctionDef, constexprs: set[str],
                            local: dict[str, list[ast.AST]]) -> set[str]:
        found: set[str] = set()
        for call in ast.walk(fn):
            if not isinstance(call, ast.Call):
                continue
            name = _call_name(call)
            if name in SHAPE_FIRST_ARG:
                shapes = call.args[:1] + [k.value for k in call.keywords if k.arg == "shape"]
            elif name in SHAPE_ALL_ARGS:
                shapes = call.args + [k.value for k in call.keywords]
            else:
                continue
            for shape in shapes:
                found |= _names(shape, local) & constexprs
        return found

    # -- launches --------------------------------------------------------------------------------

    def _launches(self):
        """(call, enclosing function or None) for every kernel[grid](...) in the source."""
        def walk(node: ast.AST, scope: ast.AST | None):
            for child in ast.iter_child_nodes(node):
                inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scope
                if (isinstance(child, ast.Call) and isinstance(child.func, ast.Subscript)
                        and isinstance(child.func.value, ast.Name) and child.func.value.id in self.jit):
                    yield child, scope
                yield from walk(child, inner)
        yield from walk(self.tree, None)

    def _launch_sites(self, call: ast.Call, scope_node, block, loop, sites, grid_meta) -> None:
        kernel = call.func.value.id
        fn = self.jit[kernel]
        scope = self._function_scope(scope_node)
        grid = call.func.slice
        grid_names, meta = self._grid_names(grid, scope)
        grid_meta[kernel] |= meta
        provided = set()
        decorators = self.decorators[kernel]
        if kernel in self.autotunes:  # its configs set num_warps and num_stages too
            provided |= set(self.autotunes[kernel].params) | set(LAUNCH_OPTIONS)
        if "heuristics" in decorators:
            provided |= set(_heuristic_entries(decorators["heuristics"]))
        bound = _bind(fn, call)
        constexprs = _constexprs(fn)
        given = {k.arg: k.value for k in call.keywords if k.arg in LAUNCH_OPTIONS}
        has_star_kwargs = any(k.arg is None for k in call.keywords)
        params = [(p, bound.get(p)) for p in constexprs] + [(o, given.get(o)) for o in LAUNCH_OPTIONS]
        defaults = _defaults(fn)
        for param, expr in params:
            if param in provided:
                continue
            if expr is None and param in LAUNCH_OPTIONS:
                if has_star_kwargs or not (call.args or call.keywords) or (param == "num_stages" and not loop[kernel]):
                    continue  # **kwargs may set it; no argument to add it after; no loop for it to pipeline
                site = _Site(call, "literal", insert=self._insertion_point(call), origin="default",
                             value=4 if param == "num_warps" else None)
                found = [site]
            elif expr is None:
                if param not in defaults or defaults[param] is None:
                    continue  # not passed here (or passed through *args): nothing to rewrite at this launch
                found = self._resolve(defaults[param], scope, (), None, None, 0)
                for site in found:
                    site.tied = self._grid_literals(grid, site)
            else:
                found = self._resolve(expr, scope, (), None, None, 0)
                if isinstance(expr, ast.Constant):
                    for site in found:
                        site.tied = self._grid_literals(grid, site)
            for site in found:
                dependent = bool(set(site.chain) & grid_names) or param in meta or bool(site.tied)
                use = Use(kernel, param, call.lineno, dependent)
                role = _role(param, block[kernel])
                key = ("insert", call.lineno, call.col_offset, param) if site.insert else (id(site.node), site.variable)
                if key in sites:
                    sites[key][1].append(use)
                    sites[key][2].append(role)
                else:
                    sites[key] = (site, [use], [role])

    def _insertion_point(self, call: ast.Call) -> tuple[int, int]:
        nodes = list(call.args) + list(call.keywords)
        last = max(nodes, key=lambda n: (n.end_lineno, n.end_col_offset))
        return last.end_lineno, self._char_col(last.end_lineno, last.end_col_offset)

    def _grid_names(self, grid: ast.AST, scope: _Scope) -> tuple[set[str], set[str]]:
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
                        for assignment in self._lookup(node.id, scope)[0]:
                            if assignment.value is not None:
                                next_frontier.append(assignment.value)
            frontier = next_frontier
        return names, meta

    def _grid_literals(self, grid: ast.AST, site: _Site) -> tuple[ast.AST, ...]:
        """Literals in an inline grid that repeat an inline launch literal: cdiv(n, 1024), n // 1024."""
        if site.kind != "literal" or not isinstance(site.node, ast.Constant):
            return ()
        value = site.node.value
        tied = []
        for node in ast.walk(grid):
            divisor = None
            if isinstance(node, ast.Call) and _call_name(node) == "cdiv" and len(node.args) == 2:
                divisor = node.args[1]
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv):
                divisor = node.right
            if isinstance(divisor, ast.Constant) and divisor.value == value and divisor is not site.node:
                tied.append(divisor)
        return tuple(tied)

    # -- scopes and name resolution --------------------------------------------------------------

    def _function_scope(self, fn: ast.AST | None) -> _Scope:
        if fn is None:
            return self.module_scope
        if id(fn) not in self.scopes:
            arguments = _defaults(fn)
            for arg in (fn.args.vararg, fn.args.kwarg):
                if arg is not None:
                    arguments[arg.arg] = None
            self.scopes[id(fn)] = self._scope(fn.body, arguments)
        return self.scopes[id(fn)]

    def _scope(self, body: list[ast.stmt], arguments: dict[str, ast.AST | None] | None) -> _Scope:
        scope = _Scope(arguments=arguments or {})

        def add(name: str, assignment: _Assignment) -> None:
            scope.assignments.setdefault(name, []).append(assignment)

        def visit(statements: list[ast.stmt], branch: str | None) -> None:
            for stmt in statements:
                if isinstance(stmt, ast.Assign):
                    for target in stmt.targets:
                        self._assign_target(target, stmt.value, stmt, branch, add)
                elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None and isinstance(stmt.target, ast.Name):
                    add(stmt.target.id, _Assignment(stmt.value, stmt, branch=branch))
                elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                    for name in _target_names(stmt.target):
                        add(name, _Assignment(None, stmt, "a loop variable", branch))
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
                        add((alias.asname or alias.name).split(".")[0], _Assignment(None, stmt, "imported", branch))

        visit(body, None)
        return scope

    def _assign_target(self, target, value, stmt, branch, add) -> None:
        if isinstance(target, ast.Name):
            add(target.id, _Assignment(value, stmt, branch=branch))
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) \
                    and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts):
                for sub_target, sub_value in zip(target.elts, value.elts):
                    self._assign_target(sub_target, sub_value, stmt, branch, add)
            else:
                for name in _target_names(target):
                    add(name, _Assignment(None, stmt, "unpacked from the inputs", branch))

    def _lookup(self, name: str, scope: _Scope) -> tuple[list[_Assignment], _Scope]:
        if name in scope.assignments:
            return scope.assignments[name], scope
        if name in scope.arguments:
            default = scope.arguments[name]
            why = "" if default is not None else "an argument of the wrapper"
            return [_Assignment(default, default or self.tree, why)], scope
        if scope is not self.module_scope and name in self.module_scope.assignments:
            return self.module_scope.assignments[name], self.module_scope
        return [], scope

    def _resolve(self, expr: ast.AST, scope: _Scope, chain: tuple[str, ...], variable: str | None,
                 branch: str | None, depth: int) -> list[_Site]:
        """The sites that give `expr` its value: literals, rules, or places the tuner cannot change."""
        if isinstance(expr, ast.Name) and depth < MAX_DEPTH:
            assignments, owner = self._lookup(expr.id, scope)
            if not assignments:
                return [_Site(expr, "input", "not assigned in this file", expr.id, branch, chain + (expr.id,))]
            sites = []
            for assignment in assignments:
                if assignment.value is None:
                    node = assignment.node if hasattr(assignment.node, "lineno") else expr
                    sites.append(_Site(node, "input", assignment.why or "not a plain assignment",
                                       expr.id, assignment.branch, chain + (expr.id,)))
                else:
                    sites.extend(self._resolve(assignment.value, owner, chain + (expr.id,), expr.id,
                                               assignment.branch, depth + 1))
            return sites
        if isinstance(expr, ast.IfExp):
            return (self._resolve(expr.body, scope, chain, variable, branch, depth)
                    + self._resolve(expr.orelse, scope, chain, variable, branch, depth))
        if isinstance(expr, ast.Constant):
            if isinstance(expr.value, int) and not isinstance(expr.value, bool):
                return [_Site(expr, "literal", variable=variable, branch=branch, chain=chain, value=expr.value)]
            return [_Site(expr, "constant", f"a constant {expr.value!r}", variable, branch, chain)]
        if isinstance(expr, (ast.Compare, ast.BoolOp)) or (isinstance(expr, ast.UnaryOp)
                                                            and isinstance(expr.op, ast.Not)):
            return [_Site(expr, "flag", "a flag", variable, branch, chain)]
        if _covers(expr):
            return [_Site(expr, "cover", "sized to cover a whole dimension (next_power_of_2 without a cap): "
                          "smaller breaks it, larger only wastes work", variable, branch, chain)]
        return [_Site(expr, "rule", variable=variable, branch=branch, chain=chain)]

    # -- knobs -----------------------------------------------------------------------------------

    def _knob(self, site: _Site, uses: list[Use], roles: list[str], block, dot, loop) -> Knob:
        kernels = list(dict.fromkeys(use.kernel for use in uses))
        role = min(roles, key=lambda r: ROLE_ORDER[r])
        has_dot = any(dot[k] for k in kernels)
        has_loop = any(loop[k] for k in kernels)
        reason = ""
        if site.kind in ("input", "constant", "flag"):
            reason = site.why
        elif site.kind == "cover" and role == "block":
            reason = site.why
        elif any(r not in TUNABLE_ROLES for r in roles):
            other = next(u.param for u, r in zip(uses, roles) if r not in TUNABLE_ROLES)
            reason = (f"{other} is not a block size, GROUP size, num_warps or num_stages: changing it could "
                      "change what the kernel computes")
        elif all(r == "num_stages" for r in roles) and not has_loop:
            reason = "no loop in the kernel: num_stages has no effect"
        if site.insert:
            line, col = site.insert
            spans = (Span(line, col, line, col),)
            param = uses[0].param
            knob_id = f"{param}@{line}:{col}"
            expression = ""
            origin = "default"
        else:
            spans = (self.span(site.node), *(self.span(t) for t in site.tied))
            name = site.variable or uses[0].param
            knob_id = f"{name}@{spans[0].line}:{spans[0].col}"
            expression = self.text(site.node)
            origin = site.origin or {"literal": "literal", "input": "input", "constant": "constant"}.get(site.kind, "rule")
        return Knob(knob_id, role, origin, expression, site.value, spans, tuple(uses), site.variable, site.branch,
                    dot=has_dot, loop=has_loop,
                    tunable=not reason, reason=reason)

    def _autotune(self, decorator: ast.AST) -> Autotune:
        if not isinstance(decorator, ast.Call):
            return Autotune(None, (), (), opaque="autotune without arguments")
        configs = _argument(decorator, "configs", 0)
        if isinstance(configs, ast.Name):
            values = [a.value for a in self.module_scope.assignments.get(configs.id, []) if a.value is not None]
            if len(values) != 1:
                return Autotune(None, (), (), opaque=f"configs name {configs.id}, not one module-level list")
            configs = values[0]
        if configs is None:
            return Autotune(None, (), (), opaque="no configs argument")
        try:
            calls = _config_calls(configs)
        except ValueError as err:
            return Autotune(self.span(configs), (), (), opaque=str(err))
        points: list[dict] = []
        params: list[str] = []
        extras = ""
        for index, (call, env) in enumerate(calls):
            point = {}
            kwargs = _argument(call, "kwargs", 0)
            if not isinstance(kwargs, ast.Dict) or None in kwargs.keys:
                return Autotune(self.span(configs), (), (), opaque="a config's parameters are not a dict literal")
            try:
                for key, value in zip(kwargs.keys, kwargs.values):
                    point[_evaluate(key, env)] = _evaluate(value, env)
                for keyword in call.keywords:
                    if keyword.arg in LAUNCH_OPTIONS:
                        point[keyword.arg] = _evaluate(keyword.value, env)
            except ValueError as err:
                return Autotune(self.span(configs), (), (), opaque=str(err))
            if index == 0:
                extras = ", ".join(self.text(k) for k in call.keywords if k.arg not in LAUNCH_OPTIONS + ("kwargs",))
            params.extend(p for p in point if p not in params and p not in LAUNCH_OPTIONS)
            points.append(point)
        if not points:
            return Autotune(self.span(configs), (), (), opaque="an empty config list")
        call_text = self.text(calls[0][0].func)
        return Autotune(self.span(configs), tuple(points), tuple(params) + LAUNCH_OPTIONS, call_text, extras)

    def _autotune_knobs(self, kernel, autotune: Autotune, block, dot, loop, meta) -> list[Knob]:
        knobs = []
        line = self.jit[kernel].lineno
        for param in autotune.params:
            role = _role(param, block)
            choices = tuple(sorted({c[param] for c in autotune.configs if isinstance(c.get(param), int)
                                    and not isinstance(c.get(param), bool)}))
            reason = autotune.opaque
            if not reason and role not in TUNABLE_ROLES:
                reason = f"{param} is not a block size, GROUP size, num_warps or num_stages"
            elif not reason and role == "num_stages" and not loop:
                reason = "no loop in the kernel: num_stages has no effect"
            elif not reason and role != "num_stages" and not choices and param not in LAUNCH_OPTIONS:
                reason = "not an integer in the configs"
            knobs.append(Knob(f"{kernel}.{param}", role, "autotune", "", None,
                              (autotune.span,) if autotune.span else (), (Use(kernel, param, line, param in meta),),
                              dot=dot, loop=loop,
                              tunable=not reason, reason=reason, choices=choices))
        return knobs

    def _heuristic_knobs(self, kernel, decorator, block, dot, loop, meta, knobs) -> list[str]:
        entries = _heuristic_entries(decorator)
        line = self.jit[kernel].lineno
        for param, value in entries.items():
            use = Use(kernel, param, line, param in meta)
            if isinstance(value, ast.Lambda):
                sites = self._resolve(value.body, self.module_scope, (), None, None, 0)
            else:
                sites = [_Site(value, "input", "a function, not a lambda")]
            for site in sites:
                site.origin = site.origin or ("heuristic" if site.kind in ("literal", "rule") else "")
                knobs.append(self._knob(site, [use], [_role(param, block[kernel])], block, dot, loop))
        return list(entries)


# -- helpers on ast nodes --------------------------------------------------------------------------


def _decorator_name(node: ast.AST) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Name):
        return target.id
    return None


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _calls(fn: ast.AST, names: tuple[str, ...]) -> bool:
    return any(isinstance(n, ast.Call) and _call_name(n) in names for n in ast.walk(fn))


def _params(fn: ast.FunctionDef) -> list[str]:
    return [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]


def _constexprs(fn: ast.FunctionDef) -> list[str]:
    args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
    return [a.arg for a in args if a.annotation is not None and ast.unparse(a.annotation).endswith("constexpr")]


def _defaults(fn: ast.FunctionDef) -> dict[str, ast.AST | None]:
    """Parameter name -> its default expression (None: no default), positional then keyword-only."""
    positional = fn.args.posonlyargs + fn.args.args
    defaults = [None] * (len(positional) - len(fn.args.defaults)) + list(fn.args.defaults)
    found = {a.arg: d for a, d in zip(positional, defaults)}
    found.update({a.arg: d for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults)})
    return found


def _bind(fn: ast.FunctionDef, call: ast.Call) -> dict[str, ast.AST]:
    """Parameter name -> argument expression of a call (positional arguments up to the first *args)."""
    params = _params(fn)
    bound: dict[str, ast.AST] = {}
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred) or index >= len(params):
            break
        bound[params[index]] = arg
    for keyword in call.keywords:
        if keyword.arg is not None:
            bound[keyword.arg] = keyword.value
    return bound


def _local_values(fn: ast.FunctionDef) -> dict[str, list[ast.AST]]:
    values: dict[str, list[ast.AST]] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    values.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
            values.setdefault(node.target.id, []).append(node.value)
    return values


def _names(expr: ast.AST, local: dict[str, list[ast.AST]], depth: int = 0) -> set[str]:
    """Names `expr` reads, expanded through local assignments (a few levels deep)."""
    found: set[str] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            found.add(node.id)
            if depth < 3:
                for value in local.get(node.id, []):
                    found |= _names(value, local, depth + 1)
    return found


def _target_names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _role(param: str, block_params: set[str]) -> str:
    if param in LAUNCH_OPTIONS:
        return param
    if param in block_params:
        return "block"
    if re.match(r"GROUP(_SIZE)?(_[MNK])?$", param):
        return "group"
    return "other"


def _covers(expr: ast.AST) -> bool:
    """next_power_of_2(X), perhaps inside max(..., c) or int(...): a block that holds all of X."""
    if not isinstance(expr, ast.Call):
        return False
    name = _call_name(expr)
    if name == "next_power_of_2":
        return True
    if name in ("max", "int"):
        return any(_covers(arg) for arg in expr.args)
    return False


def _argument(call: ast.Call, keyword: str, position: int) -> ast.AST | None:
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    return call.args[position] if len(call.args) > position else None


def _heuristic_entries(decorator: ast.AST) -> dict[str, ast.AST]:
    if not isinstance(decorator, ast.Call):
        return {}
    values = _argument(decorator, "values", 0)
    if not isinstance(values, ast.Dict):
        return {}
    return {k.value: v for k, v in zip(values.keys, values.values)
            if isinstance(k, ast.Constant) and isinstance(k.value, str)}


def _config_calls(configs: ast.AST) -> list[tuple[ast.Call, dict]]:
    """(triton.Config call, loop-variable bindings) for a literal list or a comprehension over literals."""
    if isinstance(configs, (ast.List, ast.Tuple)):
        calls = []
        for element in configs.elts:
            if not (isinstance(element, ast.Call) and _call_name(element) == "Config"):
                raise ValueError("a config list element is not a triton.Config(...) call")
            calls.append((element, {}))
        return calls
    if isinstance(configs, ast.ListComp) and isinstance(configs.elt, ast.Call) and _call_name(configs.elt) == "Config":
        envs: list[dict] = [{}]
        for generator in configs.generators:
            if generator.ifs or generator.is_async:
                raise ValueError("a config comprehension with conditions")
            expanded = []
            for env in envs:
                for item in _iterate(generator.iter, env):
                    bound = dict(env)
                    _bind_target(generator.target, item, bound)
                    expanded.append(bound)
            envs = expanded
            if len(envs) > 1000:
                raise ValueError("more than 1000 configs")
        return [(configs.elt, env) for env in envs]
    raise ValueError("configs are computed, not a list of triton.Config(...) the tuner can read")


def _iterate(node: ast.AST, env: dict) -> list:
    if isinstance(node, ast.Call) and _call_name(node) == "range" and not node.keywords:
        return list(range(*[_evaluate(a, env) for a in node.args]))
    value = _evaluate(node, env)
    if not isinstance(value, (list, tuple)):
        raise ValueError("a config comprehension over something other than a literal list")
    return list(value)


def _bind_target(target: ast.AST, item, env: dict) -> None:
    if isinstance(target, ast.Name):
        env[target.id] = item
    elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(item, (list, tuple)) \
            and len(item) == len(target.elts):
        for sub_target, sub_item in zip(target.elts, item):
            _bind_target(sub_target, sub_item, env)
    else:
        raise ValueError("a config comprehension with an unusual loop target")


_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
              ast.FloorDiv: lambda a, b: a // b, ast.Pow: lambda a, b: a ** b}


def _evaluate(node: ast.AST, env: dict):
    """A literal, a comprehension variable, or simple integer arithmetic on them."""
    if isinstance(node, ast.Name) and node.id in env:
        return env[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left, env), _evaluate(node.right, env))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_evaluate(e, env) for e in node.elts]
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"a config value is not a literal: {ast.unparse(node)}") from None
