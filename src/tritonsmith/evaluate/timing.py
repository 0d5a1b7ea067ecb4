"""GPU timing of candidate, baseline and reference: interleaved, adaptive, on the kernel (runs in the worker).

Two timers, picked per perf case (the same for every function of the case, said in the evidence):
- "per call" for kernels of `launch_bound_ms` or more: a CUDA event pair around each call, the L2 cache
  flushed before each call by zeroing a 256 MB buffer (as triton.testing.do_bench does); a sample is the
  mean of a few such calls (`sample_ms` of GPU time);
- "batched" for shorter ones: one event pair around a batch of back-to-back calls (L2 flushed once
  before the batch, so it is warm after the first call), as triton.testing.do_bench_cudagraph times a
  graph of many calls, without capturing candidate code (which can tell it is being captured). A 4 us
  kernel is then timed over ~0.2 ms (less where its wrapper's Python is slow: `batch_host_ms`), not at the
  events' sub-microsecond resolution.
Both keep the GPU held by a spin kernel (torch.cuda._sleep) while the host queues the sample's calls
behind it, so the GPU never waits on Python between the events: a kernel is timed on the GPU, not on
its launch path. A sample is the mean time of one call in it; the functions take turns, one sample
each per round in rotating order, so drift in clocks and temperature hits all alike. Each function's
time is the median of its samples. Sampling stops once the 95% confidence interval of the
candidate/baseline ratio (Student's t on the log of the per-round ratios) is within ±`ci`, after
`rounds` rounds at least and `max_rounds` at most, or when the case's time budget is spent.
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TIMER = ("CUDA events, queued behind a GPU spin (torch.cuda._sleep) so launch overhead is not timed: per call "
         "with L2 flushed, or per batch of back-to-back calls for launch-bound kernels (perf[].timer); "
         "interleaved rounds, median of samples, adaptive until the candidate/baseline ratio's 95% interval "
         "is within the target")
FLUSH_BYTES = 256 * 1024 * 1024  # triton.testing.do_bench's L2 flush: larger than any current GPU's L2
FirstCall = Callable[[], contextlib.AbstractContextManager]  # what a function's first call (its compile) runs in
Taken = Callable[[str, float, int], None]  # told each sample as it is taken: name, milliseconds a call, calls
SPIN_CAP_MS = 50.0  # the longest spin a sample queues behind: a call whose host time outlasts it is host-bound
_T975 = (12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045)


CASE_CI_MAX = 0.03  # a perf case's own interval, at most, however many cases share the job's


def pooled_interval(intervals: list[float]) -> float | None:
    """Relative half-width of the 95% interval of a geometric mean of independent ratios, from theirs."""
    if not intervals:
        return None
    return math.exp(math.sqrt(sum(math.log1p(c) ** 2 for c in intervals)) / len(intervals)) - 1


@dataclass
class TimingSettings:
    rounds: int = 5
    """Rounds at least (one batch per function per round)."""
    max_rounds: int = 40
    """Rounds at most."""
    ci: float = 0.01
    """Stop when the candidate/baseline ratio's 95% confidence interval is within ±ci."""
    budget_ms: float = 1500.0
    """Wall-clock milliseconds of sampling per perf case at most (after warm-up)."""
    warmup_ms: float = 10.0
    """Milliseconds of warm-up calls per function (after a first call that compiles and autotunes)."""
    batch_ms: float = 0.2
    """GPU milliseconds per sample of a launch-bound kernel: its batch holds as many calls, at most 100."""
    batch_host_ms: float = 4.0
    """Host milliseconds of queueing per batched sample at most: the batch holds no more calls than the host
    issues in that time (10 at least). A 2 us kernel behind 0.17 ms of wrapper Python (TritonBench-G's) got 100
    calls a batch, 17 ms of host time and a 25 ms spin for 0.2 ms of GPU time; 23 calls keep it at ~6 ms."""
    sample_ms: float = 1.0
    """GPU milliseconds per sample of a longer kernel: the mean of as many flushed calls, at most 20 (the
    jitter of a call that synchronises, or that launches many kernels, averages out over a few)."""
    launch_bound_ms: float = 0.05
    """Kernels shorter than this (with L2 flushed) are timed in batches; longer ones one call at a time."""

    @classmethod
    def from_job(cls, timing: dict) -> TimingSettings:
        """The settings of one perf case: a job's `total_ms` (its sampling time, 0 for none) is shared by its
        `cases` perf cases, each getting at most `budget_ms` of it. `ci` is the interval wanted of the job's
        speedup, the geometric mean of its cases' ratios: with `cases` independent cases each within ±c, the
        mean is within about ±c/√cases, so each case stops at ±ci·√cases (at most CASE_CI_MAX)."""
        settings = cls(**{k: timing[k] for k in cls.__dataclass_fields__ if k in timing})
        cases = max(1, int(timing.get("cases", 1)))
        if timing.get("total_ms"):
            settings.budget_ms = min(settings.budget_ms, timing["total_ms"] / cases)
        settings.ci = max(settings.ci, min(settings.ci * math.sqrt(cases), CASE_CI_MAX))
        return settings


