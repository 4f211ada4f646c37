"""End to end against a real `diffgraph serve` on a free localhost port, rendering with the
embedded toy model: queue over HTTP, follow over the WebSocket, fetch through /view."""

from __future__ import annotations

import io
import struct
import time
from typing import Any

from PIL import Image

from engine.registry import Registry
from engine.workflow import parse_workflow
from formats.comfy_api import to_comfy_api
from tests.server.conftest import needs_toy_model
from tests.server.harness import Listener, Server, call, toy_workflow

pytestmark = needs_toy_model


def queue(server: Server, prompt: Any, listener: Listener, **extra_data: Any) -> str:
    body = {"prompt": prompt, "client_id": listener.client_id, "extra_data": extra_data}
    reply = call("POST", f"{server.url}/prompt", body)
    assert reply.status == 200, reply.text
    body = reply.json()
    assert body["node_errors"] == {} and isinstance(body["number"], int)
    return str(body["prompt_id"])


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


def test_a_prompt_streams_its_events_in_order_and_its_image_is_served(server: Server) -> None:
    listener, bystander = Listener(server), Listener(server)
    try:
        # Previews, as the editor asks for them (API clients get none by default).
        prompt_id = queue(server, toy_workflow(steps=12, seed=3), listener, preview_method="auto")
        messages = listener.wait_done(prompt_id)
        previews = [m for m in listener.messages if isinstance(m, bytes)]
    finally:
        listener.close()
        bystander.close()
    # A job's events go to the client that queued it; queue status goes to everyone.
    assert bystander.of(prompt_id) == [] and "status" in kinds(bystander.json_messages())
    assert not any(isinstance(m, bytes) for m in bystander.messages)
    order = kinds(messages)
    assert order[:2] == ["execution_start", "execution_cached"]
    assert order[-2:] == ["execution_success", "executing"]
    started = [m["data"]["node"] for m in messages if m["type"] == "executing"][:-1]
    assert started.index("ckpt") < started.index("sample") < started.index("decode")
    steps = [m["data"]["value"] for m in messages if m["type"] == "progress"]
    assert steps == list(range(1, 13))
    # Binary previews: event type 1, format 1 (JPEG), then a JPEG.
    assert previews and struct.unpack(">II", previews[0][:8]) == (1, 1)
    assert Image.open(io.BytesIO(previews[0][8:])).format == "JPEG"
    executed = next(m["data"] for m in messages if m["type"] == "executed")
    assert executed["node"] == "save"
    image = executed["output"]["images"][0]
    reply = call(
        "GET",
        f"{server.url}/view?filename={image['filename']}&subfolder={image['subfolder']}"
        f"&type={image['type']}",
    )
    assert reply.status == 200
    picture = Image.open(io.BytesIO(reply.body))
    assert picture.size == (64, 64)
    history = call("GET", f"{server.url}/history/{prompt_id}").json()[prompt_id]
    assert history["status"]["status_str"] == "success" and history["status"]["completed"]
    assert history["outputs"]["save"]["images"][0] == image
    assert [m[0] for m in history["status"]["messages"]] == [
        "execution_start",
        "execution_cached",
        "execution_success",
    ]


def test_a_comfyui_api_prompt_runs_and_an_identical_one_is_served_from_cache(
    server: Server,
) -> None:
    registry = Registry.discover(plugins=False)
    prompt = to_comfy_api(parse_workflow(toy_workflow(steps=6, seed=11)), registry)
    assert prompt is not None and prompt["sample"]["class_type"] == "KSampler"
    listener = Listener(server)
    try:
        first = queue(server, prompt, listener)
        assert "execution_success" in kinds(listener.wait_done(first))
        second = queue(server, prompt, listener)
        messages = listener.wait_done(second)
    finally:
        listener.close()
    cached = next(m["data"]["nodes"] for m in messages if m["type"] == "execution_cached")
    assert {"ckpt", "latent", "prompt", "sample", "decode"} <= set(cached)
    assert "progress" not in kinds(messages)  # nothing was sampled again
    # The saved image is reported again for the cached run, as ComfyUI does.
    assert any(m["type"] == "executed" and m["data"]["node"] == "save" for m in messages)


def test_interrupt_stops_the_running_job_and_the_next_one_runs(server: Server) -> None:
    listener = Listener(server)
    try:
        long_job = queue(server, toy_workflow(steps=3000, seed=21), listener)
        next_job = queue(server, toy_workflow(steps=4, seed=22), listener)
        listener.wait_for(lambda: "progress" in kinds(listener.of(long_job)))
        assert call("POST", f"{server.url}/interrupt", {}).status == 200
        messages = listener.wait_done(long_job, timeout=60)
        assert "execution_interrupted" in kinds(messages)
        interrupted = next(m for m in messages if m["type"] == "execution_interrupted")
        assert interrupted["data"]["node_id"] == "sample"
        steps = [m["data"]["value"] for m in messages if m["type"] == "progress"]
        assert max(steps) < 3000
        assert "execution_success" in kinds(listener.wait_done(next_job))
    finally:
        listener.close()
    history = call("GET", f"{server.url}/history/{long_job}").json()[long_job]
    assert history["status"]["status_str"] == "error"
    assert history["diffgraph"]["status"] == "interrupted"


def test_a_failing_node_reports_execution_error_and_the_server_goes_on(server: Server) -> None:
    broken = toy_workflow(steps=4, seed=31)
    broken["nodes"]["explode"] = {
        "type": "test.explode",
        "inputs": {"images": {"node": "decode", "output": "image"}},
    }
    listener = Listener(server)
    try:
        failing = queue(server, broken, listener)
        after = queue(server, toy_workflow(steps=4, seed=32), listener)
        messages = listener.wait_done(failing)
        error = next(m["data"] for m in messages if m["type"] == "execution_error")
        assert error["node_id"] == "explode" and error["node_type"] == "test.explode"
        assert "boom" in error["exception_message"]
        assert "execution_success" in kinds(listener.wait_done(after))
    finally:
        listener.close()
    job = call("GET", f"{server.url}/v1/jobs/{failing}").json()
    assert job["status"] == "failed" and job["error"]["node"] == "explode"


def test_the_api_answers_while_a_job_runs(server: Server) -> None:
    listener = Listener(server)
    try:
        job = queue(server, toy_workflow(steps=400, seed=41), listener)
        listener.wait_for(lambda: "progress" in kinds(listener.of(job)))
        began = time.perf_counter()
        running = call("GET", f"{server.url}/queue").json()["queue_running"]
        waited = time.perf_counter() - began
        assert [entry[1] for entry in running] == [job]
        assert waited < 2.0  # not blocked behind the job (the benchmark measures properly)
        assert call("POST", f"{server.url}/interrupt", {"prompt_id": job}).status == 200
        listener.wait_done(job)
    finally:
        listener.close()
