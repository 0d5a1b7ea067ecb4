"""What discovery finds: knobs (the places in a source that set launch parameters), the launch
parameters each sets, and the kernels they feed. Plain data; tune/discovery.py finds them."""

from __future__ import annotations

import re
from dataclasses import dataclass

TUNABLE_ROLES = ("block", "group", "num_warps", "num_stages")
ROLE_ORDER = {"block": 0, "num_warps": 1, "num_stages": 2, "group": 3, "other": 4}
LAUNCH_OPTIONS = ("num_warps", "num_stages")


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


def role_of(param: str, block_params: set[str]) -> str:
    """block | group | num_warps | num_stages | other: what a launch parameter does to the kernel."""
    if param in LAUNCH_OPTIONS:
        return param
    if param in block_params:
        return "block"
    if re.match(r"GROUP(_SIZE)?(_[MNK])?$", param):
        return "group"
    return "other"