def holding_last(fn: Callable[[], object]) -> Callable[[], None]:
    """`fn`, keeping its last output alive until its next call has returned, as the candidate's timed calls keep
    theirs (worker.py: to see an output returned again): so every function of a perf case allocates its outputs
    alike. An output freed at once gets the same memory on the next call, still in L2 between batched calls,
    where the candidate's alternate between two blocks; timed so, a kernel would be faster as the baseline
    than as the candidate."""
    held: list[object] = [None]

    def call() -> None:
        held[0] = fn()
    return call


@dataclass
class Timed:
    """One function's time on one perf case."""
    median_ms: float
    spread: float
    """(max - min) / median of the samples."""
    samples: list[float] = field(default_factory=list)
    calls_per_sample: int = 1
    timer: str = "per call"
    """"per call" (L2 flushed before each) or "batched" (back-to-back calls per event pair, L2 warm)."""
    host_ms: float = 0.0
    """Host milliseconds to issue one call (its wrapper's Python), from the warm-up."""

    @classmethod
    def of(cls, samples: list[float], calls_per_sample: int = 1, timer: str = "per call", host_ms: float = 0.0) -> Timed:
        median = statistics.median(samples)
        return cls(median, (max(samples) - min(samples)) / median if median > 0 else 0.0, samples, calls_per_sample,
                   timer, host_ms)


@dataclass
class Measurement:
    times: dict[str, Timed]
    rounds: int
    ratio_ci: float | None
    """Half-width of the 95% interval of candidate/baseline, relative (0.01 = ±1%); None without a baseline."""
    stopped: str
    """Why sampling stopped: "converged", "max_rounds" or "budget"."""
    prepare_s: float = 0.0
    """Wall seconds of first calls (compiling) and warm-up, before sampling."""


def _t975(dof: int) -> float:
    """Student's t for a two-sided 95% interval with `dof` degrees of freedom (normal beyond the table)."""
    return _T975[dof - 1] if dof - 1 < len(_T975) else 1.96


def ratio_interval(numerators: list[float], denominators: list[float]) -> float | None:
    """Relative half-width of the 95% interval of the geometric-mean ratio of paired samples."""
    logs = [math.log(d / n) for n, d in zip(numerators, denominators, strict=True) if n > 0 and d > 0]
    if len(logs) < 2:
        return None
    half = _t975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(half) - 1


def relative_interval(samples: list[float]) -> float | None:
    """Relative half-width of the 95% interval of the mean of one function's samples."""
    if len(samples) < 2 or statistics.fmean(samples) <= 0:
        return None
    return _t975(len(samples) - 1) * statistics.stdev(samples) / math.sqrt(len(samples)) / statistics.fmean(samples)


