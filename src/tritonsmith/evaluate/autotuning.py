"""Triton's @triton.autotune in the evaluator's processes: on the CPU interpreter, each config run once; in the
trusted processes (the keeper's and the checker's runs of a task's reference), each config benchmarked with the GPU
held alone (`tuning_alone`), briefly where it cannot win (`staged_bench`), and compiled several at a time ahead of
its benchmark or of the reference's run (`compile_ahead`, `compile_calls_ahead`). A candidate's own autotuning is
left as Triton has it: a worse choice there only slows the candidate. docs/sandbox.md says why each is so.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import types
from collections.abc import Callable
from typing import Any

from tritonsmith.evaluate.gpu_lock import ScoutStopped, acting_thread, is_scouting, scouting


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
