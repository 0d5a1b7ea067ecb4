"""Typed configuration: dataclasses with a docstring per field, YAML on disk, command-line overrides.

Unknown keys, unset `${VARIABLES}` and numbers out of range fail loudly, naming the file and the key
(or the command-line option).
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from tritonsmith.util import pyast

T = TypeVar("T")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_COMMENT = re.compile(r"(^|\s)#")


class ConfigError(ValueError):
    """A configuration the user must fix; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a number field may take: at least `low` (above it, if `above`), at most `high`."""

    low: float | None = None
    high: float | None = None
    above: bool = False

    def allows(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high

    def __str__(self) -> str:
        if self.above and self.low == 0 and self.high is None:
            return "positive"
        if self.high is None:
            return f"{'above' if self.above else 'at least'} {self.low:g}"
        return f"from {self.low:g} to {self.high:g}"


def check_ranges(config: Any, name_of=lambda field: f"key {field!r}") -> None:
    """ConfigError for the first field of `config` outside its class's RANGES (lists: each item), or not of
    the form its class's FORMS give (a regular expression, and how to say it); `name_of(field)` says where the
    value came from."""
    for field, allowed in getattr(type(config), "RANGES", {}).items():
        value = getattr(config, field)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and not allowed.allows(item):
                raise ConfigError(f"{name_of(field)} must be {allowed} (got {value!r}).")
    for field, (form, said) in getattr(type(config), "FORMS", {}).items():
        value = getattr(config, field)
        if value is not None and not re.fullmatch(form, value):
            raise ConfigError(f"{name_of(field)} must be {said} (got {value!r}).")


def load_config(cls: type[T], path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> T:
    """`cls` from a YAML file (optional), then `overrides` (None values are ignored)."""
    data: dict[str, Any] = {}
    where = "the command line"
    if path is not None:
        where = str(path)
        import yaml
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the config file ({err.strerror or err}).") from None
        text = "".join(_substitute(line, where) for line in text.splitlines(keepends=True))
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ConfigError(f"{path}: not valid YAML{at} ({problem}).") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the config must be a mapping of keys to values.")
        data.update(loaded or {})
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    data.update(given)
    config = from_dict(cls, data, where)
    check_ranges(config, lambda field: f"--{field.replace('_', '-')}" if field in given else f"{where}: key {field!r}")
    return config


def from_dict(cls: type[T], data: dict[str, Any], where: str = "the config") -> T:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(known))}.")
    values = {}
    for name, value in data.items():
        values[name] = _coerce(value, hints[name], f"{where}: key {name!r}")
    try:
        return cls(**values)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}.") from None


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field (the string literal right after it in the class body)."""
    import ast
    import inspect

    tree = pyast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def _substitute(line: str, where: str) -> str:
    """`line` with its ${VARIABLES} replaced, except in a comment (which may show the syntax)."""
    comment = _COMMENT.search(line)
    code, rest = (line[:comment.start()], line[comment.start():]) if comment else (line, "")
    return _VARIABLE.sub(lambda m: _variable(m.group(1), where), code) + rest


def _variable(name: str, where: str) -> str:
    if name not in os.environ:
        raise ConfigError(f"{where}: ${{{name}}} is used but the environment variable {name} is not set.")
    return os.environ[name]


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} has an invalid value {value!r}.")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(map(str, args))} (got {value!r}).")
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list (got {value!r}).")
        item = args[0] if args else Any
        return [_coerce(v, item, where) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where} must be true or false (got {value!r}).")
    if hint in (int, float):
        if isinstance(value, bool):  # YAML's true is an int to Python, not a count
            raise ConfigError(f"{where} must be a number (got {value!r}).")
        try:
            number = hint(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number (got {value!r}).") from None
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where} must be a whole number (got {value!r}).")
        return number
    if hint is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where} must be a string (got {value!r}).")
        return str(value)
    return value
