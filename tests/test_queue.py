"""The persistent queue on a real SQLite file: order, front, claiming, finishing, what a
crash leaves behind, re-queueing, history length."""

from __future__ import annotations

from pathlib import Path

from apps.jobs.queue import SERVER_STOPPED, JobQueue, JobStatus

DOC = {"format": "diffgraph.workflow", "version": 1, "nodes": {}}


def test_jobs_are_taken_in_order_and_front_jumps_the_queue(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3")
    a, b = queue.add(DOC), queue.add(DOC)
    urgent = queue.add(DOC, front=True)
    assert [j.id for j in queue.jobs(["pending"])] == [urgent.id, a.id, b.id]
    assert urgent.number < a.number < b.number
    claimed = queue.claim_next()
    assert claimed is not None and claimed.id == urgent.id and claimed.status == "running"
    assert claimed.started is not None
    assert queue.count("pending") == 2 and queue.count("running") == 1


def test_a_finished_job_keeps_its_outputs_messages_and_error(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3")
    job = queue.add(DOC, prompt={"3": {"class_type": "KSampler"}}, client_id="c1", targets=["s"])
    queue.claim_next()
    outputs = {"save": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}}
    queue.finish(job.id, "done", outputs=outputs, messages=[["execution_success", {}]])
    done = queue.get(job.id)
    assert done is not None and done.status == "done" and done.outputs == outputs
    assert done.prompt == {"3": {"class_type": "KSampler"}} and done.targets == ["s"]
    assert done.client_id == "c1" and done.messages == [["execution_success", {}]]
    assert done.finished is not None and queue.claim_next() is None


def test_reopening_after_a_crash_keeps_pending_and_fails_the_running_job(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    queue = JobQueue(path)
    running, *waiting = [queue.add(DOC) for _ in range(4)]
    queue.claim_next()
    del queue  # no close: as if the process died

    reopened = JobQueue(path)
    assert reopened.crashed == [running.id]
    cut_off = reopened.get(running.id)
    assert cut_off is not None and cut_off.status == "failed"
    assert cut_off.error is not None and cut_off.error["message"] == SERVER_STOPPED
    assert [j.id for j in reopened.jobs(["pending"])] == [j.id for j in waiting]
    again = reopened.requeue(running.id)
    assert again is not None and again.requeued_from == running.id
    assert reopened.jobs(["pending"])[-1].id == again.id
    assert reopened.requeue(waiting[0].id) is None  # only finished jobs


def test_put_back_returns_a_running_job_to_its_place(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3")
    first, second = queue.add(DOC), queue.add(DOC)
    queue.claim_next()
    queue.put_back(first.id)
    assert [j.id for j in queue.jobs(["pending"])] == [first.id, second.id]


def test_history_is_trimmed_to_its_size_oldest_first(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3", history_size=3)
    ids = []
    for _ in range(5):
        job = queue.add(DOC)
        queue.claim_next()
        queue.finish(job.id, "done")
        ids.append(job.id)
    kept = queue.jobs(["done", "failed", "interrupted"])
    assert [j.id for j in kept] == ids[-3:]
    assert [j.id for j in queue.jobs(["done"], limit=2)] == ids[-2:]


def test_delete_and_clear_touch_only_the_given_states(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3")
    done = queue.add(DOC)
    queue.claim_next()
    queue.finish(done.id, "done")
    pending = [queue.add(DOC) for _ in range(3)]
    assert queue.delete([done.id, pending[0].id], ["pending"]) == 1
    assert queue.get(done.id) is not None
    assert queue.clear(["pending"]) == 2
    assert queue.jobs(["pending"]) == [] and queue.count("done") == 1


def finished_jobs(queue: JobQueue, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        job = queue.add(DOC)
        queue.claim_next()
        queue.finish(job.id, "done")
        ids.append(job.id)
    return ids


def test_history_pages_are_the_newest_by_default_or_counted_from_the_oldest(
    tmp_path: Path,
) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3")
    ids = finished_jobs(queue, 6)
    done: list[JobStatus] = ["done"]
    assert [j.id for j in queue.jobs(done, limit=2)] == ids[-2:]  # newest two, oldest first
    assert [j.id for j in queue.jobs(done, limit=2, offset=1)] == ids[1:3]  # ComfyUI's offset
    assert [j.id for j in queue.jobs(done, offset=4)] == ids[4:]


def test_a_page_of_jobs_lists_the_queue_first_then_the_finished_oldest_first(
    tmp_path: Path,
) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3")
    finished = finished_jobs(queue, 3)
    waiting = [queue.add(DOC).id for _ in range(2)]
    every: list[JobStatus] = ["pending", "running", "done", "failed", "interrupted"]
    assert [j.id for j in queue.page(every, limit=10)] == waiting + finished
    assert [j.id for j in queue.page(every, limit=2, offset=1)] == [waiting[1], finished[0]]


def test_the_history_revision_moves_only_when_finished_jobs_change(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3")
    before = queue.history_revision
    job = queue.add(DOC)
    queue.claim_next()
    assert queue.history_revision == before  # queued and claimed: the history is the same
    queue.finish(job.id, "done")
    assert queue.history_revision == before + 1
    queue.delete([job.id], ["done"])
    assert queue.history_revision == before + 2
