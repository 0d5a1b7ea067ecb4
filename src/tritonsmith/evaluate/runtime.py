"""What the checker's and the candidate's processes both need: loading files as modules, the interpreter's
autotuning, and the hand-over of outputs from the candidate's process to the checker (torch, no candidate code).

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
import re
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

import torch

from tritonsmith.evaluate.gpu_lock import ScoutStopped, acting_thread, is_scouting, scouting
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


def autotune_on_interpreter() -> None:
    """@triton.autotune benchmarks through the GPU driver, which interpreter mode lacks: run each config once.
    Also lets an older interpreter turn a scalar into an index under NumPy 2.4 (`_index_on_old_interpreter`)."""
    from triton.runtime.autotuner import Autotuner

    def run_once(kernel_call: Callable[[], Any], quantiles: tuple[float, ...]) -> list[float]:
        kernel_call()
        return [0.0] * len(quantiles)  # equal times: the first config wins, so the choice is deterministic
    Autotuner.do_bench = property(lambda self: self._do_bench or run_once)
    _index_on_old_interpreter()


_tuning: dict[int, types.SimpleNamespace] = {}
"""thread (gpu_lock.acting_thread: autograd's device thread tunes a backward's kernels for the thread waiting for
it) -> .lock: the GpuLock that `tuning_alone` holds alone for its benchmarks; .hold: the alone hold of the
autotuning in progress (an ExitStack), taken at its first benchmark; .run: the state of the innermost autotuning
in progress that `staged_bench` keeps (None where its configs are benchmarked in full); .ahead: (autotuner, configs,
kwargs) of an autotuning whose configs are to be compiled ahead at its first benchmark (`compile_ahead`)."""


def _blank_tuning() -> types.SimpleNamespace:
    return types.SimpleNamespace(lock=None, hold=None, run=None, ahead=None)


def _tuning_now() -> types.SimpleNamespace:
    """The acting thread's tuning, or a blank one (kept only while `tuning_alone` holds one: every thread that
    ever autotuned would otherwise leave an entry)."""
    return _tuning.get(acting_thread()) or _blank_tuning()


@contextlib.contextmanager
def tuning_alone(lock: Any):
    """Within it, @triton.autotune benchmarks its configs with the GPU to itself (`lock.alone()`), once per
    autotuning: the hold is taken after the first config's first call (its compile, made beside other
    evaluations' work) and kept until the autotuning ends, except while a later config compiles (that lets
    the GPU go and takes it alone again after: a first autotuning, or a new specialization, still takes it
    once per config; a later shape's, its kernels compiled, once). For the trusted processes' runs of the
    task's reference (references.py, `make_check`; a TritonBench-G gold is its task's reference, and its choice, kept in
    Triton's cache, is what the baseline reads; the baseline's own first run, in `time_baseline`, holds the
    GPU alone already): a choice tuned while other evaluations ran on the GPU can be a slower config, which
    would make the baseline slower and every candidate's speedup larger. A candidate's own tuning is not held
    so: a worse choice there only slows the candidate. The seconds spent waiting for the GPU are the lock's
    `alone_waited`."""
    _tuning_alone_installed()
    thread = acting_thread()
    tuning = _tuning.setdefault(thread, _blank_tuning())
    previous, tuning.lock = tuning.lock, lock
    try:
        yield
    finally:
        tuning.lock = previous
        if previous is None and tuning.hold is None:
            _tuning.pop(thread, None)


def _tuning_alone_installed() -> None:
    """Wrap Autotuner.do_bench (whatever it is now: Triton's, or the interpreter's `run_once`) and Autotuner.run
    once: the run bounds the alone hold that its benchmarks take."""
    from triton.runtime.autotuner import Autotuner
    current = Autotuner.__dict__.get("do_bench")
    if current is not None and not getattr(current, "tritonsmith_alone", False):
        def do_bench(tuner: Any) -> Any:
            tuning = _tuning_now()
            lock, hold = tuning.lock, tuning.hold
            if lock is None:
                return current.__get__(tuner, Autotuner)
            compiled = os.environ.get("TRITON_INTERPRET") != "1"
            if getattr(tuner, "_do_bench", True) is None and compiled:
                bench = _trusted_bench  # Triton's own benchmarker, as the task left it: shorter here
                if hold is not None and tuning.run is not None:  # within an autotuning: a
                    bench = functools.partial(_trusted_bench, run=tuning.run)  # config that cannot win is cut short
            elif getattr(tuner, "use_cuda_graph", False) is True and getattr(tuner, "num_reps", 0) is None \
                    and compiled:
                bench = _trusted_graph_bench  # Triton's CUDA-graph benchmark, as the task asked: shorter here
            else:
                bench = current.__get__(tuner, Autotuner)

            def alone(kernel_call: Callable[[], Any], *args: Any, **kwargs: Any) -> Any:
                ahead = tuning.ahead
                if ahead is not None and ahead[0] is tuner:  # this autotuning's first benchmark: its configs first
                    tuning.ahead = None
                    compile_ahead(*ahead)
                kernel_call()  # compiles this config (the CPU's work) while other evaluations use the GPU
                if hold is None:  # a benchmark outside Autotuner.run: alone for itself
                    with lock.alone():
                        return bench(kernel_call, *args, **kwargs)
                if not lock.is_alone:
                    hold.enter_context(lock.alone(compiles_yield=True))
                return bench(kernel_call, *args, **kwargs)
            return alone
        Autotuner.do_bench = _Alone(do_bench)
    prune = Autotuner.prune_configs
    if not getattr(prune, "tritonsmith_alone", False):
        def prune_configs(tuner: Any, kwargs: Any, *rest: Any, **more: Any) -> Any:
            configs = prune(tuner, kwargs, *rest, **more)
            if os.environ.get("TRITON_INTERPRET") == "1":
                return configs
            if is_scouting():
                # a call scouted for its compiles: its configs are handed over, and it stops before any is benchmarked
                # (a choice made beside other evaluations' work would stay in its cache); where every config is
                # compiled already (a later round), the autotuning runs, alone as its own run would (the scouted
                # call is within tuning_alone), and the scouting goes on to the call's next kernel
                if not _configs_fixed(tuner, configs) or _hand_over(tuner, configs, kwargs):
                    tuner.nargs = None  # (as its run would leave it: the scouted inputs go)
                    raise ScoutStopped
            tuning = _tuning_now()
            if tuning.lock is not None and tuning.hold is not None:
                # within an autotuning's run: compiled ahead at its first benchmark, which a choice found in Triton's
                # disk cache of tuning results never reaches (its configs would all be compiled for nothing)
                tuning.ahead = (tuner, configs, kwargs)
            elif tuning.lock is not None:  # (a warmup: each config is compiled next)
                compile_ahead(tuner, configs, kwargs)
            return configs
        prune_configs.tritonsmith_alone = True
        Autotuner.prune_configs = prune_configs
    run = Autotuner.run
    if not getattr(run, "tritonsmith_alone", False):
        def tuning_run(tuner: Any, *args: Any, **kwargs: Any) -> Any:
            tuning = _tuning_now()
            if tuning.lock is None:
                return run(tuner, *args, **kwargs)
            outer = tuning.run
            # this autotuning's own state (`staged_bench`), also where it runs within another's config (whose hold
            # it is under)
            # (None, each config in full: asked for, to compare the two; or configs alike, one timing for both)
            staged = os.environ.get("TRITONSMITH_TRUSTED_TUNING") != "full" and _distinct(getattr(tuner, "configs", None))
            tuning.run = types.SimpleNamespace(counts=tuning.lock.tuning_counts, best_brief=None, best_figure=None) \
                if staged else None
            try:
                if tuning.hold is not None:
                    return run(tuner, *args, **kwargs)
                with contextlib.ExitStack() as hold:
                    tuning.hold = hold
                    try:
                        return run(tuner, *args, **kwargs)
                    finally:
                        tuning.hold = None
            finally:
                tuning.run = outer
                if tuning.ahead is not None and tuning.ahead[0] is tuner:  # (never benchmarked)
                    tuning.ahead = None
        tuning_run.tritonsmith_alone = True
        Autotuner.run = tuning_run


def parallel_compiles() -> int:
    """TRITONSMITH_PARALLEL_COMPILES: how many kernels Triton compiles at once in a trusted process, ahead of their
    runs: a trusted autotuning's configs ahead of their benchmarks (`compile_ahead`), and a task's kernels ahead of
    its reference runs (`compile_calls_ahead`); 0 or 1 (the default, until measured on a GPU), one at a time as
    each is first run."""
    try:
        return max(0, int(os.environ.get("TRITONSMITH_PARALLEL_COMPILES") or 0))
    except ValueError:
        return 0


def compile_ahead(tuner: Any, configs: list[Any], kwargs: dict[str, Any]) -> None:
    """Compile a trusted autotuning's `configs` (pruned, about to be benchmarked: called at its first benchmark, so
    not where Triton's disk cache holds its choice) `parallel_compiles()` at a time, in threads, with Triton's own
    asynchronous compile mode (3.6 on); ptxas runs as a process of its own. Each is handed over through the
    kernel's warmup (what its benchmark launches, without launching) with the GPU lock held, and the GPU lock is
    let go while they compile (`gpu_lock.compiling`); a config already compiled costs nothing. A config that does
    not compile is left to its benchmark, which compiles it again and takes its error as Triton does. Not where a
    pre-hook of the task's may change the arguments (and with them what is compiled: a TMA descriptor's block
    shape). TritonBench-G's int8_dequant_matmul has 418 configs."""
    workers = parallel_compiles()
    if workers < 2 or len(configs) < 2 or not _configs_fixed(tuner, configs) or not _async_mode_free():
        return
    try:
        with _async_compiles(workers) as compiles:
            compiles(lambda: _hand_over(tuner, configs, kwargs))
    except Exception:  # noqa: BLE001 (as Triton finalizes one: run at the first benchmark, whose config this must
        pass  # not fail; each config's own benchmark compiles it again and takes its error as Triton does)


