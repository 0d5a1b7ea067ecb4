"""Whether a benchmark file's code needs a GPU, read without running it: TritonBench-G's and GEAK's ROCm tests
are written for one (device='cuda', .cuda(), Triton's active driver), and on the CPU interpreter they fail
before a kernel is checked. What is found becomes the task's GPU_ONLY, a phrase naming the first such line.
Load time only: nothing here imports torch."""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterator

from tritonsmith.suites.parts import Parts
from tritonsmith.util import pyast

CUDA_DEVICE = re.compile(r"cuda(:\d+)?")
# torch.cuda calls that work on a machine without a GPU (GEAK's tests seed with them on every machine)
WITHOUT_GPU = ("is_available", "is_initialized", "device_count", "manual_seed", "manual_seed_all", "seed", "seed_all",
               "empty_cache")
# where a "cuda" string is a device handed on (an argument, a default, a value), not one compared or chosen between
_HANDED_ON = (ast.Call, ast.keyword, ast.arguments, ast.Assign, ast.AnnAssign, ast.List, ast.Tuple, ast.Set, ast.Dict,
              ast.Return)


def gpu_use(parts: Parts, not_run: Collection[str] = ()) -> str | None:
    """Why the file's code needs a GPU, naming its first such line, or None. Read: the kernel part and the test
    part, less the top-level functions in `not_run` (tests that are never run for correctness). Found: the
    device "cuda" handed on (`device='cuda'`, `.to("cuda")`, a default; not `== "cuda"`, nor `"cuda" if ...
    else "cpu"`), `.cuda()`, a torch.cuda call that needs a device, torch._C's CUDA functions (a CPU-only torch
    has none) and Triton's active driver."""
    found: list[tuple[int, str, str]] = []
    for source, offset in ((parts.kernel, 0), (parts.test, parts.test_line)):
        for node, parent in _nodes(pyast.parse(source), set(not_run)):
            why = _why(node, parent)
            if why:
                found.append((node.lineno + offset, *why))
    if not found:
        return None
    line, why, what = min(found)
    return f"{why} ({what}, line {line} of {parts.path.name})"


def _nodes(tree: ast.Module, not_run: set[str]) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    """Every node with its parent, less the top-level functions named in `not_run`."""
    stack: list[tuple[ast.AST, ast.AST | None]] = [
        (node, tree) for node in tree.body
        if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in not_run)]
    while stack:
        node, parent = stack.pop()
        yield node, parent
        stack.extend((child, node) for child in ast.iter_child_nodes(node))


def _parameter(arguments: ast.arguments, default: ast.expr) -> str | None:
    """The name of the parameter whose default is `default`."""
    positional = arguments.posonlyargs + arguments.args
    pairs = list(zip(positional[len(positional) - len(arguments.defaults):], arguments.defaults))
    pairs += list(zip(arguments.kwonlyargs, arguments.kw_defaults))
    return next((arg.arg for arg, value in pairs if value is default), None)


def _why(node: ast.AST, parent: ast.AST | None) -> tuple[str, str] | None:
    """(what the code does, the code that does it), or None."""
    if (isinstance(node, ast.Constant) and isinstance(node.value, str) and CUDA_DEVICE.fullmatch(node.value)
            and isinstance(parent, _HANDED_ON)
            and not (isinstance(parent, ast.keyword) and parent.arg == "device_type")):  # autocast's: no GPU needed
        name = parent.arg if isinstance(parent, ast.keyword) else _parameter(parent, node) \
            if isinstance(parent, ast.arguments) else None
        return "its code puts tensors on the GPU", f"{name}={node.value!r}" if name else repr(node.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "cuda":
            return "its code moves tensors to the GPU", ".cuda()"
        if ast.unparse(node.func.value) == "torch.cuda" and node.func.attr not in WITHOUT_GPU:
            return "its code asks torch for the GPU", f"torch.cuda.{node.func.attr}()"
    if isinstance(node, ast.ImportFrom) and node.module == "torch._C":
        cuda = [alias.name for alias in node.names if alias.name.startswith("_cuda")]
        if cuda:
            return "its code imports torch's CUDA functions", f"from torch._C import {cuda[0]}"
    if isinstance(node, ast.Attribute) and node.attr == "active" and isinstance(node.value, ast.Attribute) \
            and node.value.attr == "driver":
        return "its code asks Triton's active driver for the GPU", "triton.runtime.driver.active"
    return None
