"""The evaluation pool of a bench or a run: this machine's workers, or actors on a Ray cluster (`--cluster`)."""

from __future__ import annotations

from typing import Any

from tritonsmith.agent.config import RunConfig
from tritonsmith.config import ConfigError
from tritonsmith.evaluate import EvalConfig, WorkerPool


def make_pool(config: RunConfig, eval_config: EvalConfig, workers: int | None = None, stream: Any = None) -> Any:
    """A WorkerPool, or with `config.cluster` a ClusterPool (same interface; Ray is imported only then)."""
    if not config.cluster:
        return WorkerPool(device=config.device, gpus=config.gpus, config=eval_config, workers=workers)
    kind, _, address = config.cluster.partition(":")
    if kind != "ray":
        raise ConfigError(f"--cluster {config.cluster}: the cluster must be ray or ray:ADDRESS.")
    if config.gpus:
        raise ConfigError("--gpus names GPUs of this machine, but with --cluster every GPU of the cluster gets an "
                          "actor: leave --gpus out.")
    from tritonsmith.runs.cluster import ClusterPool
    return ClusterPool(address or None, device=config.device, workers=workers, config=eval_config, stream=stream)
