"""The worker: one thread that takes jobs from the persistent queue, runs them on the
executor and reports over the hub. It is off the event loop, so the API keeps answering
while a job runs."""

from __future__ import annotations

import logging
import threading
from typing import Any

from engine.executor import Executor, RunResult
from engine.queue import Job, JobQueue, JobStatus
from engine.server.hub import Hub
from engine.server.messages import JobMessages, status_message
from engine.workflow import DocumentError, parse_workflow

log = logging.getLogger(__name__)
_STATUS: dict[str, JobStatus] = {
    "success": "done",
    "invalid": "failed",
    "failed": "failed",
    "interrupted": "interrupted",
}


class Runner:
    def __init__(self, queue: JobQueue, executor: Executor, hub: Hub) -> None:
        self.queue = queue
        self.executor = executor
        self.hub = hub
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
        self._stopping.set()
        self.executor.interrupt()
        self._wake.set()
        self._thread.join(timeout)

    def wake(self) -> None:
        """Something was queued."""
        self._wake.set()
        self.announce()

    def announce(self) -> None:
        """Tell every client how many jobs are left."""
        remaining = self.queue.count("pending") + self.queue.count("running")
        self.hub.publish(status_message(remaining))

    def interrupt(self, job_id: str | None = None) -> bool:
        """Stop the running job (only if it is `job_id`, when given)."""
        with self._lock:
            current = self.current
        if current is None or (job_id is not None and current.id != job_id):
            return False
        self.executor.interrupt()
        return True

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Drop loaded models and/or cached outputs, between jobs."""
        with self._lock:
            self._free = {
                "unload_models": unload_models or self._free.get("unload_models", False),
                "free_memory": free_memory or self._free.get("free_memory", False),
            }
        self._wake.set()

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._apply_free()
            job = self.queue.claim_next()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            with self._lock:
                self.current = job
            self.announce()
            try:
                self._run(job)
            except Exception:  # a bug of ours: the job fails, the worker goes on
                log.exception("job %s failed outside any node", job.id)
                error = {"message": "internal error while running the job; see the server log"}
                self.queue.finish(job.id, "failed", error=error)
                self.hub.publish(
                    {"type": "executing", "data": {"node": None, "prompt_id": job.id}},
                    job.client_id,
                )
            finally:
                with self._lock:
                    self.current = None
                self.announce()

    def _run(self, job: Job) -> None:
        node_types = {k: v.get("type", "") for k, v in job.workflow.get("nodes", {}).items()}
        reporter = JobMessages(job.id, node_types, lambda m: self.hub.publish(m, job.client_id))
        try:
            workflow = parse_workflow(job.workflow)
        except DocumentError as exc:
            reporter.invalid(None, str(exc))
            self._finish(
                job, "failed", {"message": str(exc)}, reporter, RunResult(job.id, "invalid")
            )
            return
        result = self.executor.run(workflow, targets=job.targets, listener=reporter, run_id=job.id)
        if result.status == "interrupted" and self._stopping.is_set():
            self.queue.put_back(job.id)  # a clean stop: it runs again after the restart
            return
        error: dict[str, Any] | None = None
        if result.status == "invalid":
            first = result.problems[0]
            reporter.invalid(first.node, "; ".join(str(p) for p in result.problems))
            error = {"message": "the workflow is invalid", "problems": []}
            error["problems"] = [p.to_dict() for p in result.problems]
        elif result.error is not None:
            e = result.error
            error = {
                "node": e.node,
                "type": e.type,
                "input": e.input,
                "exception": e.exception,
                "message": e.message,
            }
        self._finish(job, _STATUS[result.status], error, reporter, result)

    def _finish(
        self,
        job: Job,
        status: JobStatus,
        error: dict[str, Any] | None,
        reporter: JobMessages,
        result: RunResult,
    ) -> None:
        outputs = {node: dict(ui) for node, ui in result.ui.items()}
        self.queue.finish(
            job.id,
            status,
            outputs=outputs,
            error=error,
            messages=reporter.history,
            cached=result.cached,
        )
        reporter.finished()

    def _apply_free(self) -> None:
        with self._lock:
            free, self._free = self._free, {}
        if free.get("unload_models"):
            self.executor.models.clear()
        if free.get("free_memory"):
            self.executor.cache.clear()
