"""The persistent queue on a real SQLite file: order, front, claiming, finishing, what a
crash leaves behind, re-queueing, history length."""

from __future__ import annotations

from pathlib import Path

from apps.jobs.queue import SERVER_STOPPED, JobQueue

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
