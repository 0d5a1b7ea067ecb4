"""Smaller sizes of a KernelBench problem for the Triton CPU interpreter, read from its source without running it.

KernelBench's sizes are for GPUs (ReLU over 4096 x 393216 floats); the interpreter checks thousands of elements
in seconds. A problem's sizes are the int literals of its module-level assignments (`batch_size = 4096`,
`M = 1024 * 2`, `depth, height, width = (16, 32, 32)`, `input_shape = (32768,)`, `[1024] * 16`). Those above
SMALL that reach the shape of a tensor get_inputs() draws, and those above INIT_LIMIT that only the names
get_init_inputs() returns reach, are halved, the largest of the largest input first, until every input tensor
has at most LIMIT elements and every constructor-only size is at most INIT_LIMIT. Halving keeps what a model
may rely on (the rules in full: _Halving and docs/suites.md):

- sizes the constructor gets that are equal stay equal (in_features == out_features for a residual add);
- a constructor-only size stays at least the input sizes it was at least (max_seqlen >= seq_len);
- divisibility by a count of parts (embed_dim by num_heads, out_features by num_groups);
- different sizes stay different where they can (a matmul's M, N and K), and none drops below SMALL.
- no input size drops below the window a kernel slides (kernel_size times dilation, by KernelBench's names).

Sizes up to SMALL never change, nor a size equal to a default argument of the model's code (Swin's
img_size=224), nor literals written inside get_inputs() or the model. What cannot be read statically stays.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

from tritonsmith.util import pyast
from tritonsmith.util.constants import OPERATORS, arithmetic

MAX_BITS = 64  # of a constant or a result: sizes and counts are far below
LIMIT = 1 << 16  # elements per input tensor: the interpreter runs a kernel over them in seconds
DIVISOR_LIMIT = 32  # an int written in the model's code up to this may be a count of parts (heads)
INIT_LIMIT = 256  # a size only the constructor sees (out_features, num_classes, max_seqlen)
SMALL = 8  # sizes up to this stay as they are (kernel sizes, strides, heads, RGB channels), and no size drops below
CREATORS = {"rand", "randn", "randint", "zeros", "ones", "empty", "full", "randperm", "arange", "eye",
            "normal", "tensor"}


@dataclass(frozen=True)
class ScaledSizes:
    """The problem's source with its sizes scaled, and what changed: module-level name -> (real, CPU value)."""

    source: str
    changes: dict[str, tuple[Any, Any]]
    note: str


class _Unknown:
    def __repr__(self) -> str:
        return "?"


UNKNOWN = _Unknown()


def scale_sizes(source: str) -> ScaledSizes:
    """The CPU sizes of a problem (its source is known to parse). Never raises on an unusual problem: what it
    cannot read stays as it is, and the note says so."""
    tree = pyast.parse(source)
    problem = _Problem(tree)
    values = problem.scale()
    real_env, scaled_env = problem.env({}), problem.env(values)
    changes = {name: (real_env[name], scaled_env[name]) for name in real_env
               if scaled_env.get(name) != real_env[name] and not isinstance(real_env[name], _Unknown)}
    largest = max(problem.input_sizes(values), default=0)
    if not changes:
        reason = (f"no input tensor has more than {LIMIT} elements" if largest <= LIMIT
                  else "no size constant can be scaled")
        return ScaledSizes(source, {}, f"the problem's own sizes on the CPU interpreter ({reason})")
    listed = ", ".join(f"{name} {_short(real)}→{_short(scaled)}" for name, (real, scaled) in changes.items())
    note = f"sizes scaled for the CPU interpreter: {listed}"
    if largest > LIMIT:
        note += f" (largest input still {largest} elements)"
    return ScaledSizes(_splice(source, problem, values), changes, note)


