"""The values each knob may take, from the kind of kernel and the hardware, and static pruning.

Static pruning removes only configurations that cannot work or can only waste (a tile that cannot
fit in shared memory, more threads than a tile has elements); everything else is left to the
measurement. A configuration maps knob ids to values; a knob it leaves out keeps its current value.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field

from tritonsmith.knowledge.hardware import HardwareProfile
from tritonsmith.tune.knobs import Discovery, KernelInfo, Knob
from tritonsmith.tune.label import config_label as config_label  # its home before tune/label.py

DOT_TILE = (16, 256)  # tl.dot needs every dimension >= 16; beyond 256 a tile no longer fits registers
MAX_BLOCK = 65536
MEMORY_BOUND_KINDS = ("elementwise", "data_movement", "quantization", "random", "positional")
DIMENSION = re.compile(r"^(?:BLOCK|TILE)(?:_SIZE)?_?([MNK])$")
ELEMENT_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1,
                 "int8": 1, "uint8": 1}


@dataclass(frozen=True, order=True)
class Scaled:
    """A knob's own rule, multiplied (shift > 0) or divided (shift < 0) by 2**|shift|: keeps it shape-aware."""

    shift: int
    cap: int | None = None
    """Upper clamp after multiplying (num_warps, num_stages)."""

    def __str__(self) -> str:
        if self.shift == 0:
            return "rule"
        return f"rule*{2 ** self.shift}" if self.shift > 0 else f"rule/{2 ** -self.shift}"


@dataclass(frozen=True)
class ConfigList:
    """A whole @triton.autotune config list: each point is ((parameter, value), ...)."""

    points: tuple[tuple[tuple[str, int], ...], ...]

    def __str__(self) -> str:
        return "[" + "; ".join(", ".join(f"{k}={v}" for k, v in point) for point in self.points) + "]"


Value = int | Scaled | ConfigList
Config = dict  # knob id (or KERNEL.configs) -> Value


@dataclass(frozen=True)
class Limits:
    """What the device allows for launch options."""

    vendor: str = "nvidia"
    warp_size: int = 32
    max_warps: int = 16
    max_stages: int = 5
    default_stages: int = 3
    """Triton's default num_stages: 3 on NVIDIA, 2 on AMD."""
    shared_memory_bytes: int | None = None
    """Per block; None: unknown, no shared-memory pruning."""
    device: str = ""

    @classmethod
    def for_profile(cls, profile: HardwareProfile | None) -> Limits:
        if profile is None:
            return cls()
        if profile.vendor == "amd":  # wavefront 64; LDS double-buffering: deeper pipelines rarely help
            return cls("amd", profile.warp_size, 8, 2, 2, profile.shared_memory_kb * 1024, profile.name)
        return cls("nvidia", profile.warp_size, 16, 5, 3, profile.shared_memory_kb * 1024, profile.name)


@dataclass(frozen=True)
class Space:
    discovery: Discovery
    limits: Limits
    knobs: tuple[Knob, ...]
    """The tunable knobs, in search order."""
    values: dict[str, tuple[Value, ...]]
    """Per knob id, ascending: neighbours are adjacent."""
    current: dict[str, Value | None]
    """The value the source has now (None for an autotune knob: its configs hold several)."""
    seeds: dict[str, tuple[Config, ...]] = field(default_factory=dict)
    """Per autotuned kernel, its existing configs as configurations of its knobs."""
    element_bytes: int = 2
    """Smallest element size among the task's dtypes: the shared-memory estimate is a lower bound."""

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.values.values()) if self.values else 1

    def normalise(self, config: Config) -> Config:
        """Drop entries that set a knob to the value it has now (the same source, measured once)."""
        return {k: v for k, v in config.items() if k not in self.current or self.current[k] != v}

    def value(self, config: Config, knob: Knob) -> Value | None:
        return config.get(knob.id, self.current.get(knob.id, knob.value))

    def feasible(self, config: Config) -> str | None:
        """None, or why the configuration cannot work (or can only waste) on this device."""
        for kernel, params in self._launch_params.items():
            info = self.discovery.kernel(kernel)
            branches = sorted({k.branch for knobs in params.values() for k in knobs if k.branch}) or [None]
            for branch in branches:
                values: dict[str, int] = {}
                for param, knobs in params.items():
                    chosen = [k for k in knobs if k.branch == branch] or [k for k in knobs if k.branch is None]
                    if len(chosen) == 1:
                        value = self.value(config, chosen[0])
                        if isinstance(value, int) and not isinstance(value, bool):
                            values[param] = value
                if info.has_loop and "num_stages" not in params:
                    values["num_stages"] = self.limits.default_stages
                reason = self._check(info, values)
                if reason:
                    return f"{kernel}: {reason}"
        return None

    @functools.cached_property
    def _launch_params(self) -> dict[str, dict[str, list[Knob]]]:
        """Kernel -> launch parameter -> the knobs that set it: fixed for the space, read per configuration."""
        params: dict[str, dict[str, list[Knob]]] = {}
        for knob in self.discovery.knobs:
            for use in knob.uses:
                params.setdefault(use.kernel, {}).setdefault(use.param, [])
                if knob not in params[use.kernel][use.param]:
                    params[use.kernel][use.param].append(knob)
        return params

    def _check(self, info: KernelInfo, values: dict[str, int]) -> str | None:
        dims = {}
        for param in info.block_params:
            match = DIMENSION.match(param)
            if match and param in values:
                dims[match.group(1)] = values[param]
        stages = values.get("num_stages")
        smem = self.limits.shared_memory_bytes
        if info.uses_dot and smem and stages and {"M", "N", "K"} <= dims.keys():
            # pipelined operand tiles (stages - 1 in flight, at least one): a lower bound of what Triton allocates
            need = max(stages - 1, 1) * (dims["M"] * dims["K"] + dims["K"] * dims["N"]) * self.element_bytes
            if need > smem:
                return (f"tiles {dims['M']}x{dims['N']}x{dims['K']} at {stages} stages need at least "
                        f"{need // 1024} KB of shared memory, the device has {smem // 1024} KB")
        warps = values.get("num_warps")
        blocks = [values[p] for p in info.block_params if p in values]
        if not info.uses_dot and warps and warps > 1 and info.block_params and len(blocks) == len(info.block_params):
            elements = math.prod(blocks)
            if warps * self.limits.warp_size > elements:
                return (f"{warps} warps of {self.limits.warp_size} threads for a tile of {elements} elements: "
                        "the extra warps only replicate work")
        return None

    def describe(self) -> str:
        lines = [f"search space: {len(self.knobs)} knobs, {self.size} configurations before pruning"
                 + (f" ({self.limits.device})" if self.limits.device else "")]
        for knob in self.knobs:
            values = ", ".join(str(v) for v in self.values[knob.id])
            lines.append(f"  {knob.id} ({knob.role}, now {self.current.get(knob.id)}): {values}")
        return "\n".join(lines)


