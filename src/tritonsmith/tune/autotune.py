"""A kernel's @triton.autotune config list and @triton.heuristics rules, read from the source: the
autotune list as points (a literal list, a module-level name, or a comprehension over literals) and one
knob per parameter it sets; the heuristics as the lambdas per parameter."""

from __future__ import annotations

import ast

from tritonsmith.tune.knobs import LAUNCH_OPTIONS, TUNABLE_ROLES, Autotune, Knob, Use, role_of
from tritonsmith.tune.scopes import Scope
from tritonsmith.tune.syntax import SourceText, argument, call_name
from tritonsmith.util.constants import constant

MAX_CONFIGS = 1000


def read_autotune(decorator: ast.AST, module_scope: Scope, text: SourceText) -> Autotune:
    """The config list of an @triton.autotune decorator; `opaque` says why it could not be read."""
    if not isinstance(decorator, ast.Call):
        return Autotune(None, (), (), opaque="autotune without arguments")
    configs = argument(decorator, "configs", 0)
    if isinstance(configs, ast.Name):
        values = [a.value for a in module_scope.assignments.get(configs.id, []) if a.value is not None]
        if len(values) != 1:
            return Autotune(None, (), (), opaque=f"configs name {configs.id}, not one module-level list")
        configs = values[0]
    if configs is None:
        return Autotune(None, (), (), opaque="no configs argument")
    try:
        config_calls = _config_calls(configs)
    except ValueError as err:
        return Autotune(text.span(configs), (), (), opaque=str(err))
    points: list[dict] = []
    params: list[str] = []
    extras = ""
    for index, (call, env) in enumerate(config_calls):
        try:
            point = _config_point(call, env)
        except ValueError as err:
            return Autotune(text.span(configs), (), (), opaque=str(err))
        if index == 0:
            extras = ", ".join(text.text(k) for k in call.keywords if k.arg not in LAUNCH_OPTIONS + ("kwargs",))
        params.extend(p for p in point if p not in params and p not in LAUNCH_OPTIONS)
        points.append(point)
    if not points:
        return Autotune(text.span(configs), (), (), opaque="an empty config list")
    call_text = text.text(config_calls[0][0].func)
    return Autotune(text.span(configs), tuple(points), tuple(params) + LAUNCH_OPTIONS, call_text, extras)


def _config_point(call: ast.Call, env: dict) -> dict:
    """One triton.Config(...)'s parameters, num_warps and num_stages included when given."""
    kwargs = argument(call, "kwargs", 0)
    if not isinstance(kwargs, ast.Dict) or None in kwargs.keys:
        raise ValueError("a config's parameters are not a dict literal")
    point = {}
    for key, value in zip(kwargs.keys, kwargs.values):
        point[_evaluate(key, env)] = _evaluate(value, env)
    for keyword in call.keywords:
        if keyword.arg in LAUNCH_OPTIONS:
            point[keyword.arg] = _evaluate(keyword.value, env)
    return point


def autotune_knobs(kernel: str, autotune: Autotune, line: int, block: set[str], dot: bool, loop: bool,
                   meta: set[str]) -> list[Knob]:
    """One knob per parameter the configs set; `meta`: the parameters the launch grid reads."""
    knobs = []
    for param in autotune.params:
        role = role_of(param, block)
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


def heuristic_entries(decorator: ast.AST) -> dict[str, ast.AST]:
    """Parameter -> its rule (a lambda, or whatever else the dict holds) of an @triton.heuristics decorator."""
    if not isinstance(decorator, ast.Call):
        return {}
    values = argument(decorator, "values", 0)
    if not isinstance(values, ast.Dict):
        return {}
    return {k.value: v for k, v in zip(values.keys, values.values)
            if isinstance(k, ast.Constant) and isinstance(k.value, str)}


def _config_calls(configs: ast.AST) -> list[tuple[ast.Call, dict]]:
    """(triton.Config call, loop-variable bindings) for a literal list or a comprehension over literals."""
    if isinstance(configs, (ast.List, ast.Tuple)):
        found = []
        for element in configs.elts:
            if not (isinstance(element, ast.Call) and call_name(element) == "Config"):
                raise ValueError("a config list element is not a triton.Config(...) call")
            found.append((element, {}))
        return found
    if isinstance(configs, ast.ListComp) and isinstance(configs.elt, ast.Call) and call_name(configs.elt) == "Config":
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
            if len(envs) > MAX_CONFIGS:
                raise ValueError(f"more than {MAX_CONFIGS} configs")
        return [(configs.elt, env) for env in envs]
    raise ValueError("configs are computed, not a list of triton.Config(...) the tuner can read")


def _iterate(node: ast.AST, env: dict) -> list:
    if isinstance(node, ast.Call) and call_name(node) == "range" and not node.keywords:
        try:
            span = range(*[_evaluate(a, env) for a in node.args])
        except TypeError:  # range(1.5), range(): not a config list the tuner can read
            raise ValueError(f"a config comprehension over {ast.unparse(node)}") from None
        try:
            count = len(span)
        except OverflowError:  # more than fits a machine word
            count = MAX_CONFIGS + 1
        if count > MAX_CONFIGS:
            raise ValueError(f"a config comprehension over more than {MAX_CONFIGS} values")
        return list(span)
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


def _evaluate(node: ast.AST, env: dict):
    """A literal, a comprehension variable, or bounded arithmetic on them (the config list is candidate code:
    `2 ** 10 ** 10` must not hang the tuner)."""
    try:
        return constant(node, env)
    except (ValueError, TypeError, RecursionError):
        raise ValueError(f"a config value is not a literal: {ast.unparse(node)}") from None
