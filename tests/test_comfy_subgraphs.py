"""ComfyUI's subgraphs (editor format, `definitions.subgraphs`) import as the flat graph
ComfyUI itself queues: inner nodes named `instance:inner`, links through the subgraph's
inputs and outputs joined, the instance's widget values winning over the inner ones."""

from __future__ import annotations

import contextlib
import copy
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from engine.registry import Registry
from engine.settings import Settings
from engine.validate import validate
from engine.workflow import DocumentError, Link
from formats.comfy_editor import from_comfy_ui
from formats.comfy_editor_write import to_comfy_ui
from formats.load import to_workflow
from tests.comfy_templates import read
from tests.fuzz.values import mutate

ENCODE = "6f1c3a52-0000-4000-8000-000000000001"  # a subgraph: CLIP + text -> conditioning
TWICE = "6f1c3a52-0000-4000-8000-000000000002"  # a subgraph holding two ENCODE instances


# Real templates: plain, nested with a bypassed instance, proxyWidgets, instance values.
FUZZED = (
    "flux_dev_checkpoint_example.json",
    "flux1_dev_uso_reference_image_gen.json",
    "image_flux2_klein_text_to_image.json",
    "3d_hunyuan3d-v2.1.json",
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(plugins=False)


def encode_subgraph() -> dict[str, Any]:
    """Inputs clip (a port) and text (ends in the prompt widget); node 1 encodes."""
    return {
        "id": ENCODE,
        "name": "Encode",
        "inputs": [
            {"id": "a", "name": "clip", "type": "CLIP", "linkIds": [1]},
            {"id": "b", "name": "text", "type": "STRING", "linkIds": [2]},
        ],
        "outputs": [{"id": "c", "name": "CONDITIONING", "type": "CONDITIONING", "linkIds": [3]}],
        "nodes": [
            {
                "id": 1,
                "type": "CLIPTextEncode",
                "pos": [0, 0],
                "size": [400, 200],
                "mode": 0,
                "inputs": [
                    {"name": "clip", "type": "CLIP", "link": 1},
                    {"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": 2},
                ],
                "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [3]}],
                "widgets_values": ["inner text"],
            }
        ],
        "links": [
            {"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0},
            {"id": 2, "origin_id": -10, "origin_slot": 1, "target_id": 1, "target_slot": 1},
            {"id": 3, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0},
        ],
    }


def document(instance: dict[str, Any], *definitions: dict[str, Any]) -> dict[str, Any]:
    """Checkpoint 4 -> instance 10 -> Conditioning Zero Out 20, as the editor saves it."""
    return {
        "last_node_id": 20,
        "nodes": [
            {
                "id": 4,
                "type": "CheckpointLoaderSimple",
                "mode": 0,
                "outputs": [{"name": "MODEL"}, {"name": "CLIP"}, {"name": "VAE"}],
                "widgets_values": ["model.safetensors"],
            },
            {"id": 10, "mode": 0, "pos": [500, 300], **instance},
            {
                "id": 20,
                "type": "ConditioningZeroOut",
                "mode": 0,
                "inputs": [{"name": "conditioning", "type": "CONDITIONING", "link": 11}],
            },
        ],
        "links": [[10, 4, 1, 10, 0, "CLIP"], [11, 10, 0, 20, 0, "CONDITIONING"]],
        "definitions": {"subgraphs": list(definitions) or [encode_subgraph()]},
        "version": 0.4,
    }


def encode_instance(**fields: Any) -> dict[str, Any]:
    return {
        "type": ENCODE,
        "inputs": [{"name": "clip", "type": "CLIP", "link": 10}],
        "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [11]}],
        **fields,
    }


def test_inner_nodes_take_the_instances_place_named_by_its_id(registry: Registry) -> None:
    workflow = from_comfy_ui(document(encode_instance()), registry)
    assert set(workflow.nodes) == {"4", "10:1", "20"}
    assert workflow.nodes["10:1"].type == "sd.encode_prompt"


def test_links_run_through_the_subgraphs_inputs_and_outputs(registry: Registry) -> None:
    workflow = from_comfy_ui(document(encode_instance()), registry)
    assert workflow.nodes["10:1"].inputs["clip"] == Link(node="4", output="clip")
    zero_out = workflow.nodes["20"].inputs["conditioning"]
    assert zero_out == Link(node="10:1", output="conditioning")


def test_an_inner_widget_keeps_its_value_when_the_instance_sets_none(registry: Registry) -> None:
    workflow = from_comfy_ui(document(encode_instance()), registry)
    assert workflow.nodes["10:1"].inputs["text"] == "inner text"


def test_the_instances_widget_value_wins_over_the_inner_one(registry: Registry) -> None:
    workflow = from_comfy_ui(document(encode_instance(widgets_values=["a red fox"])), registry)
    assert workflow.nodes["10:1"].inputs["text"] == "a red fox"


def test_older_saves_proxy_widgets_give_values_by_inner_node_and_widget(
    registry: Registry,
) -> None:
    proxies = {"proxyWidgets": [["1", "text"]]}
    instance = encode_instance(properties=proxies, widgets_values=["from the proxy"])
    workflow = from_comfy_ui(document(instance), registry)
    assert workflow.nodes["10:1"].inputs["text"] == "from the proxy"


def test_a_widget_promoted_without_a_subgraph_input_takes_the_instances_value(
    registry: Registry,
) -> None:
    subgraph = encode_subgraph()
    subgraph["inputs"].pop()  # the prompt is promoted straight from node 1
    subgraph["links"] = subgraph["links"][0:1] + subgraph["links"][2:]
    subgraph["nodes"][0]["inputs"].pop()
    instance = encode_instance(properties={"proxyWidgets": [["1", "text"]]}, widgets_values=["x"])
    workflow = from_comfy_ui(document(instance, subgraph), registry)
    assert workflow.nodes["10:1"].inputs["text"] == "x"


def test_nested_subgraphs_flatten_with_the_whole_path_in_each_id(registry: Registry) -> None:
    inner = [
        {
            "id": n,
            "type": ENCODE,
            "mode": 0,
            "pos": [0, 300 * n],
            "inputs": [{"name": "clip", "type": "CLIP", "link": 1}],
            "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [n + 1]}],
            "widgets_values": [f"prompt {n}"],
        }
        for n in (5, 6)
    ]
    twice = {
        "id": TWICE,
        "name": "Twice",
        "inputs": [{"id": "a", "name": "clip", "type": "CLIP", "linkIds": [1]}],
        "outputs": [{"id": "o", "name": "CONDITIONING", "type": "CONDITIONING", "linkIds": [7]}],
        "nodes": inner,
        "links": [
            {"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 5, "target_slot": 0},
            {"id": 8, "origin_id": -10, "origin_slot": 0, "target_id": 6, "target_slot": 0},
            {"id": 7, "origin_id": 6, "origin_slot": 0, "target_id": -20, "target_slot": 0},
        ],
    }
    twice["nodes"][1]["inputs"][0]["link"] = 8
    data = document(encode_instance(type=TWICE), encode_subgraph(), twice)
    workflow = from_comfy_ui(data, registry)
    assert {k for k in workflow.nodes if k.startswith("10:")} == {"10:5:1", "10:6:1"}
    assert workflow.nodes["10:6:1"].inputs["text"] == "prompt 6"
    assert workflow.nodes["10:5:1"].inputs["clip"] == Link(node="4", output="clip")
    assert workflow.nodes["20"].inputs["conditioning"] == Link(node="10:6:1", output="conditioning")


def test_a_muted_instance_is_dropped_with_all_it_holds(registry: Registry) -> None:
    workflow = from_comfy_ui(document(encode_instance(mode=2)), registry)
    assert set(workflow.nodes) == {"4", "20"}
    assert "conditioning" not in workflow.nodes["20"].inputs


def test_a_bypassed_instance_passes_on_its_input_of_the_wanted_type(registry: Registry) -> None:
    subgraph = encode_subgraph()
    subgraph["inputs"].insert(0, {"id": "z", "name": "extra", "type": "CONDITIONING"})
    for link in subgraph["links"]:
        if link["origin_id"] == -10:
            link["origin_slot"] += 1
    instance = encode_instance(mode=4)
    instance["inputs"] = [
        {"name": "extra", "type": "CONDITIONING", "link": 12},
        {"name": "clip", "type": "CLIP", "link": 10},
    ]
    data = document(instance, subgraph)
    data["nodes"].append(
        {"id": 30, "type": "ConditioningZeroOut", "mode": 0, "inputs": [{"link": None}]}
    )
    data["links"].append([12, 30, 0, 10, 0, "CONDITIONING"])
    workflow = from_comfy_ui(data, registry)
    assert "10:1" not in workflow.nodes
    assert workflow.nodes["20"].inputs["conditioning"] == Link(node="30", output="conditioning")


def test_a_node_type_we_lack_inside_a_subgraph_is_named_with_its_path(
    registry: Registry, tmp_path: Path
) -> None:
    subgraph = encode_subgraph()
    subgraph["nodes"][0]["type"] = "FancyEncoder"
    workflow = from_comfy_ui(document(encode_instance(), subgraph), registry)
    problems = validate(workflow, registry, Settings.at(tmp_path), targets=["20"])
    unknown = [p for p in problems if p.code == "unknown_node_type"]
    assert [(p.node, p.message) for p in unknown] == [("10:1", "unknown node type 'FancyEncoder'")]


def test_a_subgraph_that_holds_itself_is_refused_by_name(registry: Registry) -> None:
    subgraph = encode_subgraph()
    subgraph["nodes"].append({"id": 2, "type": ENCODE, "mode": 0, "inputs": []})
    with pytest.raises(DocumentError, match="subgraphs nested more than 16 deep"):
        from_comfy_ui(document(encode_instance(), subgraph), registry)


def test_a_subgraph_expanding_past_the_node_limit_is_refused(registry: Registry) -> None:
    """Each level holds the one below twice: 2**13 encoders from a few lines of JSON."""
    levels = [encode_subgraph()]
    for depth in range(13):
        below = levels[-1]["id"]
        levels.append(
            {
                "id": f"level-{depth}",
                "inputs": [],
                "outputs": [],
                "nodes": [{"id": n, "type": below, "mode": 0} for n in (1, 2)],
                "links": [],
            }
        )
    data = document(encode_instance(type=levels[-1]["id"]), *levels)
    with pytest.raises(DocumentError, match="nodes once its subgraphs are expanded"):
        from_comfy_ui(data, registry)


def test_the_flat_graph_is_written_back_for_comfyuis_editor(registry: Registry) -> None:
    """Our editor has no subgraphs: the export is the flat graph, ids kept in properties."""
    data = document(encode_instance(widgets_values=["a red fox"]))
    workflow = from_comfy_ui(copy.deepcopy(data), registry)
    written = to_comfy_ui(workflow, registry)
    assert written is not None and "definitions" not in written
    back = from_comfy_ui(json.loads(json.dumps(written)), registry)
    assert back.nodes == workflow.nodes


def test_the_inner_nodes_stand_where_the_instance_stood_in_a_group_of_its_name(
    registry: Registry,
) -> None:
    workflow = from_comfy_ui(document(encode_instance()), registry)
    ui = workflow.nodes["10:1"].ui
    assert ui is not None and ui.pos == (500.0, 300.0)
    assert [(g.title, g.bounding) for g in workflow.groups] == [
        ("Encode", (480.0, 240.0, 440.0, 280.0))
    ]


def test_mutated_subgraph_documents_import_or_are_refused_with_a_message(
    registry: Registry,
) -> None:
    """Evil values, deletions and wrong containers anywhere in a real subgraph template:
    never a traceback (a server would answer 500)."""
    rng = random.Random(5)
    starts = [read(name) for name in FUZZED]
    for case in range(1_500):
        with contextlib.suppress(DocumentError):
            to_workflow(mutate(starts[case % len(starts)], rng, rng.randint(1, 4)), registry)


def test_wide_subgraphs_flatten_in_linear_time(registry: Registry) -> None:
    """2,000 inputs each feeding its own node's widget, in one instance: well under a
    second (a lookup per pair of input and link would take minutes)."""
    width = 2_000
    subgraph = {
        "id": ENCODE,
        "inputs": [{"name": f"text{i}", "type": "STRING"} for i in range(width)],
        "outputs": [],
        "nodes": [
            {"id": i, "type": "Note", "inputs": [{"name": "text", "widget": {"name": "text"}}]}
            for i in range(width)
        ],
        "links": [
            {"id": i, "origin_id": -10, "origin_slot": i, "target_id": i, "target_slot": 0}
            for i in range(width)
        ],
    }
    instance = encode_instance(widgets_values=[f"v{i}" for i in range(width)])
    started = time.perf_counter()
    from_comfy_ui(document(instance, subgraph), registry)
    assert time.perf_counter() - started < 1.0


def test_values_saved_only_by_name_fill_the_widgets(registry: Registry) -> None:
    """Current saves add `widgets_values_named`; the positional list wins when both are
    there (ComfyUI's default), the names serve when it is missing."""
    subgraph = encode_subgraph()
    inner = subgraph["nodes"][0]
    inner["widgets_values_named"] = {"text": "by name"}
    workflow = from_comfy_ui(document(encode_instance(), subgraph), registry)
    assert workflow.nodes["10:1"].inputs["text"] == "inner text"
    del inner["widgets_values"]
    workflow = from_comfy_ui(document(encode_instance(), subgraph), registry)
    assert workflow.nodes["10:1"].inputs["text"] == "by name"


def test_reroutes_primitives_and_bypassed_nodes_inside_a_subgraph_resolve_as_at_the_top(
    registry: Registry,
) -> None:
    """Inside: the CLIP goes through a Reroute and a bypassed Conditioning Zero Out sits
    behind the encoder; a PrimitiveNode feeds the prompt."""
    subgraph = encode_subgraph()
    subgraph["inputs"].pop()  # the prompt now comes from the PrimitiveNode
    subgraph["nodes"] += [
        {"id": 2, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 1}]},
        {"id": 3, "type": "PrimitiveNode", "widgets_values": ["from a primitive"]},
        {
            "id": 4,
            "type": "ConditioningZeroOut",
            "mode": 4,
            "inputs": [{"name": "conditioning", "type": "CONDITIONING", "link": 5}],
            "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING"}],
        },
    ]
    subgraph["links"] = [
        {"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 2, "target_slot": 0},
        {"id": 6, "origin_id": 2, "origin_slot": 0, "target_id": 1, "target_slot": 0},
        {"id": 2, "origin_id": 3, "origin_slot": 0, "target_id": 1, "target_slot": 1},
        {"id": 5, "origin_id": 1, "origin_slot": 0, "target_id": 4, "target_slot": 0},
        {"id": 3, "origin_id": 4, "origin_slot": 0, "target_id": -20, "target_slot": 0},
    ]
    subgraph["nodes"][0]["inputs"][0]["link"] = 6
    workflow = from_comfy_ui(document(encode_instance(), subgraph), registry)
    assert set(workflow.nodes) == {"4", "10:1", "20"}
    assert workflow.nodes["10:1"].inputs["clip"] == Link(node="4", output="clip")
    assert workflow.nodes["10:1"].inputs["text"] == "from a primitive"
    zero_out = workflow.nodes["20"].inputs["conditioning"]
    assert zero_out == Link(node="10:1", output="conditioning")


def test_a_subgraph_defined_inside_another_definition_is_found(registry: Registry) -> None:
    """ComfyUI's schema lets a definition carry its own `definitions.subgraphs`."""
    twice = {
        "id": TWICE,
        "inputs": [{"name": "clip", "type": "CLIP"}],
        "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING"}],
        "nodes": [{"id": 5, "type": ENCODE, "inputs": [{"name": "clip", "link": 1}]}],
        "links": [
            {"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 5, "target_slot": 0},
            {"id": 2, "origin_id": 5, "origin_slot": 0, "target_id": -20, "target_slot": 0},
        ],
        "definitions": {"subgraphs": [encode_subgraph()]},
    }
    workflow = from_comfy_ui(document(encode_instance(type=TWICE), twice), registry)
    assert workflow.nodes["20"].inputs["conditioning"] == Link(node="10:5:1", output="conditioning")


def test_neighbours_right_of_an_instance_move_over_to_make_room_for_its_nodes(
    registry: Registry,
) -> None:
    """The instance is 100 wide at x 500; its subgraph's node is 400 wide."""
    data = document(encode_instance(size=[100, 50]))
    data["nodes"][2]["pos"] = [700, 300]  # Conditioning Zero Out, right of the instance
    data["nodes"][0]["pos"] = [100, 300]  # the loader, left of it
    workflow = from_comfy_ui(data, registry)
    assert workflow.nodes["20"].ui is not None and workflow.nodes["20"].ui.pos == (1000.0, 300.0)
    assert workflow.nodes["4"].ui is not None and workflow.nodes["4"].ui.pos == (100.0, 300.0)
