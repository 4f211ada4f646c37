"""GET /history and GET /v1/jobs answer a bounded page, in ComfyUI's shapes, against a
real server whose history holds more jobs than any page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.jobs.queue import JobQueue
from apps.server.listings import HISTORY_MAX_PAGE, HISTORY_PAGE
from apps.server.routes_v1 import JOBS_PAGE
from tests.server.harness import Server, call, make_home

FINISHED = 1_050
DOC = {"format": "diffgraph.workflow", "version": 1, "nodes": {}}


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[str]]]:
    """A server whose history holds 1,050 finished jobs (oldest first in the list)."""
    home = make_home(tmp_path_factory.mktemp("busy"), with_models=False)
    queue = JobQueue(home / "user" / "queue.sqlite3")
    ids = []
    for n in range(FINISHED):
        job = queue.add(DOC, prompt={"1": {"class_type": "EmptyImage", "inputs": {"n": n}}})
        queue.claim_next()
        queue.finish(job.id, "done", outputs={"1": {"n": n}})
        ids.append(job.id)
    queue.close()
    server = Server(home).start()
    yield server, ids
    server.stop()


def test_history_without_max_items_is_the_newest_page(busy: tuple[Server, list[str]]) -> None:
    server, ids = busy
    for prefix in ("", "/api"):
        history = call("GET", f"{server.url}{prefix}/history").json()
        assert list(history) == ids[-HISTORY_PAGE:]  # ComfyUI's order: oldest first
    entry = history[ids[-1]]
    assert entry == call("GET", f"{server.url}/history/{ids[-1]}").json()[ids[-1]]
    assert set(entry) >= {"prompt", "outputs", "status", "meta"}
    assert entry["prompt"][1] == ids[-1] and entry["outputs"] == {"1": {"n": FINISHED - 1}}
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"]


def test_history_pages_as_comfyui_does(busy: tuple[Server, list[str]]) -> None:
    server, ids = busy
    assert list(call("GET", f"{server.url}/history?max_items=5").json()) == ids[-5:]
    page = call("GET", f"{server.url}/history?max_items=3&offset=10").json()
    assert list(page) == ids[10:13]  # offset counts from the oldest
    assert call("GET", f"{server.url}/history?max_items=0").json() == {}
    everything = call("GET", f"{server.url}/history?max_items=100000").json()
    assert list(everything) == ids[-HISTORY_MAX_PAGE:]  # capped


def test_v1_jobs_answers_a_page_and_where_the_next_begins(busy: tuple[Server, list[str]]) -> None:
    server, ids = busy
    first = call("GET", f"{server.url}/v1/jobs").json()
    assert [j["id"] for j in first["jobs"]] == ids[:JOBS_PAGE]
    assert first["next_offset"] == JOBS_PAGE
    last = call("GET", f"{server.url}/v1/jobs?status=done&limit=10&offset=1045").json()
    assert [j["id"] for j in last["jobs"]] == ids[1045:] and last["next_offset"] is None
    refused = call("GET", f"{server.url}/v1/jobs?limit=-1")
    assert refused.status == 400 and "'limit'" in refused.json()["error"]
