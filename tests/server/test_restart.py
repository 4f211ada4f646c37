"""Nothing lost across restarts: a real `kill -9` of the server process, then a new one on
the same home (same SQLite file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.conftest import needs_toy_model
from tests.server.harness import Listener, Server, call, toy_workflow

pytestmark = needs_toy_model


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


def submit(server: Server, prompt: object, client: str = "restart-test") -> str:
    reply = call("POST", f"{server.url}/prompt", {"prompt": prompt, "client_id": client})
    assert reply.status == 200, reply.text
    return str(reply.json()["prompt_id"])


def test_kill_9_keeps_pending_jobs_in_order_and_history(fresh_home: Path) -> None:
    server = Server(fresh_home).start()
    listener = Listener(server, "restart-test")
    try:
        finished = submit(server, toy_workflow(steps=4, seed=1))
        listener.wait_done(finished)
        running = submit(server, toy_workflow(steps=5000, seed=2))
        pending = [submit(server, toy_workflow(steps=4, seed=s)) for s in (3, 4, 5)]
        listener.wait_for(lambda: "progress" in kinds(listener.of(running)))
        before = call("GET", f"{server.url}/queue").json()
        assert [e[1] for e in before["queue_pending"]] == pending
        # ComfyUI's entry: [number, prompt_id, prompt as sent, extra_data, outputs to run]
        number, _, prompt, extra, targets = before["queue_pending"][0]
        assert prompt == toy_workflow(steps=4, seed=3) and targets == ["save"]
        assert extra == {"client_id": "restart-test"}  # as ComfyUI keeps it
        assert number < before["queue_pending"][1][0]
    finally:
        listener.close()
        server.kill()

    server = Server(fresh_home).start()
    try:
        cut_off = call("GET", f"{server.url}/v1/jobs/{running}").json()
        assert cut_off["status"] == "failed"
        assert cut_off["error"]["message"] == "server stopped"
        # The finished job's outputs are still listed and served.
        image = call("GET", f"{server.url}/history/{finished}").json()[finished]["outputs"]
        picture = image["save"]["images"][0]
        view = call("GET", f"{server.url}/view?filename={picture['filename']}&type=output")
        assert view.status == 200
        # Pending jobs survived in their order, then ran.
        listener = Listener(server, "restart-test")
        try:
            again = call("POST", f"{server.url}/v1/jobs/{running}/requeue").json()
            assert again["requeued_from"] == running and again["status"] == "pending"
            for job_id in pending:
                listener.wait_for(
                    lambda j=job_id: (
                        call("GET", f"{server.url}/v1/jobs/{j}").json()["status"] == "done"
                    )
                )
            listener.wait_for(
                lambda: any(m["type"] == "progress" for m in listener.of(again["id"]))
            )
            call("POST", f"{server.url}/interrupt", {"prompt_id": again["id"]})
            listener.wait_done(again["id"])
        finally:
            listener.close()
        order = [call("GET", f"{server.url}/v1/jobs/{j}").json()["started"] for j in pending]
        assert order == sorted(order)
    finally:
        server.stop()


def test_a_clean_stop_puts_the_running_job_back_in_the_queue(fresh_home: Path) -> None:
    server = Server(fresh_home).start()
    listener = Listener(server, "clean-stop")
    try:
        job = submit(server, toy_workflow(steps=5000, seed=7), client="clean-stop")
        listener.wait_for(lambda: "progress" in kinds(listener.of(job)))
    finally:
        listener.close()
        server.stop()  # SIGTERM
    server = Server(fresh_home).start()
    try:
        state = call("GET", f"{server.url}/v1/jobs/{job}").json()
        assert state["status"] in ("pending", "running")
        call("POST", f"{server.url}/interrupt", {})
        call("DELETE", f"{server.url}/v1/jobs/{job}")
    finally:
        server.stop()
