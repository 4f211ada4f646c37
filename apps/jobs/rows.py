"""A job as the queue stores it: the SQLite table, and a row read back into a `Job`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

JobStatus = Literal["pending", "running", "done", "failed", "interrupted"]
FINISHED: tuple[JobStatus, ...] = ("done", "failed", "interrupted")
SERVER_STOPPED = "server stopped"

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    client_id TEXT,
    workflow TEXT NOT NULL,
    prompt TEXT NOT NULL,
    extra_data TEXT NOT NULL,
    targets TEXT NOT NULL,
    requeued_from TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, number);
"""


@dataclass
class Job:
    id: str
    number: int
    status: JobStatus
    workflow: dict[str, Any]  # our workflow document, as JSON data
    prompt: Any = None  # what the client sent (ComfyUI API prompt or our document)
    client_id: str | None = None
    extra_data: dict[str, Any] = field(default_factory=dict)
    targets: list[str] | None = None  # None: every output node
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # output node -> what it shows
    error: dict[str, Any] | None = None
    messages: list[list[Any]] = field(default_factory=list)  # [event name, data] as sent
    cached: list[str] = field(default_factory=list)
    requeued_from: str | None = None
    attempts: int = 0  # times it was cut off by a lost worker and put back


COLUMNS = (
    "id, number, status, client_id, workflow, prompt, extra_data, targets, requeued_from,"
    " result, created, started, finished, attempts"
)


def job_from_row(row: tuple[Any, ...]) -> Job:
    job_id, number, status, client_id, workflow, prompt, extra, targets, requeued_from = row[:9]
    result, created, started, finished, attempts = row[9:]
    res = json.loads(result) if result else {}
    return Job(
        id=job_id,
        number=number,
        status=status,
        workflow=json.loads(workflow),
        prompt=json.loads(prompt),
        client_id=client_id,
        extra_data=json.loads(extra),
        targets=json.loads(targets),
        created=created,
        started=started,
        finished=finished,
        outputs=res.get("outputs") or {},
        error=res.get("error"),
        messages=res.get("messages") or [],
        cached=res.get("cached") or [],
        requeued_from=requeued_from,
        attempts=attempts,
    )
