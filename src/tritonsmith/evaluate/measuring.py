"""The checker's timing (a part of evaluate/checker.py's Checker; runs in the checker's process, never beside
candidate code): the perf shapes' first calls, one `time` command per perf case, and what is decided from the
reply. Timings come back as raw samples, validated here; medians, ratios and speedups are computed here, and the
time claimed must fit in the wall-clock time this process measured around the timed region. Each timed call must
launch a Triton kernel and return new memory, and a call on inputs the candidate had not seen must not be much
slower, against the timed calls, than the baseline's (results reused between timed calls). The last timed call
and a fresh call after timing are checked as any other.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from tritonsmith.evaluate.conversation import int_of, keys_of
from tritonsmith.evaluate.runtime import TaskFailure, held_bytes, where
from tritonsmith.evaluate.timing import SPIN_CAP_MS, TIMER, TimingSettings, pooled_interval, ratio_interval
from tritonsmith.task import CaseSkipped, case_label
from tritonsmith.util.stats import geometric_mean

REUSE_RATIO = 0.25  # timed calls this much faster, relative to a first call on new inputs, than the baseline's
REUSE_MIN_MS = 0.02  # ... and by at least this much a call: results reused between timed calls
UNTIMED_REUSE_MIN_MS = 0.1  # ... where the first call kept the host past the spin (not timed whole): its
# kernels then met an idle GPU (launch latency, a compile's cold clock, a host stall inside an event pair)
BASELINE_SLOWER = 1.5  # the baseline beside the candidate this much slower than alone (and by this much a call,
BASELINE_SLOWER_MIN_MS = 0.005  # ms): the candidate slowed it; margins for clocks and a timer's batch size
CLOCK_BASELINE_SLOWER, CLOCK_REUSE_RATIO = 10.0, 0.05  # on the host clock (tests without a GPU), where other
# processes share the CPU: a median of a few samples there can be several times another (seen: 6x in CI)
FRESH_HOST_RATIO, FRESH_HOST_MIN_MS = 4.0, 2.0  # a first call on new inputs with this much more host work (than
# a timed call's, past the spin it waited for) did work once per input: checked where its GPU time was spoiled
WALL_MARGIN = 1.05  # claimed GPU time may exceed the wall-clock time around it by 5% (clock granularity) at most
WALL_SLACK_MS = 5.0
CLOCK_GAP_RATIO, CLOCK_GAP_OF_PARTNER = 0.5, 0.1  # the candidate's samples taking more wall-clock time beyond
CLOCK_GAP_MIN_MS, HOST_CLOCK_GAP_MIN_MS = 0.5, 1.0  # what they report than the baseline's do (medians), by half a
CLOCK_GAP_NOISE = 3.0  # sample, a tenth of theirs and this much at least (the host clock's: tests without a GPU),
# plus this many times the spread of the baseline's (the median absolute deviation)


class Measuring:
    """The Checker's timing methods (its state and its verify, violate, fail and ask live in the Checker)."""

    def measure(self) -> None:
        first_perf = len(self.checks) + 1
        perf_ids = list(range(first_perf, first_perf + len(self.perf_checks)))
        self.let_go_of_checked(first_perf)
        started = time.perf_counter()
        if perf_ids:
            reply = self.ask({"do": "call", "ids": perf_ids, "tag": "call", "record_ops": False,
                              "digest_outputs": True, "let_go": list(range(first_perf))})
            args_same = keys_of(reply.get("args_same"))
            for key in perf_ids:
                if key in (reply.get("handed") or []) and self.verify(
                        "call", key, self.all_checks[key], ("args",) if key in args_same else ()):
                    self.first_calls_ok.add(key)
            self.take_failure(reply)
        # each perf case's first call, and its output checked against the reference, before any is timed
        self.evidence.setdefault("phases_s", {})["timing.first_calls"] = round(time.perf_counter() - started, 3)
        if self.status is not None or self.violations:
            return  # a perf case's first call verified wrong (output or inputs): none is timed
        if not self.perf_checks:
            self.speedup_reason = ("the task has no perf cases" if not self.job["perf_cases"] else
                                   "every perf case was skipped or dropped (evidence: skipped_perf_cases, "
                                   "unreproducible_cases)")
            return
        timings = self.job.get("timing", {})
        mode = self.reference_timing
        time_reference = timings.get("reference", True) and mode == "separate"
        if not timings.get("reference", True):
            self.evidence["speedup_vs_torch"] = "not measured: the PyTorch reference was not timed (timing.reference off)"
        elif mode == "none":
            self.evidence["speedup_vs_torch"] = ("not measured: this task's reference is the suite's own kernel, "
                                                 "timed as the baseline, not PyTorch")
        elif mode == "baseline":
            self.evidence["speedup_vs_torch"] = "the baseline is the PyTorch reference itself: timed once, as the baseline"
        speedups, torch_speedups = [], []
        first_after = first_perf + len(self.perf_checks)
        for offset, check in enumerate(self.perf_checks):
            self.time_case(first_perf + offset, first_after + offset, check, time_reference, mode, speedups,
                           torch_speedups)
            if self.status is not None:
                return
        parts: dict[str, float] = {}
        for split in self.evidence.get("timing_split_s", []):
            for part, seconds in split.items():
                parts[part] = parts.get(part, 0.0) + seconds
        self.evidence.setdefault("phases_s", {}).update({f"timing.{k}": round(v, 3) for k, v in parts.items()})
        self.speedup = geometric_mean(speedups)
        intervals = [p["ratio_ci"] for p in self.perf if p.get("ratio_ci") is not None]
        if self.speedup is not None and len(intervals) == len(speedups):
            self.evidence["speedup_ci"] = round(pooled_interval(intervals), 4)
        if self.speedup is None and self.speedup_reason is None:
            self.speedup_reason = "the task has no baseline kernel"
        self.speedup_vs_torch = geometric_mean(torch_speedups)
        self.evidence["timer"] = TIMER

    def time_case(self, key: int, after_key: int, check: dict[str, Any], time_reference: bool, mode: str,
                  speedups: list[float], torch_speedups: list[float]) -> None:
        reply, wall_ms, log = self.time_once(key, check, time_reference)
        fresh = self.first_call_on_new_inputs(key, after_key)
        entry_perf = self.judge_timing(check, reply, wall_ms, log)
        if entry_perf is None:
            return
        clock = self.check_sample_clock(check, log, entry_perf)
        if clock is not None:
            kept = self.time_again(key, check, time_reference, clock, reply, entry_perf)
            if kept is None:
                return
            reply, entry_perf = kept
        times = times_of(reply.get("times"))
        medians = {name: statistics.median(t["samples"]) for name, t in times.items()}
        cand_ms = medians["candidate"]
        if "baseline" in times:
            entry_perf["baseline_ms"] = medians["baseline"]
            entry_perf["speedup"] = entry_perf["baseline_ms"] / cand_ms
            speedups.append(entry_perf["speedup"])
        reference = medians.get("reference") or (medians.get("baseline") if mode == "baseline" else None)
        if reference is not None:
            entry_perf["reference_ms"] = reference
            entry_perf["speedup_vs_torch"] = reference / cand_ms
            torch_speedups.append(entry_perf["speedup_vs_torch"])
        if "compiled" in medians:
            entry_perf["compiled_ms"] = medians["compiled"]
            entry_perf["speedup_vs_compile"] = entry_perf["compiled_ms"] / cand_ms
        flops, nbytes = self.task.flops(dict(check["case"])), self.task.bytes_moved(dict(check["case"]))
        if nbytes:  # fractions of the roofs are computed by the caller (job_result.add_roofline)
            entry_perf["gbps"] = nbytes / cand_ms / 1e6
        if flops:
            entry_perf["tflops"] = flops / cand_ms / 1e9
        trusted = self.baseline_alone(next(i for i, perf_check in enumerate(self.perf_checks) if perf_check is check))
        self.check_timed_calls(key, check, reply, fresh or {}, entry_perf, trusted)
        if "baseline" in times and trusted is not None:
            self.check_baseline_speed(check, entry_perf, trusted)
        describe = getattr(self.task, "perf_evidence", None)  # how a suite's perf inputs were made
        if describe is not None:
            entry_perf["evidence"] = describe(dict(check["case"])) or None
        self.perf.append(entry_perf)

    def time_again(self, key: int, check: dict[str, Any], time_reference: bool, clock: str, reply: dict[str, Any],
                   entry_perf: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """A perf case whose samples the checker's clock found slow (`clock`) timed again: the CPU's scheduler can
        hold a process off a core for a tick (4 ms) at a time on a busy host, and five samples of each can put
        more of those on the candidate's by chance (a ROCm layernorm gold against itself, four evaluations on the
        machine), where a forger's extra time is in every timing. A second finding is held against it; else the
        timing less favourable to the candidate is kept, so that one that adds time to its samples where a first
        timing goes badly for it gets no second draw (a forger's first figures, under-reported, are the more
        favourable), and both timings' calls answer for what they did. A case rejected already is not timed
        again. Returns the (reply, entry) kept; None: the second timing was rejected."""
        if self.status is not None or self.violations:
            self.violate(f"{where(check)}: {clock}")
            return reply, entry_perf
        self.evidence.setdefault("clock_retimed", []).append(f"{where(check)}: timed again, as {clock}")
        first, entries = (reply, entry_perf), self.timing_entries()
        reply, wall_ms, log = self.time_once(key, check, time_reference)
        entry_perf = self.judge_timing(check, reply, wall_ms, log)
        self.merge_timing_evidence(entries)
        if entry_perf is None:
            return None
        again = self.check_sample_clock(check, log, entry_perf)
        earlier, now = _speedup(first[0]), _speedup(reply)
        if again is not None:  # an excess in two timings in a row: a draw of noise is seldom twice
            self.violate(f"{where(check)}: {again}; and in a first timing of the case: {clock}")
        elif earlier is not None and now is not None and earlier < now:
            self.check_timed_counters(check, reply)
            first[1].pop("clock_gaps_ms", None)
            return first
        else:
            self.check_timed_counters(check, first[0])
        return reply, entry_perf

    def time_once(self, key: int, check: dict[str, Any], time_reference: bool,
                  ) -> tuple[dict[str, Any], float, list[tuple[float, str, float, int]]]:
        """One `time` command for perf case `key`: its reply (a failure in it ends the evaluation; its last timed
        output verified), the wall-clock milliseconds around it and its samples as they arrived."""
        timings = dict(self.job.get("timing", {}), cases=len(self.perf_checks))
        started = time.perf_counter()
        self.timing_key = key  # its samples are taken as they arrive, until its reply
        try:
            reply = self.ask({"do": "time", "id": key, "settings": timings, "time_reference": time_reference,
                              "torch_compile": bool(timings.get("torch_compile"))})
        finally:
            self.timing_key = None
        wall_ms = (time.perf_counter() - started) * 1000
        log = self.sample_log.pop(key, [])
        self.take_failure(reply)
        self.verify_last(key, check, reply)
        return reply, wall_ms, log

    def judge_timing(self, check: dict[str, Any], reply: dict[str, Any], wall_ms: float,
                     log: list[tuple[float, str, float, int]]) -> dict[str, Any] | None:
        """A timing's samples as sent and within the wall-clock time around them: the perf case's entry, its
        candidate's figures filled in (None: the timing is rejected)."""
        times = times_of(reply.get("times"))
        self.check_samples_as_sent(check, times, log)
        if "candidate" not in times or (self.baseline_present and "baseline" not in times):
            raise self.fail("crashed", f"{where(check)}: the candidate's process sent no usable timings")
        claimed_ms = sum(sum(t["samples"]) * t["calls_per_sample"] for t in times.values())
        if claimed_ms > wall_ms * WALL_MARGIN + WALL_SLACK_MS:
            self.violate(f"{where(check)}: the timings sent by the candidate's process add up to {claimed_ms:.1f} ms "
                         f"of GPU time, more than the {wall_ms:.1f} ms of wall-clock time the checker measured "
                         "around them: they were not measured")
            return None
        self.evidence.setdefault("timing_wall_ms", []).append(round(wall_ms, 1))
        candidate = times["candidate"]
        cand_ms = statistics.median(candidate["samples"])
        if not cand_ms > 0:
            raise self.fail("crashed", f"{where(check)}: the candidate's time was not measured (median {cand_ms})")
        spread = (max(candidate["samples"]) - min(candidate["samples"])) / cand_ms
        ratio_ci = (ratio_interval(candidate["samples"], times["baseline"]["samples"])
                    if "baseline" in times and len(times["baseline"]["samples"]) == len(candidate["samples"]) else None)
        return {"index": check["index"], "label": case_label(check["case"]), "candidate_ms": cand_ms,
                "candidate_spread": spread, "rounds": int_of(reply.get("rounds")), "ratio_ci": ratio_ci,
                "timing_stopped": str(reply.get("stopped"))[:20],
                "calls_per_sample": candidate["calls_per_sample"], "timer": candidate["timer"]}

    def check_samples_as_sent(self, check: dict[str, Any], times: dict[str, dict[str, Any]],
                              log: list[tuple[float, str, float, int]]) -> None:
        """The samples in the `time` reply must be those sent as each was taken (before the next call of candidate
        code): samples rewritten while they waited for the reply in the timer's memory (reached through the
        stack: `adversarial/forge_samples.py`) are not what was measured."""
        sent: dict[str, list[float]] = {}
        for _, name, ms, _ in log:
            sent.setdefault(name, []).append(ms)
        rounds = TimingSettings.from_job(self.job.get("timing") or {}).rounds
        for name, timed in times.items():
            if sent.get(name) != timed["samples"]:
                self.violate(f"{where(check)}: the {name}'s samples that the candidate's process reported after "
                             f"timing are not those it sent as each was taken ({len(sent.get(name, []))} sent, "
                             f"{len(timed['samples'])} reported): they were changed in between")
            elif len(timed["samples"]) < rounds:
                self.violate(f"{where(check)}: the {name} was sampled {len(timed['samples'])} times, fewer than the "
                             f"{rounds} rounds the timer always takes: its sampling was cut short")

    def check_sample_clock(self, check: dict[str, Any], log: list[tuple[float, str, float, int]],
                           perf: dict[str, Any]) -> str | None:
        """Each sample against this process's clock: the time between its arrival and the previous message's (the
        previous sample, or sampling's start: this one's spin, L2 flushes, calls and wait for the GPU, and the
        loop around them) less the time it reports, its gap. The candidate's and the baseline's samples are taken
        alike, in turns, so their gaps match: each candidate sample's gap is held against the baseline's (or the
        reference's) sample next to it, taken with the same spin at much the same clock (the spin grows where the
        host was slow to queue a sample, and its length in time follows the GPU's clock: medians of the two
        apart saw a step in it as a gap the candidate did not have), and the two medians are apart by as much
        (the differences alone saw a layernorm gold's samples 3.9 ms over the baseline's next to them, with
        medians 15.935 and 15.923 ms: the sample next to each is a draw of one, which the medians are not). Where
        the lesser of the two exceeds CLOCK_GAP_RATIO of the candidate's median sample, CLOCK_GAP_OF_PARTNER of the
        partner's median gap and CLOCK_GAP_MIN_MS at least, plus CLOCK_GAP_NOISE times the spread of the
        partner's gaps (this process kept from reading at once by others on the machine), more than half its
        samples took longer than they say, so the median it is judged by: its time was not measured as its calls
        ran (events it recorded again itself, samples rewritten before they were sent). Fewer than half so moves
        no median. The medians are in the evidence (`clock_gap_ms`), and each sample's gap where it is rejected
        (`clock_gaps_ms`). Returns what it found (None: nothing), held against the candidate only where a second
        timing of the case finds it too (`time_again`: two ROCm layernorm perf cases of 24, at four evaluations a
        GPU, had gaps of 8 to 20 ms in steps of 4, the scheduler's tick, on more candidate samples than baseline)."""
        gaps: dict[str, list[float]] = {}
        placed: list[tuple[int, str, float]] = []  # (position in the log, function, gap)
        for position, ((before, *_), (arrived, name, ms, calls)) in enumerate(zip(log, log[1:], strict=False)):
            gap = (arrived - before) * 1000 - ms * calls
            gaps.setdefault(name, []).append(gap)
            placed.append((position, name, gap))
        mine = gaps.get("candidate", [])
        partner = next((name for name in ("baseline", "reference", "compiled") if len(gaps.get(name, [])) >= 3), None)
        if partner is None or len(mine) < 3:
            return None
        own, other = statistics.median(mine), statistics.median(gaps[partner])
        spread = statistics.median(abs(gap - other) for gap in gaps[partner])
        perf["clock_gap_ms"] = {"candidate": round(own, 4), partner: round(other, 4)}
        theirs = [(position, gap) for position, name, gap in placed if name == partner]
        paired = statistics.median(gap - min(theirs, key=lambda each: abs(each[0] - position))[1]
                                   for position, name, gap in placed if name == "candidate")
        excess = min(paired, own - other)
        claimed = statistics.median(ms * calls for _, name, ms, calls in log if name == "candidate")
        floor = CLOCK_GAP_MIN_MS if self.on_gpu else HOST_CLOCK_GAP_MIN_MS
        margin = max(floor, CLOCK_GAP_RATIO * claimed, CLOCK_GAP_OF_PARTNER * abs(other)) + CLOCK_GAP_NOISE * spread
        if excess > margin:
            perf["clock_gaps_ms"] = {name: [round(gap, 3) for gap in gaps[name]] for name in ("candidate", partner)}
            return (f"the checker's clock saw the candidate's samples take {excess:.3f} ms "
                    f"more than they report beyond the {partner}'s (the median of the differences from the "
                    f"{partner}'s sample next to each, {paired:.3f} ms; the medians: {own:.3f} against "
                    f"{other:.3f} ms, for {claimed:.3f} ms reported; {margin:.3f} ms allowed): the candidate's "
                    "time was not measured as its calls ran")
        return None

    def baseline_alone(self, offset: int) -> dict[str, Any] | None:
        """The task's baseline timed alone on this perf case where no candidate code ran (references.py,
        `time_baseline`), if that is the baseline this job times."""
        trusted = getattr(self, "trusted_baseline", None) or {}
        if "error" in trusted:
            self.evidence["baseline_alone"] = f"not measured: the baseline failed alone ({trusted['error']})"
        entry = trusted.get(str(offset))
        return entry if isinstance(entry, dict) and not self.job.get("baseline_untrusted") else None

    def check_timed_calls(self, key: int, check: dict[str, Any], reply: dict[str, Any], fresh: dict[str, Any],
                          perf: dict[str, Any], trusted: dict[str, Any] | None) -> None:
        """What the candidate's timed calls did besides their time: each must launch a Triton kernel and return
        new memory; and its first call on inputs it had not seen (after timing) must not be much slower, against
        its timed calls, than the baseline's is (timed so alone): a candidate that computes once and then,
        called again on the same inputs as only a timing loop does, returns or copies what it computed. A first
        call found much slower so (by its time, or by its host time where it was not timed) is made once more, on
        other new inputs (`fresh_again`), and only a second as slow is held against it: a stall of the machine
        (other evaluations compiling and allocating beside it, a CPU taken away) does not repeat, work done once
        per input does."""
        self.check_timed_counters(check, reply)
        if not _has_time(fresh):
            doubts = [f"{where(check)}: the candidate's first call on inputs it had not seen came back with no time, "
                      "neither on the GPU nor on the host: it could not be compared with the timed calls"]
            perf["fresh_call_ms"] = None
        else:
            doubts = self.fresh_doubts(check, perf, fresh, trusted)
        if not doubts:
            return
        decided = self.status is not None or self.violations  # (nothing to gain from another call)
        again = None if decided else self.fresh_again(key, check)
        if again is None or not _has_time(again):
            for doubt in doubts:  # (not made again, or no figures from it: the first call decides)
                self.violate(doubt)
            return
        repeated = self.fresh_doubts(check, dict(perf), again, trusted, first=False)
        self.evidence.setdefault("fresh_call_made_again", []).append(
            f"{where(check)}: {'as slow' if repeated else 'not slow'} on other new inputs "
            f"({_fresh_summary(fresh)}; then {_fresh_summary(again)})")
        if repeated:
            for doubt in doubts:
                self.violate(f"{doubt}; and so again on other new inputs ({_fresh_summary(again)})")

    def check_timed_counters(self, check: dict[str, Any], reply: dict[str, Any]) -> None:
        """Each timed call of a `time` reply must launch a Triton kernel and return new memory."""
        reused, no_launch = int_of(reply.get("timed_calls_reusing_output")), int_of(reply.get("timed_calls_without_launch"))
        if reused:
            self.violate(f"{where(check)}: {reused} timed call(s) returned memory the previous call had returned: a "
                         "result computed once and returned again")
        torch_suite = "*" in self.job.get("allowed_ops", [])  # its golds may take a torch path on some shapes
        if no_launch and not self.pytorch_gold and not torch_suite:  # (the fresh-call comparison still applies there)
            self.violate(f"{where(check)}: {no_launch} timed call(s) launched no Triton kernel: a result not computed "
                         "while timed")

    def timing_entries(self) -> dict[str, int]:
        """How many entries the evidence's per-timing lists hold now."""
        return {name: len(self.evidence.get(name, [])) for name in ("timing_wall_ms", "timing_split_s")}

    def merge_timing_evidence(self, entries: dict[str, int]) -> None:
        """A perf case timed again: what its second timing added to the per-timing lists since `entries` (its
        first timing's were the last then) is added into the first's entries: one per perf case."""
        for name, count in entries.items():
            listed = self.evidence.get(name, [])
            if not count or len(listed) <= count:
                continue
            for later in listed[count:]:
                if isinstance(later, dict):
                    for part, seconds in later.items():
                        listed[count - 1][part] = round(listed[count - 1].get(part, 0.0) + seconds, 3)
                else:
                    listed[count - 1] = round(listed[count - 1] + later, 1)
            del listed[count:]

    def fresh_doubts(self, check: dict[str, Any], perf: dict[str, Any], fresh: dict[str, Any],
                     trusted: dict[str, Any] | None, first: bool = True) -> list[str]:
        """What the first call on new inputs (`fresh`, as the candidate's process timed it) shows against the timed
        calls, recorded in `perf`: the reasons to think it reuses results, by its time or its host time (empty:
        none). Its GPU work past the host's wait is held to the timed calls here and now (`check_work_past_wait`:
        GPU time, which nothing beside it on the machine lengthens)."""
        doubts = []
        cand_fresh, host, repeat_host = ms_of(fresh.get("ms")), ms_of(fresh.get("host_ms")), ms_of(fresh.get("repeat_host_ms"))
        perf["fresh_call_ms"] = cand_fresh
        spin = ms_of(fresh.get("spin_ms")) or 0.0
        compiling = min(ms_of(fresh.get("compile_ms")) or 0.0, max(0.0, (host or 0.0) - spin))
        if compiling and first:
            self.evidence.setdefault("fresh_call_compiled_ms", []).append(round(compiling, 1))
        # why the host may have taken long, for the message (not excused: a candidate can make its own thread
        # wait for a CPU, pinned to one that a process it spawned keeps busy)
        waited = ms_of(fresh.get("run_delay_ms"))
        if waited:
            perf["fresh_call_run_delay_ms"] = round(waited, 3)
        if cand_fresh is None and host is not None and repeat_host is not None and fresh_host_work(
                host, spin, compiling, repeat_host):
            besides = [f"{what} {value}" for what, value in (
                ("waiting for a CPU (ms)", f"{waited:.1f}" if waited else None),
                ("new segments of GPU memory", int_of(fresh.get("new_segments")) or None),
                ("allocations retried", int_of(fresh.get("alloc_retries")) or None)) if value]
            doubts.append(f"{where(check)}: the candidate's first call on inputs it had not seen took {host:.1f} ms on "
                          f"the host ({spin:.1f} ms of it waiting for the GPU at most, {compiling:.1f} ms in Triton's "
                          f"compiler" + (f"; {', '.join(besides)}" if besides else "") +
                          f"), against {repeat_host:.3f} ms for a timed call: work done once per input and "
                          "reused between calls (or autotuning that new inputs of the same shape should not need)")
        base_repeat = ms_of((trusted or {}).get(perf["timer"]))
        base_fresh = ms_of((trusted or {}).get("fresh"))
        perf["baseline_fresh_call_ms"] = base_fresh
        margin = REUSE_RATIO if self.on_gpu else CLOCK_REUSE_RATIO
        past = self.fresh_work_floor(check, fresh)
        if cand_fresh is None and past is not None:
            self.check_work_past_wait(check, perf, past, host, spin, base_repeat, base_fresh, trusted, margin)
        if cand_fresh is None or base_repeat is None or base_fresh is None:
            return doubts
        cand_ratio, base_ratio = perf["candidate_ms"] / cand_fresh, base_repeat / base_fresh
        perf["repeat_vs_fresh"] = round(cand_ratio / base_ratio, 4)
        if cand_ratio < margin * base_ratio and cand_fresh - perf["candidate_ms"] > REUSE_MIN_MS:
            doubts.append(f"{where(check)}: called again on the same inputs (timed), the candidate took "
                          f"{perf['candidate_ms']:.4f} ms a call, {1 / cand_ratio:.1f}x less than its first call on new "
                          f"inputs ({cand_fresh:.4f} ms), where the baseline's ratio was {1 / base_ratio:.1f}x: it "
                          "reuses results between calls")
        return doubts

    def let_go_of_checked(self, first_perf: int) -> None:
        """The correctness and kernels-off checks' tensors, let go as timing starts (each keeps its case and seed;
        the candidate's process lets their inputs go too: `let_go` in the perf cases' first call). Nothing reads
        them after, and the after-timing checks made beside the candidate's process need the memory: a KernelBench
        level-1 problem holds 8 to 16 GiB of inputs a check, and 38_L1Norm_'s and 45_Average_Pooling_2D's golds ran
        out of GPU memory on an H100 with every check held through timing. Evidence: the bytes let go here (on
        the device, or in host memory where `hold_on_host` put them)."""
        held = held_bytes([(c.get("args"), c.get("expected")) for c in self.checks + [self.fresh_check]])
        self.checks = [self.meta_of(check) for check in self.checks]
        self.fresh_check = self.meta_of(self.fresh_check)
        self.all_checks[:first_perf] = self.checks + [self.fresh_check]
        self.evidence["let_go_before_timing_bytes"] = held
        if self.on_gpu:
            import torch
            torch.cuda.empty_cache()

    def first_call_on_new_inputs(self, key: int, after_key: int) -> dict[str, Any] | None:
        """The candidate's first call on the inputs of check `after_key` (new to it), after a warm-up on the perf case
        `key`'s: named to its process only once that warm-up has returned (so no candidate code runs while
        anything there knows them), made there by the task's code (or, where they come out otherwise there,
        sent in a file and loaded just before the call), timed once and verified. Its timing figures (None:
        none usable)."""
        entry = self.all_checks[after_key]
        later = bool(entry.get("later"))
        if later:  # left for when it is needed (References.after_timing_later): made now, let go after
            self.all_checks[after_key] = self.made_when_needed(entry)
        try:
            return self.first_call_timed(key, after_key)
        finally:
            if later:
                self.all_checks[after_key] = self.meta_of(entry)  # its tensors go now
                if self.on_gpu:
                    import torch
                    torch.cuda.empty_cache()

    def made_when_needed(self, entry: dict[str, Any]) -> dict[str, Any]:
        """An after-timing check left for when it is needed, made now (References.made_later), its time counted in
        the case's timing split as `references` (and named as the stage, so that a job killed meanwhile is the
        task's, as while its references are made first). The task's code made this perf case before, so a
        failure now, beside the candidate's process, is that process's (a runtime error with the reason: out of
        memory there, the pool makes it again with no other evaluation beside it), never the task's: a candidate
        that holds the GPU's memory to fail it must not turn its verdict into a task error."""
        began = time.perf_counter()
        if self.progress is not None:
            self.progress("timing.references")
        try:
            return self.made_later(entry)
        except (TaskFailure, CaseSkipped) as exc:
            raise self.fail("runtime_error", f"{where(entry)}: the check after timing could not be made beside the "
                            f"candidate's process (the task's code made this perf case before): {exc}") from exc
        finally:
            if self.progress is not None:
                self.progress("timing")
            self.references_spent(began)

    def references_spent(self, began: float) -> None:
        """The seconds since `began`, spent making a check while timing, added to the case's timing split as
        `references` (the references' own stages were reported before)."""
        self.evidence.pop("references_split_s", None)
        split = self.evidence.setdefault("timing_split_s", [{}])[-1]
        split["references"] = round(split.get("references", 0.0) + time.perf_counter() - began, 3)

    def first_call_timed(self, key: int, after_key: int) -> dict[str, Any] | None:
        """`first_call_on_new_inputs` once check `after_key` is made."""
        warmed = self.ask({"do": "warm", "perf_id": key})
        self.take_failure(warmed)
        reply = self.ask({"do": "fresh", "id": after_key, "after": self.after_inputs(after_key)})
        self.take_failure(reply)
        if reply.get("after_handed") is not True:  # its inputs came out otherwise there: sent
            error = reply.get("after_error")
            self.evidence.setdefault("after_inputs_sent", []).append(
                where(self.all_checks[after_key]) + (f" (making them there failed: {str(error)[:200]})" if error else ""))
            reply = self.ask({"do": "after", "id": after_key,
                              "inputs": self.inputs_file([after_key], f"inputs-{after_key}.pt")})
            self.take_failure(reply)
        verifying = time.perf_counter()
        self.verify("after", after_key, self.all_checks[after_key],
                    ("args",) if reply.get("after_args_same") is True else ())
        split = self.evidence.setdefault("timing_split_s", [{}])[-1]
        for part, seconds in dict(_seconds(warmed), **_seconds(reply), verify=time.perf_counter() - verifying).items():
            split[part] = round(split.get(part, 0.0) + seconds, 3)
        return self.figures.pop(after_key, None)  # (sent before the call's output was handed over)

    def fresh_again(self, key: int, check: dict[str, Any]) -> dict[str, Any] | None:
        """The candidate's first call on other new inputs of the perf case `key` (made here with a seed drawn now,
        with their reference), as the first (`first_call_on_new_inputs`); what its process timed, or None where
        the inputs could not be made here (said in the evidence)."""
        began = time.perf_counter()
        try:
            again = self.made_later(self.after_timing_check(check, later=True))
        except (TaskFailure, CaseSkipped) as exc:  # memory, the task's own code: the first call decides alone
            self.evidence.setdefault("fresh_call_not_made_again", []).append(f"{where(check)}: {exc}"[:300])
            return None
        finally:
            self.references_spent(began)
        again_key = len(self.all_checks)
        self.all_checks.append(again)
        try:
            return self.first_call_on_new_inputs(key, again_key)
        finally:
            self.all_checks[again_key] = self.meta_of(again)  # its tensors go now
            del again
            if self.on_gpu:
                import torch
                torch.cuda.empty_cache()

    def fresh_work_floor(self, check: dict[str, Any], fresh: dict[str, Any]) -> float | None:
        """A floor on the GPU time of a first call on new inputs that the host outlasted the spin for: the larger
        of its work after the host's wait (`past_wait_ms`) and its Triton launches' own GPU time, bracketed by
        events from Triton's launch hooks (`launches_gpu_ms`: work the call waited for before it returned shows
        here, not in the first). Launches the hooks did not see mean the candidate took them away."""
        def time_of(value: Any) -> float | None:  # (0 is a time here: work all waited for, or none launched)
            return float(value) if type(value) in (int, float) and 0 <= value < float("inf") else None
        hooked, launches = fresh.get("hooked_launches"), fresh.get("launches")
        if type(hooked) is int and type(launches) is int and hooked < launches:
            self.violate(f"{where(check)}: Triton's launch hooks saw {hooked} of the {launches} launches of the "
                         "candidate's first call on new inputs: it took away what times that call")
        found = [t for t in (time_of(fresh.get("past_wait_ms")), time_of(fresh.get("launches_gpu_ms"))) if t is not None]
        return max(found) if found else None

    def check_work_past_wait(self, check: dict[str, Any], perf: dict[str, Any], past: float, host: float | None,
                             spin: float, base_repeat: float | None, base_fresh: float | None,
                             trusted: dict[str, Any] | None, margin: float) -> None:
        """A first call on new inputs whose host time outlasted the spin (untimed, and judged by its host time
        past the spin) still shows the GPU work it launched after the spin ended and what its launches took
        (`past`, fresh_work_floor): a call that waits the spin out (a sleep, a synchronisation) and then does,
        and perhaps waits for, the work it reuses between timed calls is caught by that against its timed
        calls. The baseline's ratio of its timed calls to its first call is allowed for, at most 1 (`past` is a
        floor on a first call's GPU time, and a baseline that synchronises holds host time in its timed calls:
        not a ratio to hold a candidate to)."""
        perf["fresh_call_past_wait_ms"] = round(past, 6)
        base_ratio = 1.0
        host_bound = (trusted or {}).get("host_bound")
        if base_repeat and base_fresh and not (isinstance(host_bound, list) and perf["timer"] in host_bound):
            base_ratio = min(1.0, base_repeat / base_fresh)
        ratio = perf["candidate_ms"] / past if past else float("inf")
        if ratio < margin * base_ratio and past - perf["candidate_ms"] > UNTIMED_REUSE_MIN_MS:
            self.violate(f"{where(check)}: the candidate's first call on inputs it had not seen kept the host "
                         f"{host or 0.0:.1f} ms (past the {spin:.1f} ms the GPU was kept busy before it, so it was not "
                         f"timed), then its GPU work took {past:.4f} ms, {1 / ratio:.1f}x its timed calls' "
                         f"{perf['candidate_ms']:.4f} ms on inputs it had seen: it reuses results between calls")

    def check_baseline_speed(self, check: dict[str, Any], perf: dict[str, Any], trusted: dict[str, Any]) -> None:
        """The baseline's time beside the candidate against its time alone where no candidate code ran: a
        candidate can slow what it is timed against in ways no guard sees (what a kernel keeps in memory, a plain
        global), but not the time taken before it existed."""
        alone = ms_of(trusted.get(perf["timer"]))
        if alone is None:
            return
        host_bound = trusted.get("host_bound")
        if isinstance(host_bound, list) and perf["timer"] in host_bound:  # its GPU time holds host time (it
            # synchronises), which the guards' launch hooks lengthen beside the candidate and not alone
            self.evidence.setdefault("baseline_alone_not_compared", []).append(
                f"{where(check)}: the baseline's samples alone held host time (the host was still queueing them "
                f"after a {SPIN_CAP_MS:g} ms spin: it synchronises), which its time beside the candidate cannot be "
                "held to")
            return
        perf["baseline_alone_ms"] = alone  # (kept only where compared: the calibration of the margin reads it)
        if baseline_slowed(perf["baseline_ms"], alone, self.on_gpu):
            self.violate(f"{where(check)}: the baseline took {perf['baseline_ms']:.4f} ms a call timed beside the "
                         f"candidate, {perf['baseline_ms'] / alone:.2f}x the {alone:.4f} ms it took alone before any "
                         "candidate code ran: the candidate slowed what it is timed against")

    def verify_last(self, key: int, check: dict[str, Any], reply: dict[str, Any]) -> None:
        """The last timed call, its output taken as the first call's, by its digest, only where that first call was
        verified right; and where the perf case's time went, as the candidate's process reports it (diagnostic
        only), with the verifying."""
        verifying = time.perf_counter()
        claims = {"args"} if reply.get("last_args_same") is True else set()
        if reply.get("last_output_same") is True and key in self.first_calls_ok:
            claims.add("output")
        self.verify("last", key, dict(check, phase="last_timed_call"), claims)
        self.evidence.setdefault("timing_split_s", []).append(
            dict(_seconds(reply), verify=round(time.perf_counter() - verifying, 3)))


def baseline_slowed(beside_ms: float, alone_ms: float, on_gpu: bool) -> bool:
    """Whether the baseline's time beside the candidate is past its time alone by the margin (BASELINE_SLOWER, on
    the host clock CLOCK_BASELINE_SLOWER, and BASELINE_SLOWER_MIN_MS a call): the candidate slowed it."""
    limit = BASELINE_SLOWER if on_gpu else CLOCK_BASELINE_SLOWER
    return beside_ms > limit * alone_ms and beside_ms - alone_ms > BASELINE_SLOWER_MIN_MS


def _speedup(reply: dict[str, Any]) -> float | None:
    """The baseline's median over the candidate's in a `time` reply (None: not both timed)."""
    times = times_of(reply.get("times"))
    if "candidate" not in times or "baseline" not in times:
        return None
    candidate = statistics.median(times["candidate"]["samples"])
    return statistics.median(times["baseline"]["samples"]) / candidate if candidate > 0 else None


def _seconds(reply: dict[str, Any]) -> dict[str, float]:
    """A reply's `spent_s` (where its time went, as the candidate's process says): finite seconds under a day, at
    most eight, or left out."""
    spent = reply.get("spent_s") if isinstance(reply.get("spent_s"), dict) else {}
    return {str(k)[:12]: round(float(v), 3) for k, v in list(spent.items())[:8]
            if type(v) in (int, float) and 0 <= v < 86400}


def _has_time(fresh: dict[str, Any]) -> bool:
    """Whether a first call came back with a time, on the GPU or on the host."""
    return ms_of(fresh.get("ms")) is not None or ms_of(fresh.get("host_ms")) is not None


def _fresh_summary(fresh: dict[str, Any]) -> str:
    """A first call's figures in a few words, for a message."""
    timed, host = ms_of(fresh.get("ms")), ms_of(fresh.get("host_ms"))
    return (f"{timed:.4f} ms timed" if timed is not None else "not timed") + (f", {host:.1f} ms on the host"
                                                                           if host is not None else "")


def fresh_host_work(host: float, spin: float, compiling: float, repeat_host: float) -> bool:
    """Whether a first call on new inputs, `host` ms on the host (at most `spin` of it waiting for the GPU,
    `compiling` in Triton's compiler, which a new specialization needs), did work once per input:
    FRESH_HOST_RATIO times a timed call's `repeat_host`, and FRESH_HOST_MIN_MS more."""
    work = host - spin - compiling
    return work > FRESH_HOST_RATIO * repeat_host and work - repeat_host > FRESH_HOST_MIN_MS


def times_of(value: Any) -> dict[str, dict[str, Any]]:
    """The raw samples of each timed function, validated: positive finite numbers only."""
    times = {}
    if not isinstance(value, dict):
        return times
    for name in ("candidate", "baseline", "reference", "compiled"):
        entry = value.get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("samples"), list):
            continue
        samples = [float(s) for s in entry["samples"] if isinstance(s, (int, float)) and 0 < s < float("inf")]
        if len(samples) != len(entry["samples"]) or not samples:
            continue
        times[name] = {"samples": samples, "calls_per_sample": max(1, int_of(entry.get("calls_per_sample")) or 1),
                       "timer": entry.get("timer") if entry.get("timer") in ("per call", "batched") else None}
    return times


def ms_of(value: Any) -> float | None:
    """A time in milliseconds as the candidate's process sent it: a positive finite number, else None."""
    return float(value) if type(value) in (int, float) and 0 < value < 1e9 else None
