"""Admission through a real server: every job that would take the machine down is refused
with a 4xx before it takes a place in the queue, naming the node and input at fault
(or the limit, for what is too large to read); an ordinary job still runs.

The server is given a 4 GiB RAM budget, as half of an 8 GB machine would have by default,
so the figures do not depend on the machine the tests run on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from engine.admission import MAX_NODES
from nodes.footprints.costs import MAX_PROMPT_TOKENS
from tests.server.conftest import needs_toy_model
from tests.server.harness import Listener, Server, call, make_home, toy_workflow

pytestmark = needs_toy_model


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(make_home(tmp_path_factory.mktemp("admission")), "--ram-budget-gb", "4")
    yield server.start()
    server.stop()


def toy(width: int = 64, height: int = 64, batch: int = 4, prompt: str | None = None) -> Any:
    document = toy_workflow(steps=2, batch=batch, prompt=prompt)
    document["nodes"]["latent"]["inputs"].update(width=width, height=height)
    return document


def images(width: int, height: int, batch: int) -> dict[str, Any]:
    """Empty Image -> Save Image, as a ComfyUI API prompt."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": width, "height": height, "batch_size": batch, "color": 0},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }


def inverts(count: int) -> dict[str, Any]:
    """A ComfyUI API prompt of `count` nodes: an image, inverted over and over, saved."""
    prompt: dict[str, Any] = {"0": images(8, 8, 1)["1"]}
    for i in range(1, count - 1):
        prompt[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    prompt[str(count - 1)] = {
        "class_type": "SaveImage",
        "inputs": {"images": [str(count - 2), 0], "filename_prefix": "chain"},
    }
    return prompt


def nothing_queued(server: Server) -> bool:
    queue = call("GET", f"{server.url}/queue").json()
    return queue == {"queue_running": [], "queue_pending": []}


OVERSIZED = {
    "64x64 x batch 4096 at the toy model": (toy(batch=4096), "latent", "batch_size", "4,096"),
    "a 16384x16384 latent": (toy(16384, 16384, 1), "latent", "width", "16384x16384"),
    "a 16384x16384 image": (images(16384, 16384, 1), "1", "width", "16384x16384"),
    "64 images of 4096x4096": (images(4096, 4096, 64), "1", "batch_size", "64 images"),
}


@pytest.mark.parametrize("case", OVERSIZED)
def test_a_job_too_big_for_memory_is_refused_at_the_input_that_sized_it(
    small: Server, case: str
) -> None:
    prompt, node, input_name, words = OVERSIZED[case]
    reply = call("POST", f"{small.url}/prompt", {"prompt": prompt})
    assert reply.status == 400, reply.text
    body = reply.json()
    [error] = body["node_errors"][node]["errors"]
    assert error["type"] == "too_much_memory"
    assert error["extra_info"] == {"input_name": input_name}
    assert words in error["message"] and "more than the RAM budget of 4.0 GiB" in error["message"]
    assert nothing_queued(small)


def test_v1_refuses_it_the_same_way(small: Server) -> None:
    reply = call("POST", f"{small.url}/v1/jobs", {"workflow": toy(batch=4096)})
    assert reply.status == 400
    [problem] = reply.json()["problems"]
    assert (problem["code"], problem["node"], problem["input"]) == (
        "too_much_memory",
        "latent",
        "batch_size",
    )
    assert call("GET", f"{small.url}/v1/jobs").json()["jobs"] == []


def test_a_prompt_over_the_token_limit_is_refused_naming_the_prompt_input(small: Server) -> None:
    text = "a large red circle " * 50_000  # 950 KB, 200,000 tokens
    reply = call("POST", f"{small.url}/prompt", {"prompt": toy(prompt=text)})
    assert reply.status == 400
    [error] = reply.json()["node_errors"]["prompt"]["errors"]
    assert error["type"] == "over_limit" and error["extra_info"] == {"input_name": "text"}
    assert f"more than {MAX_PROMPT_TOKENS:,} tokens" in error["message"]
    assert nothing_queued(small)


def test_a_10_mb_prompt_is_refused_before_it_is_read(small: Server) -> None:
    body = json.dumps({"prompt": toy(prompt="circle " * 1_500_000)}).encode()
    assert len(body) > 10_000_000
    headers = {"Content-Type": "application/json"}
    reply = call("POST", f"{small.url}/prompt", data=body, headers=headers)
    assert reply.status == 413
    assert "the request is 10.0 MiB; a job" in reply.json()["error"]
    assert "at most 4 MiB" in reply.json()["error"]
    assert nothing_queued(small)


def test_a_20000_node_graph_is_refused_saying_how_many_nodes_a_job_may_have(
    small: Server,
) -> None:
    reply = call("POST", f"{small.url}/prompt", {"prompt": inverts(20_000)})
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["type"] == "too_many_nodes"
    assert error["message"] == (
        f"the workflow has 20,000 nodes; a job may have at most {MAX_NODES:,}"
    )
    assert nothing_queued(small)


def test_an_ordinary_job_still_runs(small: Server) -> None:
    listener = Listener(small)
    try:
        reply = call(
            "POST", f"{small.url}/prompt", {"prompt": toy(), "client_id": listener.client_id}
        )
        assert reply.status == 200, reply.text
        prompt_id = reply.json()["prompt_id"]
        kinds = [m["type"] for m in listener.wait_done(prompt_id)]
        assert "execution_success" in kinds
    finally:
        listener.close()
