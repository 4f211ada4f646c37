"""The Ray pool's parts that need no cluster: choosing a worker, numbering returned files,
shipping input files, and the queue's count of lost-worker attempts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from apps.cluster.outputs import ReturnedFiles
from apps.cluster.pool import WorkerSlot, choose_worker
from apps.cluster.wire import ShippedFile, input_files
from apps.jobs.queue import JobQueue
from engine.settings import Settings


def _slot(name: str, models: list[str], jobs_done: int = 0, size: int = 10) -> WorkerSlot:
    slot = WorkerSlot(name, actor=None, state="idle", jobs_done=jobs_done)
    slot.info["models"] = [{"path": f"/m/{m}", "bytes": size} for m in models]
    return slot


def _job(queue: JobQueue, ckpt: str):
    return queue.add({"nodes": {"load": {"type": "x", "inputs": {"ckpt_name": ckpt}}}})


def test_the_worker_holding_the_checkpoint_wins(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3")
    cold, warm = _slot("a", [], jobs_done=0), _slot("b", ["toy.safetensors"], jobs_done=9)
    assert choose_worker([cold, warm], _job(queue, "toy.safetensors")) is warm
    # Nobody holds it: the one holding least, then the one that ran fewest jobs.
    other = _slot("c", ["big.safetensors"], size=10**9)
    assert choose_worker([other, cold], _job(queue, "new.safetensors")) is cold
    assert choose_worker([_slot("d", [], 5), cold], _job(queue, "new.safetensors")) is cold


def test_returned_files_are_numbered_by_the_server(tmp_path: Path) -> None:
    settings = Settings.at(tmp_path)
    settings.output_dir.mkdir(parents=True)
    (settings.output_dir / "toy_00007_.png").write_bytes(b"old")
    files = ReturnedFiles(settings)
    for worker in ("w1", "w2"):  # both workers made toy_00001_.png
        files.receive(worker, [ShippedFile("output", "", "toy_00001_.png", worker.encode())])
    ui = {"images": [{"filename": "toy_00001_.png", "subfolder": "", "type": "output"}]}
    first, second = files.rename("w1", ui), files.rename("w2", ui)
    assert first and second
    assert first["images"][0]["filename"] == "toy_00008_.png"
    assert second["images"][0]["filename"] == "toy_00009_.png"
    assert (settings.output_dir / "toy_00009_.png").read_bytes() == b"w2"
    # Sent again without bytes (a cached rerun): no new file, the same name.
    files.receive("w1", [ShippedFile("output", "", "toy_00001_.png", None)])
    assert files.rename("w1", ui) == first
    assert len(list(settings.output_dir.iterdir())) == 3


def test_input_files_named_by_the_workflow_travel(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "cat.png").write_bytes(b"png")
    doc = {
        "nodes": {
            "a": {"type": "image.load", "inputs": {"image": "sub/cat.png", "n": 3}},
            "b": {"type": "text", "inputs": {"text": "../etc/passwd", "other": "missing.png"}},
        }
    }
    (tmp_path / "cat.png").write_bytes(b"other")  # same name, another folder
    doc["nodes"]["c"] = {"type": "image.load", "inputs": {"image": "cat.png"}}
    sent: set[tuple[str, int]] = set()
    shipped, top = input_files(doc, tmp_path, sent)
    assert (shipped.subfolder, shipped.filename, shipped.data) == ("sub", "cat.png", b"png")
    assert (top.subfolder, top.filename, top.data) == ("", "cat.png", b"other")
    assert shipped.mtime_ns == (tmp_path / "sub" / "cat.png").stat().st_mtime_ns
    # The next job to the same worker sends names and times only.
    again = input_files(doc, tmp_path, sent)
    assert [f.data for f in again] == [None, None]
    assert [f.mtime_ns for f in again] == [shipped.mtime_ns, top.mtime_ns]


def test_an_input_named_the_comfyui_way_travels_under_its_plain_name(tmp_path: Path) -> None:
    (tmp_path / "clipspace").mkdir()
    (tmp_path / "clipspace" / "mask.png").write_bytes(b"png")
    doc = {
        "nodes": {"a": {"type": "image.load", "inputs": {"image": "clipspace/mask.png [input]"}}}
    }
    [shipped] = input_files(doc, tmp_path, set())
    assert (shipped.subfolder, shipped.filename, shipped.data) == ("clipspace", "mask.png", b"png")


def test_lost_worker_attempts_are_counted_and_old_queues_migrate(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    old = sqlite3.connect(path)  # a queue written before the attempts column existed
    old.executescript(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, number INTEGER NOT NULL, status TEXT NOT NULL,"
        " client_id TEXT, workflow TEXT NOT NULL, prompt TEXT NOT NULL, extra_data TEXT NOT"
        " NULL, targets TEXT NOT NULL, requeued_from TEXT, result TEXT, created REAL NOT NULL,"
        " started REAL, finished REAL);"
        "INSERT INTO jobs VALUES ('old', 1, 'pending', NULL, '{}', '{}', '{}', 'null', NULL,"
        " NULL, 0, NULL, NULL);"
    )
    old.close()
    queue = JobQueue(path)
    claimed = queue.claim_next()
    assert claimed is not None and claimed.id == "old" and claimed.attempts == 0
    queue.put_back("old", lost_worker=True)
    again = queue.claim_next()
    assert again is not None and again.id == "old" and again.attempts == 1
    queue.put_back("old")  # a clean stop does not count
    assert queue.get("old").attempts == 1


def test_a_worker_removes_its_scratch_folder_when_it_ends(tmp_path: Path) -> None:
    import gc

    from apps.cluster.worker import RenderWorker

    worker = RenderWorker(Settings.at(tmp_path), threads=1)
    scratch = worker.settings.input_dir.parent
    (worker.settings.input_dir).mkdir(parents=True, exist_ok=True)
    assert scratch.is_dir()
    del worker
    gc.collect()
    assert not scratch.exists()
