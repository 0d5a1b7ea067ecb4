"""The kernel source with one configuration baked in: only launch parameters change.

Each knob's spans are replaced by the chosen value (a literal, or the knob's own rule scaled by a
power of two), a missing num_warps/num_stages is added at its launch, and an @triton.autotune list is
replaced by the chosen config (or a pruned list). Nothing else in the source is touched, so what the
kernel computes stays the same; the result is checked to parse.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from tritonsmith.tune.knobs import LAUNCH_OPTIONS, Autotune, Discovery, Knob, Span
from tritonsmith.tune.space import Config, ConfigList, Scaled, Value
from tritonsmith.util import pyast

CONFIGS_SUFFIX = ".configs"


class RewriteError(ValueError):
    """A configuration that cannot be written into the source; the message says why."""


def render(source: str, discovery: Discovery, config: Config, header: Iterable[str] = ()) -> str:
    """`source` with `config` applied, preceded by `header` as comment lines."""
    edits: list[tuple[Span, str]] = []
    points: dict[str, dict[str, int]] = {}
    lists: dict[str, ConfigList] = {}
    for knob_id, value in config.items():
        if knob_id.endswith(CONFIGS_SUFFIX):
            if not isinstance(value, ConfigList):
                raise RewriteError(f"{knob_id} takes a ConfigList, not {value!r}")
            lists[knob_id[: -len(CONFIGS_SUFFIX)]] = value
            continue
        knob = discovery.knob(knob_id)
        if knob.origin == "autotune":
            points.setdefault(knob.uses[0].kernel, {})[knob.param] = _integer(knob, value)
        elif knob.origin == "default":
            edits.append((knob.spans[0], f", {knob.param}={_integer(knob, value)}"))
        else:
            text = _value_text(knob, value)
            edits.extend((span, text) for span in knob.spans)
    for kernel in sorted(set(points) | set(lists)):
        autotune = discovery.kernel(kernel).autotune
        if autotune is None or autotune.span is None or autotune.opaque:
            raise RewriteError(f"{kernel} has no autotune config list the tuner can rewrite")
        if kernel in lists:
            chosen = [dict(point) for point in lists[kernel].points]
        else:
            chosen = [{**autotune.configs[0], **points[kernel]}]
        edits.append((autotune.span, _config_list(autotune, chosen)))
    text = _apply(source, edits)
    try:
        pyast.parse(text)
    except SyntaxError as err:
        raise RewriteError(f"the rewritten source does not parse (line {err.lineno}: {err.msg})") from None
    comments = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header)
    return comments + text


def _integer(knob: Knob, value: Value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RewriteError(f"{knob.id} takes an integer, not {value!r}")
    return value


def _value_text(knob: Knob, value: Value) -> str:
    if isinstance(value, Scaled):
        if knob.origin not in ("rule", "heuristic") or knob.value is not None:
            raise RewriteError(f"{knob.id} is a literal: it takes an integer, not {value}")
        if value.shift == 0:
            return knob.expression
        factor = 2 ** abs(value.shift)
        if value.shift > 0:
            scaled = f"({knob.expression}) * {factor}"
            return f"min({value.cap}, {scaled})" if value.cap else scaled
        return f"max(1, ({knob.expression}) // {factor})"
    return str(_integer(knob, value))


def _config_list(autotune: Autotune, points: list[dict]) -> str:
    configs = []
    for point in points:
        params = ", ".join(f"{name!r}: {point[name]!r}" for name in autotune.params
                           if name in point and name not in LAUNCH_OPTIONS)
        options = [f"{name}={point[name]}" for name in LAUNCH_OPTIONS if point.get(name) is not None]
        if autotune.extras:
            options.append(autotune.extras)
        configs.append(f"{autotune.config_call}({{{params}}}{''.join(', ' + o for o in options)})")
    if len(configs) == 1:
        return f"[{configs[0]}]"
    return "[\n" + "".join(f"    {config},\n" for config in configs) + "]"


def _apply(source: str, edits: list[tuple[Span, str]]) -> str:
    starts = [0]
    for line in io.StringIO(source).readlines():
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:
        return starts[line - 1] + col

    placed = sorted(((offset(s.line, s.col), offset(s.end_line, s.end_col), text) for s, text in edits), reverse=True)
    for (start, end, _), (next_start, next_end, _) in zip(placed[1:], placed):
        same_stretch = (start, end) == (next_start, next_end) and start != end  # insertions may share a point
        if end > next_start or same_stretch:
            raise RewriteError("two knobs set the same stretch of source")
    for start, end, text in placed:
        source = source[:start] + text + source[end:]
    return source
