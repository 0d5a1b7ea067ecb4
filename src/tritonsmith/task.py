"""The task contract: what is asked of a kernel, read from one Python file as data.

A task file declares its fields as top-level literals (ID, INSTRUCTION, ENTRY_POINT, ...) and its
code as top-level functions (make_inputs, reference, flops, bytes_moved, optionally check). The
fields are read here with `ast`, without executing the file, so listing and validating tasks needs
neither torch nor a GPU; the functions run only inside the evaluator's worker. See docs/tasks.md.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritonsmith.util import pyast
from tritonsmith.util.constants import constant

DTYPES = ("float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
          "float8_e4m3fn", "float8_e5m2")
KINDS = ("elementwise", "reduction", "softmax", "normalization", "matmul", "attention", "scan", "sort",
         "data_movement", "positional", "loss", "quantization", "random", "fused", "other")
PERF_SEED = 7
"""The seed every perf case's inputs are made at for the perf checks. An input made at any other seed is an
after-timing check's, one input of a seed drawn for it: a suite whose perf script makes all its inputs at once
may stop at that one (suites/runtime/geak_perf.py)."""
REQUIRED_FUNCTIONS = ("make_inputs", "reference", "flops", "bytes_moved")
OPTIONAL_FUNCTIONS = ("check",)


class TaskError(ValueError):
    """A task file that does not follow the contract; the message names the file and the field."""


class CaseSkipped(Exception):
    """Raised by a task's make_inputs for a case that does not apply here: a benchmark's test that pytest would
    skip for these parameters or on this device. The message says why."""


@dataclass(frozen=True)
class Tolerance:
    """Allowed error for one dtype: |out - ref| <= atol * scale + rtol * |ref|, scale = rms(ref)."""

    atol: float
    rtol: float


@dataclass(frozen=True)
class Task:
    id: str
    instruction: str
    entry_point: str
    signature: str
    correctness_cases: tuple[dict[str, Any], ...]
    perf_cases: tuple[dict[str, Any], ...]
    path: Path
    kind: str = "other"
    difficulty: int | None = None
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    baseline: str | None = None
    forbidden_ops: tuple[str, ...] = ()
    allowed_ops: tuple[str, ...] = ()
    gpu_only: str | None = None
    has_check: bool = False
    suite: str | None = None
    harness: str | None = None  # trusted code a suite adapter appends to each candidate (defines the entry point)
    required_names: tuple[str, ...] = ()  # what the candidate itself must define, when a harness is the entry
    reference_source: str | None = None  # what prompts show as the reference (default: make_inputs + reference)
    in_place: bool = False  # the entry point updates some of its arguments in place (what it writes is checked)

    @property
    def dtypes(self) -> list[str]:
        seen: list[str] = []
        for case in self.correctness_cases + self.perf_cases:
            if case["dtype"] not in seen:
                seen.append(case["dtype"])
        return seen

    @property
    def name(self) -> str:
        return f"{self.suite}:{self.id}" if self.suite else self.id

    def source(self) -> str:
        return self.path.read_text()


def case_label(case: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in case.items())


def load_task(path: str | Path, suite: str | None = None) -> Task:
    """Read and validate a task file without executing it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TaskError(f"{path}: cannot read the task file ({err.strerror or err}).") from None
    except UnicodeDecodeError as err:
        raise TaskError(f"{path}: the task file is not UTF-8 text (byte offset {err.start}).") from None
    try:
        tree = pyast.parse(text, filename=str(path))
    except SyntaxError as err:
        raise TaskError(f"{path}: line {err.lineno}: the task file is not valid Python ({err.msg}).") from None
    except (ValueError, MemoryError, RecursionError):  # CPython's parser gives up on some text
        raise TaskError(f"{path}: the task file is not Python that can be parsed.") from None

    fields: dict[str, Any] = {}
    functions: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions.add(node.name)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                try:
                    fields[name] = constant(node.value)
                except (ValueError, TypeError, RecursionError, MemoryError):
                    raise TaskError(f"{path}: field {name} (line {node.lineno}) must be a literal "
                                    "(string, number, list or dict; arithmetic on numbers is allowed).") from None
    return _validate(path, fields, functions, suite)


