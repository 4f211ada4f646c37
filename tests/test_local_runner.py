"""The in-process runner: an interrupt aimed at a claimed job is never lost, wherever it
falls between the claim and the executor starting the run."""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from apps.jobs.local import LocalRunner
from apps.jobs.queue import Job, JobQueue, JobStatus
from engine.executor import Executor, RunResult
from engine.workflow import Workflow

SLOW = {
    "format": "diffgraph.workflow",
    "version": 1,
    "nodes": {
        "slow": {"type": "test.slow", "inputs": {"steps": 400, "delay": 0.005}},
        "sink": {"type": "test.sink", "inputs": {"value": {"node": "slow", "output": "value"}}},
    },
}


def ignore(message: Any, client_id: str | None) -> None:
    pass


def wait_finished(queue: JobQueue, job_id: str, timeout: float = 30.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get(job_id)
        if job is not None and job.status not in ("pending", "running"):
            return job.status
        time.sleep(0.02)
    raise AssertionError("the job did not finish")


class HeldAtStart(Executor):
    """An executor whose runs wait at the door until released: the window between the
    runner claiming a job and the executor starting it, held open."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrived, self.release = threading.Event(), threading.Event()
        self.interrupted = threading.Event()

    def run(self, workflow: Workflow, **kwargs: Any) -> RunResult:
        self.arrived.set()
        assert self.release.wait(30)
        return super().run(workflow, **kwargs)

    def interrupt(self, run_id: str | None = None) -> None:
        super().interrupt(run_id)
        self.interrupted.set()


def test_an_interrupt_between_claim_and_run_start_stops_the_job(
    registry: Any, settings: Any, tmp_path: Path
) -> None:
    queue = JobQueue(tmp_path / "queue.sqlite3")
    executor = HeldAtStart(registry, settings)
    runner = LocalRunner(queue, executor, ignore)
    runner.start()
    try:
        job = queue.add(SLOW)
        runner.wake()
        assert executor.arrived.wait(30)  # claimed and running, the executor not started
        assert runner.interrupt(job.id)
        executor.release.set()
        assert wait_finished(queue, job.id) == "interrupted"  # it was "done" before the fix
    finally:
        runner.stop()


def test_a_clean_stop_between_claim_and_run_start_puts_the_job_back(
    registry: Any, settings: Any, tmp_path: Path
) -> None:
    queue = JobQueue(tmp_path / "queue.sqlite3")
    executor = HeldAtStart(registry, settings)
    runner = LocalRunner(queue, executor, ignore)
    runner.start()
    job = queue.add(SLOW)
    runner.wake()
    assert executor.arrived.wait(30)
    stopping = threading.Thread(target=runner.stop)  # Ctrl+C, SIGTERM
    stopping.start()
    assert executor.interrupted.wait(30)
    executor.release.set()
    stopping.join(30)
    back = queue.get(job.id)
    assert back is not None and back.status == "pending"  # it runs again after the restart


class InterruptedWhileClaiming(JobQueue):
    """A queue that lets a client's interrupt in right after a job is marked running, before
    `claim_next` even returns it to the runner."""

    runner: LocalRunner
    answers: list[bool]

    def claim_next(self) -> Job | None:
        job = super().claim_next()
        if job is not None and not self.answers:
            caller = threading.Thread(target=lambda: self.answers.append(self.runner.interrupt()))
            caller.start()
            caller.join(0.5)  # it runs in the gap (and waits there, with the fix)
        return job


def test_an_interrupt_while_a_job_is_being_claimed_reaches_it(
    registry: Any, settings: Any, tmp_path: Path
) -> None:
    queue = InterruptedWhileClaiming(tmp_path / "queue.sqlite3")
    runner = LocalRunner(queue, Executor(registry, settings), ignore)
    queue.runner, queue.answers = runner, []
    job = queue.add(SLOW)
    runner.start()
    try:
        runner.wake()
        assert wait_finished(queue, job.id) == "interrupted"
        assert queue.answers == [True]  # the client was told a job was interrupted
    finally:
        runner.stop()


def blob_job(fill: int) -> dict[str, Any]:
    """A job that makes a 16 KiB tensor and shows its sum: a new `fill` is a new seed."""
    return {
        "format": "diffgraph.workflow",
        "version": 1,
        "nodes": {
            "blob": {"type": "test.blob", "inputs": {"kib": 16, "fill": float(fill)}},
            "sum": {
                "type": "test.blob_sum",
                "inputs": {"blob": {"node": "blob", "output": "blob"}},
            },
        },
    }


def test_memory_stays_flat_over_hundreds_of_jobs(
    registry: Any, settings: Any, tmp_path: Path
) -> None:
    """What crept (about 80 KB a job through the server) was every job's results, kept by
    the output cache. After a warm-up, 300 more jobs that all differ leave the cache and
    the Python heap where they were."""
    queue = JobQueue(tmp_path / "queue.sqlite3")
    executor = Executor(registry, settings)
    runner = LocalRunner(queue, executor, ignore)
    runner.start()

    def run(fills: range) -> None:
        last = [queue.add(blob_job(fill)).id for fill in fills][-1]
        runner.wake()
        assert wait_finished(queue, last, timeout=120) == "done"

    try:
        run(range(50))
        gc.collect()
        cached = executor.cache.bytes_used
        tracemalloc.start()
        run(range(50, 350))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    finally:
        runner.stop()
    assert executor.cache.bytes_used == cached
    assert grown < 150_000  # under 0.5 KB a job; the cache's entries alone took 1.5 KB
