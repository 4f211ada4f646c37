"""A claimed job's walk to its record (`run_job`), on a real SQLite queue, with the real
executor where a run is needed: what the history keeps and what the client is told, for
each way a job can end. The local runner and the Ray pool both go through this walk."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from apps.jobs.lifecycle import INTERNAL_ERROR, Execute, JobRefused, WorkerLost, run_job
from apps.jobs.messages import JobMessages
from apps.jobs.queue import Job, JobQueue
from engine.events import Event, Progress
from engine.executor import Executor, RunResult
from engine.workflow import Workflow

SAVE = {
    "format": "diffgraph.workflow",
    "version": 1,
    "nodes": {
        "img": {"type": "image.empty", "inputs": {"width": 8, "height": 8}},
        "save": {"type": "image.save", "inputs": {"images": {"node": "img", "output": "image"}}},
    },
}


class Client:
    """What the job's client receives over the WebSocket."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, str | None]] = []

    def __call__(self, message: dict[str, Any] | bytes, client_id: str | None) -> None:
        self.messages.append((message, client_id))

    def types(self) -> list[str]:
        return [m["type"] for m, _ in self.messages if isinstance(m, dict)]


@pytest.fixture
def queue(tmp_path: Path) -> JobQueue:
    return JobQueue(tmp_path / "queue.sqlite3")


def on(executor: Executor | None) -> Execute:
    """Execute on the real executor, as the local runner does (None: nothing may run)."""

    def execute(workflow: Workflow, job: Job, reporter: JobMessages) -> RunResult:
        assert executor is not None, "nothing should have run"
        return executor.run(workflow, listener=reporter, run_id=job.id)

    return execute


def claim(queue: JobQueue, document: dict[str, Any] = SAVE) -> Job:
    queue.add(document, client_id="me")
    job = queue.claim_next()
    assert job is not None
    return job


def test_a_run_is_recorded_with_its_outputs_and_the_client_is_told_it_ended(
    queue: JobQueue, executor: Executor
) -> None:
    job, client = claim(queue), Client()
    run_job(queue, client, job, on(executor), threading.Event())
    done = queue.get(job.id)
    assert done is not None and done.status == "done" and done.error is None
    assert done.outputs["save"]["images"][0]["filename"].endswith(".png")
    assert "execution_success" in [name for name, _ in done.messages]
    assert client.messages[-1] == (
        {"type": "executing", "data": {"node": None, "prompt_id": job.id}},
        "me",
    )


def test_a_failed_node_is_recorded_by_node_type_input_and_message(
    queue: JobQueue, executor: Executor
) -> None:
    bad = {
        "format": "diffgraph.workflow",
        "version": 1,
        "nodes": {
            "read": {"type": "test.bad_input", "inputs": {"path": "gone.txt"}},
            "sink": {"type": "test.sink", "inputs": {"value": {"node": "read", "output": "value"}}},
        },
    }
    job = claim(queue, bad)
    run_job(queue, Client(), job, on(executor), threading.Event())
    done = queue.get(job.id)
    assert done is not None and done.status == "failed"
    assert done.error == {
        "node": "read",
        "type": "test.bad_input",
        "input": "path",
        "exception": "NodeInputError",
        "message": "no file named 'gone.txt'",
    }


def test_a_document_that_no_longer_parses_fails_with_the_reason(queue: JobQueue) -> None:
    job, client = claim(queue, {"format": "diffgraph.workflow", "version": 99}), Client()
    run_job(queue, client, job, on(None), threading.Event())
    done = queue.get(job.id)
    assert done is not None and done.status == "failed"
    assert "newer diffgraph" in done.error["message"]  # type: ignore[index]
    assert client.types()[-3:] == ["execution_error", "status", "executing"]


def test_a_refused_job_fails_with_the_refusal(queue: JobQueue) -> None:
    def refuse(workflow: Workflow, job: Job, reporter: JobMessages) -> RunResult:
        raise JobRefused("the job's input files exceed 200 bytes")

    job = claim(queue)
    run_job(queue, Client(), job, refuse, threading.Event())
    done = queue.get(job.id)
    assert done is not None and done.status == "failed"
    assert done.error == {"message": "the job's input files exceed 200 bytes"}


def test_a_lost_worker_puts_the_job_back_once_then_fails_it(queue: JobQueue) -> None:
    def lose(workflow: Workflow, job: Job, reporter: JobMessages) -> RunResult:
        raise WorkerLost("worker-0 was lost while running the job (ActorDiedError)")

    job = claim(queue)
    run_job(queue, Client(), job, lose, threading.Event())
    again = queue.claim_next()
    assert again is not None and again.id == job.id and again.attempts == 1
    client = Client()
    run_job(queue, client, again, lose, threading.Event())
    done = queue.get(job.id)
    assert done is not None and done.status == "failed"
    assert done.error is not None and done.error["exception"] == "WorkerLost"
    assert done.error["message"].endswith("a second time: not retried again")
    assert client.types()[-3:] == ["execution_error", "status", "executing"]


def test_a_job_interrupted_by_a_clean_stop_goes_back_to_its_place(
    queue: JobQueue, executor: Executor
) -> None:
    slow = {
        "format": "diffgraph.workflow",
        "version": 1,
        "nodes": {
            "slow": {"type": "test.slow", "inputs": {"steps": 50}},
            "sink": {"type": "test.sink", "inputs": {"value": {"node": "slow", "output": "value"}}},
        },
    }
    job, stopping = claim(queue, slow), threading.Event()

    def stop_at_first_step(workflow: Workflow, job: Job, reporter: JobMessages) -> RunResult:
        def listener(event: Event) -> None:
            reporter(event)
            if isinstance(event, Progress):  # the server shuts down mid-job
                stopping.set()
                executor.interrupt()

        return executor.run(workflow, listener=listener, run_id=job.id)

    run_job(queue, Client(), job, stop_at_first_step, stopping)
    back = queue.get(job.id)
    assert back is not None and back.status == "pending" and back.attempts == 0


def test_a_bug_outside_any_node_fails_only_that_job(queue: JobQueue) -> None:
    def crash(workflow: Workflow, job: Job, reporter: JobMessages) -> RunResult:
        raise KeyError("a bug of ours")

    job, client = claim(queue), Client()
    run_job(queue, client, job, crash, threading.Event())
    done = queue.get(job.id)
    assert (
        done is not None and done.status == "failed" and done.error == {"message": INTERNAL_ERROR}
    )
    assert client.types()[-1] == "executing"


def test_the_queue_status_goes_to_everyone_before_the_closing_executing(
    queue: JobQueue, executor: Executor
) -> None:
    """ComfyUI's order: its task_done broadcasts `status`, then `executing` node null."""
    job, client = claim(queue), Client()
    queue.add(SAVE, client_id="someone else")  # still waiting afterwards
    run_job(queue, client, job, on(executor), threading.Event())
    status, closing = client.messages[-2:]
    assert status == (
        {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}}},
        None,
    )
    assert closing == ({"type": "executing", "data": {"node": None, "prompt_id": job.id}}, "me")
