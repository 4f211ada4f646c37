"""The persistent job queue and history, in SQLite.

Every job is one row from the moment it is queued: a restart (clean or `kill -9`) finds the
pending jobs in their order. A job found `running` when the queue is opened was cut off by a
crash: it is marked failed with reason "server stopped" and can be re-queued (as a new job,
so the history keeps what happened). A clean stop puts its running job back to pending.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from apps.jobs.rows import COLUMNS, FINISHED, SCHEMA, SERVER_STOPPED, Job, JobStatus, job_from_row
from engine.jsontext import dump_json


class DuplicateJob(ValueError):
    """A job with this id is queued, running or in the history already."""


class JobQueue:
    """Thread-safe: the server's handlers and its worker thread share one instance."""

    def __init__(self, path: str | Path, history_size: int = 10_000) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.history_size = history_size
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process kill
        self._db.executescript(SCHEMA)
        self._add_missing_columns()
        self.revision = 0  # bumped by every change: lets readers cache what they built
        self.history_revision = 0  # bumped by every change to the finished jobs
        self.crashed = self._mark_cut_off_jobs()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- adding and taking ------------------------------------------------------------

    def add(
        self,
        workflow: dict[str, Any],
        *,
        prompt: Any = None,
        client_id: str | None = None,
        extra_data: dict[str, Any] | None = None,
        targets: list[str] | None = None,
        front: bool = False,
        requeued_from: str | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Queue a job at the back (or the front) and return it. `job_id` is the client's
        own (ComfyUI's `prompt_id`); DuplicateJob if a job has it already."""
        job = Job(
            id=job_id or str(uuid.uuid4()),
            number=0,
            status="pending",
            workflow=workflow,
            prompt=prompt,
            client_id=client_id,
            extra_data=extra_data or {},
            targets=targets,
            created=time.time(),
            requeued_from=requeued_from,
        )
        # Stored as JSON texts side by side, so that listing the queue (which clients poll)
        # can pass them through without decoding them: see `raw_entries`.
        texts = (  # never NaN: GET /queue passes these texts to browsers as they are
            dump_json(workflow),
            dump_json(prompt if prompt is not None else workflow),
            dump_json(job.extra_data),
            dump_json(targets),
        )
        with self._lock:
            if job_id is not None:
                taken = self._db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if taken:
                    raise DuplicateJob(job_id)
            low, high = self._db.execute("SELECT MIN(number), MAX(number) FROM jobs").fetchone()
            job.number = ((low or 0) - 1) if front else ((high or 0) + 1)
            self._db.execute(
                "INSERT INTO jobs (id, number, status, client_id, workflow, prompt, extra_data,"
                " targets, requeued_from, created) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
                (job.id, job.number, client_id, *texts, requeued_from, job.created),
            )
            self.revision += 1
        return job

    def claim_next(self) -> Job | None:
        """The first pending job, now marked running; None when nothing waits."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM jobs WHERE status = 'pending' ORDER BY number LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE jobs SET status = 'running', started = ? WHERE id = ?",
                (time.time(), row[0]),
            )
            self.revision += 1
        return self.get(row[0])

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        outputs: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        messages: list[list[Any]] | None = None,
        cached: list[str] | None = None,
    ) -> None:
        result = {
            "outputs": outputs or {},
            "error": error,
            "messages": messages or [],
            "cached": cached or [],
        }
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = ?, result = ?, finished = ? WHERE id = ?",
                (status, dump_json(result), time.time(), job_id),
            )
            self._trim_history()
            self.revision += 1
            self.history_revision += 1

    def put_back(self, job_id: str, *, lost_worker: bool = False) -> None:
        """A running job returns to pending at its place: a clean stop cut it short, or
        (`lost_worker`) the worker running it died, which is counted in `attempts`."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = 'pending', started = NULL, attempts = attempts + ?"
                " WHERE id = ?",
                (int(lost_worker), job_id),
            )
            self.revision += 1

    def requeue(self, job_id: str) -> Job | None:
        """A finished job queued again as a new job; None if there is no such finished job."""
        old = self.get(job_id)
        if old is None or old.status not in FINISHED:
            return None
        return self.add(
            old.workflow,
            prompt=old.prompt,
            client_id=old.client_id,
            extra_data=old.extra_data,
            targets=old.targets,
            requeued_from=old.id,
        )

    # -- reading ----------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,))
            found = row.fetchone()
        return job_from_row(found) if found else None

    def jobs(
        self, statuses: Iterable[JobStatus], limit: int | None = None, offset: int | None = None
    ) -> list[Job]:
        """Jobs in the given states: pending/running in queue order, finished oldest first:
        the newest `limit` of them, or (ComfyUI's history paging) `limit` from the
        `offset`-th oldest on."""
        return [job_from_row(r) for r in self._rows(COLUMNS, list(statuses), limit, offset)]

    def raw_history(
        self, limit: int | None = None, offset: int | None = None
    ) -> list[tuple[int, str, JobStatus, str, str, str, str | None]]:
        """(number, id, status, prompt, extra_data, targets, result) of finished jobs, paged
        as `jobs` pages them, the last four as the JSON texts stored: a page of large jobs
        is listed without decoding their prompts."""
        columns = "number, id, status, prompt, extra_data, targets, result"
        return self._rows(columns, list(FINISHED), limit, offset)

    def _rows(
        self, columns: str, wanted: list[JobStatus], limit: int | None, offset: int | None
    ) -> list[Any]:
        marks = ", ".join("?" * len(wanted))
        finished = all(s in FINISHED for s in wanted)
        newest_first = finished and offset is None
        order = "finished DESC" if newest_first else "finished" if finished else "number"
        sql = f"SELECT {columns} FROM jobs WHERE status IN ({marks}) ORDER BY {order}"
        if limit is not None or offset is not None:
            sql += f" LIMIT {-1 if limit is None else int(limit)} OFFSET {int(offset or 0)}"
        with self._lock:
            rows = self._db.execute(sql, wanted).fetchall()
        return rows[::-1] if newest_first else rows

    def page(self, statuses: Iterable[JobStatus], limit: int, offset: int = 0) -> list[Job]:
        """One page of the jobs in the given states: the waiting and running ones in queue
        order, then the finished ones oldest first (/v1/jobs)."""
        wanted = list(statuses)
        marks = ", ".join("?" * len(wanted))
        ended = f"status IN ({', '.join(repr(s) for s in FINISHED)})"
        sql = (
            f"SELECT {COLUMNS} FROM jobs WHERE status IN ({marks})"
            f" ORDER BY {ended}, CASE WHEN {ended} THEN finished ELSE number END"
            f" LIMIT {int(limit)} OFFSET {int(offset)}"
        )
        with self._lock:
            rows = self._db.execute(sql, wanted).fetchall()
        return [job_from_row(r) for r in rows]

    def count(self, status: JobStatus) -> int:
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)
                ).fetchone()[0]
            )

    def raw_entries(self, status: JobStatus) -> list[tuple[int, str, str, str, str]]:
        """(number, id, prompt, extra_data, targets) of the jobs in `status`, in queue order,
        the last three as the JSON texts stored: cheap enough to list on every poll."""
        with self._lock:
            return self._db.execute(
                "SELECT number, id, prompt, extra_data, targets FROM jobs WHERE status = ?"
                " ORDER BY number",
                (status,),
            ).fetchall()

    # -- removing ---------------------------------------------------------------------

    def delete(self, job_ids: Iterable[str], statuses: Iterable[JobStatus]) -> int:
        """Delete the listed jobs that are in one of `statuses`; returns how many went."""
        ids, wanted = list(job_ids), list(statuses)
        if not ids:
            return 0
        sql = (
            f"DELETE FROM jobs WHERE id IN ({', '.join('?' * len(ids))})"
            f" AND status IN ({', '.join('?' * len(wanted))})"
        )
        with self._lock:
            self.revision += 1
            self.history_revision += 1
            return self._db.execute(sql, [*ids, *wanted]).rowcount

    def clear(self, statuses: Iterable[JobStatus]) -> int:
        wanted = list(statuses)
        with self._lock:
            self.revision += 1
            self.history_revision += 1
            return self._db.execute(
                f"DELETE FROM jobs WHERE status IN ({', '.join('?' * len(wanted))})", wanted
            ).rowcount

    def _trim_history(self) -> None:
        self._db.execute(
            "DELETE FROM jobs WHERE status IN ('done', 'failed', 'interrupted') AND id NOT IN"
            " (SELECT id FROM jobs WHERE status IN ('done', 'failed', 'interrupted')"
            "  ORDER BY finished DESC LIMIT ?)",
            (self.history_size,),
        )

    def _add_missing_columns(self) -> None:
        """Queues written by an older diffgraph lack the newer columns."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "attempts" not in have:
            self._db.execute("ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")

    def _mark_cut_off_jobs(self) -> list[str]:
        error = json.dumps(
            {
                "outputs": {},
                "error": {"message": SERVER_STOPPED, "exception": "ServerStopped"},
                "messages": [],
                "cached": [],
            }
        )
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM jobs WHERE status = 'running'")]
            self._db.execute(
                "UPDATE jobs SET status = 'failed', result = ?, finished = ?"
                " WHERE status = 'running'",
                (error, time.time()),
            )
        return ids