class _Problem:
    """The module-level assignments of a problem file, its size constants (knobs) and what they reach."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
        self.knobs: list[ast.expr] = []
        assignments = []
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                self.knobs += _knob_nodes(node.value)
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                assignments.append(({n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}, node.value))
        # the largest window a kernel slides over the inputs, by KernelBench's names: a kernel size
        # times a dilation (conv (5, 9) dilated (2, 3) spans up to 27); a spatial size stays at least that
        spans = {"kernel": [1], "dilation": [1]}
        for names, value in assignments:
            for kind in spans:
                if any(kind in name.lower() for name in names):  # kernel_size, pool_kernel_size, dilation
                    spans[kind] += [v for n in _knob_nodes(value) for v in [_evaluate(n, {}, {})] if type(v) is int]
        self.window = max(spans["kernel"]) * max(spans["dilation"])
        # What the model sees: every definition but get_inputs, and the module-level names they read (through
        # other names too). Its ints may be structural (heads, groups, patch sizes); get_inputs' are not.
        model_side = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                      ast.ClassDef)) and node.name != "get_inputs"]
        read = {n.id for node in model_side for n in ast.walk(node) if isinstance(n, ast.Name)}
        while True:
            more = {n.id for names, value in assignments if names & read for n in ast.walk(value)
                    if isinstance(n, ast.Name)} - read
            if not more:
                break
            read |= more
        model_side += [value for names, value in assignments if names & read]
        self.model_literals = {id(n) for node in model_side for n in ast.walk(node) if _int_literal(n) is not None}
        # a default of the model's own arguments (Swin's img_size=224) may be what get_inputs' size must match
        self.defaults = {value for node in model_side for n in ast.walk(node) if isinstance(n, ast.arguments)
                         for default in [*n.defaults, *n.kw_defaults] for value in [_int_literal(default)] if value}
        self.real = [_evaluate(node, {}, {}) for node in self.knobs]

    def env(self, values: dict[int, int]) -> dict[str, Any]:
        """Module-level name -> value, with knob i set to values[i] (its real value when absent)."""
        by_node = {id(self.knobs[i]): v for i, v in values.items()}
        env: dict[str, Any] = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign):
                value = _evaluate(node.value, env, by_node)
                for target in node.targets:
                    _bind(target, value, env)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                _bind(node.target, _evaluate(node.value, env, by_node), env)
            else:  # imports, definitions, loops: whatever they bind is not a size we can read
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                        env[inner.id] = UNKNOWN
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    env[node.name] = UNKNOWN
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    for alias in node.names:
                        env[(alias.asname or alias.name).split(".")[0]] = UNKNOWN
        return env

    def input_sizes(self, values: dict[int, int]) -> list[int]:
        """Elements of each tensor get_inputs() draws whose shape can be read statically."""
        function = self.functions.get("get_inputs")
        if function is None:
            return []
        env = self.env(values)
        sizes = []
        for node in ast.walk(function):
            shape = _shape(node, env) if isinstance(node, ast.Call) else None
            if shape is not None:
                sizes.append(math.prod(shape))
        return sizes

    def init_values(self, values: dict[int, int]) -> list[Any]:
        function = self.functions.get("get_init_inputs")
        if function is None:
            return []
        env = self.env(values)
        names = sorted({n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)})
        return [env.get(name, UNKNOWN) for name in names]

    def scale(self) -> dict[int, int]:
        """knob index -> scaled value, for the knobs that change."""
        sizes, inits = self.input_sizes({}), self.init_values({})
        by_value: dict[int, list[int]] = {}
        alone: list[list[int]] = []
        for index, value in enumerate(self.real):
            if type(value) is int and value > 0 and self.init_values({index: value * 2}) != inits:
                by_value.setdefault(value, []).append(index)
            elif type(value) is int and value > 0:
                alone.append([index])
        # the sizes the constructor gets form one group per value (in_features == out_features stays so); one
        # that only the inputs see is a group of its own (batch_size 128 need not stay out_channels 128)
        groups = [*by_value.values(), *alone]
        constructor = set(range(len(by_value)))
        halving = _Halving([self.real[members[0]] for members in groups])
        halving.constructor = constructor
        data: dict[int, set[int]] = {}  # group -> the input tensors it changes
        for key, members in enumerate(groups):
            real = halving.real[key]
            grown = self.input_sizes({i: real * 2 for i in members})
            tensors = {t for t, (a, b) in enumerate(zip(sizes, grown, strict=False)) if a != b}
            if len(grown) != len(sizes):
                tensors = set(range(len(sizes)))
            if tensors and real > SMALL and real not in self.defaults:
                data[key] = tensors
        halving.capacities = {key for key in halving.constructor if halving.real[key] > INIT_LIMIT and key not in data}
        halving.current = {key: halving.real[key] for key in [*data, *halving.capacities]}
        knobs = {id(inner) for knob in self.knobs for inner in ast.walk(knob)}
        halving.literals = {value for node in ast.walk(self.tree) for value in [_int_literal(node)]
                            if value is not None and 2 <= value <= DIVISOR_LIMIT and id(node) in self.model_literals
                            and id(node) not in knobs}
        halving.fixed = {halving.real[key] for key in halving.constructor if key not in halving.current} - {1}
        halving.window = self.window
        current = halving.current

        def values() -> dict[int, int]:
            return {i: current[key] for key in current for i in groups[key] if current[key] != halving.real[key]}
        while True:
            now = self.input_sizes(values())
            over = sorted((t for t, n in enumerate(now) if n > LIMIT), key=lambda t: -now[t])
            choices = [sorted((key for key in data if t in data[key]), key=lambda k: -current[k]) for t in over]
            choices.append(sorted((k for k in halving.capacities if current[k] > INIT_LIMIT), key=lambda k: -current[k]))
            if not any(halving.shrink(key, ties) for owners in choices for ties in (False, True) for key in owners):
                return values()


class _Halving:
    """Halves one group of sizes at a time, under the rules of the module docstring. Groups are keys into `real`
    (their real sizes) and `current` (the scaled sizes so far, of the groups being scaled).

    `capacities` are the constructor-only groups; `constructor` all the groups the constructor gets. A scaled
    size stays divisible by `literals` (ints up to DIVISOR_LIMIT written in the model's code: heads, a view's
    last dimension); one the constructor gets also by the constructor's fixed sizes (`fixed`: num_heads=12 of
    embed_dim, num_groups=256 of out_features) and by the constructor's scaled sizes that divided it. Sizes
    only the inputs see (batch, height) are free of the latter two: that 1024 divides 8192 there, or 32 (the
    out_channels) divides 64 (the height), is a coincidence. An input size stays at least `window`, the largest
    window a kernel of the problem slides (_Problem.window).
    """

    def __init__(self, real: list[int]):
        self.real = real
        self.window = 1
        self.current: dict[int, int] = {}
        self.capacities: set[int] = set()
        self.constructor: set[int] = set()
        self.literals: set[int] = set()
        self.fixed: set[int] = set()

    def shrink(self, key: int, ties: bool, tried: set[int] | None = None) -> bool:
        """Halve group `key` (an odd size rounds down), first shrinking the scaled sizes that must keep dividing
        it; False if the rules forbid it. Unless `ties`, never make two different sizes equal: where halving
        would, quarter instead (M, N and K of a matmul stay distinct, so a transposed index still shows)."""
        tried = set() if tried is None else tried
        if key in tried:
            return False
        tried.add(key)
        value = self.current[key]
        for new in (value // 2,) if ties else (value // 2, value // 4):
            if new >= SMALL and self._allows(key, value, new, ties, tried):
                self.current[key] = new
                return True
        return False

    def _allows(self, key: int, value: int, new: int, ties: bool, tried: set[int]) -> bool:
        real = self.real[key]
        if key not in self.capacities and new < self.window <= real:
            return False
        exact = value % (value // new) == 0  # an odd size has no factor 2 to keep, nor all its odd divisors
        divisors = self.literals | (self.fixed if key in self.constructor else set())
        if exact and any(real % c == 0 and new % c for c in divisors):
            return False
        others = {other: size for other, size in self.current.items() if other != key}
        if not ties and any(size == new and self.real[other] != real for other, size in others.items()):
            return False
        if key in self.capacities and any(self.real[other] <= real and size > new for other, size in others.items()
                                          if other not in self.capacities):
            return False  # a capacity (max_seqlen) stays at least the sizes it held
        related = [other for other in others if other in self.constructor] if key in self.constructor else []
        for other in sorted(related, key=lambda k: -self.current[k]) if exact else ():
            if self.real[other] < real and real % self.real[other] == 0 and new % self.current[other] and \
                    not (self.shrink(other, ties, tried) and new % self.current[other] == 0):
                return False
            if self.real[other] > real and self.real[other] % real == 0 and self.current[other] % new:
                return False
        return True


def _knob_nodes(node: ast.expr) -> list[ast.expr]:
    """The size literals of a module-level assignment's value."""
    if _int_literal(node) is not None or (isinstance(node, ast.BinOp) and _pure_int(node)):
        return [node]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [knob for element in node.elts for knob in _knob_nodes(element)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):  # [1024] * 16: the 16 is a count
        for side in (node.left, node.right):
            if isinstance(side, (ast.Tuple, ast.List)):
                return _knob_nodes(side)
    return []


