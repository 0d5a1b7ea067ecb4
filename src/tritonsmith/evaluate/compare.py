"""Scale-aware comparison of a candidate's outputs with the reference (runs in the worker).

An element passes when |out - ref| <= atol * scale + rtol * |ref|, where scale is the RMS of the
reference: an absolute tolerance in units of the output's own magnitude, so a kernel that returns
zeros cannot pass because the true values happen to be small (plain allclose would let it).

Elements that the reference leaves unwritten (a benchmark's gold kernel that never stores part of its
output: their values are whatever was in memory) are found by running the reference twice from memory
filled differently (`undefined_elements`), and are not compared (`undefined=`): no kernel can be asked
to reproduce them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy
import torch

# Defaults per dtype, a few units of the dtype's rounding error (fp16 eps 9.8e-4, bf16 7.8e-3).
DEFAULT_TOLERANCES = {
    "float64": (1e-7, 1e-7),
    "float32": (1e-4, 1e-4),
    "float16": (2e-3, 2e-3),
    "bfloat16": (1.6e-2, 1.6e-2),
    "float8_e4m3fn": (1.25e-1, 1.25e-1),
    "float8_e5m2": (2.5e-1, 2.5e-1),
}


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _from_numpy(value: Any) -> Any:
    if isinstance(value, numpy.ndarray) and value.dtype != object:
        return torch.from_numpy(numpy.array(value))  # a copy: two results never share memory through it
    return value


def as_outputs(value: Any) -> list[Any]:
    """The tensors and values of an output: a tuple/list of them, a dict of them, or one."""
    if isinstance(value, dict):
        return [item for key in sorted(value, key=str) for item in as_outputs(value[key])]
    if isinstance(value, (tuple, list)):
        return [item for element in value for item in as_outputs(element)]
    return [value]


def compare_outputs(got: Any, expected: Any, tolerances: dict[str, tuple[float, float]],
                    undefined: dict[str, Any] | None = None, held_for: str | None = None) -> dict[str, Any] | None:
    """None when `got` matches `expected`; otherwise a dict describing the first bad output.

    Outputs are a tensor, a tuple/list of outputs, or a dict of outputs compared key by key (the
    results of a suite's test function). `undefined` maps an output's place (as named in messages) to a
    boolean mask of its elements that are not compared. `held_for`: the device type the expected outputs
    belong on where they are held in host memory (references too large to hold on the GPU), compared a
    chunk at a time on `got`'s device."""
    for where, problem, g, e in _pairs(got, expected, "output", top=True):
        if problem is None:
            problem = compare_tensor(g, e, tolerances, (undefined or {}).get(where), held_for)
            if problem is not None:
                problem["message"] = f"{where} {problem['message']}"
        if problem is not None:
            return problem
    return None


def undefined_elements(first: Any, second: Any, tolerances: dict[str, tuple[float, float]],
                       ) -> tuple[dict[str, Any], list[str]] | None:
    """Two outputs of the reference on the same inputs, the first made from memory of zero bytes and the
    second from memory of 0xFF bytes: the masks of the elements it never wrote (output place -> bool tensor,
    for those with any) and a line for each. An element is unwritten when it is exactly what each filler
    reads as: zero in the first, and NaN (floats), -1 or the largest value (integers) or True in the second.
    None when the two differ in anything else (another element, structure, shape, dtype, a plain value):
    a reference whose results change from run to run, or that computes from memory it never wrote."""
    masks, notes = {}, []
    for where, problem, a, b in _pairs(second, first, "output", top=True):
        if problem is not None:
            return None
        a, b = _from_numpy(a), _from_numpy(b)
        if not isinstance(b, torch.Tensor):
            if compare_tensor(a, b, tolerances) is not None:
                return None
            continue
        if not isinstance(a, torch.Tensor) or a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
            return None
        shape = b.shape
        a, b = a.detach().reshape(-1), b.detach().reshape(-1)
        differ = _differ(a, b, b.dtype, tolerances)
        unwritten = differ & (b == 0) & _all_ones(a)
        if bool((differ & ~unwritten).any()):
            return None
        if bool(unwritten.any()):
            masks[where] = unwritten.reshape(shape)
            notes.append(f"{where}: {int(unwritten.sum())} of {b.numel()} elements")
    return masks, notes


def nan_from_filler(first: Any, second: Any) -> bool:
    """Whether the second of two runs of the reference (from memory of 0xFF bytes, NaN as floats) has NaN
    where the first (from zeroed memory) has a number: a sign that it computes from memory it never wrote."""
    for _, problem, a, b in _pairs(second, first, "output", top=True):
        a, b = _from_numpy(a), _from_numpy(b)
        if (problem is None and isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.is_floating_point() and b.is_floating_point()
                and bool((torch.isnan(a) & ~torch.isnan(b.to(a.device))).any())):
            return True
    return False


_SIGNED_OF_SIZE = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _all_ones(values: torch.Tensor) -> torch.Tensor:
    """Per element: is it what memory of 0xFF bytes reads as: every bit set (a float8 `fnuz` type has no NaN
    there), or for floats any NaN (the filler cast to another float type stays NaN)."""
    if values.dtype == torch.bool:
        return values
    signed = _SIGNED_OF_SIZE.get(values.element_size())
    ones = values.view(signed) == -1 if signed is not None else torch.zeros_like(values, dtype=torch.bool)
    if values.dtype.is_floating_point or values.dtype.is_complex:
        ones |= torch.isnan(values)
    return ones


def _pairs(got: Any, expected: Any, where: str, top: bool = False):
    """(place, structural problem or None, got leaf, expected leaf), walking dicts, tuples and lists alike."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            yield where, {"message": f"{where} is a {type(got).__name__}, expected a dict"}, None, None
            return
        missing, extra = sorted(set(expected) - set(got), key=str), sorted(set(got) - set(expected), key=str)
        if missing or extra:
            yield where, {"message": f"{where} has keys missing {missing} and unexpected {extra}"}, None, None
            return
        for key in sorted(expected, key=str):
            yield from _pairs(got[key], expected[key], f"{where}[{key!r}]")
        return
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            count = len(got) if isinstance(got, (tuple, list)) else 1
            yield where, {"message": f"returned {count} outputs, expected {len(expected)}" if top
                          else f"{where} has {count} items, expected {len(expected)}"}, None, None
            return
        for index, (g, e) in enumerate(zip(got, expected, strict=True)):
            yield from _pairs(g, e, f"output {index}" if top else f"{where}[{index}]")
        return
    if top and isinstance(got, (tuple, list)):
        yield where, {"message": f"returned {len(got)} outputs, expected 1"}, None, None
        return
    yield where, None, got, expected


def compare_tensor(got: Any, expected: Any, tolerances: dict[str, tuple[float, float]],
                   undefined: Any = None, held_for: str | None = None) -> dict[str, Any] | None:
    got, expected = _from_numpy(got), _from_numpy(expected)  # a test may return .numpy() of its results
    if isinstance(expected, float) and _real(got):
        return compare_float(float(got), expected, tolerances)
    if not isinstance(expected, torch.Tensor):
        if isinstance(got, torch.Tensor) or got != expected:
            return {"message": f"is {_short(got)}, expected {_short(expected)}"}
        return None
    if not isinstance(got, torch.Tensor):
        return {"message": f"is a {type(got).__name__}, expected a torch.Tensor"}
    if tuple(got.shape) != tuple(expected.shape):
        return {"message": f"has shape {list(got.shape)}, expected {list(expected.shape)}"}
    if got.dtype != expected.dtype:
        return {"message": f"has dtype {dtype_name(got.dtype)}, expected {dtype_name(expected.dtype)}"}
    if got.device.type != (held_for or expected.device.type):
        return {"message": f"is on {got.device}, expected {held_for or expected.device}"}
    numel = expected.numel()
    if numel == 0:
        return None
    g, e = got.detach().reshape(-1), expected.detach().reshape(-1)
    keep = None  # the elements compared, when some are not
    if undefined is not None and tuple(undefined.shape) == tuple(expected.shape):
        keep = ~undefined.to(g.device).reshape(-1)  # nor do they count towards the output's scale
    atol, rtol, scale = _bounds(expected.dtype, tolerances, (chunk_e for _, _, _, chunk_e in _chunks(g, e, keep)))
    compared = mismatched = 0
    for _, _, chunk_g, chunk_e in _chunks(g, e, keep):  # (made again each pass: a few at a time in memory)
        compared += chunk_e.numel()
        mismatched += int(_chunk_errors(chunk_g, chunk_e, expected.dtype, atol, rtol, scale)[0].sum().item())
    if mismatched == 0:
        return None
    first = worst = None  # a failing output: where it is worst, where it first fails, its largest relative error
    rel_maxima = []
    for start, places, chunk_g, chunk_e in _chunks(g, e, keep):
        bad, abs_err, rel_err = _chunk_errors(chunk_g, chunk_e, expected.dtype, atol, rtol, scale)
        at = int(abs_err.argmax().item())
        if worst is None or abs_err[at].item() > worst[0]:  # (the first of equal maxima, as argmax)
            worst = (abs_err[at].item(), _place(start, places, at), chunk_g[at].item(), chunk_e[at].item())
        rel_maxima.append(rel_err.max().item())
        if first is None and bool(bad.any()):
            at = int(bad.nonzero()[0].item())
            first = (_place(start, places, at), chunk_g[at].item(), chunk_e[at].item())
    shape = list(expected.shape)
    return {
        "message": (f"differs from the reference in {mismatched} of {compared} "
                    + ("elements" if keep is None else
                       f"compared elements ({numel - compared} that the reference leaves unwritten are not)")
                    + f": max abs err "
                    f"{worst[0]:.4g} at index {_unravel(worst[1], shape)} (got {worst[2]:.6g}, "
                    f"expected {worst[3]:.6g}); first bad index {_unravel(first[0], shape)} "
                    f"(got {first[1]:.6g}, expected {first[2]:.6g})"),
        "max_abs_err": float(worst[0]),
        "max_rel_err": float(torch.tensor(rel_maxima, dtype=torch.float64).max().item()),  # (NaN as torch's max)
        "first_bad_index": _unravel(first[0], shape),
        "mismatched": mismatched,
        "elements": numel,
    }


def _real(value: Any) -> bool:
    return isinstance(value, (float, int)) and not isinstance(value, bool)


def compare_float(got: float, expected: float, tolerances: dict[str, tuple[float, float]]) -> dict[str, Any] | None:
    """A Python float (a test's `loss.item()`, `x.grad.norm().item()`: 11 of TritonBench-G's tests return some) is
    compared as one float32 element is, with the float32 tolerance: not exactly, which a sum in another order
    fails, and NaN where the reference has NaN matches, as in a tensor."""
    g, e = torch.tensor([got], dtype=torch.float64), torch.tensor([expected], dtype=torch.float64)
    atol, rtol, scale = _bounds(torch.float64, {"float64": tolerances.get("float32", DEFAULT_TOLERANCES["float32"])},
                                [e])
    bad, abs_err, _ = _chunk_errors(g, e, torch.float64, atol, rtol, scale)
    if not bool(bad.any()):
        return None
    return {"message": f"is {got!r}, expected {expected!r} (abs err {abs_err.item():.3g}; a Python float, "
                       "compared with the float32 tolerance)"}


CHUNK = 1 << 24
"""Elements compared at a time: each comparison's float64 temporaries take 128 MiB, not several times the
tensor's size in float64 (a KernelBench level-1 output of 6 GiB in float32 took 12 GiB a temporary, and ran an
H100 out of memory beside the references it checked)."""


def _chunks(g: torch.Tensor, e: torch.Tensor, keep: torch.Tensor | None):
    """(start, places, g's part, e's part) of two flat tensors, CHUNK elements at a time, both on g's device:
    `places`, where `keep` (a flat mask of the elements compared, on g's device) is given, the index of each
    compared element within the part."""
    for start in range(0, e.numel(), CHUNK):
        part_g, part_e = g[start:start + CHUNK], e[start:start + CHUNK].to(g.device)  # (held in host memory)
        if keep is None:
            yield start, None, part_g, part_e
        else:
            places = keep[start:start + CHUNK].nonzero().squeeze(1)
            if places.numel():
                yield start, places, part_g[places], part_e[places]


def _place(start: int, places: torch.Tensor | None, at: int) -> int:
    """The flat index in the whole tensor of a chunk's element `at`."""
    return start + (at if places is None else int(places[at].item()))


def _bounds(dtype: torch.dtype, tolerances: dict, expected_parts: Any) -> tuple[float, float, float]:
    """atol, rtol and the scale (the RMS of the reference's finite elements, 1 where it is zero or has none) of
    a comparison; `expected_parts`: the reference's elements compared, in parts."""
    if not dtype.is_floating_point:
        return 0.0, 0.0, 1.0
    atol, rtol = tolerances.get(dtype_name(dtype), DEFAULT_TOLERANCES.get(dtype_name(dtype), (1e-4, 1e-4)))
    squares, count = 0.0, 0
    for part in expected_parts:
        part = part.double()
        finite = part[torch.isfinite(part)]
        squares += finite.pow(2).sum().item()
        count += finite.numel()
    scale = math.sqrt(squares / count) if count else 0.0
    return atol, rtol, scale if scale > 0 else 1.0


def _chunk_errors(g: torch.Tensor, e: torch.Tensor, dtype: torch.dtype, atol: float, rtol: float, scale: float,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per element of two flat tensors (a chunk): out of tolerance, absolute error, relative error."""
    if not dtype.is_floating_point:
        bad = g != e
        abs_err = (g.double() - e.double()).abs()
        return bad, abs_err, abs_err / e.double().abs().clamp_min(1)
    g64, e64 = g.double(), e.double()
    finite = torch.isfinite(e64)
    abs_err = (g64 - e64).abs()
    same_special = (torch.isnan(g64) & torch.isnan(e64)) | ((g64 == e64) & ~finite)
    abs_err = torch.where(same_special, torch.zeros_like(abs_err), abs_err)
    abs_err = torch.nan_to_num(abs_err, nan=float("inf"))
    bad = abs_err > atol * scale + rtol * e64.abs().nan_to_num(0.0)
    rel_err = abs_err / e64.abs().clamp_min(atol * scale)
    return bad, abs_err, torch.where(same_special, torch.zeros_like(rel_err), rel_err)  # (NaN for NaN: 0, not NaN)


def _differ(g: torch.Tensor, e: torch.Tensor, dtype: torch.dtype, tolerances: dict) -> torch.Tensor:
    """Per element of two flat tensors: out of tolerance (a bool tensor), computed CHUNK elements at a time."""
    atol, rtol, scale = _bounds(dtype, tolerances, (part for _, _, _, part in _chunks(g, e, None)))
    differ = torch.empty(e.numel(), dtype=torch.bool, device=e.device)
    for start, _, part_g, part_e in _chunks(g, e, None):
        differ[start:start + part_e.numel()] = _chunk_errors(part_g, part_e, dtype, atol, rtol, scale)[0]
    return differ


def _unravel(flat: int, shape: list[int]) -> list[int]:
    index = []
    for dim in reversed(shape):
        index.append(flat % dim if dim else 0)
        flat = flat // dim if dim else 0
    return list(reversed(index))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