def sample_rounds(sample: Callable[[str], float], names: list[str], settings: TimingSettings,
                  clock: Callable[[], float] = time.perf_counter, pair: tuple[str, str] = ("candidate", "baseline"),
                  taken: Callable[[str, float], None] | None = None,
                  ) -> tuple[dict[str, list[float]], int, float | None, str]:
    """The adaptive loop, apart from the GPU: `sample(name)` measures one batch of one function, and `taken(name,
    value)` is told each sample as soon as it is taken (the worker sends it to the checker then, before the next
    call of candidate code: Measuring.check_sample_clock; the timers call this with the garbage collector off,
    so that no finaliser of the candidate's runs between a sample and its sending). Returns (samples per name, rounds, the final
    interval, why it stopped)."""
    samples: dict[str, list[float]] = {name: [] for name in names}
    started = clock()
    rounds, interval, stopped = 0, None, "max_rounds"
    while rounds < max(settings.max_rounds, settings.rounds):
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            value = sample(name)
            if taken is not None:
                taken(name, value)
            samples[name].append(value)
        rounds += 1
        if pair[0] in samples and pair[1] in samples:
            interval = ratio_interval(samples[pair[0]], samples[pair[1]])
        else:
            interval = relative_interval(samples[names[0]])
        if rounds >= settings.rounds:
            if interval is not None and interval <= settings.ci:
                stopped = "converged"
                break
            if (clock() - started) * 1000 >= settings.budget_ms:
                stopped = "budget"
                break
    return samples, rounds, interval if pair[1] in samples else None, stopped


def sample_rounds_told(sample: Callable[[str], float], names: list[str], settings: TimingSettings,
                       taken: Taken | None, calls: Callable[[], int],
                       ) -> tuple[dict[str, list[float]], int, float | None, str]:
    """`sample_rounds` for a timer's `measure`: where `taken` is given, it is told ("", 0, 0) as sampling starts
    (after the first calls and warm-up: the first sample's clock), then each sample with its `calls()` as it is
    taken, with the garbage collector off meanwhile."""
    if taken is None:
        return sample_rounds(sample, names, settings)
    taken("", 0.0, 0)
    with collector_paused():
        return sample_rounds(sample, names, settings, taken=lambda name, value: taken(name, value, calls()))