def _async_mode_free() -> bool:
    """Whether this Triton has an asynchronous compile mode (3.6 on) and none is in progress (it allows one at a
    time)."""
    try:
        from triton.runtime._async_compile import active_mode
    except ImportError:
        return False
    return active_mode.get() is None


def _configs_fixed(tuner: Any, configs: list[Any]) -> bool:
    """Whether what an autotuning's configs compile is known before they run: its arguments are kept, and no pre-hook
    of the task's may change them (and with them what is compiled: a TMA descriptor's block shape)."""
    return isinstance(getattr(tuner, "nargs", None), dict) and not getattr(tuner, "user_defined_pre_hook", False) \
        and not any(getattr(c, "pre_hook", None) for c in configs)


def _hand_over(tuner: Any, configs: list[Any], kwargs: dict[str, Any]) -> int:
    """Hand each config's compile to Triton's asynchronous mode, through the kernel's warmup: what its benchmark
    launches, without launching; returns how many compiles were handed over (0: every config is compiled). A
    config that does not compile is left to its benchmark, which compiles it again and takes its error as Triton
    does."""
    from triton.runtime._async_compile import active_mode
    mode = active_mode.get()
    before = len(mode.raw_futures)
    meta = {name: value for name, value in kwargs.items() if name != "warmup"}  # (the launch's grid stays)
    with scouting(False):  # (within a scouted call: every config, not the first alone)
        for config in configs:
            try:
                tuner.fn.warmup(*tuner.nargs.values(), **dict(meta, **config.all_kwargs()))  # (as _bench)
            except Exception:  # noqa: BLE001
                continue
    return len(mode.raw_futures) - before


