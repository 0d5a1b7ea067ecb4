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

This module puts the parts together: kernels.py (the jit functions and their facts), scopes.py (where a
value comes from), launches.py (the launches and the sites of their parameters), autotune.py (the
decorators' configs and rules); knobs.py holds what is found, syntax.py the shared readers of the tree.
"""

from __future__ import annotations

import ast

from tritonsmith.tune.autotune import autotune_knobs, heuristic_entries, read_autotune
from tritonsmith.tune.kernels import Kernels, find_kernels
from tritonsmith.tune.knobs import (
    ROLE_ORDER,
    TUNABLE_ROLES,
    Discovery,
    DiscoveryError,
    KernelInfo,
    Knob,
    Span,
    Use,
    role_of,
)
from tritonsmith.tune.launches import LaunchReader
from tritonsmith.tune.scopes import Names, Site
from tritonsmith.tune.syntax import SourceText, constexprs, params
from tritonsmith.util import pyast


def discover(source: str) -> Discovery:
    """The kernels of `source` and the knobs that set their launch parameters."""
    try:
        tree = pyast.parse(source)
    except SyntaxError as err:
        raise DiscoveryError(f"line {err.lineno}: the source is not valid Python ({err.msg})") from None
    text = SourceText(source)
    kernels = find_kernels(tree)
    names = Names(tree)
    autotunes = {name: read_autotune(found["autotune"], names.module_scope, text)  # parsed once, read at every launch
                 for name, found in kernels.decorators.items() if "autotune" in found}
    launches = LaunchReader(tree, text, names, kernels, autotunes).read()
    knobs = [_knob(site, uses, roles, kernels, text) for site, uses, roles in launches.sites.values()]
    infos = []
    for name, fn in kernels.jit.items():
        autotune = heuristics = None
        meta = launches.grid_meta[name]
        if name in autotunes:
            autotune = autotunes[name]
            knobs.extend(autotune_knobs(name, autotune, fn.lineno, kernels.block[name], kernels.dot[name],
                                        kernels.loop[name], meta))
        if "heuristics" in kernels.decorators[name]:
            heuristics = _heuristic_knobs(name, kernels.decorators[name]["heuristics"], kernels, names, text, meta,
                                          knobs)
        infos.append(KernelInfo(
            name, fn.lineno, tuple(constexprs(fn)), tuple(p for p in params(fn) if p in kernels.block[name]),
            kernels.dot[name], kernels.loop[name], tuple(launches.launches[name]), autotune, tuple(heuristics or ())))
    knobs.sort(key=lambda k: (not k.tunable, ROLE_ORDER.get(k.role, 9), k.line, k.spans[0].col if k.spans else 0))
    return Discovery(tuple(infos), tuple(knobs))


def _knob(site: Site, uses: list[Use], roles: list[str], kernels: Kernels, text: SourceText) -> Knob:
    """The knob of one site: what it sets, where a rewrite writes it, and why it is not tuned (if not)."""
    names = list(dict.fromkeys(use.kernel for use in uses))
    role = min(roles, key=lambda r: ROLE_ORDER[r])
    has_dot = any(kernels.dot[k] for k in names)
    has_loop = any(kernels.loop[k] for k in names)
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
        spans = (text.span(site.node), *(text.span(t) for t in site.tied))
        name = site.variable or uses[0].param
        knob_id = f"{name}@{spans[0].line}:{spans[0].col}"
        expression = text.text(site.node)
        origin = site.origin or {"literal": "literal", "input": "input", "constant": "constant"}.get(site.kind, "rule")
    return Knob(knob_id, role, origin, expression, site.value, spans, tuple(uses), site.variable, site.branch,
                dot=has_dot, loop=has_loop,
                tunable=not reason, reason=reason)


def _heuristic_knobs(kernel: str, decorator: ast.AST, kernels: Kernels, names: Names, text: SourceText,
                     meta: set[str], knobs: list[Knob]) -> list[str]:
    """Adds a knob per site of each @triton.heuristics rule to `knobs`; returns the parameters it sets."""
    entries = heuristic_entries(decorator)
    line = kernels.jit[kernel].lineno
    for param, value in entries.items():
        use = Use(kernel, param, line, param in meta)
        if isinstance(value, ast.Lambda):
            sites = names.resolve(value.body, names.module_scope)
        else:
            sites = [Site(value, "input", "a function, not a lambda")]
        for site in sites:
            site.origin = site.origin or ("heuristic" if site.kind in ("literal", "rule") else "")
            knobs.append(_knob(site, [use], [role_of(param, kernels.block[kernel])], kernels, text))
    return list(entries)