def _int_literal(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int and node.value > 0:
        return node.value
    return None


def _pure_int(node: ast.expr) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Add, ast.FloorDiv, ast.LShift, ast.Pow)):
        return _pure_int(node.left) and _pure_int(node.right) and isinstance(_evaluate(node, {}, {}), int)
    return _int_literal(node) is not None


def _evaluate(node: ast.expr, env: dict[str, Any], knobs: dict[int, int]) -> Any:
    """The value of a constant expression (numbers, strings, tuples and lists of them, arithmetic, names
    bound in env), with the knob nodes in `knobs` replaced; UNKNOWN for anything else."""
    if id(node) in knobs:
        return knobs[id(node)]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env.get(node.id, UNKNOWN)
    if isinstance(node, (ast.Tuple, ast.List)):
        items: list[Any] = []
        for element in node.elts:
            if isinstance(element, ast.Starred):
                inner = _evaluate(element.value, env, knobs)
                if not isinstance(inner, (tuple, list)):
                    return UNKNOWN
                items.extend(inner)
            else:
                items.append(_evaluate(element, env, knobs))
        if any(isinstance(item, _Unknown) for item in items):
            return UNKNOWN
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _evaluate(node.operand, env, knobs)
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
        return UNKNOWN
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        left, right = _evaluate(node.left, env, knobs), _evaluate(node.right, env, knobs)
        try:
            return arithmetic(node.op, left, right, MAX_BITS)
        except ValueError:  # not two numbers, or no small value: sequences below, else unknown
            pass
        if isinstance(node.op, ast.Mult) and isinstance(left, (list, tuple)) != isinstance(right, (list, tuple)):
            sequence, count = (left, right) if isinstance(left, (list, tuple)) else (right, left)
            if type(count) is int and 0 <= count * len(sequence) <= 10_000:
                return sequence * count
        if isinstance(node.op, ast.Add) and type(left) is type(right) and isinstance(left, (list, tuple)):
            return left + right
    return UNKNOWN


