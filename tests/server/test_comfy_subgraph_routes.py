"""A ComfyUI workflow built from subgraphs, sent as it is saved, over a real server: the
editor's import gets the flat graph, and /prompt names the inner node at fault by its
path of ids, as ComfyUI's own node_errors do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.comfy_templates import read
from tests.server.harness import Server, call, make_home
from tests.server.test_security import assert_client_error

TEMPLATE = "flux_dev_checkpoint_example.json"  # instance 56 of "Text to Image (Flux.1 Dev)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(make_home(tmp_path_factory.mktemp("subgraphs"), with_models=False)).start()
    yield running
    running.stop()


def test_the_editor_imports_a_subgraph_template_as_the_flat_graph(server: Server) -> None:
    reply = call("POST", f"{server.url}/v1/workflows/import", read(TEMPLATE))
    assert reply.status == 200, reply.text
    document = reply.json()
    assert document["nodes"]["56:52"]["type"] == "sd.sample"
    assert document["nodes"]["9"]["inputs"]["images"] == {"node": "56:53", "output": "image"}
    assert "Text to Image (Flux.1 Dev)" in [g["title"] for g in document["groups"]]


def test_a_missing_model_inside_a_subgraph_is_named_by_the_inner_nodes_path(
    server: Server,
) -> None:
    reply = call("POST", f"{server.url}/prompt", {"prompt": read(TEMPLATE)})
    body = assert_client_error(reply, 400)
    errors = body["node_errors"]
    assert {"56:47", "56:48", "56:49"} <= errors.keys()
    unet = errors["56:48"]["errors"][0]
    assert unet["extra_info"]["input_name"] == "unet_name"
    assert "flux1-dev.safetensors" in unet["details"]


def test_a_subgraph_that_holds_itself_is_a_400_with_the_reason(server: Server) -> None:
    workflow = read(TEMPLATE)
    inner = workflow["definitions"]["subgraphs"][0]
    inner["nodes"].append({"id": 99, "type": inner["id"], "mode": 0})
    reply = call("POST", f"{server.url}/prompt", {"prompt": workflow})
    assert_client_error(reply, 400, "nested more than 16 deep")
