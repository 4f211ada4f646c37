"""What a ComfyUI API client sees from a real `diffgraph serve`, held to ComfyUI 0.3.64's
server: no sampler previews unless asked, its own prompt_id, the message order at a job's
end, outputs_to_execute, and the feature_flags and reconnect behaviour of its WebSocket."""

from __future__ import annotations

import asyncio
import copy
import json
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.server.conftest import needs_toy_model
from tests.server.harness import Listener, Reply, Server, call, make_home
from tests.server.test_pypi_clients import TXT2IMG

pytestmark = [pytest.mark.slow, needs_toy_model]  # starts servers, runs the toy model


@pytest.fixture(scope="module")
def previews_on(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server started with ComfyUI's switch for previews."""
    home = make_home(Path(tmp_path_factory.mktemp("home")))
    running = Server(home, "--preview-method", "latent2rgb").start()
    yield running
    running.stop()


def prompt(seed: int, steps: int = 3) -> dict[str, Any]:
    document = copy.deepcopy(TXT2IMG)
    document["3"]["inputs"].update(seed=seed, steps=steps)
    return document


def queue(server: Server, body: dict[str, Any]) -> Reply:
    return call("POST", f"{server.url}/prompt", body)


def run(server: Server, listener: Listener, **body: Any) -> tuple[str, list[Any]]:
    """Queue for `listener`'s client and wait for the end; the prompt id and every message
    (binary frames included) the client got."""
    reply = queue(server, {"client_id": listener.client_id, **body})
    assert reply.status == 200, reply.text
    prompt_id = reply.json()["prompt_id"]
    listener.wait_done(prompt_id)
    return prompt_id, list(listener.messages)


def frames(messages: list[Any]) -> list[tuple[int, int]]:
    return [struct.unpack(">II", m[:8]) for m in messages if isinstance(m, bytes)]


def test_an_api_client_gets_no_sampler_previews_by_default(server: Server) -> None:
    listener = Listener(server)
    try:
        _, messages = run(server, listener, prompt=prompt(seed=21))
    finally:
        listener.close()
    assert frames(messages) == []
    assert [m["type"] for m in messages if isinstance(m, dict)].count("progress") == 3


def test_a_prompt_asks_for_previews_in_extra_data(server: Server) -> None:
    listener = Listener(server)
    try:
        extra = {"preview_method": "auto"}
        _, messages = run(server, listener, prompt=prompt(seed=22), extra_data=extra)
    finally:
        listener.close()
    assert frames(messages) == [(1, 1)] * 3  # a JPEG preview frame a step


def test_the_preview_method_switch_turns_them_on_for_every_prompt(previews_on: Server) -> None:
    listener = Listener(previews_on)
    try:
        _, messages = run(previews_on, listener, prompt=prompt(seed=23))
    finally:
        listener.close()
    assert frames(messages) == [(1, 1)] * 3


def test_a_prompt_turns_previews_off_where_the_server_has_them_on(previews_on: Server) -> None:
    listener = Listener(previews_on)
    try:
        extra = {"preview_method": "none"}
        _, messages = run(previews_on, listener, prompt=prompt(seed=24), extra_data=extra)
    finally:
        listener.close()
    assert frames(messages) == []


def test_the_clients_prompt_id_names_the_job_in_messages_queue_and_history(
    server: Server,
) -> None:
    listener, own = Listener(server), f"client-chosen-{uuid.uuid4()}"
    try:
        prompt_id, _ = run(server, listener, prompt=prompt(seed=25), prompt_id=own)
        kinds = [m["type"] for m in listener.of(own)]
    finally:
        listener.close()
    assert prompt_id == own
    assert kinds[0] == "execution_start" and kinds[-1] == "executing"
    history = call("GET", f"{server.url}/history/{own}").json()
    assert history[own]["prompt"][1] == own
    assert history[own]["status"]["completed"] is True


def test_a_taken_prompt_id_is_refused_in_comfyuis_error_shape(server: Server) -> None:
    own = f"twice-{uuid.uuid4()}"
    assert queue(server, {"prompt": prompt(seed=26), "prompt_id": own}).status == 200
    again = queue(server, {"prompt": prompt(seed=27), "prompt_id": own})
    assert again.status == 400
    body = again.json()
    assert set(body["error"]) == {"type", "message", "details", "extra_info"}
    assert own in body["error"]["message"] and body["node_errors"] == {}


def test_a_prompt_id_that_is_not_text_is_refused_by_name(server: Server) -> None:
    reply = queue(server, {"prompt": prompt(seed=28), "prompt_id": 17})
    assert reply.status == 400
    assert "prompt_id" in reply.json()["error"]


def test_the_queue_status_arrives_before_the_closing_executing(server: Server) -> None:
    listener = Listener(server)
    try:
        prompt_id, messages = run(server, listener, prompt=prompt(seed=29))
    finally:
        listener.close()
    texts = [m for m in messages if isinstance(m, dict)]
    closing = texts.index({"type": "executing", "data": {"node": None, "prompt_id": prompt_id}})
    success = [m["type"] for m in texts].index("execution_success")
    between = [m for m in texts[success + 1 : closing] if m["type"] == "status"]
    assert between and between[-1]["data"]["status"]["exec_info"]["queue_remaining"] == 0


def test_outputs_to_execute_lists_the_output_nodes(server: Server) -> None:
    listener = Listener(server)
    try:
        prompt_id, _ = run(server, listener, prompt=prompt(seed=30))
    finally:
        listener.close()
    entry = call("GET", f"{server.url}/history/{prompt_id}").json()[prompt_id]
    assert entry["prompt"][4] == ["9"]


def test_extra_data_keeps_the_client_id_as_comfyui_does(server: Server) -> None:
    listener = Listener(server)
    try:
        extra = {"preview_method": "none"}
        prompt_id, _ = run(server, listener, prompt=prompt(seed=32), extra_data=extra)
    finally:
        listener.close()
    entry = call("GET", f"{server.url}/history/{prompt_id}").json()[prompt_id]
    assert entry["prompt"][3] == {"preview_method": "none", "client_id": listener.client_id}


def test_a_client_that_connects_mid_job_is_told_the_running_node(server: Server) -> None:
    """ComfyUI resends `executing` for the running node to its client on (re)connect."""
    client_id = uuid.uuid4().hex
    reply = queue(server, {"prompt": prompt(seed=31, steps=400), "client_id": client_id})
    prompt_id = reply.json()["prompt_id"]
    try:
        wait_running(server, prompt_id)
        time.sleep(0.5)  # a node has started (the sampler, once the model is loaded)
        first = asyncio.run(first_messages(server, client_id, 2))
    finally:
        call("POST", f"{server.url}/interrupt", {"prompt_id": prompt_id})
    assert first[0]["type"] == "status"
    assert first[1]["type"] == "executing" and first[1]["data"]["prompt_id"] == prompt_id
    assert first[1]["data"]["node"] in TXT2IMG


def test_feature_flags_are_answered_with_the_servers(server: Server) -> None:
    async def exchange() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
            flags = {"supports_preview_metadata": True, "api_version": "1.0"}
            await ws.send_str(json.dumps({"type": "feature_flags", "data": flags}))
            return [json.loads((await ws.receive()).data) for _ in range(2)]

    status, answer = asyncio.run(exchange())
    assert status["type"] == "status"
    assert answer["type"] == "feature_flags"
    assert answer["data"]["supports_preview_metadata"] is False  # we send event 1 frames
    assert answer["data"]["max_upload_size"] > 0


def wait_running(server: Server, prompt_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = call("GET", f"{server.url}/queue").json()["queue_running"]
        if any(entry[1] == prompt_id for entry in running):
            return
        time.sleep(0.05)
    raise AssertionError(f"job {prompt_id} did not start")


async def first_messages(server: Server, client_id: str, count: int) -> list[dict[str, Any]]:
    url = f"{server.ws_url}?clientId={client_id}"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        return [json.loads((await ws.receive()).data) for _ in range(count)]