@contextlib.contextmanager
def _async_compiles(workers: int):
    """Yields `compiles(hand)`: runs `hand()` within a Triton asynchronous compile mode of `workers` threads, then
    waits for what it handed over with the GPU lock let go (`gpu_lock.compiling`), the compiled kernels in their
    JIT caches as the mode ends; returns how many compiles it handed over."""
    import concurrent.futures

    from triton.runtime._async_compile import AsyncCompileMode, active_mode

    from tritonsmith.evaluate.gpu_lock import compiling
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="compile-ahead") as pool:
        def compiles(hand: Callable[[], None]) -> int:
            mode = AsyncCompileMode(pool, ignore_errors=True)
            try:
                with mode:
                    hand()
                    if mode.raw_futures:
                        with compiling():
                            concurrent.futures.wait(mode.raw_futures)
                    return len(mode.raw_futures)
            finally:
                if active_mode.get() is mode:  # (Triton 3.6 resets it only after finalizing every compile)
                    active_mode.set(None)
        yield compiles


SCOUTING_ROUNDS = 3


def compile_calls_ahead(calls: list[Callable[[], Any]]) -> dict[str, Any] | None:
    """Compile what `calls` (a task's reference on each of its cases' inputs) will compile, `parallel_compiles()` at a
    time, before they run: each is scouted (`gpu_lock.scouting`) within Triton's asynchronous compile mode, stopping at
    the first kernel it would compile, whose compile is handed to the mode's threads (an autotuning: once every config
    is handed over, none benchmarked; in a later round, its configs compiled, the autotuning runs, alone as the call's
    own run would, and the scouting goes on to the kernels after it); then the GPU lock is let go until they are done,
    the kernels in their JIT's cache. A call that raises otherwise stops its scouting there (its own run will say why).
    The calls stopped so are scouted again, in up to SCOUTING_ROUNDS rounds, while a round finds more than one compile:
    the second runs a call's first kernel and finds its second (a call with one kernel then runs to its end: a reference
    run more). ROCm's test_triton_sort compiles 96 variants of one sort kernel, one per perf case (up to 110 s each on
    one core), which a keeper would otherwise compile one after another. Returns {"rounds", "compiles"} (None: nothing
    scouted: fewer than two parallel compiles asked for, or calls, or an asynchronous mode Triton lacks or has in
    progress)."""
    workers = parallel_compiles()
    if workers < 2 or len(calls) < 2 or os.environ.get("TRITON_INTERPRET") == "1" or not _async_mode_free():
        return None
    _tuning_alone_installed()  # (its autotuning hook hands an autotuning's configs over)

    stopped = list(calls)  # those to scout (again): a call that ran to its end or raised has nothing more to find

    def scout() -> None:
        scouted, stopped[:] = list(stopped), []
        for call in scouted:
            try:
                with scouting():
                    call()
            except ScoutStopped:
                stopped.append(call)
            except Exception:  # noqa: BLE001 - its own run will say why
                pass
    found = {"rounds": 0, "compiles": 0}
    with _async_compiles(workers) as compiles:
        while stopped and found["rounds"] < SCOUTING_ROUNDS:
            handed = compiles(scout)
            found["rounds"] += 1
            found["compiles"] += handed
            if handed < 2:
                break
    return found