def _bind(target: ast.expr, value: Any, env: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        env[target.id] = value
    elif isinstance(target, (ast.Tuple, ast.List)):
        fits = isinstance(value, (tuple, list)) and len(value) == len(target.elts)
        for index, element in enumerate(target.elts):
            _bind(element, value[index] if fits else UNKNOWN, env)
    else:
        for inner in ast.walk(target):
            if isinstance(inner, ast.Name):
                env[inner.id] = UNKNOWN


def _shape(call: ast.Call, env: dict[str, Any]) -> list[int] | None:
    """The shape of a tensor that a `torch.<creator>(...)` call draws, when it can be read."""
    function = call.func
    if not (isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name)
            and function.value.id == "torch" and function.attr in CREATORS):
        return None
    size = next((k.value for k in call.keywords if k.arg == "size"), None)
    if size is not None:
        arguments = [size]
    elif function.attr == "randint":
        arguments = call.args[-1:] if len(call.args) >= 2 else []
    elif function.attr == "full":
        arguments = call.args[:1]
    elif function.attr in ("tensor", "arange", "normal"):
        return None
    else:
        arguments = list(call.args)
    dims: list[Any] = []
    for argument in arguments:
        value = _evaluate(argument.value if isinstance(argument, ast.Starred) else argument, env, {})
        if isinstance(value, (tuple, list)):
            dims.extend(value)
        else:
            dims.append(value)
    if not dims or not all(type(d) is int and d >= 0 for d in dims):
        return None
    return dims


def _splice(source: str, problem: _Problem, values: dict[int, int]) -> str:
    """The source with each changed knob's text replaced by its new value (ast offsets are UTF-8 bytes)."""
    lines = source.encode().splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    data = source.encode()
    edits = []
    for index, value in values.items():
        node = problem.knobs[index]
        begin = starts[node.lineno - 1] + node.col_offset
        end = starts[node.end_lineno - 1] + node.end_col_offset
        edits.append((begin, end, str(value).encode()))
    for begin, end, text in sorted(edits, reverse=True):
        data = data[:begin] + text + data[end:]
    return data.decode()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
