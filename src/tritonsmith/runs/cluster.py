"""Evaluations on a Ray cluster: one actor per GPU (CPU actors on a cluster without GPUs), each a local
WorkerPool on its node. The driver keeps the agent, its LLM calls and the results store; tasks travel
to the actors with the files they name (runs/shipping.py).

An actor that dies, or whose node dies, mid-evaluation has that evaluation retried once on another
actor; a second loss makes the candidate `crashed`. A candidate that crashes its own worker is the
local pool's business (a verdict, never retried). A watcher adds actors as GPUs join the cluster and
replaces dead ones when resources allow. Ray is imported only when a ClusterPool is made.
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritonsmith.evaluate import DeviceError, EvalConfig, EvaluationCancelled
from tritonsmith.evaluate.pool import SHARED_GPU_TIMEOUTS
from tritonsmith.evaluate.result import EvalResult
from tritonsmith.runs.actor import EvaluationActor
from tritonsmith.runs.shipping import TaskBundle, pack_task
from tritonsmith.task import Task, TaskError

ANSWER_MARGIN_S = 360  # beyond an evaluation's own timeout: the actor may restart a host (300 s at most) first


class ClusterPool:
    """The WorkerPool interface over Ray actors: `evaluate`, `size`, `device_kind`, `device_name`, `peaks`,
    `cancel`, `close`. `address`: as ray.init takes it (None: RAY_ADDRESS, or a new Ray on this machine).
    `workers`: CPU actors to keep (default: one per CPU of the cluster); GPU actors are one per GPU."""

    def __init__(self, address: str | None = None, device: str = "auto", workers: int | None = None,
                 config: EvalConfig | None = None, stream: Any = None, watch_s: float = 2.0,
                 start_timeout_s: float = 600, no_actor_timeout_s: float = 600):
        self.ray, self._owns_ray = connect(address)
        self.config = config or EvalConfig()
        self.stream = stream or sys.stderr
        self.address = address or os.environ.get("RAY_ADDRESS") or "a local Ray"
        self.gpu = self._uses_gpus(device)
        self.workers = workers
        self.watch_s, self.no_actor_timeout_s = watch_s, no_actor_timeout_s
        self._prefix = f"tritonsmith-eval-{uuid.uuid4().hex[:6]}"
        self._lock = threading.Lock()
        self._slots: queue.Queue[int] = queue.Queue()
        self._members: dict[int, _Member] = {}
        self._pending: dict[int, tuple[Any, Any]] = {}
        self._count = 0
        self._start_failures = 0
        self._next_start = 0.0
        self._bundles: dict[str, tuple[TaskBundle, Any]] = {}
        self._cancelled = threading.Event()
        self._closed = threading.Event()
        self._actor_class = self.ray.remote(EvaluationActor)
        self.device_kind = self.device_name = self.peaks = self.peaks_note = None
        try:
            self._start_actors(start_timeout_s)
            if not self._members:
                raise DeviceError(f"no evaluation actor started on the Ray cluster at {self.address} within "
                                  f"{start_timeout_s:g} s: it has no free {'GPU' if self.gpu else 'CPU'}.")
        except BaseException:
            self.close()
            raise
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    # --- the WorkerPool interface ---------------------------------------------------------------

    @property
    def size(self) -> int:
        """How many evaluations can run at once now, over every actor."""
        with self._lock:
            return sum(member.size for member in self._members.values())

    def evaluate(self, task: Task, source: str, timeout_s: float | None = None,
                 timing: dict[str, Any] | None = None, baseline: str | None = None, gold: bool = False,
                 memory_retry: Any = None) -> EvalResult:
        """As WorkerPool.evaluate, on the next free actor; retried once on another if that actor is lost.
        `memory_retry` is not passed on: an actor's pool makes a try short of GPU memory again alone at once."""
        if gold and source != task.baseline:
            raise ValueError("gold=True evaluates the task's own baseline: pass task.baseline as the source")
        bundle = self._bundle(task)
        timeout = timeout_s or self.config.timeout_s or (600 if self.gpu else 300)
        losses: list[str] = []
        while True:
            member = self._take_slot()
            try:
                kind, value = self._call(member, bundle, source, timeout_s, timing, baseline, timeout, gold)
            except _ActorLost as lost:
                self._drop(member, str(lost), f"{task.name}'s evaluation is "
                           + ("retried on another actor" if not losses else "given up: crashed"))
                losses.append(f"actor {member.name} on {member.node}: {lost}")
                if len(losses) > 1:
                    return _lost_result(task, losses)
                continue
            self._release(member)
            if kind == "task_error":
                raise TaskError(value)
            if kind == "cancelled":
                raise EvaluationCancelled(value)
            if kind == "device_error":
                raise DeviceError(value)
            value.evidence["cluster"] = {"actor": member.name, "node": member.node,
                                         "retried_after": losses[0] if losses else None}
            return value

    def forget(self, task: Task) -> None:
        """As WorkerPool.forget, on every actor that may keep the task's references (its evaluations are done: a
        bench's finished task); its packed files leave the object store. Does not wait for the actors."""
        with self._lock:
            found = self._bundles.pop(repr(task), None)
            members = list(self._members.values())
        if found is not None:
            for member in members:
                member.handle.forget.remote(found[1])

    def cancel(self) -> None:
        """Stop: evaluations in flight are killed on their actors and raise EvaluationCancelled; no new one starts."""
        self._cancelled.set()
        with self._lock:
            members = list(self._members.values())
        for member in members:
            member.handle.cancel.remote()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            members, self._members = list(self._members.values()), {}
            pending, self._pending = list(self._pending.values()), {}
        closing = [member.handle.close.remote() for member in members]
        if closing:
            self.ray.wait(closing, num_returns=len(closing), timeout=30)
        for handle in [m.handle for m in members] + [handle for handle, _ in pending]:
            try:
                self.ray.kill(handle)
            except Exception:  # already gone
                pass
        if self._owns_ray:
            self.ray.shutdown()

    def __enter__(self) -> ClusterPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one evaluation -------------------------------------------------------------------------

    def _bundle(self, task: Task) -> Any:
        """The task packed once per pool (the files it names are read now, on the driver), put in Ray's
        object store, so that each node fetches it once."""
        key = repr(task)
        with self._lock:
            found = self._bundles.get(key)
        if found is None:
            bundle = pack_task(task)
            found = (bundle, self.ray.put(bundle))
            with self._lock:
                self._bundles[key] = found
        return found[1]

    def _take_slot(self) -> _Member:
        waited_since = None
        while True:
            if self._cancelled.is_set():
                raise EvaluationCancelled("the pool was cancelled: no new evaluations start")
            try:
                member = self._members.get(self._slots.get(timeout=0.5))
            except queue.Empty:
                member = None
                with self._lock:
                    idle = not self._members and not self._pending
                if not idle:
                    waited_since = None
                elif waited_since is None:
                    waited_since = time.monotonic()
                elif time.monotonic() - waited_since > self.no_actor_timeout_s:
                    raise DeviceError(f"no evaluation actor is left on the Ray cluster at {self.address}, and none "
                                      f"could start for {self.no_actor_timeout_s:g} s.") from None
            if member is not None:
                return member

    def _release(self, member: _Member) -> None:
        with self._lock:
            alive = member.id in self._members
        if alive:
            self._slots.put(member.id)

    def _call(self, member: _Member, bundle: Any, source: str, timeout_s: float | None,
              timing: dict[str, Any] | None, baseline: str | None, timeout: float, gold: bool = False) -> tuple[str, Any]:
        ray = self.ray
        reference = member.handle.evaluate.remote(bundle, source, timeout_s, timing, baseline, gold)
        allowed = timeout * (SHARED_GPU_TIMEOUTS if self.config.workers_per_gpu > 1 else 1) + ANSWER_MARGIN_S
        deadline = time.monotonic() + allowed
        cancel_sent = False
        while True:
            ready, _ = ray.wait([reference], timeout=0.5)
            if ready:
                try:
                    return ray.get(reference)
                except (ray.exceptions.RayActorError, ray.exceptions.NodeDiedError,
                        ray.exceptions.ObjectLostError) as err:
                    raise _ActorLost(death_reason(err)) from None
            if self._cancelled.is_set() and not cancel_sent:
                member.handle.cancel.remote()
                cancel_sent = True
            if time.monotonic() > deadline:
                ray.kill(member.handle)
                raise _ActorLost(f"it did not answer within {allowed:g} s and was killed")

    # --- actors joining and leaving ---------------------------------------------------------------

    def _uses_gpus(self, device: str) -> bool:
        gpus = int(self.ray.cluster_resources().get("GPU", 0))
        if device.startswith("cuda:"):
            raise DeviceError(f"--device {device} names one GPU of this machine; on a cluster use --device cuda "
                              "(an actor per GPU) or auto.")
        if device == "cuda" and not gpus:
            raise DeviceError(f"the Ray cluster at {self.address} has no GPUs (use --device cpu or auto).")
        if device not in ("auto", "cpu", "cuda"):
            raise DeviceError(f"--device must be auto, cpu or cuda on a cluster (got {device!r}).")
        return device != "cpu" and gpus > 0

    def _target(self) -> int:
        resources = self.ray.cluster_resources()
        if self.gpu:
            return int(resources.get("GPU", 0))
        return self.workers or max(1, int(resources.get("CPU", 1)))

    def _grow(self) -> None:
        """Start actors up to the target, as far as free resources allow (never one that would only wait)."""
        if self._closed.is_set() or time.monotonic() < self._next_start:
            return
        with self._lock:
            missing = self._target() - len(self._members) - len(self._pending)
        free = self.ray.available_resources()
        for _ in range(missing):
            if free.get("CPU", 0) < 1 or (self.gpu and free.get("GPU", 0) < 1):
                return
            free["CPU"] = free.get("CPU", 0) - 1
            free["GPU"] = free.get("GPU", 0) - (1 if self.gpu else 0)
            with self._lock:
                self._count += 1
                number = self._count
            name = f"{self._prefix}-{number}"
            size = max(1, self.config.workers_per_gpu) if self.gpu else 1
            handle = self._actor_class.options(
                name=name, num_cpus=1, num_gpus=1 if self.gpu else 0, max_concurrency=size + 1,
                max_restarts=0).remote("cuda" if self.gpu else "cpu", None if self.gpu else 1, self.config)
            with self._lock:
                self._pending[number] = (handle, handle.info.remote())

    def _start_actors(self, timeout_s: float, settle_s: float = 5.0) -> None:
        """Start the first actors: until the target is reached, or `settle_s` after the last one joined with no
        other starting (resources that Ray frees late, or that never come, are the watcher's then)."""
        deadline = time.monotonic() + timeout_s
        last_join = None
        while time.monotonic() < deadline:
            self._grow()
            before = len(self._members)
            self._collect(timeout=0.5, first_start=True)
            if len(self._members) > before:
                last_join = time.monotonic()
            if self._pending:
                continue
            if len(self._members) >= self._target() or (last_join and time.monotonic() - last_join > settle_s):
                return
            time.sleep(0.5)

    def _collect(self, timeout: float, first_start: bool = False) -> None:
        """Take in the actors that finished starting."""
        with self._lock:
            pending = dict(self._pending)
        if not pending:
            return
        by_reference = {reference: number for number, (_, reference) in pending.items()}
        ready, _ = self.ray.wait(list(by_reference), num_returns=len(by_reference), timeout=timeout)
        for reference in ready:
            number = by_reference[reference]
            handle, _ = pending[number]
            name = f"{self._prefix}-{number}"
            try:
                info = self.ray.get(reference)
            except self.ray.exceptions.RayError as err:
                info = {"error": death_reason(err)}
            with self._lock:
                self._pending.pop(number, None)
            if info.get("error"):
                self._start_failures += 1
                self._next_start = time.monotonic() + min(600, 15 * 2 ** self._start_failures)
                self.ray.kill(handle)
                if first_start and not self._members and not self._pending:
                    raise DeviceError(info["error"])
                self._say(f"actor {name} failed to start: {info['error']}")
                continue
            self._start_failures = 0
            member = _Member(number, name, handle, info["node"], info["size"], info.get("gpus") or [])
            if self.device_kind is None:
                self.device_kind, self.device_name = info["device_kind"], info["device_name"]
                self.peaks, self.peaks_note = info.get("peaks"), info.get("peaks_note")
            with self._lock:
                self._members[number] = member
                count = len(self._members)
            for _ in range(member.size):
                self._slots.put(number)
            where = f"node {member.node}" + (f", GPU {','.join(map(str, member.gpus))}" if member.gpus else "")
            other = (f"; a different device from the first actor's {self.device_name}: this bench mixes devices"
                     if info["device_name"] != self.device_name else "")
            self._say(f"actor {name} joined ({where}, {info['device_name'] or info['device_kind']}{other}): "
                      f"{count} {'actor' if count == 1 else 'actors'}")

    def _drop(self, member: _Member, reason: str, consequence: str) -> None:
        with self._lock:
            known = self._members.pop(member.id, None) is not None
            count = len(self._members)
        try:
            self.ray.kill(member.handle)  # an actor that is only unreachable must not come back with its GPU
        except Exception:  # already gone
            pass
        if known:
            self._say(f"actor {member.name} left (node {member.node}): {reason}; {consequence}: "
                      f"{count} {'actor' if count == 1 else 'actors'}")
        else:
            self._say(f"{consequence} (actor {member.name}: {reason})")

    def _watch(self) -> None:
        while not self._closed.wait(self.watch_s):
            try:
                self._collect(timeout=0)
                self._grow()
            except Exception as err:  # the cluster went away: evaluations see it and fail on their own
                if not self._closed.is_set():
                    self._say(f"watching the cluster failed ({type(err).__name__}: {err})")

    def _say(self, line: str) -> None:
        self.stream.write(f"cluster: {line}\n")
        self.stream.flush()