TRUSTED_TUNING_MS = (5, 25)
"""Warm-up and repetition milliseconds of each config's benchmark in a trusted process's autotuning (Triton's
default is 25 and 100): held alone on the GPU, the median of 25 ms of calls of a config is as steady as of
100 ms for kernels up to a few milliseconds, and the hold, which every other evaluation of the GPU waits for,
is four times shorter (12 configs at 20 shapes, at Triton's 125 ms a config, hold it 30 s)."""


TRUSTED_BRIEF_MS = (1, 4)
"""Warm-up and repetition milliseconds of the brief benchmark that each config of a trusted autotuning gets
first (`staged_bench`)."""
TRUSTED_CUT_RATIO = 1.3
"""A config whose brief benchmarks (the better of two) take more than this times the best brief one so far of
its autotuning is not benchmarked in full: it cannot be the one chosen."""


def _trusted_bench(kernel_call: Callable[[], Any], quantiles: Any = None, *, run: Any = None, **kwargs: Any) -> Any:
    """Triton's do_bench of one config, as `staged_bench` asks (`run`: the autotuning it is part of)."""
    from triton.testing import do_bench
    return staged_bench(lambda warmup, rep: do_bench(kernel_call, warmup=warmup, rep=rep, quantiles=quantiles), run)


def staged_bench(bench: Callable[[float, float], Any], run: Any = None) -> Any:
    """`bench(warmup_ms, rep_ms)` of one config of a trusted autotuning: at TRUSTED_TUNING_MS, unless `run` (that
    autotuning's state: `.best_brief` and `.best_figure`, None at its start; `.counts`, its GPU lock's
    `tuning_counts`, which it adds to) shows that it cannot win. Each config is first benchmarked briefly (TRUSTED_BRIEF_MS). One more than
    TRUSTED_CUT_RATIO times the best brief time so far is looked at once more, briefly after the full warm-up
    (the GPU's clock may have dropped while it compiled); if the better of the two looks is still that slow,
    and slower than every figure a config kept so far returned, its brief figures stand: the autotuner's
    choice, the least figure, is then never it. Every other config is benchmarked in full, unless its call is
    so long that the full benchmark would repeat it no more than twice (its brief figures stand). TritonBench-G's
    int8_dequant_matmul autotunes 418 configs at each of 31 shapes: some 13,000 benchmarks of 30 ms, with the
    GPU held alone, more than its evaluation's 600 s."""
    if run is None:
        return bench(*TRUSTED_TUNING_MS)
    figures = bench(*TRUSTED_BRIEF_MS)
    if run.best_brief is not None and _median_of(figures) > TRUSTED_CUT_RATIO * run.best_brief:
        again = bench(TRUSTED_TUNING_MS[0], TRUSTED_BRIEF_MS[1])
        figures = min(figures, again, key=_median_of)
        slower = _median_of(figures)
        if slower > TRUSTED_CUT_RATIO * run.best_brief and run.best_figure is not None and slower > run.best_figure:
            run.counts["cut"] += 1
            return figures
    brief = _median_of(figures)
    run.best_brief = brief if run.best_brief is None else min(run.best_brief, brief)
    run.counts["kept"] += 1
    if brief * 2 < TRUSTED_TUNING_MS[1]:
        figures = bench(*TRUSTED_TUNING_MS)
    run.best_figure = _median_of(figures) if run.best_figure is None else min(run.best_figure, _median_of(figures))
    return figures


