"""The timer's adaptive loop (statistics only: the GPU part runs on the GPU machine) and the per-GPU lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
import time

import pytest
import torch

from tritonsmith.evaluate.gpu_lock import GpuLock
from tritonsmith.evaluate.timing import TimingSettings, ratio_interval, sample_rounds


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_identical_steady_functions_stop_at_the_minimum_rounds():
    samples, rounds, interval, stopped = sample_rounds(lambda name: 1.0, ["candidate", "baseline"],
                                                       TimingSettings(rounds=5))
    assert (rounds, stopped) == (5, "converged")
    assert interval == pytest.approx(0.0)
    assert len(samples["candidate"]) == len(samples["baseline"]) == 5


def test_noise_needs_more_rounds_and_the_interval_shrinks_below_the_target():
    rng = random.Random(1)
    settings = TimingSettings(rounds=5, max_rounds=200, ci=0.01, budget_ms=1e9)
    samples, rounds, interval, stopped = sample_rounds(lambda name: 1.0 + rng.gauss(0, 0.03),
                                                       ["candidate", "baseline"], settings)
    assert stopped == "converged" and 5 < rounds < 200
    assert interval <= 0.01
    assert ratio_interval(samples["candidate"], samples["baseline"]) == pytest.approx(interval)


def test_the_round_cap_and_the_time_budget_stop_a_noisy_case():
    rng = random.Random(2)
    noisy = lambda name: 1.0 + rng.random()  # noqa: E731
    _, rounds, _, stopped = sample_rounds(noisy, ["candidate", "baseline"],
                                          TimingSettings(rounds=3, max_rounds=8, budget_ms=1e9))
    assert (rounds, stopped) == (8, "max_rounds")
    clock = FakeClock()

    def slow(name):
        clock.now += 0.125  # 125 ms a sample
        return noisy(name)
    _, rounds, _, stopped = sample_rounds(slow, ["candidate", "baseline"],
                                          TimingSettings(rounds=3, max_rounds=100, budget_ms=1250), clock=clock)
    assert stopped == "budget" and rounds == 5  # 250 ms a round: the budget is spent after the 5th


def test_an_evaluations_timing_total_is_shared_by_its_perf_cases():
    """A task with 16 perf cases gives each a sixteenth of the evaluation's sampling time (TritonBench-G tasks
    have 8-31: at 1.5 s each a gold took 31 s of timing), never more than a case's own budget, and the
    share still cannot cut a case below its minimum rounds."""
    job = {"rounds": 5, "budget_ms": 1500.0, "total_ms": 3200.0}
    assert TimingSettings.from_job(dict(job, cases=16)).budget_ms == pytest.approx(200.0)
    assert TimingSettings.from_job(dict(job, cases=1)).budget_ms == 1500.0
    assert TimingSettings.from_job(dict(job, cases=16, total_ms=0)).budget_ms == 1500.0  # the share off
    clock = FakeClock()

    def slow(name):
        clock.now += 0.125
        return 1.0 + random.random()
    _, rounds, _, stopped = sample_rounds(slow, ["candidate", "baseline"],
                                          TimingSettings.from_job(dict(job, cases=31)), clock=clock)
    assert (rounds, stopped) == (5, "budget")


def test_each_case_is_timed_to_the_interval_that_the_evaluations_speedup_needs():
    """The speedup is the geometric mean of N cases' ratios: N cases each within ±c give it about ±c/√N, so a
    case stops at ±ci·√N (never wider than ±3%, never narrower than ci), and the pooled interval is reported."""
    from tritonsmith.evaluate.timing import CASE_CI_MAX, pooled_interval
    job = {"ci": 0.01}
    assert TimingSettings.from_job(dict(job, cases=1)).ci == pytest.approx(0.01)
    assert TimingSettings.from_job(dict(job, cases=4)).ci == pytest.approx(0.02)
    assert TimingSettings.from_job(dict(job, cases=16)).ci == pytest.approx(CASE_CI_MAX) == pytest.approx(0.03)
    assert TimingSettings.from_job({"ci": 0.05, "cases": 4}).ci == pytest.approx(0.05)  # a wide ci stays as asked
    assert pooled_interval([0.02] * 4) == pytest.approx(0.01, rel=1e-2)
    assert pooled_interval([0.03] * 16) == pytest.approx(0.0074, rel=1e-2)
    assert pooled_interval([0.01]) == pytest.approx(0.01) and pooled_interval([]) is None
    clock = FakeClock()

    def noisy(name):  # ±5% per sample: a 1% interval needs many rounds, a 3% one few
        clock.now += 0.001
        return 1.0 + 0.05 * random.uniform(-1, 1)
    random.seed(5)
    alone = sample_rounds(noisy, ["candidate", "baseline"], TimingSettings.from_job(dict(job, cases=1, max_rounds=400)),
                          clock=clock)
    pooled = sample_rounds(noisy, ["candidate", "baseline"], TimingSettings.from_job(dict(job, cases=9, max_rounds=400)),
                           clock=clock)
    assert alone[3] == pooled[3] == "converged" and pooled[1] * 3 < alone[1], (alone[1:], pooled[1:])


def test_rounds_rotate_which_function_goes_first():
    order = []
    sample_rounds(lambda name: order.append(name) or 1.0, ["candidate", "baseline", "reference"],
                  TimingSettings(rounds=3, max_rounds=3))
    assert [order[i] for i in (0, 3, 6)] == ["candidate", "baseline", "reference"]


def test_without_a_baseline_the_candidates_own_interval_decides():
    samples, rounds, interval, stopped = sample_rounds(lambda name: 2.0, ["candidate"], TimingSettings(rounds=4))
    assert (rounds, stopped, interval) == (4, "converged", None)


def test_a_batch_of_a_launch_bound_kernel_holds_no_more_calls_than_the_host_queues_in_its_time():
    from tritonsmith.evaluate.timing import GpuTimer

    timer = object.__new__(GpuTimer)  # `_shared` alone: no GPU here (the events are stand-ins)
    timer._events = lambda count: [None] * count
    settings = TimingSettings()
    by_gpu = timer._shared(True, 0.002, 0.001, settings)  # 2 us kernel, 1 us of host time: filled by batch_ms
    slow_host = timer._shared(True, 0.002, 0.17, settings)  # TritonBench-G's wrappers: ~0.17 ms of Python a call
    slowest = timer._shared(True, 0.002, 5.0, settings)
    per_call = timer._shared(False, 0.2, 0.17, settings)
    assert by_gpu["batch"] == 100
    assert slow_host["batch"] == int(settings.batch_host_ms / 0.17) and slow_host["spin_ms"] < 8.0
    assert slowest["batch"] == 10  # the floor: fewer calls and the events' resolution would show
    assert per_call["batch"] == 5  # per-call samples are filled by sample_ms as before
    assert timer._shared(True, 0.002, 0.0, settings)["batch"] == 100  # no host time measured: batch_ms decides
    job = TimingSettings.from_job({"batch_host_ms": 1.0})
    assert timer._shared(True, 0.002, 0.05, job)["batch"] == 20  # the job's setting reaches the timer


def _hold(path: str, mode: str, seconds: float, log, ready) -> None:
    lock = GpuLock(path)
    if mode == "shared":
        with lock.shared():
            log.put(("shared-in", time.monotonic()))
            ready.set()
            time.sleep(seconds)
            log.put(("shared-out", time.monotonic()))
    else:
        with lock.exclusive():
            log.put(("exclusive-in", time.monotonic()))
            time.sleep(seconds)
            log.put(("exclusive-out", time.monotonic()))


def test_shared_holders_overlap_and_the_timer_waits_for_them_alone(tmp_path):
    path = str(tmp_path / "gpu0.lock")
    context = multiprocessing.get_context("fork")
    log, ready = context.Queue(), context.Event()
    first = context.Process(target=_hold, args=(path, "shared", 1.0, log, ready))
    second = context.Process(target=_hold, args=(path, "shared", 1.0, log, context.Event()))
    first.start()
    second.start()
    ready.wait(10)
    time.sleep(0.2)
    timer = context.Process(target=_hold, args=(path, "exclusive", 0.5, log, context.Event()))
    timer.start()
    time.sleep(0.2)
    late = context.Process(target=_hold, args=(path, "shared", 0.1, log, context.Event()))  # arrives while the timer waits
    late.start()
    for process in (first, second, timer, late):
        process.join(20)
    events = sorted((log.get(timeout=5) for _ in range(8)), key=lambda e: e[1])
    names = [name for name, _ in events]
    assert names[:2] == ["shared-in", "shared-in"]  # two evaluations shared the GPU at once
    times = dict((name, t) for name, t in events if name.startswith("exclusive"))
    shared_out = [t for name, t in events if name == "shared-out"]
    shared_in = [t for name, t in events if name == "shared-in"]
    assert times["exclusive-in"] >= max(shared_out[:2])  # the timer waited for both
    assert shared_in[-1] >= times["exclusive-out"]  # the late reader waited for the timer (no starvation)


def test_no_lock_file_means_no_locking():
    lock = GpuLock(None)
    with lock.shared(), lock.exclusive():
        assert lock.held is None


def test_work_inside_a_timing_is_covered_and_a_shared_section_cannot_become_exclusive(tmp_path):
    lock = GpuLock(str(tmp_path / "gpu0.lock"))
    with lock.exclusive():
        with lock.shared():  # a check made while timing: already alone on the GPU
            assert lock.held is not None
    assert lock.held is None
    with lock.shared(), pytest.raises(RuntimeError, match="cannot be upgraded"):
        with lock.exclusive():
            pass


def test_every_process_of_the_machine_times_on_a_gpu_under_one_lock(tmp_path, monkeypatch):
    """Two pools (two benches, a test run's parallel workers) on one GPU wait for each other's timing: the
    lock of a GPU is the machine's, not a pool's (six pools timing on one H200 at once made an honest
    candidate's first call look like reuse)."""
    from tritonsmith.evaluate.gpu_lock import gpu_lock_path
    monkeypatch.setenv("TRITONSMITH_LOCK_DIR", str(tmp_path / "locks"))
    assert gpu_lock_path(3) == gpu_lock_path(3) == str(tmp_path / "locks" / "gpu3.lock")
    assert gpu_lock_path(0) != gpu_lock_path(1) and (tmp_path / "locks").is_dir()
    monkeypatch.delenv("TRITONSMITH_LOCK_DIR")
    default = gpu_lock_path(0)
    assert default.endswith(f"tritonsmith-locks-{os.getuid()}/gpu0.lock") and (os.stat(os.path.dirname(default)).st_mode & 0o777) == 0o700
    code = "from tritonsmith.evaluate.gpu_lock import gpu_lock_path; print(gpu_lock_path(0))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert other.stdout.strip() == default, other.stderr  # another process finds the same file


COMPILE_SECONDS = '''
import json, sys, time
from triton.runtime.jit import JITFunction
from tritonsmith.evaluate.gpu_lock import GpuLock, compiles_let_go, holding

JITFunction._do_compile = lambda kernel, *args: time.sleep(0.2) or "compiled"
compiles_let_go()
lock = GpuLock(sys.argv[1])
seen = []
with lock.shared():  # a reference run: its compiles are counted
    JITFunction._do_compile(None, "key")
    with lock.alone(compiles_yield=True):  # a trusted autotuning's
        JITFunction._do_compile(None, "key")
seen.append(lock.compile_s)
with lock.exclusive():  # a timing: nothing let go, nothing counted
    JITFunction._do_compile(None, "key")
JITFunction._do_compile(None, "key")  # no hold
with holding(sys.argv[1] + ".making", slot="making"):  # a keeper's making lock alone: not the GPU lock's
    JITFunction._do_compile(None, "key")
seen.append(lock.compile_s)
print(json.dumps(seen))
'''


def test_the_seconds_triton_compiles_within_a_gpu_locks_shared_hold_are_counted_on_it(tmp_path):
    """Where a reference run's seconds went: Triton's compiles within the GPU lock's shared hold (and a trusted
    autotuning's alone hold that lets compiles through) add to the lock's `compile_s` (references_split_s
    'compiles'); compiles in a timing, or under no GPU lock, do not."""
    done = subprocess.run([sys.executable, "-c", COMPILE_SECONDS, str(tmp_path / "gpu0.lock")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    both, after = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0.4 <= both < 1.0 and after == both, (both, after)


LET_GO = '''
import fcntl, json, sys, threading
from triton.runtime.jit import JITFunction
import tritonsmith.evaluate.gpu_lock as gpu_lock
from tritonsmith.evaluate.gpu_lock import GpuLock, compiles_let_go, holding

seen = []
names = {None: "none", fcntl.LOCK_SH: "shared", fcntl.LOCK_EX: "alone"}
look = [lambda: seen.append(names[lock.held])]  # what the stand-in compile notes (changed below)
JITFunction._do_compile = lambda kernel, *args: look[0]() or "compiled"
compiles_let_go()
lock = GpuLock(sys.argv[1])
with lock.shared():
    first = JITFunction._do_compile(None, "key")
    seen.append(names[lock.held])
with lock.exclusive():
    JITFunction._do_compile(None, "key")
with lock.shared():
    with lock.alone(compiles_yield=True):  # an autotuning's hold: its configs compile with the GPU let go
        JITFunction._do_compile(None, "key")
        seen.append(names[lock.held])
    seen.append(names[lock.held])
JITFunction._do_compile(None, "key")
# the making lock, held alone by a keeper's second try, is let go too, and taken again first
making = []
making_lock = lambda: gpu_lock._holders.get((threading.get_ident(), "making"))
look[0] = lambda: making.append([names[lock.held], names[making_lock().held] if making_lock() else "none"])
order = []
take = GpuLock._take
GpuLock._take = lambda self, mode: order.append([self.slot, names[mode]]) or take(self, mode)
with holding(sys.argv[1] + ".making", alone=True, slot="making"):
    with lock.shared():
        del order[:]
        JITFunction._do_compile(None, "key")
        making.append(order[:])
        making.append([names[lock.held], names[making_lock().held]])
    with lock.exclusive():  # a timing within: a compile lets no lock of this thread go
        look[0] = lambda: making.append(names[lock.held])
        JITFunction._do_compile(None, "key")
# a timing's first calls (`yielding`): a compile lets the GPU and the making lock (held shared, as while a keeper
# makes references) go, takes them again in order, and the timing keeps its compiles again after
timing = []
state = lambda: [names[lock.held], names[making_lock().held] if making_lock() else "none",
                 gpu_lock._kept.get(threading.get_ident(), 0)]
with holding(sys.argv[1] + ".making", slot="making"):
    with lock.exclusive():
        with lock.yielding():
            look[0] = lambda: timing.append(state())
            del order[:]
            JITFunction._do_compile(None, "key")
            timing.append(order[:])
            timing.append(state())
        timing.append([lock.keeps, lock.compiles_yield_alone, (threading.get_ident(), "gpu") not in gpu_lock._holders])
        JITFunction._do_compile(None, "key")  # a timed call's compile: nothing let go
    with lock.shared():
        with lock.yielding():  # not within a hold alone: nothing changes (the shared hold is let go as ever)
            JITFunction._do_compile(None, "key")
# on a thread that never held a lock
def other():
    with GpuLock(sys.argv[1]).yielding():
        timing.append("other thread")
thread = threading.Thread(target=other)
thread.start()
thread.join()
# a retake interrupted, and the interruption caught by the code within: the stretch says so
def refuse(self, mode):
    GpuLock._take = take
    raise OSError("interrupted")
with lock.exclusive():
    try:
        with lock.yielding():
            look[0] = lambda: None
            GpuLock._take = refuse
            try:
                JITFunction._do_compile(None, "key")
            except OSError:
                pass
    except RuntimeError as err:
        timing.append(str(err)[:40])
print(json.dumps([first, seen, making, timing]))
'''


def test_a_compile_inside_a_shared_hold_lets_the_gpu_lock_go_meanwhile(tmp_path):
    """Compiling uses the CPU, not the GPU: within a shared hold, Triton's compile step gives the hold up and
    takes it again after, so that a timer waiting to time alone does not wait for seconds of compiling; inside
    a timing (held alone) nothing changes but in its first calls, and an alone hold taken to let compiles
    through (an autotuning's) is let go and taken alone again, and so is the making lock (a keeper's second try holds it alone: one
    kernel's ptxas ran for minutes while every other keeper waited). Triton's own compile needs a GPU
    driver, so a stand-in plays it."""
    done = subprocess.run([sys.executable, "-c", LET_GO, str(tmp_path / "gpu0.lock")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    first, seen, making, timing = json.loads(done.stdout.strip().splitlines()[-1])
    assert first == "compiled"
    # let go while compiling, held again after; a timing's alone hold: kept; an autotuning's: let go, alone again
    assert seen == ["none", "shared", "alone", "none", "alone", "shared", "none"]
    # the making lock held alone and the GPU lock shared: both let go while compiling; the making lock taken
    # again first (the order they are taken in, or a timer and a keeper's second try could wait for each other)
    assert making[:3] == [["none", "none"], [["making", "alone"], ["gpu", "shared"]], ["shared", "alone"]]
    assert making[3:] == ["alone"]  # within a timing nothing is let go
    # ... except within its first calls (`yielding`, which compile): both let go, taken again in order, and kept
    # again after them
    assert timing[:3] == [["none", "none", 0], [["making", "shared"], ["gpu", "alone"]], ["alone", "shared", 0]]
    assert timing[3] == [True, False, True]  # kept again after the stretch, nothing left registered
    # a timed call's compile after it: nothing let go; a shared hold's: let go as ever, `yielding` or not; a
    # thread that holds nothing: nothing to do
    assert timing[4:7] == [["alone", "shared", 1], ["none", "none", 0], "other thread"]
    assert timing[7] == "the GPU lock was not taken alone again a"  # (its first 40 characters)


BACKWARD_THREAD = '''
import _thread, fcntl, json, sys, threading
import torch
from triton.runtime.jit import JITFunction
from tritonsmith.evaluate import autotuning
from tritonsmith.evaluate.gpu_lock import GpuLock, compiles_let_go

names = {None: "none", fcntl.LOCK_SH: "shared", fcntl.LOCK_EX: "alone"}
seen = []
lock = GpuLock(sys.argv[1])
JITFunction._do_compile = lambda kernel, *args: seen.append(names[lock.held]) or "compiled"
compiles_let_go()

registered = []  # whether threading came to know a thread it did not start (one more for the guards' count)

def on_a_thread_of_its_own():  # as autograd's engine runs a GPU's share of a backward, its caller waiting
    JITFunction._do_compile(None, "key")
    seen.append(autotuning._tuning_now().lock is lock)
    registered.append(any(each.ident == threading.get_ident() for each in threading.enumerate()))

def not_pythons(work):  # a thread Python did not start (as autograd's, a C++ thread, is), waited for
    done = _thread.allocate_lock()
    done.acquire()
    _thread.start_new_thread(lambda: (work(), done.release()), ())
    done.acquire()

class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        not_pythons(on_a_thread_of_its_own)
        if python_thread_too:  # a thread the evaluator's own code started is never another's
            worker = threading.Thread(target=on_a_thread_of_its_own)
            worker.start()
            worker.join()
        return 2 * ctx.saved_tensors[0] * grad

nested = []

class Inner(torch.autograd.Function):  # its backward runs on the thread that asked for it
    @staticmethod
    def forward(ctx, x):
        return x * 3

    @staticmethod
    def backward(ctx, grad):
        JITFunction._do_compile(None, "key")
        nested.append([seen.pop(), autotuning._tuning_now().lock is lock])  # (as the compile saw the lock)
        return grad * 3

class Outer(torch.autograd.Function):  # a backward within a backward, on autograd's thread (a reentrant checkpoint)
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        def inner():
            y = torch.ones(3, requires_grad=True)
            torch.autograd.grad(Inner.apply(y).sum(), y)
        not_pythons(inner)
        return grad * 2

x = torch.ones(3, requires_grad=True)
python_thread_too = False
with lock.shared(), autotuning.tuning_alone(lock):
    Outer.apply(x).sum().backward()
    Square.apply(x).sum().backward()
    seen.append(names[lock.held])
    torch.autograd.grad(Square.apply(x).sum(), x)  # (the other way into the engine)
    python_thread_too = True
    Square.apply(x).sum().backward()
with lock.shared():
    on_a_thread_of_its_own()  # outside a backward and a tuning: this thread's own compile lets go
    not_pythons(on_a_thread_of_its_own)  # outside a backward: nobody to act for
print(json.dumps([seen, nested, registered, len(autotuning._tuning)]))
'''


def test_a_backwards_compiles_on_autograds_own_thread_let_the_callers_hold_go(tmp_path):
    """Autograd runs a GPU's share of a backward on a device thread of its own while the caller waits: a gold's
    backward kernels compiled (and autotuned) there for minutes with the caller's shared hold kept, and every
    other evaluation of the GPU stood behind the timer waiting for it. That thread's compiles let the waiting
    caller's hold go, and its autotuning is the caller's trusted tuning. On the CPU the engine runs on the
    caller's thread, so a backward that starts a thread of its own and waits for it plays the device thread."""
    done = subprocess.run([sys.executable, "-c", BACKWARD_THREAD, str(tmp_path / "gpu0.lock")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen, nested, registered, tunings_left = json.loads(done.stdout.strip().splitlines()[-1])
    # a backward within one, on the thread acting for the caller: still the caller's (let go, its tuning)
    assert nested == [["none", True]]
    # no thread threading did not start was made known to it (a dummy each: the guards count threads), and
    # nothing is left of the tuning's state
    # (those True are a thread Python started and the main thread)
    assert registered == [False, False, False, True, True, False] and tunings_left == 0, registered
    # in backward (both ways in): let go, and the caller's tuning lock seen; held shared again after
    assert seen[:5] == ["none", True, "shared", "none", True]
    # ... but a thread that Python started acts for nobody: it lets nothing go, and has no tuning lock
    assert seen[5:9] == ["none", True, "shared", False]
    # outside a backward: the caller's own compile lets go; another thread's, which acts for nobody, does not
    assert seen[9:] == ["none", False, "shared", False]


CUDA_BACKWARD = '''
import json, threading, torch
from tritonsmith.evaluate.gpu_lock import acting_thread, compiles_let_go
compiles_let_go()
caller, seen = threading.get_ident(), []

class Twice(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        seen.append([threading.get_ident() != caller, acting_thread() == caller])
        return grad * 2

Twice.apply(torch.ones(3, device="cuda", requires_grad=True)).sum().backward()
print(json.dumps(seen))
'''


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: autograd's device thread is CUDA's")
def test_on_a_gpu_a_backward_runs_on_autograds_thread_acting_for_its_caller():
    """What the test above plays on the CPU, on a GPU: a CUDA backward runs on a thread of autograd's own,
    which acts for the caller waiting for it."""
    done = subprocess.run([sys.executable, "-c", CUDA_BACKWARD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[True, True]]


def test_let_go_gives_the_shared_hold_to_a_waiting_timer(tmp_path):
    path = str(tmp_path / "gpu0.lock")
    lock = GpuLock(path)
    context = multiprocessing.get_context("fork")
    log = context.Queue()
    with lock.shared():
        timer = context.Process(target=_hold, args=(path, "exclusive", 0.3, log, context.Event()))
        timer.start()
        time.sleep(0.3)
        assert log.empty()  # the timer waits for this shared hold
        with lock.let_go():
            name, _ = log.get(timeout=10)  # ... which it gets while the hold is let go
            assert name == "exclusive-in"
        taken_again = time.monotonic()
        assert lock.held is not None
        name, timer_done = log.get(timeout=5)
        assert name == "exclusive-out" and taken_again >= timer_done  # held again only after the timer's turn
    timer.join(10)


def test_every_timed_function_keeps_its_last_output_until_its_next_call_returns():
    """The candidate's timed calls keep the previous output alive (to see it returned again); the baseline's and
    the reference's are held alike, so that no function's output gets the memory its last call just freed
    (still in L2 between batched calls) while the candidate's cannot."""
    import weakref

    import torch

    from tritonsmith.evaluate.timing import holding_last
    made: list[weakref.ref] = []

    def baseline():
        alive_before = [ref() is not None for ref in made]
        made.append(weakref.ref(out := torch.ones(4)))
        seen.append(alive_before)
        return out
    seen: list[list[bool]] = []
    call = holding_last(baseline)
    for _ in range(3):
        assert call() is None
    assert seen == [[], [True], [False, True]]  # the previous output alive during each call, older ones gone
    assert made[-1]() is not None


GUARDED = '''
import json
from triton.runtime.jit import JITFunction
from tritonsmith.evaluate.gpu_lock import compiles_let_go
from tritonsmith.evaluate.guards import Guards

compiles_let_go()  # as the worker does on a GPU, before the guards' snapshot
ours = JITFunction._do_compile
guards = Guards(set(), "cpu")
guards.install()
guards.record_replaced()
clean = list(guards.violations)
JITFunction._do_compile = lambda *args: None  # a candidate's replacement
guards.record_replaced()
print(json.dumps([clean, guards.violations, ours.__qualname__]))
'''


def test_the_compile_hook_is_the_evaluators_and_a_replacement_after_it_is_still_seen():
    done = subprocess.run([sys.executable, "-c", GUARDED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    clean, violations, name = json.loads(done.stdout.strip().splitlines()[-1])
    assert name == "compiles_let_go.<locals>._do_compile"
    assert clean == []
    assert violations and any("_do_compile" in v for v in violations), violations


SYNCED = '''
import fcntl, json, sys
import torch
from tritonsmith.evaluate.gpu_lock import GpuLock

lock = GpuLock(sys.argv[1])
events, capturing = [], [False]
torch.cuda.is_initialized = lambda: True
torch.cuda.is_current_stream_capturing = lambda: capturing[0]
torch.cuda.synchronize = lambda *args: events.append(("synchronized", lock.held == fcntl.LOCK_SH))
with lock.shared():
    with lock.let_go():
        events.append(("let go", lock.held is None))
    capturing[0] = True
    with lock.let_go():
        events.append(("capturing", lock.held == fcntl.LOCK_SH))
print(json.dumps(events))
'''


def test_a_let_go_waits_for_the_work_in_flight_and_never_happens_while_a_graph_is_captured(tmp_path):
    """The hold is given up only after this process's GPU work has finished (so a timer taking the lock finds
    none in flight), and not at all while a CUDA graph is being captured (which cannot wait). The CUDA calls
    are stood in for: this machine has no GPU."""
    done = subprocess.run([sys.executable, "-c", SYNCED, str(tmp_path / "gpu0.lock")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [["synchronized", True], ["let go", True],
                                                                ["capturing", True]]


def test_the_time_a_thread_waited_for_a_cpu_is_read_or_said_unknown():
    """Linux's schedstat: what waiting for a CPU the first call on new inputs may be excused (other processes'
    work); a number that never goes back, or None where the kernel does not say."""
    from tritonsmith.evaluate.timing import run_delay_ms

    first = run_delay_ms()
    sum(range(200_000))
    second = run_delay_ms()
    if first is None:
        assert second is None and not os.path.exists("/proc/thread-self/schedstat")
    else:
        assert 0.0 <= first <= second


def _recording_first_calls() -> tuple:
    """(a `first_call` context, two functions that record (name, whether within it) on each call, the record)."""
    import contextlib

    inside, calls = [False], []

    @contextlib.contextmanager
    def first_call():
        inside[0] = True
        try:
            yield
        finally:
            inside[0] = False
    functions = {name: (lambda name=name: calls.append((name, inside[0]))) for name in ("candidate", "baseline")}
    return first_call, functions, calls


def test_each_functions_first_call_and_only_it_runs_in_the_first_call_context():
    """The first call compiles (and autotunes) before anything is timed: the worker runs it within the GPU lock's
    `yielding`, so that a compile there lets the GPU go; the timed calls after it keep the GPU held."""
    from tritonsmith.evaluate.timing import ClockTimer

    first_call, functions, calls = _recording_first_calls()
    ClockTimer().measure(functions, TimingSettings(rounds=3, max_rounds=3), first_call=first_call)
    assert calls[:2] == [("candidate", True), ("baseline", True)]
    assert len(calls) > 2 and not any(within for _, within in calls[2:])
    calls.clear()
    ClockTimer().alone(functions["candidate"], first_call=first_call)
    assert calls[0] == ("candidate", True) and not any(within for _, within in calls[1:])


class _Event:
    """A stand-in for torch.cuda.Event: every stretch between two takes 0.01 ms."""

    def __init__(self, enable_timing: bool = False):
        pass

    def record(self) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, other: _Event) -> float:
        return 0.01


def test_the_gpu_timer_calls_each_function_first_within_the_first_call_context():
    """GpuTimer, on a stand-in for torch.cuda (no GPU here, no spin): `measure` and `alone` make each function's
    first call, and only it, within `first_call`, each before its own warm-up."""
    import types

    from tritonsmith.evaluate.timing import GpuTimer

    timer = GpuTimer.__new__(GpuTimer)
    timer.torch = types.SimpleNamespace(cuda=types.SimpleNamespace(Event=_Event, synchronize=lambda: None))
    timer.flush = types.SimpleNamespace(zero_=lambda: None)
    timer.spin, timer.cycles_per_ms = False, 0.0
    first_call, functions, calls = _recording_first_calls()
    timer.measure(functions, TimingSettings(rounds=3, max_rounds=3, warmup_ms=0.0), first_call=first_call)
    assert calls[0] == ("candidate", True) and len(calls) > 8
    assert [name for name, within in calls if within] == ["candidate", "baseline"]
    assert calls[calls.index(("baseline", True)) - 1] == ("candidate", False)  # after the candidate's warm-up
    calls.clear()
    timer.alone(functions["candidate"], TimingSettings(warmup_ms=0.0), first_call=first_call)
    assert calls[0] == ("candidate", True) and not any(within for _, within in calls[1:])


class _SimulatedGpu:
    """A stand-in for torch.cuda with a GPU that runs its queue in order against the host's real clock: each
    piece of work starts once queued and once the work before it has ended; `_sleep` counts cycles at
    `cycles_per_ms` (the clock as it is, whatever the timer believes); an event's time is when the GPU reached it."""

    def __init__(self, cycles_per_ms: float):
        self.rate, self.free_at = cycles_per_ms, 0.0
        gpu = self

        class Event:
            def __init__(self, enable_timing: bool = False):
                self.at = None

            def record(self) -> None:
                self.at = gpu.free_at = max(gpu.free_at, time.perf_counter())

            def synchronize(self) -> None:
                time.sleep(max(0.0, self.at - time.perf_counter()))

            def elapsed_time(self, other) -> float:
                return (other.at - self.at) * 1000

        self.Event = Event

    def work(self, ms: float) -> None:
        self.free_at = max(self.free_at, time.perf_counter()) + ms / 1000

    def _sleep(self, cycles: int) -> None:
        self.work(cycles / self.rate)

    @staticmethod
    def memory_stats() -> dict:
        return {}


def test_a_first_call_is_timed_only_where_the_spin_as_the_gpu_ran_it_covered_its_host_time():
    """`once` queues the call behind a spin counted in clock cycles. Calibrated while the clock was a fifth of
    what it is now, a 2 ms spin lasts 0.4 ms: an honest call that takes the host 1 ms to queue 0.1 ms of GPU
    work would be timed at ~0.7 ms (the GPU waiting for the host inside the time) and look 7x slower than its
    repeated calls, as honest candidates did on an H200 (session 15). The spin is counted at the highest
    clock seen, and the call is timed only where the host queued it before the spin, as run, ended; else its
    work after the host's wait is the floor it reports."""
    import functools
    import types

    from tritonsmith.evaluate.timing import GpuTimer

    def honest_call(gpu: _SimulatedGpu) -> None:
        time.sleep(0.001)  # the host's work: a first call on new inputs (allocations, a temporary file)
        gpu.work(0.1)

    for peak in (5e5, 1e5):  # the highest clock seen: the real one, and a stale low one
        gpu = _SimulatedGpu(cycles_per_ms=5e5)
        timer = GpuTimer.__new__(GpuTimer)
        timer.torch = types.SimpleNamespace(cuda=gpu)
        timer.flush = types.SimpleNamespace(zero_=functools.partial(gpu.work, 0.01))
        timer.spin, timer.cycles_per_ms, timer.peak_cycles_per_ms = True, 1e5, peak
        for _ in range(10):  # (a loaded machine's 1 ms sleep can outlast even the 2 ms spin: then it is not covered)
            found, _ = timer.once(functools.partial(honest_call, gpu), host_ms=0.05)
            if found["host_ms"] < 1.5:
                break
        if peak == 5e5:  # a 2 ms spin as asked: the call is timed, its GPU work alone
            assert found["ms"] is not None and abs(found["ms"] - 0.1) < 0.05, found
        else:  # a 0.4 ms spin: not timed, and the work after the wait is found
            assert found["ms"] is None and found["spin_ms"] < 1.0, found
            assert abs(found["past_wait_ms"] - 0.1) < 0.05, found
