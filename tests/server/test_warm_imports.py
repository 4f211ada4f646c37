"""A real server warms torch/diffusers after it answers, and a job sent at once still runs."""

from __future__ import annotations

import time
from pathlib import Path

from tests.server.conftest import needs_toy_model
from tests.server.harness import Listener, Server, call, toy_workflow

pytestmark = needs_toy_model

WARMED = "imports warmed in"


def _wait_for_log(server: Server, text: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log.read_text()
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never logged:\n{server.log.read_text()}")


def test_ready_is_answered_before_the_warm_up_ends_and_an_early_job_runs(
    fresh_home: Path,
) -> None:
    server = Server(fresh_home).start()
    try:
        assert call("GET", f"{server.url}/queue").status == 200
        # torch alone takes about a second to import: the warm-up is still going on here
        assert WARMED not in server.log.read_text()
        listener = Listener(server)
        body = {"prompt": toy_workflow(steps=2), "client_id": listener.client_id}
        reply = call("POST", f"{server.url}/prompt", body)
        assert reply.status == 200, reply.text
        prompt_id = reply.json()["prompt_id"]
        messages = listener.wait_done(prompt_id)
        listener.close()
        assert "execution_success" in [m["type"] for m in messages]
        log = _wait_for_log(server, WARMED)
        assert "not imported" not in log
    finally:
        server.stop()


def test_no_warm_imports_leaves_the_imports_to_the_first_load(fresh_home: Path) -> None:
    server = Server(fresh_home, "--no-warm-imports").start()
    try:
        assert call("GET", f"{server.url}/queue").status == 200
        time.sleep(2.0)  # longer than a warm-up would take to begin and log
    finally:
        server.stop()
    assert WARMED not in server.log.read_text()
