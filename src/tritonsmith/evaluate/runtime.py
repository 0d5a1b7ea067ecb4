"""What the checker's and the candidate's processes both need: loading files as modules, making inputs, digests,
and the hand-over of outputs from the candidate's process to the checker (torch, no candidate code; Triton's
autotuning in these processes is autotuning.py's).

Outputs travel one way, in files the checker reads with torch.load(weights_only=True): tensors, numbers,
strings and containers of them, nothing that runs code when loaded. A file that does not load, or holds
something else, is a missing output. A value equal by its digest to one the checker already holds (the
inputs, unchanged by a call) or verified (a perf case's first output, timed again) is named by a claim instead
of a file (`hand_over_unless_same`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch

from tritonsmith.task import case_label
from tritonsmith.util.copied_calls import copies_inputs, primed_untouched, priming, recorded
from tritonsmith.util.modules import load_module

CHECK_SEED = 1_000_003  # a seed no correctness case uses: the kernels-off and after-timing checks
LINE_LIMIT = 1 << 20  # the longest message a process takes from the candidate's process


def clock_timing() -> bool:
    """Whether the evaluator's own tests time on the CPU: `TRITONSMITH_CLOCK_TIMING=1`, set by whoever starts the
    pool (read before any candidate code), has the interpreter timed by the host clock on the correctness
    shapes, so that the timing path runs without a GPU. No speedup is ever reported from it."""
    return os.environ.get("TRITONSMITH_CLOCK_TIMING") == "1"


class TaskFailure(Exception):
    """The task itself (not the candidate) is broken: its inputs or reference raised."""


def import_file(path: str, name: str) -> Any:
    return load_module(name, path)


def import_task(job: dict[str, Any]) -> Any:
    """The task's module, also under the name the reference keeper gave it, so that objects among the inputs it
    lent (pickled by reference to their module) load here."""
    module = import_file(job["task_path"], "tritonsmith_task")
    if job.get("task_key"):
        sys.modules.setdefault(f"tritonsmith_task_{job['task_key'][:16]}", module)
    return module




def make_inputs(task: Any, case: dict[str, Any], seed: int, device: str) -> tuple:
    """A check's inputs, as the task's own code makes them from (case, seed): the one call the checker (or the
    keeper) and the candidate's process both make, so that the two hold the same inputs. Memory the task's
    code allocates and leaves unwritten (an output buffer from torch.empty, as 20 of TritonBench-G's perf
    scripts and 24 of the ROCm benchmark's perf tests make) reads as zeros, as memory fresh from the driver
    does: otherwise it holds what that process's memory held, and no two processes make the same inputs (every
    check's inputs then go over in a file, and the first call on new inputs cannot be timed). Torch fills such
    memory with NaN (an integer's largest value) while they are made; a float or integer tensor that is that
    throughout is then zeroed (a NaN buffer read before it is written, `out += x`, would leave NaN, which
    compares equal to NaN: the op would seem to write nothing)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    with empty_memory_filled():
        args = tuple(task.make_inputs(dict(case), generator, device))
    with torch.no_grad():
        for tensor in tensors_of(args):
            if _all_filled(tensor):
                with contextlib.suppress(RuntimeError):  # an expanded view: left as torch filled it (still alike)
                    tensor.zero_()
    return args


def _all_filled(tensor: torch.Tensor) -> bool:
    """Whether `tensor` is wholly what torch.empty gives under fill_uninitialized_memory (NaN; an integer's
    largest value), and not empty. Bools (True) are left alone: an all-True mask is an ordinary input."""
    if not tensor.numel() or tensor.is_sparse or tensor.dtype == torch.bool or tensor.is_quantized:
        return False
    try:
        if tensor.is_floating_point() or tensor.is_complex():
            return bool(torch.isnan(tensor).all())
        return bool((tensor == torch.iinfo(tensor.dtype).max).all())
    except (TypeError, RuntimeError):  # a dtype with no iinfo, or no isnan on this device
        return False


@contextlib.contextmanager
def empty_memory_filled():
    """torch.empty and its kin fill what they allocate (torch.utils.deterministic.fill_uninitialized_memory,
    which torch applies only under use_deterministic_algorithms: here warn_only, and its warnings silenced, so
    that no op of the task's own code refuses to run)."""
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*(deterministic|CUBLAS_WORKSPACE_CONFIG)")
            yield
    finally:  # as it was, unless the task's own code set it meanwhile (its reference may rely on it)
        if (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) \
                == (True, True):
            torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill


M_PERTURB = -6  # glibc's mallopt parameter: malloc fills what it hands out with the value's complement, and
# what is freed with the value (0: off)


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's mallopt, or None (another C library): looked up once, not at every reference run."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc's alone
        return libc.mallopt
    except (OSError, AttributeError):
        return None


def host_available() -> int:
    """Bytes of host memory available (Linux's MemAvailable: free, and caches that can be let go); 0 where it
    cannot be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@contextlib.contextmanager
def host_memory_filled(byte: int):
    """What the host's malloc hands out within reads as `byte` (not 0xFF, which glibc cannot give): a host
    buffer a reference allocates with torch.empty and reads unwritten holds that, not whatever this long-lived
    process's heap last held there, which two runs in one process can share and a candidate's process does
    not (int4_matmul's gold packs its weights with `+=` into a host torch.empty, and failed against its own
    reference on an H100). glibc's M_PERTURB: nothing on another C library, nor for the small chunks (up to
    about 1 KiB) glibc's per-thread cache hands out, which it does not fill. The C library is the process's, and
    the setting too: another thread's allocations meanwhile are filled as well."""
    mallopt = _mallopt()
    if mallopt is None or not 0 <= byte < 0xFF:
        yield
        return
    mallopt(M_PERTURB, byte ^ 0xFF)
    try:
        yield
    finally:
        try:  # as the environment set it at start (MALLOC_PERTURB_), else off
            mallopt(M_PERTURB, int(os.environ.get("MALLOC_PERTURB_") or 0))
        except ValueError:
            mallopt(M_PERTURB, 0)


def held_bytes(value: Any) -> int:
    """The bytes of memory the tensors in `value` hold: each storage once, however many tensors view it."""
    storages: dict[tuple[str, int], int] = {}
    for tensor in tensors_of(value):
        try:
            storage = tensor.untyped_storage()
            storages[(str(tensor.device), storage.data_ptr())] = storage.nbytes()
        except (RuntimeError, NotImplementedError):  # a tensor with no storage of its own (sparse, ...)
            storages[("other", id(tensor))] = tensor.numel() * tensor.element_size()
    return sum(storages.values())


def tensors_of(value: Any, depth: int = 0) -> list:
    """The tensors in nested containers and plain objects (a perf script's inputs, a frozen ROCm op), each once."""
    found: dict[int, Any] = {}
    _gather_tensors(value, depth, found, set())
    return list(found.values())


def _gather_tensors(item: Any, level: int, found: dict[int, Any], seen: set[int]) -> None:
    """tensors_of's walk, `seen` the containers and objects walked (shared or cyclic parts once). A function of
    the module's, as `_digest_walk` is: a recursive closure is a reference cycle, and it held what it found
    (every tensor) until Python's garbage collector next ran. A keeper that had let 36 GiB of references go
    held them on, and the job making its own ran out of memory (KernelBench's 19_ReLU on an H100)."""
    if isinstance(item, torch.Tensor):
        found.setdefault(id(item), item)
        return
    if level > DIGEST_DEPTH or id(item) in seen:
        return
    seen.add(id(item))
    if isinstance(item, dict):
        for v in item.values():
            _gather_tensors(v, level + 1, found, seen)
    elif isinstance(item, (list, tuple, set)):
        for v in item:
            _gather_tensors(v, level + 1, found, seen)
    elif hasattr(item, "__dict__") and not isinstance(item, type):
        for v in vars(item).values():
            _gather_tensors(v, level + 1, found, seen)


DIGEST_DEPTH = 24  # a ROCm perf op, frozen, nests its tensors 10 or more levels down (op, closure, kernel_args)


def input_digest(value: Any) -> str:
    """A check's inputs in one hash: their structure, plain values, and each tensor's dtype, shape, strides and
    a position-weighted sum of its bytes (on its device: a permutation of the same values differs). Equal
    when two processes made the inputs alike; anything it cannot read makes it unequal to every other."""
    return _digest(value)[0]


def value_digest(value: Any) -> str | None:
    """input_digest of a value read wholly by value, else None: a part read by identity (unreadable, too deep,
    of an unknown type) is unequal across processes but equal to itself after any change in this one."""
    digest, by_value = _digest(value)
    return digest if by_value else None


def _digest(value: Any) -> tuple[str, bool]:
    parts: list[str] = []
    by_identity: list[Any] = []
    _digest_walk(value, 0, parts, by_identity, {})
    return hashlib.sha256("|".join(parts).encode()).hexdigest(), not by_identity


def _digest_walk(item: Any, level: int, parts: list[str], by_identity: list[Any], seen: dict[int, int]) -> None:
    """_digest's walk (a function of the module's: see `_gather_tensors`), `seen` the id of each container,
    object or tensor walked -> its order: shared or cyclic parts."""
    if item is None or isinstance(item, (bool, int, float, str, bytes, torch.dtype, torch.device)):
        parts.append(repr(item))
        return
    if id(item) in seen:
        parts.append(f"again #{seen[id(item)]}")  # the same order in every process that made it alike
        return
    seen[id(item)] = len(seen)
    if isinstance(item, torch.Tensor):
        total = _weighted_sum(item)
        if total is None:
            total = f"unreadable @{id(item)}"  # sparse, quantized, ...: not comparable this way
            by_identity.append(item)
        parts.append(f"T{item.dtype}{item.device.type}{tuple(item.shape)}{item.stride()}{item.requires_grad}:"
                     f"{total}")
    elif level > DIGEST_DEPTH:
        parts.append(f"too deep @{id(item)}")  # never equal across processes
        by_identity.append(item)
    elif isinstance(item, dict):
        parts.append(f"dict{len(item)}")
        for key, entry in item.items():
            parts.append(repr(key))
            _digest_walk(entry, level + 1, parts, by_identity, seen)
    elif isinstance(item, (list, tuple)):
        parts.append(f"{type(item).__name__}{len(item)}")
        for entry in item:
            _digest_walk(entry, level + 1, parts, by_identity, seen)
    elif hasattr(item, "__dict__") and not isinstance(item, type):
        parts.append(type(item).__qualname__)
        _digest_walk(vars(item), level + 1, parts, by_identity, seen)
    else:
        parts.append(f"{type(item).__qualname__}@{id(item)}")  # unknown: never equal across processes
        by_identity.append(item)


def _weighted_sum(tensor: torch.Tensor, chunk: int = 1 << 24) -> str | None:
    try:
        data = tensor.detach().reshape(-1).contiguous().view(torch.uint8)
        if data.storage_offset() % 4:  # a view at an odd byte offset cannot be read as words in place
            data = data.clone()
        words = data.view(torch.int32) if data.numel() % 4 == 0 else data
    except (RuntimeError, TypeError):
        return None
    total = 0
    for start in range(0, words.numel(), chunk):
        part = words[start:start + chunk].to(torch.int64)
        weights = torch.arange(start, start + part.numel(), device=part.device, dtype=torch.int64) % 1000003 + 1
        total = (total + int((part * weights).sum())) % (1 << 61)
    return str(total)


def clone(args: tuple, device: str | None = None) -> tuple:
    """A copy of each tensor argument (on `device` where given: inputs held in host memory, `to_host`); one
    tensor passed twice (an op writing into its input) stays one."""
    return _copied(args, (lambda t: t.clone()) if device is None else (lambda t: t.to(device, copy=True)))


def _copied(args: tuple, copy: Callable[[torch.Tensor], torch.Tensor]) -> tuple:
    """`args` with each tensor argument replaced by `copy` of it, made once for a tensor passed twice."""
    copies: dict[int, torch.Tensor] = {}
    for arg in args:
        if isinstance(arg, torch.Tensor) and id(arg) not in copies:
            copies[id(arg)] = copy(arg)
    return tuple(copies[id(a)] if isinstance(a, torch.Tensor) else a for a in args)


def hostable(args: Any, device: str) -> bool:
    """Whether a check's inputs can be held in host memory and copied back onto `device` for each call as they
    were (`to_host`, `clone(args, device)`): a tuple or list whose tensors are its items, each a plain tensor on
    that device (a task's own CPU tensor, a perf script's marker, would come back on the GPU), contiguous and the
    whole of its storage (a view's offset or an expanded stride would not come back)."""
    if not isinstance(args, (tuple, list)):
        return False
    for arg in args:
        if isinstance(arg, torch.Tensor):
            if (type(arg) is not torch.Tensor or arg.layout != torch.strided
                    or arg.device.type != torch.device(device).type
                    or not arg.is_contiguous() or arg.storage_offset()
                    or arg.untyped_storage().nbytes() != arg.numel() * arg.element_size()):
                return False
        elif tensors_of(arg):
            return False
    return True


def to_host(args: tuple) -> tuple:
    """A `hostable` check's inputs copied into host memory (a leaf stays one, requires_grad kept); one tensor
    passed twice stays one."""
    return _copied(args, lambda t: t.detach().to("cpu", copy=True).requires_grad_(t.requires_grad))


def time_first_call(timer: Any, fn: Callable[[], Any], args: tuple, host_ms: float) -> tuple[dict[str, Any], Any]:
    """`timer.once(fn)`, a call on inputs the function has not seen, and its result. A benchmark's harness that
    runs a first call on a copy of its inputs (util/copied_calls.py) makes that copy before, untimed (where
    nothing may run the op: HarnessTampered), and its record of the call after: the calls it is compared
    with (the timed ones) make neither."""
    if not copies_inputs(args):
        return timer.once(fn, host_ms)
    with priming():
        fn()
    if not primed_untouched(args):
        raise HarnessTampered("the op ran on its inputs while the harness was copying them, before its timed call")
    found, output = timer.once(fn, host_ms)
    return found, recorded(output)


class HarnessTampered(RuntimeError):
    """Candidate code ran the op while a benchmark's harness made its working copy (see time_first_call)."""


def synchronize(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize()


def where(check: dict[str, Any]) -> str:
    return f"case {check['index']} ({case_label(check['case'])}, seed {check['seed']})"


def _plain(value: Any, depth: int = 0) -> Any:
    """`value` as what torch.load(weights_only=True) accepts: numpy arrays become tensors, unknown objects a
    string that names their type (and compares unequal to any expected output)."""
    if isinstance(value, torch.Tensor):
        return value.detach().as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value.detach()
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return value
    if depth > 16:
        return f"<output nested too deep: {type(value).__name__}>"
    if isinstance(value, dict):
        return {k if isinstance(k, (str, int)) else repr(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, depth + 1) for v in value) if type(value) in (list, tuple) else \
            [_plain(v, depth + 1) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "dtype"):
        import numpy
        array = numpy.asarray(value)
        if array.dtype != object:
            return torch.from_numpy(array.copy()) if array.ndim else array.item()
    return f"<output of type {type(value).__name__}>"


def hand_over(path: str, value: Any) -> None:
    """Write an output (or the arguments after a call) for the checker, without the zip records' CRC-32
    (a perf case hands over GBs; the CRC took a third of the write on tmpfs, and nothing here needs it)."""
    if hasattr(torch.serialization, "set_crc32_options"):
        torch.serialization.set_crc32_options(False)
    torch.save({"value": _plain(value)}, path)


def hand_over_unless_same(path: str, value: Any, digest: str | None,
                          lock: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> bool:
    """Hand `value` over unless it is, by value, what `digest` names (the checker's inputs, or an output it has
    already verified): True when only that claim is sent. A claim says no more than the file could: an unequal
    digest sends the file, which the checker checks as any other. `lock`: held while the digest is computed
    (GPU work)."""
    if digest is not None:
        with lock():
            same = value_digest(value) == digest
        if same:
            return True
    hand_over(path, value)
    return False


def take_over(path: str) -> tuple[bool, Any]:
    """(whether the file held an output, the output) as handed over by the candidate's process."""
    try:
        loaded = torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 - a missing, truncated or forged file is no output
        return False, None
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)  # read once: its GBs leave the page cache (and the disk) now, not at the job's end
    if not isinstance(loaded, dict) or set(loaded) != {"value"}:
        return False, None
    return True, loaded["value"]


def read_message(handle: Any) -> dict[str, Any] | None:
    """One JSON object from a line of the candidate's process, or None at the end; garbage lines are skipped."""
    while True:
        line = handle.readline(LINE_LIMIT)
        if not line:
            return None
        message = _message(line)
        if message is not None:
            return message


def _message(line: bytes | str) -> dict[str, Any] | None:
    """A JSON object, or None for a garbage line."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


class LineReader:
    """JSON lines from a pipe the candidate's process writes, read without blocking past what is there."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = b""
        self.closed = False

    def pop(self) -> dict[str, Any] | None:
        """The next complete message already read, if any (garbage lines are skipped)."""
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            message = _message(line)
            if message is not None:
                return message
        if len(self.buffer) > LINE_LIMIT:
            self.buffer = b""
        return None

    def fill(self, block: bool = True) -> bool:
        """Read what the pipe holds (waiting for something if `block`); False at its end or when empty."""
        if self.closed:
            return False
        os.set_blocking(self.fd, block)
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            self.closed = True
            return False
        self.buffer += chunk
        return True


CHANNEL_REPLACED_EXIT = 75
"""The candidate's process's exit status when its channel to the checker was found replaced (`channel`)."""


def write_message(fd: int, message: dict[str, Any]) -> None:
    """One JSON line, begun on a line of its own: bytes a candidate wrote before it cannot glue onto it. `fd` must
    be an int itself: an object standing in for one (its `__index__`, which os.write calls) would run code of
    the candidate's inside every send."""
    if type(fd) is not int:
        raise TypeError(f"a message's file descriptor must be an int, not {type(fd).__name__}")
    data = ("\n" + json.dumps(message, default=str) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def channel(fd: int) -> Callable[[dict[str, Any]], None]:
    """`write_message` to `fd` for good: the descriptor, and what it is (device and inode), held here from now (before
    any candidate code runs), not read from an attribute a candidate could set. A send that finds another file
    under that number (the pipe swapped by `os.dup2`) ends the process at once with CHANNEL_REPLACED_EXIT:
    nothing more of its reaches the checker."""
    if type(fd) is not int:
        raise TypeError(f"a channel's file descriptor must be an int, not {type(fd).__name__}")
    identity = _identity(fd)

    def send(message: dict[str, Any]) -> None:
        now = _identity(fd)
        if now is not None and now != identity:  # (closed: the write fails, and says so)
            os._exit(CHANNEL_REPLACED_EXIT)
        write_message(fd, message)
    return send


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        found = os.fstat(fd)
    except OSError:
        return None
    return found.st_dev, found.st_ino
