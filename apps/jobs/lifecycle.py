"""A finished run -> its history entry and closing messages. Shared by the local worker
thread and the Ray pool, so a job's record reads the same wherever it ran."""

from __future__ import annotations

from typing import Any

from apps.jobs.messages import JobMessages, status_message
from apps.jobs.queue import Job, JobQueue, JobStatus
from apps.server.hub import Hub
from engine.executor import RunResult

STATUS: dict[str, JobStatus] = {
    "success": "done",
    "invalid": "failed",
    "failed": "failed",
    "interrupted": "interrupted",
}


def reporter_for(job: Job, hub: Hub) -> JobMessages:
    """The listener that turns this job's events into its client's messages."""
    node_types = {k: v.get("type", "") for k, v in job.workflow.get("nodes", {}).items()}
    return JobMessages(job.id, node_types, lambda m: hub.publish(m, job.client_id))


def record(queue: JobQueue, job: Job, result: RunResult, reporter: JobMessages) -> None:
    """Store the outcome in the history and tell the client the job ended."""
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
    fail(queue, job, STATUS[result.status], error, reporter, result)


def fail(
    queue: JobQueue,
    job: Job,
    status: JobStatus,
    error: dict[str, Any] | None,
    reporter: JobMessages,
    result: RunResult,
) -> None:
    """Store a job's end as given (also used when there is no node to blame)."""
    outputs = {node: dict(ui) for node, ui in result.ui.items()}
    queue.finish(
        job.id,
        status,
        outputs=outputs,
        error=error,
        messages=reporter.history,
        cached=result.cached,
    )
    reporter.finished()


def announce(queue: JobQueue, hub: Hub) -> None:
    """Tell every client how many jobs are left."""
    remaining = queue.count("pending") + queue.count("running")
    hub.publish(status_message(remaining))
