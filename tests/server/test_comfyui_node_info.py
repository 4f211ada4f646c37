"""/object_info and /system_stats from a real `diffgraph serve`, held to ComfyUI 0.3.64:
every node that stands in for a ComfyUI node lists ComfyUI's inputs (required, optional,
hidden, in ComfyUI's order), its output names, display name and upload flag, and ours that
ComfyUI's node lacks only as optional, last. ComfyUI's facts are in
formats/data/comfyui_object_info.json, read from ComfyUI's source."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import REPO
from tests.server.harness import Server, call

pytestmark = pytest.mark.slow  # starts a server

COMFYUI = json.loads((REPO / "formats" / "data" / "comfyui_object_info.json").read_text())
SYSTEM_KEYS = {
    "os",
    "ram_total",
    "ram_free",
    "comfyui_version",
    "required_frontend_version",
    "installed_templates_version",
    "required_templates_version",
    "python_version",
    "pytorch_version",
    "embedded_python",
    "argv",
}
DEVICE_KEYS = {
    "name",
    "type",
    "index",
    "vram_total",
    "vram_free",
    "torch_vram_total",
    "torch_vram_free",
}


@pytest.fixture(scope="module")
def info(server: Server) -> dict[str, Any]:
    reply = call("GET", f"{server.url}/object_info")
    assert reply.status == 200
    return dict(reply.json())


def aliased(info: dict[str, Any]) -> dict[str, Any]:
    """Our nodes listed under a ComfyUI class name."""
    return {name: node for name, node in info.items() if name != node["diffgraph_id"]}


def test_every_aliased_node_requires_exactly_comfyuis_required_inputs(
    info: dict[str, Any],
) -> None:
    nodes = aliased(info)
    assert set(nodes) == set(COMFYUI["nodes"])
    for name, node in nodes.items():
        assert node["input_order"]["required"] == COMFYUI["nodes"][name]["required"], name


def test_inputs_comfyuis_node_lacks_are_optional_and_last(info: dict[str, Any]) -> None:
    for name, node in aliased(info).items():
        theirs = COMFYUI["nodes"][name]["optional"]
        optional = node["input_order"]["optional"]
        assert optional[: len(theirs)] == [n for n in theirs if n in optional], name
    loader = info["CheckpointLoaderSimple"]
    assert loader["input_order"]["required"] == ["ckpt_name"]
    assert loader["input_order"]["optional"] == ["prediction"]


def test_hidden_inputs_are_listed_as_comfyui_lists_them(info: dict[str, Any]) -> None:
    save = info["SaveImage"]
    assert save["input"]["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert save["input_order"]["hidden"] == ["prompt", "extra_pnginfo"]
    assert "hidden" not in info["KSampler"]["input"]


def test_output_and_display_names_are_comfyuis(info: dict[str, Any]) -> None:
    for name, node in aliased(info).items():
        assert node["display_name"] == COMFYUI["nodes"][name]["display_name"], name
        assert node["output_name"] == COMFYUI["nodes"][name]["output_name"], name
    assert info["CheckpointLoaderSimple"]["display_name"] == "Load Checkpoint"
    assert info["ControlNetApplyAdvanced"]["output_name"] == ["positive", "negative"]


def test_load_image_offers_the_upload_button(info: dict[str, Any]) -> None:
    for name in ("LoadImage", "LoadImageMask"):
        assert info[name]["input"]["required"]["image"][1]["image_upload"] is True


def test_an_unknown_class_is_an_empty_object(server: Server) -> None:
    reply = call("GET", f"{server.url}/object_info/NoSuchNode")
    assert (reply.status, reply.json()) == (200, {})


def test_system_stats_has_comfyuis_keys_and_no_others(server: Server) -> None:
    stats = call("GET", f"{server.url}/system_stats").json()
    assert set(stats) == {"system", "devices"}
    assert set(stats["system"]) == SYSTEM_KEYS
    assert all(set(device) == DEVICE_KEYS for device in stats["devices"])