def _distinct(configs: Any) -> bool:
    """Whether an autotuner's configs are all different: Triton keeps one timing for configs alike (Config's
    equality), the last benchmarked, so a kept config's later twin measured slower could make a cut one the
    least."""
    try:
        return configs is not None and len(set(configs)) == len(configs)
    except TypeError:  # (not hashable: a Triton whose Config has no equality of its own keeps each apart)
        return True


def _median_of(figures: Any) -> float:
    """do_bench's figure: the first of its quantiles (the autotuner asks for the median first), or the one."""
    return float(figures[0] if isinstance(figures, (list, tuple)) else figures)


TRUSTED_GRAPH_REP_MS = 10
"""The repetition milliseconds of a trusted autotuning's CUDA-graph benchmark (`@triton.autotune(...,
use_cuda_graph=True)`, whose default is 100): Triton captures a graph of that many milliseconds of calls (for a
3 µs kernel, 30,000 launches from Python: seconds of capture) and replays it ten times, all with the GPU held
alone. Ten replays of 10 ms measure as much as Triton's plain benchmark does; the ROCm benchmark's layernorm (3
configs at 24 shapes) spent 203 s of an H100 on its perf checks' references, most of it so."""


def _trusted_graph_bench(kernel_call: Callable[[], Any], quantiles: Any = None, **kwargs: Any) -> Any:
    from triton.testing import do_bench_cudagraph
    return do_bench_cudagraph(kernel_call, rep=TRUSTED_GRAPH_REP_MS, quantiles=quantiles)


class _Alone(property):
    """Autotuner.do_bench as `tuning_alone` wraps it (so that it is wrapped once)."""
    tritonsmith_alone = True


def _index_on_old_interpreter() -> None:
    """Triton's interpreter before 3.7 turns a scalar (a kernel's int argument, program_id, anything computed
    from them) into an index with `int()` of its 1-element array, which NumPy 2.4 made a TypeError ('only
    0-dimensional arrays can be converted to Python scalars'): every `range`/`tl.range` with such a bound
    failed. Triton 3.7 squeezes the array first (triton-lang/triton#9171); the same here, on older ones."""
    import triton
    from triton.runtime import interpreter

    patch = getattr(interpreter, "_patch_lang_tensor", None)
    version = tuple(int(part) for part in re.findall(r"\d+", triton.__version__)[:2])
    if patch is None or getattr(patch, "squeezes_index", False) or version >= (3, 7):
        return

    def index(self: Any) -> int:
        return int(self.handle.data.squeeze())

    def patch_lang_tensor(tensor: Any, *scope: Any) -> None:
        patch(tensor, *scope)
        if scope and hasattr(scope[0], "set_attr"):  # a scope that restores it after the launch (3.6)
            scope[0].set_attr(tensor, "__index__", index)
        else:
            tensor.__index__ = index
    patch_lang_tensor.squeezes_index = True
    interpreter._patch_lang_tensor = patch_lang_tensor


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
    seen: set[int] = set()  # containers and objects walked: shared or cyclic parts once

    def walk(item: Any, level: int) -> None:
        if isinstance(item, torch.Tensor):
            found.setdefault(id(item), item)
            return
        if level > DIGEST_DEPTH or id(item) in seen:
            return
        seen.add(id(item))
        if isinstance(item, dict):
            for v in item.values():
                walk(v, level + 1)
        elif isinstance(item, (list, tuple, set)):
            for v in item:
                walk(v, level + 1)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            for v in vars(item).values():
                walk(v, level + 1)
    walk(value, depth)
    return list(found.values())


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
    seen: dict[int, int] = {}  # id of a container, object or tensor walked -> its order: shared or cyclic parts

    def walk(item: Any, level: int) -> None:
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
                walk(entry, level + 1)
        elif isinstance(item, (list, tuple)):
            parts.append(f"{type(item).__name__}{len(item)}")
            for entry in item:
                walk(entry, level + 1)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            parts.append(type(item).__qualname__)
            walk(vars(item), level + 1)
        else:
            parts.append(f"{type(item).__qualname__}@{id(item)}")  # unknown: never equal across processes
            by_identity.append(item)
    walk(value, 0)
    return hashlib.sha256("|".join(parts).encode()).hexdigest(), not by_identity


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


def clone(args: tuple) -> tuple:
    """A copy of each tensor argument; one tensor passed twice (an op writing into its input) stays one."""
    copies: dict[int, torch.Tensor] = {}
    for arg in args:
        if isinstance(arg, torch.Tensor) and id(arg) not in copies:
            copies[id(arg)] = arg.clone()
    return tuple(copies[id(a)] if isinstance(a, torch.Tensor) else a for a in args)


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