class GpuTimer:
    """Times functions on the current CUDA device. Made once per evaluation (the flush buffer, the spin's
    calibration), then `measure`d per perf case."""

    def __init__(self):
        import torch

        self.torch = torch
        self.flush = torch.empty(FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
        self.spin = hasattr(torch.cuda, "_sleep")
        self.cycles_per_ms = self._calibrate() if self.spin else 0.0
        self.peak_cycles_per_ms = self.cycles_per_ms
        """The most cycles per millisecond any spin ran at (the clock at its highest): a spin of that many cycles
        per millisecond lasts at least as long as asked whatever the clock does meanwhile (`once`)."""

    def _calibrate(self) -> float:
        """Clock cycles per millisecond of the spin, measured after a few milliseconds of spinning have
        raised the clock (an idle H200 runs at 345 MHz, a busy one near 2 GHz); `_sample` corrects it on
        every spin after that."""
        torch = self.torch
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        cycles = 1_000_000
        for _ in range(10):  # the first spin loads its kernel; the rest bring the clock up
            torch.cuda._sleep(cycles)
        start.record()
        torch.cuda._sleep(cycles)
        end.record()
        end.synchronize()
        elapsed = start.elapsed_time(end)
        return cycles / elapsed if elapsed > 0 else 1e6

    def _events(self, count: int) -> list:
        return [self.torch.cuda.Event(enable_timing=True) for _ in range(count)]

    def _prepare(self, fn: Callable[[], object], warmup_ms: float,
                 first_call: FirstCall = contextlib.nullcontext) -> dict:
        """A first call (compiles, autotunes; within `first_call()`), warm-up, and an estimate of the call's GPU
        and host time. Each warm-up call is queued behind a spin, so that its GPU time is the kernels' and not
        the host's time to launch them (a wrapper's 50 us of Python would make a 3 us kernel look like a 50 us
        one and pick the wrong timer)."""
        torch = self.torch
        issued = time.perf_counter()
        with first_call():
            fn()
        host_ms = (time.perf_counter() - issued) * 1000  # with compiling: a generous first spin
        torch.cuda.synchronize()
        start, end = self._events(2)
        calls, host_s, gpu_ms = 0, 0.0, 0.0
        began = time.perf_counter()
        while calls < 3 or (time.perf_counter() - began) * 1000 < warmup_ms:
            self.flush.zero_()
            if self.spin:
                torch.cuda._sleep(max(1, int(min(SPIN_CAP_MS, 0.05 + 2 * host_ms) * self.cycles_per_ms)))
            start.record()
            issued = time.perf_counter()
            fn()
            took = time.perf_counter() - issued
            host_s += took
            host_ms = took * 1000
            end.record()
            end.synchronize()
            gpu_ms += start.elapsed_time(end)
            calls += 1
            if calls >= 1000:
                break
        return {"fn": fn, "gpu_ms": gpu_ms / calls, "host_ms": host_s * 1000 / calls}

    def _sample(self, state: dict, shared: dict) -> float:
        """One sample of one function. `shared` holds what every function of the case is timed with alike:
        the timer, the calls per sample and the spin's length (a longer spin may let the GPU clock down)."""
        torch = self.torch
        fn, batch, events, batched = state["fn"], shared["batch"], shared["events"], shared["batched"]
        spin_start, spin_end = shared["spin_events"]
        spin_ms = shared["spin_ms"]
        while True:
            cycles = max(1, int(spin_ms * self.cycles_per_ms))
            if self.spin:
                spin_start.record()
                torch.cuda._sleep(cycles)
                spin_end.record()
            queued = time.perf_counter()
            if batched:
                self.flush.zero_()
                events[0].record()
                for _ in range(batch):
                    fn()
                events[1].record()
            else:
                for index in range(batch):
                    self.flush.zero_()
                    events[2 * index].record()
                    fn()
                    events[2 * index + 1].record()
            queue_ms = (time.perf_counter() - queued) * 1000
            events[1 if batched else 2 * batch - 1].synchronize()
            if not self.spin:
                break
            # the spin counts clock cycles, so its length in time moves with the clock (idle 345 MHz, boost
            # ~2 GHz on an H200): recalibrate on every spin, and take the sample again if the GPU ran out of
            # queued work while the host was still queueing it (then Python time would be in the sample)
            spun_ms = spin_start.elapsed_time(spin_end)
            if spun_ms > 0:
                self.cycles_per_ms = cycles / spun_ms
                self.peak_cycles_per_ms = max(self.peak_cycles_per_ms, self.cycles_per_ms)
            if queue_ms <= 0.9 * spun_ms:
                break
            if spin_ms >= SPIN_CAP_MS:  # still queueing when the longest spin ended: the sample holds host time
                shared["host_bound"] = True
                break
            spin_ms = min(SPIN_CAP_MS, 2 * queue_ms)
        shared["spin_ms"] = spin_ms
        if batched:
            return events[0].elapsed_time(events[1]) / batch
        return statistics.fmean(events[2 * i].elapsed_time(events[2 * i + 1]) for i in range(batch))

    def measure(self, functions: dict[str, Callable[[], object]], settings: TimingSettings,
                first_call: FirstCall = contextlib.nullcontext, taken: Taken | None = None) -> Measurement:
        """Each function's samples, taken in interleaved rounds. `first_call`: the context each function's first
        call (which compiles and autotunes, untimed) runs in (the GPU lock's `yielding`); `taken(name, ms, calls)`:
        told each sample (milliseconds a call, calls in it) as soon as it is taken, and ("", 0, 0) as sampling
        starts."""
        began = time.perf_counter()
        states = {name: self._prepare(fn, settings.warmup_ms, first_call) for name, fn in functions.items()}
        prepare_s = time.perf_counter() - began
        longest = max(state["gpu_ms"] for state in states.values())
        batched = longest < settings.launch_bound_ms
        shared = self._shared(batched, longest, max(state["host_ms"] for state in states.values()), settings)
        samples, rounds, interval, stopped = sample_rounds_told(lambda name: self._sample(states[name], shared),
                                                                list(functions), settings, taken,
                                                                lambda: shared["batch"])
        times = {name: Timed.of(values, shared["batch"], "batched" if batched else "per call", states[name]["host_ms"])
                 for name, values in samples.items()}
        return Measurement(times, rounds, interval, stopped, prepare_s)

    def _shared(self, batched: bool, longest_ms: float, host_ms: float, settings: TimingSettings) -> dict:
        """What every function of a perf case is sampled with: the timer, the calls per sample (as many as fill
        `batch_ms` of a batch, no more than the host queues in `batch_host_ms`, or `sample_ms` of flushed
        calls) and a spin that outlasts queueing a sample of the slowest-to-launch function (grown by `_sample`
        if it does not)."""
        if longest_ms <= 0:
            batch = 1
        elif batched:
            by_host = max(10, int(settings.batch_host_ms / host_ms)) if host_ms > 0 else 100
            batch = max(1, min(100, int(settings.batch_ms / longest_ms), by_host))
        else:
            batch = max(1, min(20, int(settings.sample_ms / longest_ms)))
        return {"batch": batch, "spin_ms": min(SPIN_CAP_MS, 0.05 + 1.5 * batch * host_ms), "events": self._events(2 * batch),
                "batched": batched, "spin_events": self._events(2)}

    def alone(self, fn: Callable[[], object], settings: TimingSettings | None = None,
              first_call: FirstCall = contextlib.nullcontext) -> dict[str, float]:
        """`fn`'s milliseconds a call, timed alone both ways a perf case may be ("per call", "batched"), each
        sampled as `measure` samples it: the median of three samples, after a first call (compiling,
        autotuning; within `first_call()`) and warm-up; its host milliseconds a call ("host_ms"); and the ways
        whose samples held host time ("host_bound": the host was still queueing a sample when even the longest
        spin had ended, as for a call that synchronises)."""
        settings = settings or TimingSettings()
        state = self._prepare(fn, settings.warmup_ms, first_call)
        found, host_bound = {}, []
        for batched in (False, True):
            shared = self._shared(batched, state["gpu_ms"], state["host_ms"], settings)
            name = "batched" if batched else "per call"
            found[name] = statistics.median(self._sample(state, shared) for _ in range(3))
            if shared.get("host_bound"):
                host_bound.append(name)
        return dict(found, host_ms=state["host_ms"], host_bound=host_bound)

    def warm(self, fn: Callable[[], object], ms: float = 10.0) -> None:
        """Calls of `fn`, each waited for, until `ms` have passed (one at least, 1000 at most): the GPU busy and
        its clock up before a call is timed `once` after a pause (hand-overs, making inputs)."""
        began, calls = time.perf_counter(), 0
        while calls < 1 or ((time.perf_counter() - began) * 1000 < ms and calls < 1000):
            fn()
            self.torch.cuda.synchronize()
            calls += 1

    def once(self, fn: Callable[[], object], host_ms: float) -> tuple[dict[str, float | None], object]:
        """One call timed as a per-call sample is (L2 flushed, queued behind a spin), and what it returned. The
        call is never repeated (it is the first on inputs the function has not seen), so the spin is made long
        enough up front for three times the `host_ms` its repeated calls took, 2 ms at least, counted in cycles
        at the highest clock seen (a spin counted at the last sample's clock ran a fifth as long where that
        sample's clock was low and this one's high). Whether the call was queued in time is judged by the spin
        as the GPU ran it, not as asked. Returns {"ms": its GPU time, or None where its host time outlasted the
        spin (the time would hold host time), "host_ms": the call's host time, "spin_ms" (as the GPU ran it,
        with the flush), "past_wait_ms": where "ms" is None, the GPU time of its work after the host's wait
        (`gpu_past_wait`), else None}; the garbage collector waits meanwhile."""
        torch = self.torch
        spun, start, end = self._events(3)
        spin_ms = min(SPIN_CAP_MS, max(2.0, 3 * host_ms))
        with collector_paused():
            # read before the spin is queued: after it, host work that the spin would have to cover
            memory, delay = torch.cuda.memory_stats(), run_delay_ms()
            spinning = time.perf_counter()
            spun.record()
            if self.spin:
                torch.cuda._sleep(max(1, int(spin_ms * self.peak_cycles_per_ms)))
            self.flush.zero_()
            start.record()
            queued = time.perf_counter()
            result = fn()
            returned = time.perf_counter()
            queue_ms = (returned - queued) * 1000
            end.record()
            delay_after, memory_after = run_delay_ms(), torch.cuda.memory_stats()
            end.synchronize()
        elapsed = start.elapsed_time(end) if self.spin else None
        ahead = spun.elapsed_time(start) if self.spin else None  # the spin and flush as the GPU ran them
        # timed where the host had queued the whole call before the GPU reached it: ran out of the spin's
        # work while the host still queued, the GPU would have waited for the host inside the time
        timed = elapsed if ahead is not None and (returned - spinning) * 1000 <= 0.9 * ahead else None
        past = None
        if elapsed is not None and timed is None:
            past = gpu_past_wait(elapsed, (returned - spinning) * 1000, ahead)
        return {"ms": timed, "host_ms": queue_ms, "spin_ms": ahead if ahead is not None else spin_ms, "past_wait_ms": past,
                # why the host may have taken long besides the call's own work: waiting for a CPU (other
                # processes' work), memory the allocator had to get from the driver (or free and retry for)
                "run_delay_ms": None if delay is None or delay_after is None else delay_after - delay,
                "new_segments": memory_after.get("segment.all.allocated", 0) - memory.get("segment.all.allocated", 0),
                "alloc_retries": memory_after.get("num_alloc_retries", 0) - memory.get("num_alloc_retries", 0)}, result


class LaunchTimes:
    """While active (a with-block), each Triton launch is bracketed by CUDA events from Triton's launch hooks
    (`triton.knobs.runtime.launch_enter_hook` / `launch_exit_hook`, called right around the driver's launch):
    after the work has finished, `gpu_ms()` is the GPU time of those launches, however long the host waited
    between them (a call that synchronises on its own work shows it here, not in its host time alone).
    `hooked` counts the launches the hooks saw through (both hooks): fewer than the guards saw return means
    the hooks were taken away. Where Triton's hooks are not chains (before 3.5) nothing is recorded (`available` False)."""

    LEAD_MS = 0.2  # the GPU spin put ahead of a launch onto an idle GPU (see _enter)

    def __init__(self, cycles_per_ms: float = 0.0) -> None:
        self.pairs: list[list[Any]] = []
        self.hooked = 0
        self.lead_cycles = int(self.LEAD_MS * cycles_per_ms)
        try:
            from triton import knobs
            self.chains = (knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook)
            self.available = all(callable(getattr(chain, "add", None)) for chain in self.chains)
        except (ImportError, AttributeError):
            self.available = False

    def _enter(self, metadata: Any) -> None:
        """On an idle GPU the start event would fire at once, before the launch reaches it (launch latency, up
        to a tenth of a millisecond each, measured as the kernel's): a short spin is queued first, so that
        the kernel is queued when the event fires. (The GPU is idle here only once the call outlasted the
        spin it was timed behind: then it is not timed as a whole, and the spins change no time.) Nothing is
        recorded while a CUDA graph is captured (its events have no time)."""
        import torch
        if torch.cuda.is_current_stream_capturing():
            return
        if self.lead_cycles and torch.cuda.current_stream().query():
            torch.cuda._sleep(self.lead_cycles)
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        self.pairs.append([event, None])

    def _exit(self, metadata: Any) -> None:
        import torch
        if torch.cuda.is_current_stream_capturing():
            self.hooked += 1  # (seen, not timed)
            return
        if self.pairs and self.pairs[-1][1] is None:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.pairs[-1][1] = event
            self.hooked += 1

    def __enter__(self) -> LaunchTimes:
        if self.available:
            self.chains[0].add(self._enter)
            self.chains[1].add(self._exit)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.available:
            self.chains[0].remove(self._enter)
            self.chains[1].remove(self._exit)

    def gpu_ms(self) -> float | None:
        """The launches' GPU time (their events done: after a synchronisation), or None where not recorded."""
        if not self.available:
            return None
        try:
            return sum(start.elapsed_time(end) for start, end in self.pairs if end is not None)
        except RuntimeError:  # an event that never ran (a failed launch, a capture): no floor from them
            return None


def gpu_past_wait(elapsed_ms: float, host_ms: float, ahead_ms: float) -> float:
    """Of a call timed `once` whose host time outlasted the spin it was queued behind, the GPU time of its work
    after the GPU's start event: the events' `elapsed_ms` (from the start event to the call's last work) less
    the host's time past that start (`host_ms` from queueing the spin to the call's return, less `ahead_ms`,
    the spin and flush as the GPU ran them), during which the GPU may have waited for the host. A call that
    waits out the spin on the host (a sleep, a synchronisation) and only then launches its work shows that
    work here; an honest call held up by the host (a compile, a synchronising op) shows its work after the
    hold, no more (what it launched before ran meanwhile and is left out): a floor on its GPU time. Work
    the call waits for before it returns is not seen here (host time: `fresh_host_work`)."""
    return max(0.0, elapsed_ms - max(0.0, host_ms - ahead_ms))


@contextlib.contextmanager
def collector_paused():
    """Python's garbage collector off for the block (left off where it already was): a collection's pause, or a
    finaliser of the candidate's run by it, does not fall inside it."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def run_delay_ms() -> float | None:
    """Milliseconds this thread has waited, ready to run, for a CPU since it started (Linux's schedstat: time
    on a run queue), or None where the kernel does not say: a diagnostic (other processes' work, or a thread
    pinned to a busy CPU)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as handle:
            return int(handle.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return None


class ClockTimer:
    """Times functions with the host's clock, one call per sample: the evaluator's own tests of its timing path
    without a GPU (`TRITONSMITH_CLOCK_TIMING=1`, on the Triton interpreter). Such times say nothing about a
    kernel, and no speedup is ever reported from them."""

    def measure(self, functions: dict[str, Callable[[], object]], settings: TimingSettings,
                first_call: FirstCall = contextlib.nullcontext, taken: Taken | None = None) -> Measurement:
        began = time.perf_counter()
        for fn in functions.values():
            with first_call():
                fn()  # the first call, as on the GPU
        prepare_s = time.perf_counter() - began

        def sample(name: str) -> float:
            started = time.perf_counter()
            functions[name]()
            return (time.perf_counter() - started) * 1000
        samples, rounds, interval, stopped = sample_rounds_told(sample, list(functions), settings, taken, lambda: 1)
        return Measurement({name: Timed.of(values) for name, values in samples.items()}, rounds, interval, stopped,
                           prepare_s)

    def alone(self, fn: Callable[[], object], settings: TimingSettings | None = None,
              first_call: FirstCall = contextlib.nullcontext) -> dict[str, float]:
        """The median of five calls after a first; the clock times one call a sample, whatever the settings."""
        with first_call():
            fn()
        median = statistics.median(self.once(fn, 0.0)[0]["ms"] for _ in range(5))
        return {"per call": median, "batched": median, "host_ms": median}

    def warm(self, fn: Callable[[], object], ms: float = 10.0) -> None:
        """One call: no clock to bring up."""
        fn()

    def once(self, fn: Callable[[], object], host_ms: float) -> tuple[dict[str, float | None], object]:
        started = time.perf_counter()
        result = fn()
        took = (time.perf_counter() - started) * 1000
        return {"ms": took, "host_ms": took, "spin_ms": 0.0}, result
