"""What the evaluator's processes do to Triton and to their own runtime (tritonsmith.evaluate.runtime and
tritonsmith.evaluate.autotuning): the interpreter's fixes, trusted autotuning, digests and the hand-over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tritonsmith


def compiled_run(script: str, tmp_path) -> object:
    """`script` in a process of its own, as on a GPU (Triton compiling, not interpreting; the script stands in for
    the GPU's work), with a GPU lock file in `tmp_path` as its argument: the JSON of its last line."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(Path(tritonsmith.__file__).parents[1])
    path = tmp_path / "script.py"  # (a file: Triton's JIT reads its kernels' source)
    path.write_text(script)
    done = subprocess.run([sys.executable, str(path), str(tmp_path / "gpu0.lock")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])

LOOP = '''
import torch
import triton
import triton.language as tl

from tritonsmith.evaluate.autotuning import autotune_on_interpreter


@triton.jit
def _count(out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    total = 0
    for start in range(0, n, BLOCK):
        total += 1
    for start in tl.range(pid * BLOCK, n, tl.num_programs(0) * BLOCK):
        total += 100
    tl.store(out_ptr + pid, total)


autotune_on_interpreter()
out = torch.zeros(2, dtype=torch.int32)
_count[(2,)](out, 10, BLOCK=4)
print(out.tolist())
'''


def test_a_loop_bound_from_a_scalar_runs_on_the_interpreter():
    """Triton 3.6's interpreter turned a scalar loop bound (a kernel argument, program_id) into an index with int()
    of a 1-element array, a TypeError since NumPy 2.4: every honest candidate with such a loop failed there."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(Path(tritonsmith.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", LOOP], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-2] == "[203, 103]"  # 3 blocks each; blocks 0 and 2 for program 0, 1 for 1


NESTED_COMPILE_ERROR = '''
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget

from tritonsmith.evaluate.errors import exception_text


@triton.jit
def helper(x):
    return tl.reshape(x, (3, 5))


@triton.jit
def kernel(X, N: tl.constexpr):
    x = helper(tl.load(X + tl.arange(0, N)))
    tl.store(X + tl.arange(0, N), tl.reshape(x, (N,)))


source = triton.compiler.ASTSource(fn=kernel, signature={"X": "*fp32", "N": "constexpr"}, constexprs={"N": 16})
try:
    triton.compile(source, target=GPUTarget("cuda", 90, 32))  # Triton's front end: no GPU needed to fail in it
except Exception as exc:
    print(exception_text(exc, f"{type(exc).__name__}: {exc}"))
'''


def test_a_compile_errors_reason_is_told_from_the_error_it_was_raised_from(tmp_path):
    """A compile error in a @jit function the kernel calls (tl.flip in test_triton_flip's gold, on an H100) says only
    where, with a caret; why is in the error it was raised from, which the reference's failure now carries."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(Path(tritonsmith.__file__).parents[1])
    script = tmp_path / "nested.py"  # (a @jit function's source is read from its file)
    script.write_text(NESTED_COMPILE_ERROR)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    head, _, cause = done.stdout.partition("\ncaused by: ")
    assert head.startswith("CompilationError: at ") and "helper(" in head and "power of 2" not in head, done.stdout
    assert "return tl.reshape(x, (3, 5))" in cause and "must be a power of 2" in cause, done.stdout


def test_the_interpreters_errors_say_what_raised_them():
    """Triton's interpreter raises `InterpreterError(repr(e)) from e`: the cause's own line follows, although the
    head holds its repr; a cause said word for word already is not repeated, and `from None` hides the context."""
    from tritonsmith.evaluate.errors import exception_text

    class InterpreterError(Exception):
        pass

    def raised(inner: BaseException, suppress: bool = False) -> BaseException:
        try:
            try:
                raise inner
            except Exception as exc:
                if suppress:
                    raise InterpreterError("failed") from None
                raise InterpreterError(repr(exc)) from exc
        except InterpreterError as outer:
            return outer

    assert exception_text(raised(KeyError("x"))).endswith("InterpreterError: KeyError('x')\ncaused by: KeyError: 'x'")
    assert exception_text(raised(ValueError("bad")), "InterpreterError: ValueError: bad") == \
        "InterpreterError: ValueError: bad"
    assert "caused by" not in exception_text(raised(ValueError("bad"), suppress=True))


def test_input_digest_reads_views_at_any_offset_and_tells_values_and_order_apart():
    import torch

    from tritonsmith.evaluate.runtime import input_digest
    base = torch.arange(4097, dtype=torch.float16)
    view = base[1:]  # 2 bytes into its storage: not readable as 4-byte words in place
    assert input_digest((view,)) == input_digest((view.clone(),))
    assert input_digest((view,)) != input_digest((view.flip(0),))  # same values, other order
    assert input_digest((torch.zeros(4),)) != input_digest((torch.zeros(4, dtype=torch.int32),))
    assert input_digest(({"n": 3, "x": view},)) != input_digest(({"n": 4, "x": view},))
    def deep(levels: int) -> list:
        nested: list = [torch.ones(2)]
        for _ in range(levels):
            nested = [nested]
        return nested
    assert input_digest(deep(12)) == input_digest(deep(12))  # a frozen ROCm perf op nests 10 levels and more
    assert input_digest(deep(12)) != input_digest(deep(13))
    assert input_digest(deep(40)) != input_digest(deep(40))  # too deep to read: never taken as equal

    def cyclic(x: torch.Tensor) -> dict:
        holder = {"x": x, "again": x}
        holder["self"] = holder
        return holder
    assert input_digest(cyclic(torch.ones(3))) == input_digest(cyclic(torch.ones(3)))  # each part read once
    assert input_digest(cyclic(torch.ones(3))) != input_digest(cyclic(torch.zeros(3)))
    assert input_digest(({"a": view, "b": view},)) != input_digest(({"a": view, "b": view.clone()},))
    from tritonsmith.evaluate.runtime import clone
    twice = (view, view, 3)  # one tensor passed twice (an op writing into its input): its copy is one too
    copied = clone(twice)
    assert copied[0] is copied[1] and copied[0] is not view and input_digest(copied) == input_digest(twice)


def test_inputs_made_twice_hold_the_same_bytes_where_the_task_leaves_memory_unwritten():
    """make_inputs gives what torch.empty allocates (an output buffer among a perf op's inputs) a known value,
    so that the candidate's process and the checker make equal inputs: zeros, as memory fresh from the driver
    reads, where the task left a buffer wholly unwritten (a NaN buffer that an op adds into would stay NaN,
    and NaN equals NaN: it would seem written by nobody); NaN where it wrote part of it. Torch's own settings
    are as they were after."""
    import types

    import torch

    from tritonsmith.evaluate.runtime import input_digest, make_inputs

    def made(case, generator, device):
        junk = torch.full((1 << 16,), 7.0)
        del junk  # freed: the next allocation of that size may land on its bytes
        part = torch.empty(4)
        part[:2] = 1.0
        return (torch.randn(8, generator=generator), torch.empty(1 << 16), torch.empty(5, dtype=torch.int64),
                part, torch.ones(3, dtype=torch.bool), {"nested": [torch.empty(3, dtype=torch.float16)]},
                torch.empty(3, requires_grad=True))

    task = types.SimpleNamespace(make_inputs=made)
    first, second = make_inputs(task, {}, 3, "cpu"), make_inputs(task, {}, 3, "cpu")
    assert not bool(first[1].any()) and not bool(first[2].any()) and not bool(first[5]["nested"][0].any())
    assert first[3][:2].tolist() == [1.0, 1.0] and bool(first[3][2:].isnan().all())
    assert bool(first[4].all()) and not bool(first[0].isnan().any())  # an all-True mask and drawn values stay
    assert first[6].requires_grad and not bool(first[6].any())  # a leaf that requires grad: zeroed all the same
    assert input_digest(first) == input_digest(second)
    assert not torch.are_deterministic_algorithms_enabled()  # as it was: the candidate gets torch as it is

    def strict(case, generator, device):  # a task that wants deterministic algorithms keeps them
        torch.use_deterministic_algorithms(True)
        return (torch.randn(2, generator=generator),)
    try:
        make_inputs(types.SimpleNamespace(make_inputs=strict), {}, 3, "cpu")
        assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_a_claim_that_arguments_are_unchanged_is_made_only_when_they_are(tmp_path):
    """The candidate's process compares the arguments after a call with the checker's digest of the inputs:
    changed ones (or ones it can read only by identity) are handed over as a file."""
    import torch

    from tritonsmith.evaluate.runtime import hand_over_unless_same, input_digest, value_digest

    x = torch.arange(8.0)
    digest = input_digest((x,))
    assert hand_over_unless_same(str(tmp_path / "same.pt"), (x.clone(),), digest)
    changed = x.clone()
    changed[3] += 1
    assert not hand_over_unless_same(str(tmp_path / "changed.pt"), (changed,), digest)
    assert not hand_over_unless_same(str(tmp_path / "none.pt"), (x.clone(),), None)  # no digest known
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changed.pt", "none.pt"]
    opaque = (x, {1, 2})  # a set is read by identity: equal to itself after any change
    assert value_digest(opaque) is None and input_digest(opaque) == input_digest(opaque)
    assert not hand_over_unless_same(str(tmp_path / "opaque.pt"), opaque, input_digest(opaque))


def test_a_handed_over_output_is_read_once_and_then_gone(tmp_path):
    """The checker takes each handed-over file once; it is removed then, so an evaluation's GBs of perf-case
    outputs do not pile up in the job folder until its end."""
    import torch

    from tritonsmith.evaluate.runtime import hand_over, take_over
    path = str(tmp_path / "last-3.pt")
    hand_over(path, {"out": torch.arange(6.0).reshape(2, 3), "n": 4})
    ok, value = take_over(path)
    assert ok and value["n"] == 4 and torch.equal(value["out"], torch.arange(6.0).reshape(2, 3))
    assert not (tmp_path / "last-3.pt").exists()
    assert take_over(path) == (False, None)


TUNED = '''
import fcntl, json, sys
import torch, triton, triton.language as tl
from tritonsmith.evaluate.gpu_lock import GpuLock
from tritonsmith.evaluate.autotuning import autotune_on_interpreter, tuning_alone

lock = GpuLock(sys.argv[1])
seen = []
take = lock._take
alone_takes = []
lock._take = lambda mode: take(mode) or (mode == fcntl.LOCK_EX and alone_takes.append(mode))


def bench(kernel_call, quantiles):
    before = int(out[0])
    kernel_call()
    seen.append({"held": "alone" if lock.held == fcntl.LOCK_EX else "shared", "calls_before": before})
    return [1.0 + len(seen)] * len(quantiles)


@triton.autotune(configs=[triton.Config({"BLOCK": 4}), triton.Config({"BLOCK": 8})], key=["n"], do_bench=bench)
@triton.jit
def _bump(out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(out_ptr + offsets, mask=mask) + 1, mask=mask)


autotune_on_interpreter()
for n in (3, 2):
    out = torch.zeros(4, dtype=torch.int32)
    with lock.shared():
        with tuning_alone(lock) if n == 3 else open(sys.argv[1]):
            _bump[(1,)](out, n)
        seen.append({"after": "shared" if lock.held == fcntl.LOCK_SH else str(lock.held)})
    seen.append({"alone_takes": len(alone_takes)})
print(json.dumps(seen))
'''


def test_a_trusted_process_tunes_each_config_alone_on_the_gpu_after_compiling_it_beside_others(tmp_path):
    """Within `tuning_alone` (the keeper's and checker's runs of the reference), @triton.autotune benchmarks
    each config holding the GPU lock alone, after a first call (the compile) made under the shared hold, and
    the shared hold is back after; the GPU is taken alone once per autotuning, not once per config (each
    take waits for every other evaluation's GPU work in flight). Outside it, as in a candidate's process,
    tuning stays shared. The lock is the real flock; the interpreter stands in for the GPU."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(Path(tritonsmith.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", TUNED, str(tmp_path / "gpu0.lock")], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # each config's kernel was called once more (its compile) before its benchmark, and only within tuning_alone
    assert seen[:4] == [{"held": "alone", "calls_before": 1}, {"held": "alone", "calls_before": 3},
                        {"after": "shared"}, {"alone_takes": 1}]
    assert seen[4:] == [{"held": "shared", "calls_before": 0}, {"held": "shared", "calls_before": 1},
                        {"after": "shared"}, {"alone_takes": 1}]


TRUSTED_BENCH = '''
import json, sys
from triton.runtime.autotuner import Autotuner
from tritonsmith.evaluate import autotuning
from tritonsmith.evaluate.gpu_lock import GpuLock

used = []
autotuning._trusted_bench = lambda kernel_call, quantiles=None: used.append("trusted") or [1.0]
autotuning._trusted_graph_bench = lambda kernel_call, quantiles=None: used.append("trusted graph") or [1.0]
lock = GpuLock(sys.argv[1])
default, own, graph, graph_rep = (object.__new__(Autotuner) for _ in range(4))
default._do_bench = None  # Triton's own benchmarker, as a task's @triton.autotune leaves it
own._do_bench = lambda kernel_call, quantiles: used.append("own") or [2.0]  # the task chose its own
for tuner, rep in ((graph, None), (graph_rep, 50)):  # use_cuda_graph=True, as Triton sets it up (rep given or not)
    tuner._do_bench = lambda kernel_call, quantiles: used.append("graph of the task's rep") or [3.0]
    tuner.use_cuda_graph, tuner.num_reps = True, rep
with lock.shared(), autotuning.tuning_alone(lock):
    for tuner in (default, own, graph, graph_rep):
        tuner.do_bench(lambda: None, quantiles=(0.5,))
print(json.dumps(used))
'''


def test_a_trusted_autotuning_benchmarks_with_triton_for_a_quarter_of_its_time_unless_the_task_chose(tmp_path):
    """A trusted process's autotuning (held alone on the GPU, which every other evaluation then waits for)
    benchmarks each config with Triton's do_bench for 5 + 25 ms instead of 25 + 100, and with its CUDA-graph
    benchmark (use_cuda_graph=True) for 10 ms instead of 100; a task that gave its autotuner its own benchmark,
    or its graph benchmark its own rep, keeps it."""
    seen_bench = compiled_run(TRUSTED_BENCH, tmp_path)
    assert seen_bench == ["trusted", "own", "trusted graph", "graph of the task's rep"]
    from tritonsmith.evaluate.autotuning import TRUSTED_GRAPH_REP_MS, TRUSTED_TUNING_MS
    assert TRUSTED_TUNING_MS == (5, 25) and TRUSTED_GRAPH_REP_MS == 10


STAGED = '''
import json, sys
import triton.testing
from triton.runtime.autotuner import Autotuner
from tritonsmith.evaluate import autotuning
from tritonsmith.evaluate.gpu_lock import GpuLock

MS = {"a": 1.0, "b": 0.5, "c": 2.0, "d": 0.6, "e": 0.62, "f": 0.55, "g": 20.0, "h": 0.5, "i": 0.8,
      "x": 0.1, "y": 0.2, "z": 0.1}  # each config's time a call (z's full benchmark fails)
FULL = {"h": 1.0}  # benchmarked in full, slower than briefly (the clock dropped meanwhile)
slow_once = {"f"}  # its first look, right after its compile (the GPU's clock down): 3x as slow
asked = []


def do_bench(kernel_call, warmup, rep, quantiles=None):  # Triton's, standing in for the GPU
    name = kernel_call.config
    asked.append([name, warmup, rep])
    if name == "z" and (warmup, rep) == autotuning.TRUSTED_TUNING_MS:
        raise RuntimeError("out of resources")
    ms = FULL.get(name, MS[name]) if (warmup, rep) == autotuning.TRUSTED_TUNING_MS else MS[name]
    if (warmup, rep) == autotuning.TRUSTED_BRIEF_MS and name in slow_once:
        ms *= 3
    slow_once.discard(name)
    return [ms, 0.9 * ms, 1.1 * ms]


def run(self, *names):  # Autotuner.run as Triton's: each config benchmarked, the least figures chosen
    timings = {}
    for name in names:
        if name == "nested":  # this config's call autotunes another kernel
            nested.append(inner.run("x", "y"))
            name = "a"
        try:
            timings[name] = self.do_bench(call(name), quantiles=(0.5, 0.2, 0.8))
        except RuntimeError:  # as Triton's _bench takes a config that fails
            timings[name] = [float("inf")] * 3
    return min(timings, key=timings.get)


def call(name):
    def kernel_call():
        pass
    kernel_call.config = name
    return kernel_call


triton.testing.do_bench = do_bench
Autotuner.run = run  # before tuning_alone wraps it
lock = GpuLock(sys.argv[1])
tuner, inner, twins = (object.__new__(Autotuner) for _ in range(3))
for each in (tuner, inner, twins):
    each._do_bench = None  # Triton's own benchmarker, as a task's @triton.autotune leaves it
tuner.configs, inner.configs, twins.configs = list("abcdefghiz"), ["x", "y"], ["c", "a", "c"]  # twins: two alike
runs, nested = [], []
with lock.shared(), autotuning.tuning_alone(lock):
    for names in (["a", "b", "c", "d", "e", "f"], ["c", "a"], ["g"], ["h", "i"], ["nested", "d", "b"], ["z", "c"]):
        runs.append({"chosen": tuner.run(*names), "asked": asked[:]})
        asked.clear()
    runs.append({"chosen": twins.run("c", "a"), "asked": asked[:]})
    asked.clear()
    tuner.do_bench(call("a"), quantiles=(0.5,))  # outside an autotuning: in full
print(json.dumps({"runs": runs, "nested": nested, "alone": asked, "counts": dict(lock.tuning_counts)}))
'''


def test_a_trusted_autotuning_benchmarks_briefly_a_config_that_cannot_win(tmp_path):
    """Each config of a trusted autotuning is benchmarked briefly (1 + 4 ms) first, and in full (5 + 25 ms) unless
    it is slower than 1.3x the best brief time so far of that autotuning; such a one is looked at once more (its
    first look may follow its compile, with the GPU's clock down), and left out, its brief figures standing, only
    if still that slow and slower than every figure a kept config returned, so that it is never the one chosen.
    Each autotuning has its own state, one within another's config too; a call so long that the full benchmark
    would repeat it at most twice keeps its brief figures; an autotuning with two configs alike, and a benchmark
    outside an autotuning, are in full."""
    seen = compiled_run(STAGED, tmp_path)
    first, second, long, dropped_clock, outer, failed, alike = seen["runs"]
    brief, again, full = [1, 4], [5, 4], [5, 25]
    assert first["chosen"] == "b"
    assert first["asked"] == [["a", *brief], ["a", *full], ["b", *brief], ["b", *full],
                              ["c", *brief], ["c", *again],  # 2 ms against 0.5: cut
                              ["d", *brief], ["d", *full], ["e", *brief], ["e", *full],  # within 1.3x
                              ["f", *brief], ["f", *again], ["f", *full]]  # slow once, not twice: kept
    assert second == {"chosen": "a", "asked": [["c", *brief], ["c", *full], ["a", *brief], ["a", *full]]}
    assert long == {"chosen": "g", "asked": [["g", *brief]]}
    # h's 0.5 briefly was 1.0 in full: i, 0.8 (past 1.3x h's brief time, not past h's figures), is kept, and chosen
    assert dropped_clock == {"chosen": "i", "asked": [["h", *brief], ["h", *full], ["i", *brief], ["i", *again],
                                                       ["i", *full]]}
    # the autotuning within the outer's first config (x, y: faster than any of the outer's) is its own
    assert seen["nested"] == ["x"] and outer["chosen"] == "b"
    assert outer["asked"] == [["x", *brief], ["x", *full], ["y", *brief], ["y", *again],  # cut: against x
                              ["a", *brief], ["a", *full], ["d", *brief], ["d", *full], ["b", *brief], ["b", *full]]
    # z was kept but its full benchmark failed: no figure of a kept config yet, so c is not cut
    assert failed == {"chosen": "c", "asked": [["z", *brief], ["z", *full], ["c", *brief], ["c", *again],
                                               ["c", *full]]}
    # Triton keeps one timing for configs alike (the last): an autotuning with twins is benchmarked in full
    assert alike == {"chosen": "a", "asked": [["c", *full], ["a", *full]]}
    assert seen["alone"] == [["a", *full]]
    assert seen["counts"] == {"kept": 16, "cut": 2}


AHEAD = '''
import fcntl, inspect, json, os, sys, threading, time
import triton
from triton.runtime._async_compile import active_mode
from triton.runtime.autotuner import Autotuner
from tritonsmith.evaluate import autotuning
from tritonsmith.evaluate.gpu_lock import GpuLock

lock = GpuLock(sys.argv[1])
handed, compiled = [], []


class Kernel:  # the autotuned kernel, standing in for Triton's JITFunction: its warmup hands the compile over
    def warmup(self, *args, grid, **kwargs):
        handed.append({"args": list(args), "grid": grid, "kwargs": kwargs, "gpu_lock": lock.held == fcntl.LOCK_SH})
        if kwargs["BLOCK"] == 64:
            raise RuntimeError("out of resources")
        mode = active_mode.get()

        def compile_():
            time.sleep(0.3)
            compiled.append(threading.current_thread().name.startswith("compile-ahead"))
        extra = [lambda: None] if len(inspect.signature(mode.submit).parameters) > 3 else []  # (3.9: a cleanup)
        mode.submit(kwargs["BLOCK"], compile_, lambda kernel: None, *extra)


tuner = object.__new__(Autotuner)
tuner.fn, tuner.early_config_prune, tuner.perf_model, tuner.user_defined_pre_hook = Kernel(), None, None, False
tuner.nargs = {"x": 1, "n": 2}
plain = [triton.Config({"BLOCK": b}, num_warps=4) for b in (32, 64, 128, 256)]
hooked = [triton.Config({"BLOCK": 32}, pre_hook=lambda nargs: None), triton.Config({"BLOCK": 128})]
autotuning._tuning_alone_installed()
runs = []
with lock.shared(), autotuning.tuning_alone(lock):
    for parallel, configs in (("", plain), ("4", hooked), ("4", plain)):
        os.environ["TRITONSMITH_PARALLEL_COMPILES"] = parallel
        tuner.configs = configs
        began = time.perf_counter()
        pruned = tuner.prune_configs({"grid": (8,), "warmup": False, "BLOCK": 0})
        runs.append({"pruned": len(pruned), "handed": len(handed), "seconds": time.perf_counter() - began})
    after = {"held": lock.held == fcntl.LOCK_SH, "mode": active_mode.get() is None}
print(json.dumps({"runs": runs, "handed": handed, "compiled": compiled, "compile_s": lock.compile_s, "after": after}))
'''


def test_a_trusted_autotunings_configs_can_be_compiled_ahead_in_parallel(tmp_path):
    """TRITONSMITH_PARALLEL_COMPILES=N: a trusted autotuning's pruned configs are handed to Triton's asynchronous
    compile mode through the kernel's warmup (the launch's grid and the config's meta-parameters over the call's,
    no launch), with the GPU lock held, and compile N at a time in threads while the lock is let go, the seconds
    counted on it; a config that fails is left to its benchmark. Unset, or where a pre-hook may change the
    arguments, nothing is compiled ahead."""
    found = compiled_run(AHEAD, tmp_path)
    unset, hooked, parallel = found["runs"]
    assert (unset["pruned"], unset["handed"], hooked["pruned"], hooked["handed"]) == (4, 0, 2, 0)
    assert parallel["pruned"] == 4 and parallel["handed"] == 4
    assert [(h["kwargs"]["BLOCK"], h["kwargs"]["num_warps"]) for h in found["handed"]] == [(32, 4), (64, 4), (128, 4),
                                                                                        (256, 4)]
    assert not any({"warmup", "grid"} & set(h["kwargs"]) for h in found["handed"])  # the launch's grid as such
    assert all(h["args"] == [1, 2] and h["grid"] == [8] and h["gpu_lock"] for h in found["handed"])
    assert found["compiled"] == [True, True, True]  # 64 failed as it was handed over
    assert parallel["seconds"] < 0.8 and 0.25 <= found["compile_s"] < 0.8  # three 0.3 s compiles side by side
    assert found["after"] == {"held": True, "mode": True}


AHEAD_OF_BENCHMARKS = '''
import inspect, json, os, sys, time
import triton
from triton.runtime._async_compile import active_mode
from triton.runtime.autotuner import Autotuner
from tritonsmith.evaluate import autotuning
from tritonsmith.evaluate.gpu_lock import GpuLock

lock = GpuLock(sys.argv[1])
events = []


class Kernel:  # the autotuned kernel, standing in for Triton's JITFunction
    fn = staticmethod(lambda x, n: None)

    def warmup(self, *args, grid, **kwargs):  # hands the compile over, as the JIT does in an asynchronous mode
        events.append(f"handed {kwargs['BLOCK']}")
        extra = [lambda: None] if len(inspect.signature(active_mode.get().submit).parameters) > 3 else []
        active_mode.get().submit(kwargs["BLOCK"], lambda: time.sleep(0.05), lambda kernel: None, *extra)

    def run(self, *args, grid, **kwargs):
        events.append(f"ran {kwargs['BLOCK']}")


def disk_cache(found):  # Triton's disk cache of tuning results, holding this choice (found) or not
    def check(key, configs, benchmark):
        if found:
            tuner.cache[key] = configs[-1]
            return True
        benchmark()
        return False
    return check


tuner = Autotuner(Kernel(), ["x", "n"], [triton.Config({"BLOCK": b}) for b in (32, 64, 128)], ["n"], None, None,
                  do_bench=lambda kernel_call, quantiles: events.append("benchmark") or kernel_call() or [1.0] * 3,
                  cache_results=True)
os.environ["TRITONSMITH_PARALLEL_COMPILES"] = "4"
runs = {}
with lock.shared(), autotuning.tuning_alone(lock):
    for n, found in ((1, True), (2, False), (3, True)):
        tuner.check_disk_cache = disk_cache(found)
        events.clear()
        tuner.run(0, n, grid=(8,))
        runs[str(n)] = list(events)
    runs["ahead"] = getattr(autotuning._tuning_now(), "ahead", None)
print(json.dumps(runs))
'''


def test_an_autotunings_configs_are_compiled_ahead_only_where_it_benchmarks_them(tmp_path):
    """Within an autotuning's run, its configs are compiled ahead at its first benchmark, not as they are pruned:
    a choice found in Triton's disk cache of tuning results (TRITON_CACHE_AUTOTUNING, which the pool sets) is
    benchmarked nowhere and has nothing compiled ahead (int8_dequant_matmul's 418 configs cost about 8 s of
    disk-cache hits so); one benchmarked has every config handed over before its first benchmark."""
    runs = compiled_run(AHEAD_OF_BENCHMARKS, tmp_path)
    assert runs["1"] == runs["3"] == ["ran 128"]
    # (each config's first call, its compile in a trusted process, then its benchmark; the call itself last)
    assert runs["2"] == ["handed 32", "handed 64", "handed 128"] + \
        [event for block in (32, 64, 128) for event in (f"ran {block}", "benchmark", f"ran {block}")] + ["ran 32"]
    assert runs["ahead"] is None


def test_a_compile_ahead_that_fails_leaves_each_config_to_its_own_benchmark(tmp_path):
    """A compile handed over ahead that fails as Triton finalizes it (outside the asynchronous mode's ignored
    errors) does not fail the first config's benchmark, within which it ran: every config is benchmarked as
    without compiles ahead."""
    failing = AHEAD_OF_BENCHMARKS.replace("lambda kernel: None, *extra)",
                                          "(lambda kernel: 1 / 0) if kwargs['BLOCK'] == 64 else (lambda kernel: None), *extra)")
    assert failing != AHEAD_OF_BENCHMARKS
    runs = compiled_run(failing, tmp_path)
    assert runs["2"] == ["handed 32", "handed 64", "handed 128"] + \
        [event for block in (32, 64, 128) for event in (f"ran {block}", "benchmark", f"ran {block}")] + ["ran 32"]


def test_a_channel_to_the_checker_ends_its_process_when_its_pipe_is_swapped():
    """The worker sends through a channel that holds its descriptor and what it is: a message written after the
    pipe was replaced under the same number (os.dup2) ends the process at once, with CHANNEL_REPLACED_EXIT, and
    reaches no one; a descriptor that is not an int is refused (its __index__ would run at each send)."""
    import subprocess
    import sys

    from tritonsmith.evaluate.runtime import CHANNEL_REPLACED_EXIT, write_message
    script = (
        "import os\n"
        "from tritonsmith.evaluate.runtime import channel\n"
        "read, write = os.pipe()\n"
        "send = channel(write)\n"
        "send({'first': 1})\n"
        "print(os.read(read, 100).decode().strip(), flush=True)\n"
        "other_read, other_write = os.pipe()\n"
        "os.dup2(other_write, write)\n"
        "send({'second': 2})\n"
        "print('sent anyway', flush=True)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == CHANNEL_REPLACED_EXIT, (done.returncode, done.stderr)
    assert done.stdout.strip() == '{"first": 1}'

    class Stand:
        def __index__(self):
            raise AssertionError("ran")
    with pytest.raises(TypeError, match="must be an int"):
        write_message(Stand(), {"x": 1})


SCOUT = '''import fcntl, json, os, sys, threading, time
os.environ["TRITON_CACHE_DIR"] = sys.argv[1] + ".triton-cache"  # (compiled for real each time)
os.environ["TRITONSMITH_PARALLEL_COMPILES"] = "<N>"
import torch, triton, triton.language as tl
from triton.runtime import driver
from triton.backends.compiler import GPUTarget

launched, benched, compiles = [], [], []


class Launcher:  # a launch, recorded: the kernel's name and grid
    def __init__(self, src, metadata):
        self.name = metadata.name

    def __call__(self, grid_0, grid_1, grid_2, *rest):
        launched.append([self.name, grid_0])


class Utils:
    def load_binary(self, name, kernel, shared, device):
        return name, name, 32, 0, 1024

    def unload_module(self, module):
        pass

    def get_device_properties(self, device):
        return {"max_shared_mem": 232448, "multiprocessor_count": 132, "max_num_regs": 65536, "warpSize": 32}


class Driver:  # an H100 as Triton's JIT sees one: kernels are compiled for real (sm_90, ptxas), launches recorded
    utils, launcher_cls = Utils(), Launcher

    def get_current_device(self):
        return 0

    def get_current_stream(self, device=None):
        return 0

    def get_current_target(self):
        return GPUTarget("cuda", 90, 32)

    def get_active_torch_device(self):
        return torch.device("cpu")

    def map_python_to_cpp_type(self, ty):
        return ty

    def get_benchmarker(self):
        def bench(call, quantiles=None, **kwargs):
            benched.append(1)
            call()
            return [1.0, 1.0, 1.0]
        return bench


driver.set_active(Driver())


@triton.jit
def add_one(X, Y, N, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(Y + i, tl.load(X + i, mask=i < N) + 1, mask=i < N)


@triton.jit
def twice(X, Y, N, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(Y + i, tl.load(X + i, mask=i < N) * 2, mask=i < N)


@triton.autotune(configs=[triton.Config({"BLOCK": b}) for b in (32, 64, 128)], key=["N"])
@triton.jit
def tuned(X, Y, N, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(Y + i, tl.load(X + i, mask=i < N) - 1, mask=i < N)


import triton.compiler

real_compile = triton.compiler.compile


def counted(src, *args, **kwargs):  # Triton's compile (what a JIT looks up when it first runs), counted
    compiles.append([src.name, threading.current_thread().name.startswith("compile-ahead")])
    time.sleep(0.2)  # (each compile at least this long: side by side, four take about as long as one)
    return real_compile(src, *args, **kwargs)


triton.compiler.compile = counted

from tritonsmith.evaluate import autotuning
from tritonsmith.evaluate.gpu_lock import GpuLock, compiles_let_go

compiles_let_go()
lock = GpuLock(sys.argv[1])
x, y = torch.zeros(4096), torch.zeros(4096)


def case(block, autotuned=False):  # a task's reference on one case: two kernels, or an autotuned one and another
    def call():
        if autotuned:
            tuned[(8,)](x, y, 4096)
            twice[(2,)](y, x, 4096, BLOCK=block)
            return
        add_one[(4,)](x, y, 4096, BLOCK=block)
        twice[(4,)](y, x, 4096, BLOCK=block)
    return call


calls = [case(b) for b in (256, 256, 512, 1024)] + [case(2048, autotuned=True)]  # (two alike: one compile)
with lock.shared():  # (as a keeper makes references)
    found = autotuning.compile_calls_ahead(calls)
    held = lock.held == fcntl.LOCK_SH
ahead = {"found": found, "compiles": list(compiles), "launched": list(launched), "benched": len(benched),
         "tuned_compiled": len(tuned.fn.device_caches[0][0]), "compile_s": lock.compile_s, "held": held}
compiles.clear(), launched.clear(), benched.clear()
for call in calls:  # the runs themselves: nothing left to compile, nor to tune
    call()
print(json.dumps({"ahead": ahead, "then": {"compiles": compiles, "launched": launched, "benched": len(benched)}}))
'''


@pytest.mark.parametrize("parallel", ["4", "0"])
def test_a_tasks_kernels_are_compiled_in_parallel_ahead_of_its_reference_runs(tmp_path, parallel):
    """TRITONSMITH_PARALLEL_COMPILES=N (autotuning.compile_calls_ahead): each case's reference run is scouted up to
    the first kernel it would compile, handed to Triton's asynchronous mode, in rounds (the second finds a call's
    second kernel; an autotuning's configs are all handed over in the first, none benchmarked, and it runs in the
    second, which goes on to the kernel after it), on N threads while the GPU lock is let go; the runs after
    compile nothing. Triton's own JIT and compiler (sm_90, ptxas) run for real here, with a driver that stands in
    for the GPU (launches recorded)."""
    found = compiled_run(SCOUT.replace("<N>", parallel), tmp_path)
    ahead, then = found["ahead"], found["then"]
    runs = [["add_one", 4], ["twice", 4]] * 4 + [["tuned", 8], ["twice", 2]]
    if parallel == "0":  # nothing ahead: each run compiles its kernels, and the autotuning benchmarks its configs
        assert ahead["found"] is None and ahead["compiles"] == [] and then["launched"][:8] == runs[:8]
        assert sorted(name for name, _ in then["compiles"]) == ["add_one"] * 3 + ["tuned"] * 3 + ["twice"] * 4
        assert then["benched"] == 3
        return
    assert ahead["found"] == {"rounds": 3, "compiles": 10}  # the two calls alike share their compiles
    assert sorted(name for name, _ in ahead["compiles"]) == ["add_one"] * 3 + ["tuned"] * 3 + ["twice"] * 4
    assert all(threaded for _, threaded in ahead["compiles"])
    # scouting launched nothing before a kernel was compiled (the second of two calls alike stopped at the
    # compile the first had handed over, as Triton 3.9 caches it at once, rather than waited for it): the second
    # round ran each call's first kernel and stopped at its second, and ran the autotuning (each config
    # benchmarked, then the one chosen) up to the kernel after it; the third ran each call whole
    assert ahead["launched"] == [["add_one", 4]] * 4 + [["tuned", 8]] * 4 + runs
    assert ahead["benched"] == 3 and ahead["tuned_compiled"] == 3  # every config compiled, each benchmarked once
    assert ahead["compile_s"] >= 0.2 and ahead["held"]  # the lock let go while they compiled, and held again
    assert then == {"compiles": [], "launched": runs, "benched": 0}


def test_walking_a_value_for_its_tensors_or_digest_keeps_none_of_them_alive():
    """tensors_of, held_bytes and the digests walk a value's parts; nothing of the walk outlives it, so memory a
    caller lets go is free at once, not at Python's next garbage collection (a recursive closure did: a cycle
    holding every tensor it found, and a keeper's 36 GiB of references let go stayed held)."""
    import gc
    import weakref

    import torch

    from tritonsmith.evaluate.runtime import held_bytes, input_digest, tensors_of

    class Op:  # an object holding tensors, as a frozen ROCm perf op does
        def __init__(self) -> None:
            self.weights = [torch.ones(8), {"bias": torch.zeros(8)}]
    gc.disable()
    try:
        for walk in (tensors_of, held_bytes, input_digest):
            value = [torch.ones(4), (torch.zeros(2), Op()), torch.eye(3).to_sparse()]
            found = (weakref.ref(value[1][1].weights[1]["bias"]), weakref.ref(value[0]),
                     weakref.ref(value[2]))  # (the digest keeps a tensor it cannot read, as sparse ones)
            walk(value)
            del value
            assert all(ref() is None for ref in found), walk.__name__
    finally:
        gc.enable()


def test_inputs_held_in_host_memory_come_back_as_they_were_made():
    """A check's inputs held in host memory (checks too large for the GPU) are copied back for each call as the
    task made them: the same values, strides and digest, a tensor passed twice still one, a leaf still one;
    inputs that would not come back so (a view's offset, an expanded or transposed stride, tensors inside
    containers, a tensor subclass) are not held there."""
    import torch

    from tritonsmith.evaluate.runtime import clone, hostable, input_digest, to_host
    x = torch.arange(6.0).reshape(2, 3)
    w = torch.ones(3, requires_grad=True)
    args = (x, x, w, 3, "mean")
    on_gpu = torch.empty(2, 3, device="meta")  # (meta stands for the GPU here)
    assert hostable((on_gpu, on_gpu, 3), "meta") and hostable([on_gpu, None], "meta")
    assert not hostable((on_gpu, torch.tensor([1])), "meta")  # a task's own CPU tensor would come back on the GPU
    held = to_host(args)
    assert held[0] is held[1] and held[0].data_ptr() != x.data_ptr() and held[2].is_leaf and held[2].requires_grad
    back = clone(held, "cpu")
    assert back[0] is back[1] and back[0].data_ptr() != held[0].data_ptr() and back[3:] == (3, "mean")
    assert input_digest(back) == input_digest(args) and back[0].stride() == x.stride()
    x = on_gpu
    for not_held in [(x[1:],), (x.t(),), (torch.ones(1, device="meta").expand(4),), ([x],), ({"x": x},),
                     (torch.nn.Parameter(torch.ones(2, device="meta")),), {"x": x}]:
        assert not hostable(not_held, "meta"), not_held


def test_the_candidates_process_holds_inputs_in_host_memory_only_where_told_and_copies_them_back_per_call(
        monkeypatch):
    """CandidateRun: with `inputs_on_host` each check's inputs, once made, are held in host memory and every
    check_of gives a new copy for its calls (`copy`: not cloned again); without it the inputs stay as they are,
    a task's own CPU tensor among them; an after-timing check's inputs, made for one call, are that call's own
    copy and never held. The CPU stands for the GPU here (hostable is told so, clone copies on it)."""
    import contextlib

    import torch

    import tritonsmith.evaluate.worker as worker

    class Lock:
        def shared(self):
            return contextlib.nullcontext()
    monkeypatch.setattr(worker, "hostable", lambda args, device: True)

    def run(on_host: bool):
        made = worker.CandidateRun.__new__(worker.CandidateRun)
        made.device, made.gpu_lock, made.inputs_on_host = "cuda", Lock(), on_host
        made.held_keys, made.once_keys, made.inputs, made.digests = set(), set(), [], []
        made.meta = {str(k): {"case": {}, "index": k, "seed": k, "phase": "correctness"} for k in range(3)}
        return made
    monkeypatch.setattr(worker, "synchronize", lambda device: None)
    monkeypatch.setattr(worker, "clone", lambda args, device=None: tuple(
        a.clone() if isinstance(a, torch.Tensor) else a for a in args) if device else None)
    x, marker = torch.arange(4.0), torch.tensor([1])
    plain = run(False)
    plain.keep_inputs(0, (x, marker), "d0")
    check = plain.check_of(0)
    assert check["args"][0] is x and check["args"][1] is marker and not check["copy"]
    held = run(True)
    held.keep_inputs(0, (x, 2), "d0")
    assert held.held_keys == {0} and held.inputs[0][0] is not x and torch.equal(held.inputs[0][0], x)
    first, again = held.check_of(0), held.check_of(0)
    assert first["copy"] and first["args"][0] is not again["args"][0] and first["args"][1] == 2
    assert torch.equal(first["args"][0], x) and first["args"][0] is not held.inputs[0][0]
    after = (torch.ones(2),)
    held.keep_inputs(2, after, "d2", once=True)
    check = held.check_of(2)
    assert 2 not in held.held_keys and check["copy"] and check["args"] is after
