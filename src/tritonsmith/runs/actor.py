"""The Ray actor that evaluates on one node: a local WorkerPool (one GPU, or one CPU interpreter worker)
fed with tasks shipped from the driver (runs/cluster.py makes these actors; runs/shipping.py packs tasks)."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from tritonsmith.evaluate import DeviceError, EvalConfig, EvaluationCancelled, WorkerPool
from tritonsmith.runs.shipping import TaskBundle, unpack_task
from tritonsmith.task import Task, TaskError


class EvaluationActor:
    """One Ray actor: a local WorkerPool on its node (one GPU, or one CPU interpreter worker) that evaluates
    shipped tasks. Errors the driver must raise travel as (kind, message)."""

    def __init__(self, device: str, workers: int | None, config: EvalConfig):
        self.error = None
        self.pool = None
        try:
            self.pool = WorkerPool(device=device, workers=workers, config=config)
        except DeviceError as err:
            self.error = str(err)
        self.cache_dir = Path(tempfile.gettempdir()) / f"tritonsmith-cluster-{os.getuid()}" / "tasks"
        self.tasks: dict[str, Task] = {}
        self.lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        import ray

        if self.pool is None:
            return {"error": self.error}
        return {"node": ray.util.get_node_ip_address(), "gpus": ray.get_gpu_ids(), "size": self.pool.size,
                "device_kind": self.pool.device_kind, "device_name": self.pool.device_name,
                "peaks": self.pool.peaks, "peaks_note": self.pool.peaks_note}

    def evaluate(self, bundle: TaskBundle, source: str, timeout_s: float | None, timing: dict[str, Any] | None,
                 baseline: str | None, gold: bool = False) -> tuple[str, Any]:
        try:
            with self.lock:
                task = self.tasks.get(bundle.digest)
                if task is None:
                    task = self.tasks[bundle.digest] = unpack_task(bundle, self.cache_dir)
            source = task.baseline if gold else source  # its paths rewritten for this node, as the task's
            return "result", self.pool.evaluate(task, source, timeout_s=timeout_s, timing=timing, baseline=baseline,
                                                gold=gold)
        except TaskError as err:
            return "task_error", str(err)
        except EvaluationCancelled as err:
            return "cancelled", str(err)
        except DeviceError as err:
            return "device_error", str(err)

    def forget(self, bundle: TaskBundle) -> None:
        """The task's references are let go by this actor's keepers (WorkerPool.forget); never raises."""
        with self.lock:
            task = self.tasks.pop(bundle.digest, None)
        if task is not None and self.pool is not None:
            try:
                self.pool.forget(task)
            except Exception:  # noqa: BLE001 - memory given back later (the keepers' own limit) instead
                pass

    def cancel(self) -> None:
        if self.pool is not None:
            self.pool.cancel()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