def _validate(path: Path, values: dict[str, Any], functions: set[str], suite: str | None) -> Task:
    fields = _Fields(path, values)
    task_id = fields.text("ID")
    if not task_id.replace("_", "").replace("-", "").isalnum():
        raise fields.fail("ID", f"must use only letters, digits, '_' and '-' (got {task_id!r})")
    entry_point = fields.text("ENTRY_POINT")
    if not entry_point.isidentifier():
        raise fields.fail("ENTRY_POINT", f"must be a Python identifier (got {entry_point!r})")

    for name in REQUIRED_FUNCTIONS:
        if name not in functions:
            raise TaskError(f"{path}: function {name}() is missing.")

    correctness = _cases(fields, "CORRECTNESS_CASES", allow_empty=False)
    perf = _cases(fields, "PERF_CASES", allow_empty=True)

    kind = fields.get("KIND", "other")
    if kind not in KINDS:
        raise fields.fail("KIND", f"must be one of {', '.join(KINDS)} (got {kind!r})")
    in_place = fields.get("IN_PLACE", False)
    if not isinstance(in_place, bool):
        raise fields.fail("IN_PLACE", f"must be True or False (got {in_place!r})")
    difficulty = fields.get("DIFFICULTY")
    if difficulty is not None and (not isinstance(difficulty, int) or not 1 <= difficulty <= 5):
        raise fields.fail("DIFFICULTY", f"must be a whole number from 1 to 5 (got {difficulty!r})")

    tolerances = _tolerances(fields)
    name_lists = _name_lists(fields)
    sources = _sources(fields)
    return Task(
        id=task_id,
        instruction=fields.text("INSTRUCTION"),
        entry_point=entry_point,
        signature=fields.text("SIGNATURE"),
        correctness_cases=correctness,
        perf_cases=perf,
        path=path.resolve(),
        kind=kind,
        difficulty=difficulty,
        tolerances=tolerances,
        baseline=sources["BASELINE"],
        harness=sources["HARNESS"],
        required_names=tuple(name_lists["REQUIRED_NAMES"]),
        reference_source=sources["REFERENCE_SOURCE"],
        forbidden_ops=tuple(name_lists["FORBIDDEN_OPS"]),
        allowed_ops=tuple(name_lists["ALLOWED_OPS"]),
        gpu_only=fields.text("GPU_ONLY", required=False),
        has_check="check" in functions,
        suite=suite,
        in_place=in_place,
    )


class _Fields:
    """A task file's fields as read, and the checks whose message names the file and the field."""

    def __init__(self, path: Path, values: dict[str, Any]):
        self.path = path
        self.values = values

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def fail(self, name: str, problem: str) -> TaskError:
        return TaskError(f"{self.path}: field {name} {problem}.")

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.values.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "must be a non-empty string")
        return value


def _tolerances(fields: _Fields) -> dict[str, Tolerance]:
    tolerances = {}
    raw_tolerances = fields.get("TOLERANCES", {})
    if not isinstance(raw_tolerances, dict):
        raise fields.fail("TOLERANCES", "must be a dict of dtype -> {'atol': float, 'rtol': float}")
    for dtype, tol in raw_tolerances.items():
        if dtype not in DTYPES:
            raise fields.fail("TOLERANCES", f"names an unknown dtype {dtype!r}")
        if not isinstance(tol, dict) or set(tol) != {"atol", "rtol"} or not all(
                isinstance(v, (int, float)) and v >= 0 for v in tol.values()):
            raise fields.fail("TOLERANCES", f"entry {dtype!r} must be {{'atol': float, 'rtol': float}} with values >= 0")
        tolerances[dtype] = Tolerance(float(tol["atol"]), float(tol["rtol"]))
    return tolerances


def _name_lists(fields: _Fields) -> dict[str, list[str]]:
    name_lists = {}
    for name in ("FORBIDDEN_OPS", "ALLOWED_OPS", "REQUIRED_NAMES"):
        name_lists[name] = fields.get(name, [])
        if not isinstance(name_lists[name], (list, tuple)) or not all(isinstance(item, str) for item in name_lists[name]):
            raise fields.fail(name, "must be a list of names")
    return name_lists


def _sources(fields: _Fields) -> dict[str, str | None]:
    """The fields holding Python source, each parsed (not run) so that a syntax error names its field."""
    sources = {}
    for name in ("BASELINE", "HARNESS", "REFERENCE_SOURCE"):
        sources[name] = fields.text(name, required=False)
        if sources[name] is not None:
            try:
                pyast.parse(sources[name])
            except SyntaxError as err:
                raise fields.fail(name, f"is not valid Python (line {err.lineno}: {err.msg})") from None
    return sources


def _cases(fields: _Fields, name: str, allow_empty: bool) -> tuple[dict[str, Any], ...]:
    cases = fields.get(name)
    if cases is None:
        raise fields.fail(name, "is missing")
    if not isinstance(cases, (list, tuple)) or (not cases and not allow_empty):
        raise fields.fail(name, "must be a non-empty list of dicts")
    for index, case in enumerate(cases):
        if not isinstance(case, dict):
            raise fields.fail(name, f"entry {index} must be a dict such as {{'shape': [128, 64], 'dtype': 'float16'}}")
        dtype = case.get("dtype")
        if dtype not in DTYPES:
            raise fields.fail(name, f"entry {index} needs 'dtype', one of {', '.join(DTYPES)} (got {dtype!r})")
        for key, value in case.items():
            if not isinstance(key, str):
                raise fields.fail(name, f"entry {index} has a non-string key {key!r}")
            if key == "shape" and not (isinstance(value, (list, tuple)) and all(
                    isinstance(d, int) and d >= 0 for d in value)):
                raise fields.fail(name, f"entry {index} has 'shape' {value!r}; it must be a list of whole numbers")
    return tuple(dict(case) for case in cases)
