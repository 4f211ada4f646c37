"""The workflow document: exact round trips, the published schema, foreign formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.registry import Registry
from engine.workflow import DocumentError, Link, Workflow, json_schema, parse_workflow
from formats.comfy_api import from_comfy_api, to_comfy_api
from formats.load import load_document, to_workflow
from tests.conftest import REPO

EDITOR_SAVE = {
    "format": "diffgraph.workflow",
    "version": 1,
    "nodes": {
        "1": {
            "type": "image.empty",
            "inputs": {"width": 64, "height": 32, "color": 255},
            "ui": {
                "pos": [10.5, 20.0],
                "size": [220.0, 140.0],
                "title": "Blue",
                "color": "#223344",
                "collapsed": True,
                "bgcolor": "#000",
            },
        },
        "2": {
            "type": "image.save",
            "inputs": {"images": {"node": "1", "output": "image"}, "filename_prefix": "x"},
        },
    },
    "groups": [
        {"title": "Inputs", "bounding": [0.0, 0.0, 300.0, 200.0], "color": "#335", "font_size": 24}
    ],
    "ui": {"viewport": {"x": -12, "y": 40, "zoom": 0.8}},
    "meta": {"title": "round trip"},
}


def test_editor_file_round_trips_exactly() -> None:
    workflow = parse_workflow(EDITOR_SAVE)
    assert isinstance(workflow.nodes["2"].inputs["images"], Link)
    assert json.loads(workflow.to_json()) == EDITOR_SAVE
    again = parse_workflow(json.loads(workflow.to_json()))
    assert again == workflow


def test_published_schema_is_current_and_describes_the_document() -> None:
    published = json.loads((REPO / "engine/schema/workflow.schema.json").read_text())
    assert published == json_schema(), "run: diffgraph schema > engine/schema/workflow.schema.json"
    assert published["title"] == "diffgraph workflow"
    assert {"nodes", "groups", "ui", "meta", "version", "format"} <= set(published["properties"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": 7, "nodes": {}}, "newer diffgraph"),
        ({"nodes": {"1": {"inputs": {}}}}, "nodes.1.type: Field required"),
        ({"nodes": {"1": {"type": "a.b", "inputs": {"x": {"node": "2"}}}}}, "nodes.1.inputs.x"),
        ({"nodes": [], "extra": 1}, "extra"),
        ([1, 2], "not a valid workflow document"),
    ],
)
def test_bad_documents_say_where(data: object, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        parse_workflow(data)


def test_with_inputs_copies_and_checks_node_ids() -> None:
    workflow = parse_workflow(EDITOR_SAVE)
    changed = workflow.with_inputs({("1", "width"): 128})
    assert changed.nodes["1"].inputs["width"] == 128 and workflow.nodes["1"].inputs["width"] == 64
    with pytest.raises(DocumentError, match="no node '9'"):
        workflow.with_inputs({("9", "width"): 1})


def test_an_object_input_that_is_not_a_link_is_refused_naming_node_and_input() -> None:
    document = {"nodes": {"1": {"type": "image.save", "inputs": {"images": {}}}}}
    with pytest.raises(DocumentError, match=r"nodes\.1\.inputs\.images: an object must be a link"):
        parse_workflow(document)


def test_with_inputs_refuses_an_object_that_is_not_a_link_and_reads_one_that_is() -> None:
    workflow = parse_workflow(EDITOR_SAVE)
    with pytest.raises(DocumentError, match=r"cannot set 1\.width: an object must be a link"):
        workflow.with_inputs({("1", "width"): {"a": 1}})
    linked = workflow.with_inputs({("2", "images"): {"node": "1", "output": "image"}})
    assert linked.nodes["2"].inputs["images"] == Link(node="1", output="image")


COMFY_PROMPT = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0},
        "_meta": {"title": "Black"},
    },
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "c"}},
}


def test_comfy_api_format_translates_both_ways(registry: Registry) -> None:
    assert registry.get("image.save") is not None
    workflow = to_workflow(COMFY_PROMPT, registry)
    assert workflow.nodes["2"].type == "image.invert"
    assert workflow.nodes["3"].inputs["images"] == Link(node="2", output="image")
    assert workflow.nodes["1"].ui is not None and workflow.nodes["1"].ui.title == "Black"
    assert to_comfy_api(workflow, registry) == COMFY_PROMPT


def test_comfy_unknowns_are_left_for_validation(registry: Registry) -> None:
    prompt = {
        "1": {"class_type": "KSamplerFromMars", "inputs": {}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 3]}},
    }
    workflow = from_comfy_api(prompt, registry)
    assert workflow.nodes["1"].type == "KSamplerFromMars"
    assert workflow.nodes["2"].inputs["images"] == Link(node="1", output="#3")
    assert to_comfy_api(workflow, registry) is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"class_type": "EmptyImage", "inputs": {}, "_meta": [1]},
            "node 1: _meta must be an object",
        ),
        ({"class_type": "EmptyImage", "_meta": {"title": 5}}, "node 1: _meta.title must be text"),
        ({"class_type": ["EmptyImage"], "inputs": {}}, "node 1: class_type must be a string"),
        ({"class_type": "SaveImage", "inputs": {"images": {}}}, "node 1: inputs.images: an object"),
    ],
)
def test_comfy_api_format_mistakes_are_refused_naming_the_node(
    registry: Registry, entry: dict, message: str
) -> None:
    with pytest.raises(DocumentError, match=re.escape(message)):
        from_comfy_api({"1": entry}, registry)


def test_comfy_api_link_to_a_node_with_a_bad_class_type_names_that_node(
    registry: Registry,
) -> None:
    prompt = {
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
        "1": {"class_type": ["EmptyImage"], "inputs": {}},
    }
    with pytest.raises(DocumentError, match="node 1: class_type must be a string"):
        from_comfy_api(prompt, registry)


def test_comfy_ui_format_is_recognised(registry: Registry) -> None:
    assert to_workflow({"nodes": [], "links": [], "version": 0.4}, registry).nodes == {}


def test_example_workflows_parse(registry: Registry) -> None:
    for path in sorted((REPO / "workflows").glob("*.json")):
        workflow = load_document(path, registry)
        assert workflow.nodes, path


def test_unreadable_files(tmp_path: Path, registry: Registry) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(DocumentError, match="not valid JSON"):
        load_document(tmp_path / "bad.json", registry)
    with pytest.raises(DocumentError, match="no such file"):
        load_document(tmp_path / "missing.json", registry)
    (tmp_path / "fake.png").write_bytes(b"not a png")
    with pytest.raises(DocumentError, match="cannot read it as a PNG"):
        load_document(tmp_path / "fake.png", registry)
    assert Workflow().nodes == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"nodes": {}, "meta": {"x": NaN}}', "NaN is not a JSON number"),
        (b'{"nodes": ' + b"9" * 5000 + b"}", "5000 digits"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"nodes": "\xff"}', "not UTF-8"),
    ],
)
def test_files_json_does_not_allow_are_refused_naming_the_file(
    tmp_path: Path, registry: Registry, content: bytes, message: str
) -> None:
    path = tmp_path / "hostile.json"
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=f"hostile.json: .*{message}"):
        load_document(path, registry)


def test_a_folder_or_an_impossible_name_is_not_a_workflow_file(
    tmp_path: Path, registry: Registry
) -> None:
    with pytest.raises(DocumentError, match="is a folder"):
        load_document(tmp_path, registry)
    with pytest.raises(DocumentError, match="cannot name a file"):
        load_document("a\x00b.json", registry)


def test_ui_fields_not_given_are_not_invented() -> None:
    doc = {"nodes": {"1": {"type": "image.empty", "inputs": {}, "ui": {"pos": [1.0, 2.0]}}}}
    dumped = json.loads(parse_workflow(doc).to_json())
    assert dumped["nodes"] == doc["nodes"]