def search_space(discovery: Discovery, profile: HardwareProfile | None = None, kind: str | None = None,
                 dtypes: tuple[str, ...] | list[str] = ()) -> Space:
    """The space of `discovery`'s tunable knobs on `profile` (None: NVIDIA limits, no shared-memory bound)."""
    limits = Limits.for_profile(profile)
    values: dict[str, tuple[Value, ...]] = {}
    current: dict[str, Value | None] = {}
    knobs = []
    for knob in discovery.tunable:
        now = _current(knob, limits)
        options = _values(knob, now, limits, kind)
        if len(options) < 2:
            continue
        knobs.append(knob)
        values[knob.id] = options
        current[knob.id] = now
    for knob in discovery.knobs:  # untuned knobs keep their value, which pruning still reads
        current.setdefault(knob.id, _current(knob, limits))
    seeds = {}
    for kernel in discovery.kernels:
        autotune = kernel.autotune
        if autotune and not autotune.opaque:
            defaults = {"num_warps": 4}  # written out, so that every seed is a full point
            if any(k.id == f"{kernel.name}.num_stages" for k in knobs):
                defaults["num_stages"] = limits.default_stages
            seeds[kernel.name] = tuple({f"{kernel.name}.{p}": v for p, v in {**defaults, **point}.items() if v is not None}
                                       for point in autotune.configs)
    sizes = [ELEMENT_BYTES[d] for d in dtypes if d in ELEMENT_BYTES]
    return Space(discovery, limits, tuple(knobs), values, current, seeds, min(sizes) if sizes else 2)


def _current(knob: Knob, limits: Limits) -> Value | None:
    if knob.origin == "autotune":
        return None
    if knob.origin == "default":
        return limits.default_stages if knob.role == "num_stages" else knob.value
    if knob.value is not None:
        return knob.value
    return Scaled(0)


def _values(knob: Knob, now: Value | None, limits: Limits, kind: str | None) -> tuple[Value, ...]:
    if isinstance(now, Scaled):
        cap = {"num_warps": limits.max_warps, "num_stages": limits.max_stages}.get(knob.role)
        reach = 1 if (knob.dot or knob.role != "block") else 2
        return tuple(Scaled(shift, cap if shift > 0 else None) for shift in range(-reach, reach + 1))
    if knob.role == "num_warps":
        options = {2 ** i for i in range(int(math.log2(limits.max_warps)) + 1)}
    elif knob.role == "num_stages":
        options = set(range(1, limits.max_stages + 1))
    elif knob.role == "block":
        low, high = DOT_TILE if knob.dot else (1, MAX_BLOCK)
        reach = 2 if knob.dot else (4 if kind in MEMORY_BOUND_KINDS else 3)
        options = set()
        for anchor in (knob.choices or (now,)):
            base = 2 ** round(math.log2(max(anchor, 1)))
            options |= {base * 2.0 ** k for k in range(-reach, reach + 1)}
        options = {v for v in options if low <= v <= high}
    elif knob.role == "group":
        options = {max(1, a * 2 ** k) for a in (knob.choices or (now,)) for k in range(-2, 3) if a}
    else:
        options = set()
    if isinstance(now, int):
        options.add(now)
    if options:
        options |= set(knob.choices)
    return tuple(sorted(int(v) for v in options))
