"""What the server's handlers share, stored on the application under one `web.AppKey`
(no module-level singletons): settings, registry, queue, executor, worker, sockets."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from apps.cluster.config import RayConfig
from apps.jobs.queue import JobQueue
from apps.jobs.runner import JobRunner
from apps.server.hub import Hub
from apps.server.listings import Listings
from engine.admission import MAX_NODES, Budget
from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings

MIB = 1024**2
# An API prompt is tens of KB, and with the editor's graph that ComfyUI's frontend sends in
# extra_data a few hundred; 4 MiB leaves room for the largest while bounding what one
# request costs to parse and store, and what GET /queue lists for each pending job.
MAX_JOB_BYTES = 4 * MIB


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8188
    token: str | None = None  # required on every route when set
    cors_origins: tuple[str, ...] = ()  # browser origins allowed besides the server's own
    allow_hosts: tuple[str, ...] = ()  # Host names answered besides loopback and the listen one
    max_upload_bytes: int = 50 * MIB
    history_size: int = 10_000
    max_job_bytes: int = MAX_JOB_BYTES  # a job's request body (POST /prompt, /v1/jobs)
    max_nodes: int = MAX_NODES  # nodes in one job's workflow
    workflows_dir: Path | None = None  # the project's example workflows (read-only)
    default_workflow: str = "toy_txt2img.json"
    web_dir: Path | None = None  # the built editor, served at /
    comfyui_frontend_dir: Path | None = None  # ComfyUI's frontend, served at / instead
    ray: RayConfig | None = None  # run jobs on a Ray cluster instead of in this process
    preview_method: str = "none"  # sampler previews when a job does not say (ComfyUI's default)

    @property
    def loopback_only(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass
class Services:
    settings: Settings
    config: ServerConfig
    registry: Registry
    queue: JobQueue
    executor: Executor
    runner: JobRunner
    hub: Hub = field(default_factory=Hub)
    listings: Listings = field(default_factory=Listings)  # GET /queue and /history bodies

    @property
    def user_workflows(self) -> Path:
        return self.settings.user_dir / "workflows"

    @property
    def budget(self) -> Budget:
        """The memory a job may use, where this server's executor runs networks."""
        devices = self.executor.devices
        half = devices.dtype.itemsize == 2
        return Budget.of(self.settings, devices.device.type != "cpu", half)


SERVICES = web.AppKey("services", Services)
