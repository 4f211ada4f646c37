"""The typed API's request and response bodies (/v1). The OpenAPI document is generated
from these models, so the docs cannot drift from what the handlers accept and return."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from apps.jobs.queue import Job, JobStatus


class JobRequest(BaseModel):
    # Strict: "front": "no" is a mistake to name, not a truthy string to queue up front.
    model_config = ConfigDict(strict=True)

    workflow: dict[str, Any] = Field(
        description="Our workflow document, or a ComfyUI API-format or editor-format graph"
    )
    client_id: str | None = Field(None, description="WebSocket client that gets the events")
    targets: list[str] | None = Field(None, description="Output nodes to run (default: all)")
    front: bool = Field(False, description="Queue before everything pending")


class JobView(BaseModel):
    id: str
    number: int
    status: JobStatus
    created: float
    started: float | None = None
    finished: float | None = None
    client_id: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict, description="output node -> results")
    error: dict[str, Any] | None = None
    cached: list[str] = Field(default_factory=list)
    requeued_from: str | None = None
    attempts: int = Field(0, description="times a lost worker cut it off and it was put back")

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(
            id=job.id,
            number=job.number,
            status=job.status,
            created=job.created,
            started=job.started,
            finished=job.finished,
            client_id=job.client_id,
            outputs=job.outputs,
            error=job.error,
            cached=job.cached,
            requeued_from=job.requeued_from,
            attempts=job.attempts,
        )


class JobList(BaseModel):
    jobs: list[JobView]
    next_offset: int | None = Field(
        None, description="The offset of the next page (null: this page is the last)"
    )


class ProblemView(BaseModel):
    code: str
    message: str
    node: str | None = None
    input: str | None = None


class ErrorBody(BaseModel):
    error: str
    problems: list[ProblemView] = Field(default_factory=list)


class WorkflowEntry(BaseModel):
    name: str
    source: Literal["project", "user"]
    default: bool = False


class WorkflowList(BaseModel):
    workflows: list[WorkflowEntry]


class WorkerView(BaseModel, extra="allow"):
    name: str
    state: Literal["starting", "idle", "busy", "lost"]
    job: str | None = Field(None, description="the job it is running")
    models: list[dict[str, Any]] = Field(default_factory=list, description="resident models")


class WorkerList(BaseModel):
    workers: list[WorkerView]


class NodeSchemas(BaseModel):
    nodes: dict[str, Any] = Field(description="node type id -> its inputs, outputs and widgets")
