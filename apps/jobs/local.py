"""The in-process worker: one thread that takes jobs from the persistent queue and runs
them on this process's executor. It is off the event loop, so the API keeps answering while
a job runs."""

from __future__ import annotations

import threading
from typing import Any

from apps.jobs.lifecycle import Publish, announce, run_job
from apps.jobs.memory import give_back_memory
from apps.jobs.messages import JobMessages
from apps.jobs.queue import Job, JobQueue
from engine.executor import Executor, RunResult
from engine.workflow import Workflow


class LocalRunner:
    """A `JobRunner` that runs one job at a time on one executor, so models and cached
    outputs stay between jobs."""

    def __init__(
        self, queue: JobQueue, executor: Executor, publish: Publish, preview_method: str = "none"
    ) -> None:
        self.queue = queue
        self.executor = executor
        self.publish = publish
        self.preview_method = preview_method  # the server's; a job may ask otherwise
        self.current: Job | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._free: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="diffgraph-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current job; a job cut short goes back to pending."""
        with self._lock:  # from here on no job is claimed, and the claimed one is stopped
            self._stopping.set()
        self.interrupt()
        self._wake.set()
        self._thread.join(timeout)

    def wake(self) -> None:
        """Something was queued."""
        self._wake.set()
        self.announce()

    def announce(self) -> None:
        """Tell every client how many jobs are left."""
        announce(self.queue, self.publish)

    def interrupt(self, job_id: str | None = None) -> bool:
        """Stop the running job (only if it is `job_id`, when given)."""
        with self._lock:  # claiming holds it too: a claimed job is always `current`
            current = self.current
        if current is None or (job_id is not None and current.id != job_id):
            return False
        self.executor.interrupt(current.id)  # kept for that run even before it begins
        return True

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop loaded models and/or cached outputs, between jobs."""
        with self._lock:
            self._free = {
                "unload_models": unload_models or self._free.get("unload_models", False),
                "free_memory": free_memory or self._free.get("free_memory", False),
            }
        self._wake.set()

    def workers(self) -> list[dict[str, Any]]:
        """The one in-process worker, in the shape the Ray pool reports its actors."""
        with self._lock:
            job = self.current.id if self.current else None
        view = {"name": "local", "state": "busy" if job else "idle", "job": job}
        return [
            {**view, **self.executor.devices.describe(), "models": self.executor.models.report()}
        ]

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._apply_free()
            with self._lock:  # an interrupt sees no job claimed but not yet current
                stopping = self._stopping.is_set()
                job = self.current = None if stopping else self.queue.claim_next()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self.announce()
            run_job(
                self.queue, self.publish, job, self._execute, self._stopping, self.preview_method
            )
            with self._lock:  # the job's end announced the queue's new length (finish_job)
                self.current = None

    def _execute(self, workflow: Workflow, job: Job, reporter: JobMessages) -> RunResult:
        return self.executor.run(workflow, targets=job.targets, listener=reporter, run_id=job.id)

    def _apply_free(self) -> None:
        with self._lock:
            free, self._free = self._free, {}
        if free.get("unload_models"):
            self.executor.models.clear()
        if free.get("free_memory"):
            self.executor.cache.clear()
        if free:
            give_back_memory()
