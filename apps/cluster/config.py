"""How the server reaches a Ray cluster and shapes its pool of workers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ClusterUnreachable(RuntimeError):
    """`ray.init` failed: a wrong address, a cluster down, a version mismatch."""


@dataclass(frozen=True)
class RayConfig:
    address: str  # "auto", "HOST:PORT", "ray://HOST:10001", or "local" (start one here)
    workers: int | None = None  # None: one per GPU in the cluster, else one per CPU slot
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None  # None: 1 when the cluster has GPUs, else 0
    models_dir: Path | None = None  # where workers find models; default: the server's
