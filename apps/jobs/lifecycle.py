"""A job from the moment a worker claims it to its recorded outcome.

`run_job` is the one walk, shared by the server's in-process worker (`local`) and the Ray
pool (`apps.cluster.pool`): they differ only in how a workflow is executed, which they pass
in. So a job reads the same in the history and on the WebSocket wherever it ran: parsed,
executed, put back when a clean stop cut it short (or its worker died the first time),
otherwise recorded with its outputs, error and the messages its client was sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from apps.jobs.messages import JobMessages, previews_wanted, status_message
from apps.jobs.queue import Job, JobQueue, JobStatus
from engine.events import NodeFailed
from engine.executor import RunResult
from engine.workflow import DocumentError, Workflow, parse_workflow

log = logging.getLogger(__name__)

# Send a WebSocket message (a dict, or a binary preview frame) to one client, or to all
# when the client id is None. The server's hub does this; callable from any thread.
Publish = Callable[[dict[str, Any] | bytes, str | None], None]
# Run a parsed workflow for a job, reporting events to the job's messages.
Execute = Callable[[Workflow, Job, JobMessages], RunResult]

STATUS: dict[str, JobStatus] = {
    "success": "done",
    "invalid": "failed",
    "failed": "failed",
    "interrupted": "interrupted",
}
WORKER_LOST = "WorkerLost"
INTERNAL_ERROR = "internal error while running the job; see the server's log"


class JobRefused(Exception):
    """The job cannot run as it stands (its input files are over the limit, say): it fails
    as an invalid workflow does, with this message."""


class WorkerLost(Exception):
    """The worker running the job went away mid-run (a Ray actor died). The job goes back to
    the queue once; the second time it fails with this message."""


def run_job(
    queue: JobQueue,
    publish: Publish,
    job: Job,
    execute: Execute,
    stopping: threading.Event,
    preview_method: str = "none",
) -> None:
    """Run a claimed job with `execute` and leave it recorded (or put back) in the queue.
    Never raises: a bug of ours fails this job, and the worker goes on with the next.
    `preview_method` is the server's (`--preview-method`); a job may ask otherwise."""
    reporter = reporter_for(job, publish, preview_method)
    try:
        _run(queue, job, execute, reporter, stopping)
    except Exception:
        log.exception("job %s failed outside any node", job.id)
        finish_job(queue, job, "failed", {"message": INTERNAL_ERROR}, reporter)


def _run(
    queue: JobQueue,
    job: Job,
    execute: Execute,
    reporter: JobMessages,
    stopping: threading.Event,
) -> None:
    try:
        result = execute(parse_workflow(job.workflow), job, reporter)
    except (DocumentError, JobRefused) as exc:
        reporter.invalid(None, str(exc))
        finish_job(queue, job, "failed", {"message": str(exc)}, reporter)
        return
    except WorkerLost as exc:
        if job.attempts == 0 and not stopping.is_set():
            queue.put_back(job.id, lost_worker=True)  # once, to whichever worker is free next
            return
        message = f"{exc}, a second time: not retried again"
        reporter(NodeFailed("", "", WORKER_LOST, message))
        finish_job(queue, job, "failed", {"message": message, "exception": WORKER_LOST}, reporter)
        return
    if result.status == "interrupted" and stopping.is_set():
        queue.put_back(job.id)  # a clean stop: it runs again after the restart
        return
    record_result(queue, job, result, reporter)


def reporter_for(job: Job, publish: Publish, preview_method: str = "none") -> JobMessages:
    """The listener that turns this job's events into its client's messages."""
    node_types = {k: v.get("type", "") for k, v in job.workflow.get("nodes", {}).items()}
    return JobMessages(
        job.id,
        node_types,
        lambda message: publish(message, job.client_id),
        previews=previews_wanted(job.extra_data, preview_method),
        broadcast=lambda message: publish(message, None),
    )


def record_result(queue: JobQueue, job: Job, result: RunResult, reporter: JobMessages) -> None:
    """Store a finished run in the history and tell the client the job ended."""
    error: dict[str, Any] | None = None
    if result.status == "invalid":
        reporter.invalid(result.problems[0].node, "; ".join(str(p) for p in result.problems))
        problems = [p.to_dict() for p in result.problems]
        error = {"message": "the workflow is invalid", "problems": problems}
    elif result.error is not None:
        error = result.error.to_dict()
    finish_job(queue, job, STATUS[result.status], error, reporter, result)


def finish_job(
    queue: JobQueue,
    job: Job,
    status: JobStatus,
    error: dict[str, Any] | None,
    reporter: JobMessages,
    result: RunResult | None = None,
) -> None:
    """Store how a job ended (with what it produced before, when it ran), tell every client
    the queue changed, then send the closing `executing` message: ComfyUI's order (its
    `task_done` broadcasts `status` before the worker sends `executing` with node null)."""
    queue.finish(
        job.id,
        status,
        outputs={node: dict(ui) for node, ui in result.ui.items()} if result else {},
        error=error,
        messages=reporter.history,
        cached=result.cached if result else [],
    )
    reporter.finished(queue.count("pending") + queue.count("running"))


def announce(queue: JobQueue, publish: Publish) -> None:
    """Tell every client how many jobs are left."""
    remaining = queue.count("pending") + queue.count("running")
    publish(status_message(remaining), None)
