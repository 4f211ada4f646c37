"""What the server's routes use to drive jobs, whoever runs them: the in-process
`LocalRunner` (`apps.jobs.local`) or the Ray pool (`apps.cluster.pool`)."""

from __future__ import annotations

from typing import Any, Protocol


class JobRunner(Protocol):
    def start(self) -> None: ...
    def stop(self, timeout: float = 30.0) -> None: ...
    def wake(self) -> None:
        """Something was queued."""

    def announce(self) -> None:
        """Tell every client how many jobs are left."""

    def interrupt(self, job_id: str | None = None) -> bool:
        """Stop `job_id` where it runs (any running job when None); False if none was."""

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop loaded models and/or cached outputs (ComfyUI's /free)."""

    def workers(self) -> list[dict[str, Any]]:
        """Who runs jobs: state, running job, device, resident models."""
