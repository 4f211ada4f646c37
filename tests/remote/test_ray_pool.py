"""Jobs queued over HTTP, run by two Ray actors: results, cache affinity, a killed
worker, a remote interrupt."""

from __future__ import annotations

import json
import os
import shutil
import signal

from tests.conftest import REPO
from tests.remote.conftest import needs_toy_model, wait_workers, workers
from tests.server.harness import Listener, Server, call, toy_workflow

pytestmark = needs_toy_model


def submit(server: Server, listener: Listener, **changes) -> str:
    body = {
        "prompt": toy_workflow(**changes),
        "client_id": listener.client_id,
        "extra_data": {"preview_method": "auto"},  # as the editor asks (API clients get none)
    }
    reply = call("POST", server.url + "/prompt", body)
    assert reply.status == 200, reply.text()
    return reply.json()["prompt_id"]


def job(server: Server, job_id: str) -> dict:
    return call("GET", f"{server.url}/v1/jobs/{job_id}").json()


def events_of(server: Server, job_id: str) -> dict[str, list[dict]]:
    """The model-store events of one job, by the worker that ran it."""
    return {
        w["name"]: [e for e in w["store_events"] if e["job"] == job_id]
        for w in workers(server)
        if any(e["job"] == job_id for e in w["store_events"])
    }


def test_second_job_reuses_the_worker_holding_its_checkpoint(ray_server: Server) -> None:
    listener = Listener(ray_server)
    first = submit(ray_server, listener, steps=4, seed=11)
    listener.wait_done(first)
    second = submit(ray_server, listener, steps=4, seed=12)
    messages = listener.wait_done(second)
    assert any(m["type"] == "execution_success" for m in messages)
    ran_first, ran_second = events_of(ray_server, first), events_of(ray_server, second)
    assert len(ran_first) == 1 and ran_first.keys() == ran_second.keys()
    kinds = [e["kind"] for e in next(iter(ran_second.values()))]
    assert "loaded" not in kinds and "hit" in kinds  # the checkpoint stayed resident
    listener.close()


def test_ten_jobs_finish_even_when_a_worker_is_killed_mid_job(ray_server: Server) -> None:
    listener = Listener(ray_server)
    ids = [submit(ray_server, listener, steps=30, seed=100 + i) for i in range(10)]
    listener.wait_for(lambda: any(m["type"] == "progress" for m in listener.json_messages()))
    busy = wait_workers(ray_server, lambda ws: any(w["state"] == "busy" for w in ws))
    victim = next(w for w in busy if w["state"] == "busy")
    os.kill(victim["pid"], signal.SIGKILL)
    for job_id in ids:
        listener.wait_done(job_id, timeout=300)
    history = call("GET", ray_server.url + "/history").json()
    for job_id in ids:
        entry = history[job_id]
        assert entry["status"]["status_str"] == "success", entry["status"]
        (image,) = entry["outputs"]["save"]["images"]
        assert (ray_server.home / "output" / image["filename"]).is_file()
    names = {history[j]["outputs"]["save"]["images"][0]["filename"] for j in ids}
    assert len(names) == 10  # the server numbered the two workers' files apart
    assert job(ray_server, victim["job"])["attempts"] == 1  # re-run once
    assert sum(job(ray_server, j)["attempts"] for j in ids) == 1
    after = wait_workers(ray_server, lambda ws: all(w["state"] == "idle" for w in ws))
    replaced = next(w for w in after if w["name"] == victim["name"])
    assert replaced["restarts"] == 1 and replaced["pid"] != victim["pid"]
    assert any(isinstance(m, bytes) for m in listener.messages)  # previews came through
    listener.close()


def test_interrupt_reaches_the_worker(ray_server: Server) -> None:
    listener = Listener(ray_server)
    job_id = submit(ray_server, listener, steps=2000, seed=5)
    listener.wait_for(lambda: any(m["type"] == "progress" for m in listener.of(job_id)))
    assert call("POST", ray_server.url + "/interrupt", {"prompt_id": job_id}).status == 200
    messages = listener.wait_done(job_id, timeout=60)
    assert any(m["type"] == "execution_interrupted" for m in messages)
    assert job(ray_server, job_id)["status"] == "interrupted"
    listener.close()


def test_input_images_travel_to_the_worker(ray_server: Server) -> None:
    shutil.copy(REPO / "workflows" / "assets" / "toy_scene.png", ray_server.home / "input")
    document = json.loads((REPO / "workflows" / "toy_img2img.json").read_text())
    listener = Listener(ray_server)
    for seed in (1, 2):  # the second time only the name and time travel
        document["nodes"]["sample"]["inputs"].update(seed=seed, steps=4)
        body = {"prompt": document, "client_id": listener.client_id}
        job_id = call("POST", ray_server.url + "/prompt", body).json()["prompt_id"]
        messages = listener.wait_done(job_id)
        assert any(m["type"] == "execution_success" for m in messages), messages
    listener.close()