@dataclass
class _Member:
    id: int
    name: str
    handle: Any
    node: str
    size: int
    gpus: list[Any] = field(default_factory=list)


class _ActorLost(Exception):
    """The actor running an evaluation died, its node died, or it stopped answering."""


def _lost_result(task: Task, losses: list[str]) -> EvalResult:
    result = EvalResult("crashed", False, False, "the evaluation was lost twice with the Ray actor running it, so "
                        f"it was not tried again: {losses[0]}; then {losses[1]}")
    result.task_id = task.id
    result.speedup_reason = "the status is crashed"
    result.evidence["cluster"] = {"lost": losses}
    return result


def death_reason(err: Exception) -> str:
    """One line from Ray's account of a dead actor: why it died, if Ray says."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    because = [line for line in lines if "because" in line or "died" in line.lower()]
    return (because[-1] if because else lines[0] if lines else type(err).__name__).rstrip(".")


def connect(address: str | None) -> tuple[Any, bool]:
    """(the ray module, whether this call started Ray); one sentence if Ray is missing or unreachable."""
    try:
        import ray
    except ImportError:
        raise DeviceError("--cluster ray needs Ray, which is not installed: pip install 'tritonsmith[ray]'.") from None
    if ray.is_initialized():
        return ray, False
    target = address or os.environ.get("RAY_ADDRESS")
    if target and target not in ("auto", "local"):
        host, port = _host_port(target)
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError as err:
            raise DeviceError(f"cannot reach the Ray cluster at {target} ({err.strerror or err}): start it with "
                              "`ray start --head` on that machine, or check the address.") from None
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="warning",
                 runtime_env=_runtime_env())
    except ConnectionError as err:
        cause = str(err.__cause__ or err).splitlines()[0].split(". ")[0].rstrip(".")
        raise DeviceError(f"cannot connect to the Ray cluster at {target or 'auto'} ({cause}).") from None
    return ray, True


def _host_port(address: str) -> tuple[str, int]:
    """HOST:PORT of a GCS address (default port 6379) or of a Ray Client address ray://HOST:PORT (10001)."""
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://").split("/", 1)[0]
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    try:
        return host, int(port) if port else (10001 if client else 6379)
    except ValueError:
        raise DeviceError(f"--cluster ray:{address}: the address must be HOST:PORT or ray://HOST:PORT.") from None


def _runtime_env() -> dict[str, Any]:
    """The driver's own tritonsmith travels to every node (the same code evaluates everywhere; a driver that
    started Ray itself only); the nodes need Python, numpy, torch, triton and Ray, at the driver's versions."""
    return {"py_modules": [str(Path(__file__).resolve().parents[1])], "excludes": ["__pycache__"]}
