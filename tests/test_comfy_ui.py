"""ComfyUI's editor (UI) format: exact round trips, and ComfyUI's own saves read faithfully."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import BaseModel

from engine.context import NodeContext
from engine.node import node
from engine.registry import Registry
from engine.settings import Settings
from engine.validate import validate
from engine.workflow import DocumentError, Group, Link, NodeUI, Workflow, WorkflowNode
from formats.comfy_api import from_comfy_api
from formats.comfy_editor import from_comfy_ui
from formats.comfy_editor_write import to_comfy_ui


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.discover(plugins=False)
    assert not registry.failures
    return registry


def ui(**fields: Any) -> NodeUI:
    return NodeUI.model_validate(fields)


def sd_workflow() -> Workflow:
    """txt2img with string and numeric ids, every ui field, a mid-list unset widget (cfg)
    and trailing unset ones (the sampler's denoise, the loader's prediction)."""
    ckpt = "ckpt"
    nodes = {
        ckpt: WorkflowNode(
            type="sd.load_checkpoint",
            inputs={"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
            ui=ui(pos=(26.0, 474.0), size=(315.0, 98.0)),
        ),
        "positive": WorkflowNode(
            type="sd.encode_prompt",
            inputs={"text": "a lighthouse at dusk", "clip": Link(node=ckpt, output="clip")},
            ui=ui(pos=(415.0, 186.0), size=(422.0, 164.0), title="Positive", color="#232"),
        ),
        "negative": WorkflowNode(
            type="sd.encode_prompt",
            inputs={"text": "blurry", "clip": Link(node=ckpt, output="clip")},
            ui=ui(pos=(413.0, 389.0), collapsed=True, bgcolor="#533", note="keep me"),
        ),
        "5": WorkflowNode(type="sd.empty_latent", inputs={"width": 768, "height": 512}),
        "sampler": WorkflowNode(
            type="sd.sample",
            inputs={
                "model": Link(node=ckpt, output="model"),
                "seed": 123456789,
                "steps": 25,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "positive": Link(node="positive", output="conditioning"),
                "negative": Link(node="negative", output="conditioning"),
                "latent_image": Link(node="5", output="latent"),
            },
            ui=ui(pos=(863.0, 186.0), size=(315.0, 262.0)),
        ),
        "decode": WorkflowNode(
            type="sd.vae_decode",
            inputs={
                "samples": Link(node="sampler", output="latent"),
                "vae": Link(node=ckpt, output="vae"),
            },
            ui=ui(pos=(1209.0, 188.0)),
        ),
        "9": WorkflowNode(
            type="image.save",
            inputs={"images": Link(node="decode", output="image"), "filename_prefix": "dusk"},
            ui=ui(pos=(1451.0, 189.0), size=(210.0, 270.0), title="Result"),
        ),
    }
    return Workflow(
        nodes=nodes,
        groups=[Group(title="Prompts", bounding=(400, 150, 460, 450), color="#3f789e")],
        ui={"viewport": {"x": -12, "y": 40, "zoom": 0.8}},
        meta={"title": "txt2img"},
    )


def test_round_trip_is_identical(registry: Registry) -> None:
    workflow = sd_workflow()
    saved = to_comfy_ui(workflow, registry)
    assert saved is not None
    back = from_comfy_ui(json.loads(json.dumps(saved)), registry)
    assert back == workflow
    assert back.to_json() == workflow.to_json()


def test_saved_layout_is_comfyuis(registry: Registry) -> None:
    saved = to_comfy_ui(sd_workflow(), registry)
    assert saved is not None
    assert saved["version"] == 0.4 and {"config", "extra", "groups"} <= saved.keys()
    nodes = {
        n["properties"].get("diffgraph", {}).get("id", str(n["id"])): n for n in saved["nodes"]
    }
    # Numeric ids are kept; the others get fresh numbers after the largest.
    assert nodes["5"]["id"] == 5 and nodes["9"]["id"] == 9
    assert sorted(n["id"] for n in saved["nodes"]) == [5, 9, 10, 11, 12, 13, 14]
    assert saved["last_node_id"] == 14 and saved["last_link_id"] == len(saved["links"]) == 9
    sampler, ckpt = nodes["sampler"], nodes["ckpt"]
    assert sampler["type"] == "KSampler" and sampler["mode"] == 0
    assert sampler["properties"]["Node name for S&R"] == "KSampler"
    # cfg is unset in the middle, so its default stands in; denoise is simply left out.
    assert sampler["widgets_values"] == [123456789, "fixed", 25, 8.0, "dpmpp_2m", "karras"]
    assert sampler["properties"]["diffgraph"] == {"id": "sampler", "unset": ["cfg"]}
    assert [i["name"] for i in sampler["inputs"]] == [
        "model",
        "positive",
        "negative",
        "latent_image",
    ]
    assert ckpt["widgets_values"] == ["v1-5-pruned-emaonly.safetensors"]
    assert [(o["name"], len(o["links"])) for o in ckpt["outputs"]] == [
        ("MODEL", 1),
        ("CLIP", 2),
        ("VAE", 1),
    ]
    link = sampler["inputs"][3]["link"]
    assert [link, 5, 0, sampler["id"], 3, "LATENT"] in saved["links"]
    assert nodes["5"]["outputs"][0]["links"] == [link]
    assert nodes["negative"]["flags"] == {"collapsed": True}
    assert nodes["negative"]["bgcolor"] == "#533" and nodes["positive"]["title"] == "Positive"
    assert nodes["ckpt"]["order"] < nodes["positive"]["order"] < sampler["order"]
    assert nodes["decode"]["order"] < nodes["9"]["order"]
    assert "widgets_values" not in nodes["decode"]


def test_nodes_without_a_comfyui_twin_give_none(registry: Registry) -> None:
    workflow = Workflow(nodes={"1": WorkflowNode(type="value.int", inputs={"value": 3})})
    assert to_comfy_ui(workflow, registry) is None
    broken = sd_workflow().with_inputs({("9", "images"): Link(node="gone", output="image")})
    assert to_comfy_ui(broken, registry) is None


class SeedOut(BaseModel):
    seed: int


@node("t.seed", title="Seed", category="test", comfy="SeedSource")
class SeedSource:
    class Inputs(BaseModel):
        pass

    Outputs = SeedOut

    def run(self, inputs: Inputs, ctx: NodeContext) -> SeedOut:
        return SeedOut(seed=7)


def test_widget_fed_by_a_link_is_a_converted_widget_input(registry: Registry) -> None:
    local = Registry.discover(plugins=False)
    local.add_pack([SeedSource], "t")
    workflow = sd_workflow()
    workflow.nodes["seeds"] = WorkflowNode(type="t.seed", ui=ui(pos=(0.0, 0.0), size=(1.0, 1.0)))
    workflow = workflow.with_inputs({("sampler", "seed"): Link(node="seeds", output="seed")})
    saved = to_comfy_ui(workflow, local)
    assert saved is not None
    sampler = next(n for n in saved["nodes"] if n["type"] == "KSampler")
    seed_input = sampler["inputs"][4]
    link = seed_input["link"]
    assert seed_input == {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": link}
    assert sampler["widgets_values"][:2] == [0, "fixed"]  # the link wins over the value
    assert [link, 15, 0, sampler["id"], 4, "INT"] in saved["links"]
    assert from_comfy_ui(saved, local) == workflow


# ComfyUI's default txt2img graph as its editor saves it (ids, slots and order as ComfyUI
# numbers them; values changed to show that they are read).
DEFAULT_UI: dict[str, Any] = {
    "last_node_id": 9,
    "last_link_id": 9,
    "nodes": [
        {
            "id": 7,
            "type": "CLIPTextEncode",
            "pos": [413, 389],
            "size": [425.27801513671875, 180.6060791015625],
            "flags": {},
            "order": 3,
            "mode": 0,
            "inputs": [{"name": "clip", "type": "CLIP", "link": 5}],
            "outputs": [
                {"name": "CONDITIONING", "type": "CONDITIONING", "links": [6], "slot_index": 0}
            ],
            "properties": {"Node name for S&R": "CLIPTextEncode"},
            "widgets_values": ["text, watermark"],
        },
        {
            "id": 6,
            "type": "CLIPTextEncode",
            "pos": [415, 186],
            "size": [422.84503173828125, 164.31304931640625],
            "flags": {},
            "order": 2,
            "mode": 0,
            "inputs": [{"name": "clip", "type": "CLIP", "link": 3}],
            "outputs": [
                {"name": "CONDITIONING", "type": "CONDITIONING", "links": [4], "slot_index": 0}
            ],
            "properties": {"Node name for S&R": "CLIPTextEncode"},
            "widgets_values": ["a red fox in fresh snow, morning light"],
        },
        {
            "id": 5,
            "type": "EmptyLatentImage",
            "pos": [473, 609],
            "size": [315, 106],
            "flags": {},
            "order": 1,
            "mode": 0,
            "inputs": [],
            "outputs": [{"name": "LATENT", "type": "LATENT", "links": [2], "slot_index": 0}],
            "properties": {"Node name for S&R": "EmptyLatentImage"},
            "widgets_values": [512, 512, 1],
        },
        {
            "id": 3,
            "type": "KSampler",
            "pos": [863, 186],
            "size": [315, 262],
            "flags": {},
            "order": 4,
            "mode": 0,
            "inputs": [
                {"name": "model", "type": "MODEL", "link": 1},
                {"name": "positive", "type": "CONDITIONING", "link": 4},
                {"name": "negative", "type": "CONDITIONING", "link": 6},
                {"name": "latent_image", "type": "LATENT", "link": 2},
            ],
            "outputs": [{"name": "LATENT", "type": "LATENT", "links": [7], "slot_index": 0}],
            "properties": {"Node name for S&R": "KSampler"},
            "widgets_values": [640213981, "randomize", 20, 8, "euler", "normal", 1],
        },
        {
            "id": 8,
            "type": "VAEDecode",
            "pos": [1209, 188],
            "size": [210, 46],
            "flags": {},
            "order": 5,
            "mode": 0,
            "inputs": [
                {"name": "samples", "type": "LATENT", "link": 7},
                {"name": "vae", "type": "VAE", "link": 8},
            ],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [9], "slot_index": 0}],
            "properties": {"Node name for S&R": "VAEDecode"},
        },
        {
            "id": 9,
            "type": "SaveImage",
            "pos": [1451, 189],
            "size": [210, 58],
            "flags": {},
            "order": 6,
            "mode": 0,
            "inputs": [{"name": "images", "type": "IMAGE", "link": 9}],
            "outputs": [],
            "properties": {},
            "widgets_values": ["ComfyUI"],
        },
        {
            "id": 4,
            "type": "CheckpointLoaderSimple",
            "pos": [26, 474],
            "size": [315, 98],
            "flags": {},
            "order": 0,
            "mode": 0,
            "inputs": [],
            "outputs": [
                {"name": "MODEL", "type": "MODEL", "links": [1], "slot_index": 0},
                {"name": "CLIP", "type": "CLIP", "links": [3, 5], "slot_index": 1},
                {"name": "VAE", "type": "VAE", "links": [8], "slot_index": 2},
            ],
            "properties": {"Node name for S&R": "CheckpointLoaderSimple"},
            "widgets_values": ["v1-5-pruned-emaonly.safetensors"],
        },
    ],
    "links": [
        [1, 4, 0, 3, 0, "MODEL"],
        [2, 5, 0, 3, 3, "LATENT"],
        [3, 4, 1, 6, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 4, 1, 7, 0, "CLIP"],
        [6, 7, 0, 3, 2, "CONDITIONING"],
        [7, 3, 0, 8, 0, "LATENT"],
        [8, 4, 2, 8, 1, "VAE"],
        [9, 8, 0, 9, 0, "IMAGE"],
    ],
    "groups": [],
    "config": {},
    "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}},
    "version": 0.4,
}

# The same graph as ComfyUI's "Export (API)" writes it.
DEFAULT_API: dict[str, Any] = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 640213981,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
    },
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": 512, "height": 512, "batch_size": 1},
    },
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "a red fox in fresh snow, morning light", "clip": ["4", 1]},
    },
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}


def graph_of(workflow: Workflow) -> dict[str, tuple[str, dict[str, Any]]]:
    return {node_id: (n.type, n.inputs) for node_id, n in workflow.nodes.items()}


def default_ui() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_UI)


def ui_node(data: dict[str, Any], node_id: int) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def test_comfyuis_default_graph_reads_like_its_api_export(
    registry: Registry, settings: Settings
) -> None:
    workflow = from_comfy_ui(default_ui(), registry)
    assert graph_of(workflow) == graph_of(from_comfy_api(DEFAULT_API, registry))
    assert workflow.nodes["3"].ui == NodeUI(pos=(863, 186), size=(315, 262))
    problems = validate(workflow, registry, settings)
    assert {p.code for p in problems} == {"value_not_in_choices"}  # no such checkpoint here
    # Written back, ComfyUI's ids and links come out as they went in.
    saved = to_comfy_ui(workflow, registry)
    assert saved is not None
    assert sorted(link[1:] for link in saved["links"]) == sorted(
        link[1:] for link in DEFAULT_UI["links"]
    )
    assert ui_node(saved, 3)["widgets_values"] == [640213981, "fixed", 20, 8, "euler", "normal", 1]


def test_reroutes_notes_and_primitives_are_resolved(registry: Registry) -> None:
    data = default_ui()
    # VAEDecode -> Reroute 11 -> Reroute 12 -> SaveImage.
    data["links"][8] = [9, 8, 0, 11, 0, "IMAGE"]
    reroute = {"type": "Reroute", "pos": [1300, 200], "size": [75, 26], "flags": {}, "mode": 0}
    reroute |= {"properties": {"showOutputText": False, "horizontal": False}}
    for node_id, link_in, link_out in ((11, 9, 10), (12, 10, 11)):
        data["nodes"].append(
            reroute
            | {
                "id": node_id,
                "inputs": [{"name": "", "type": "*", "link": link_in}],
                "outputs": [{"name": "", "type": "IMAGE", "links": [link_out]}],
            }
        )
    data["links"] += [[10, 11, 0, 12, 0, "IMAGE"], [11, 12, 0, 9, 0, "IMAGE"]]
    ui_node(data, 9)["inputs"][0]["link"] = 11
    # A PrimitiveNode feeds the sampler's seed, converted to an input.
    primitive = {"id": 13, "type": "PrimitiveNode", "pos": [500, 0], "size": [210, 82]}
    primitive |= {"flags": {}, "mode": 0, "inputs": [], "widgets_values": [4242, "fixed"]}
    primitive["outputs"] = [
        {"name": "INT", "type": "INT", "links": [12], "widget": {"name": "seed"}, "slot_index": 0}
    ]
    primitive["properties"] = {"Run widget replace on values": False}
    data["nodes"].append(primitive)
    data["links"].append([12, 13, 0, 3, 4, "INT"])
    ui_node(data, 3)["inputs"].append(
        {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 12}
    )
    note = {"type": "Note", "pos": [0, 0], "size": [400, 60], "flags": {}, "mode": 0}
    note |= {"properties": {"text": ""}, "widgets_values": ["SD 1.5 only"]}
    data["nodes"] += [note | {"id": 14}, note | {"id": 15, "type": "MarkdownNote"}]

    workflow = from_comfy_ui(data, registry)
    assert sorted(workflow.nodes) == ["3", "4", "5", "6", "7", "8", "9"]
    assert workflow.nodes["9"].inputs["images"] == Link(node="8", output="image")
    assert workflow.nodes["3"].inputs["seed"] == 4242
    expected = graph_of(from_comfy_api(DEFAULT_API, registry))
    expected["3"][1]["seed"] = 4242
    assert graph_of(workflow) == expected


def test_muted_nodes_are_dropped_and_bypassed_ones_passed_through(
    registry: Registry, settings: Settings
) -> None:
    data = default_ui()
    # An upscale, bypassed, between the empty latent and the sampler.
    upscale = {"id": 20, "type": "LatentUpscale", "pos": [600, 700], "size": [315, 130]}
    upscale |= {"flags": {}, "order": 2, "mode": 4, "properties": {}}
    upscale["inputs"] = [{"name": "samples", "type": "LATENT", "link": 20}]
    upscale["outputs"] = [{"name": "LATENT", "type": "LATENT", "links": [2], "slot_index": 0}]
    upscale["widgets_values"] = ["nearest-exact", 1024, 1024, "disabled"]
    data["nodes"].append(upscale)
    data["links"][1] = [2, 20, 0, 3, 3, "LATENT"]
    data["links"].append([20, 5, 0, 20, 0, "LATENT"])
    workflow = from_comfy_ui(data, registry)
    assert "20" not in workflow.nodes
    assert workflow.nodes["3"].inputs["latent_image"] == Link(node="5", output="latent")

    # No input of a bypassed VAE Decode has its output's type: the image is left unset.
    ui_node(data, 8)["mode"] = 4
    workflow = from_comfy_ui(data, registry)
    assert "8" not in workflow.nodes and "images" not in workflow.nodes["9"].inputs

    # A muted node is dropped; what it fed is left unset, and validation says so.
    ui_node(data, 5)["mode"] = 2
    workflow = from_comfy_ui(data, registry)
    assert "5" not in workflow.nodes and "latent_image" not in workflow.nodes["3"].inputs
    missing = {(p.node, p.input) for p in validate(workflow, registry, settings)}
    assert ("3", "latent_image") in missing and ("9", "images") in missing


def test_unknown_node_types_are_kept_for_validation(registry: Registry, settings: Settings) -> None:
    data = default_ui()
    ui_node(data, 3)["type"] = "KSamplerFromMars"
    workflow = from_comfy_ui(data, registry)
    mars = workflow.nodes["3"]
    assert mars.type == "KSamplerFromMars"
    assert mars.inputs["model"] == Link(node="4", output="model")
    assert workflow.nodes["8"].inputs["samples"] == Link(node="3", output="#0")
    problems = validate(workflow, registry, settings)
    assert any(p.code == "unknown_node_type" and p.node == "3" for p in problems)
    assert to_comfy_ui(workflow, registry) is None


def test_other_savers_spellings(registry: Registry) -> None:
    data = default_ui()
    sampler = ui_node(data, 3)
    sampler["widgets_values"] = {"seed": 5, "steps": 9, "cfg": 4.5, "control_after_generate": 1}
    sampler["pos"], sampler["size"] = {"0": 1.5, "1": 2}, {"0": 315, "1": 262}
    ui_node(data, 5)["widgets_values"] = [640, 384]  # fewer values: the rest keep defaults
    loader = ui_node(data, 4)
    loader["widgets_values"] = ["a.safetensors", "epsilon", "extra ignored"]
    data["groups"] = [{"id": 3, "title": "G", "bounding": [0, 0, 10, 10], "flags": {}}]
    data["groups"].append({"title": "broken"})
    old = copy.deepcopy(data)
    ui_node(old, 3)["widgets_values"] = [8, True, 30, 7, "euler", "normal", 1]  # old bool control

    workflow = from_comfy_ui(data, registry)
    assert workflow.nodes["3"].inputs["seed"] == 5 and workflow.nodes["3"].inputs["cfg"] == 4.5
    assert "scheduler" not in workflow.nodes["3"].inputs
    assert workflow.nodes["3"].ui == NodeUI(pos=(1.5, 2.0), size=(315, 262))
    assert workflow.nodes["5"].inputs == {"width": 640, "height": 384}
    assert workflow.nodes["4"].inputs == {"ckpt_name": "a.safetensors", "prediction": "epsilon"}
    assert workflow.groups == [Group(title="G", bounding=(0, 0, 10, 10))]
    assert from_comfy_ui(old, registry).nodes["3"].inputs["steps"] == 30


def test_copied_nodes_do_not_share_our_id(registry: Registry) -> None:
    saved = to_comfy_ui(sd_workflow(), registry)
    assert saved is not None
    copied = copy.deepcopy(next(n for n in saved["nodes"] if n["type"] == "KSampler"))
    copied["id"] = 99
    saved["nodes"].append(copied)
    workflow = from_comfy_ui(saved, registry)
    assert "sampler" in workflow.nodes and "99" in workflow.nodes


def test_malformed_files_say_where(registry: Registry) -> None:
    with pytest.raises(DocumentError, match="'nodes' must be a list"):
        from_comfy_ui({"nodes": {}, "links": []}, registry)
    with pytest.raises(DocumentError, match="node #1 has no id"):
        from_comfy_ui({"nodes": [{"id": 1, "type": "X"}, {"type": "Y"}], "links": []}, registry)
    data = default_ui()
    ui_node(data, 7)["widgets_values"] = [{"not": "a link"}]
    with pytest.raises(DocumentError, match=r"ComfyUI node 7: inputs\.text"):
        from_comfy_ui(data, registry)


def test_link_ids_and_unset_lists_of_the_wrong_type_are_ignored(registry: Registry) -> None:
    data = default_ui()
    node = ui_node(data, 7)
    node["inputs"][0]["link"] = [5]  # a list cannot be a link id: nothing feeds the input
    node["properties"]["diffgraph"] = {"unset": [["text"], 3]}
    workflow = from_comfy_ui(data, registry)
    assert "clip" not in workflow.nodes["7"].inputs
    assert workflow.nodes["7"].inputs["text"] == "text, watermark"
    node["properties"]["diffgraph"] = {"unset": 5}
    assert from_comfy_ui(data, registry).nodes["7"].inputs["text"] == "text, watermark"
