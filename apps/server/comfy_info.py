"""Our node specs in the shape of ComfyUI's /object_info, so ComfyUI clients can list and
fill in our nodes. Nodes with a ComfyUI twin appear under the ComfyUI class name, with
ComfyUI's input sections and order, output names, display name and upload flags
(`formats/data/comfyui_object_info.json`, read from ComfyUI's source): a client that builds
a prompt from the required inputs, or maps widget values by position, gets ComfyUI's node.
Inputs of ours that ComfyUI's node lacks come last, as optional, so no client must fill them."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from engine.node import InputSpec, NodeSpec
from engine.settings import Settings
from engine.types import type_name

EMPTY_TWIN: dict[str, Any] = {"required": [], "optional": [], "hidden": []}


@cache
def comfy_twins() -> dict[str, dict[str, Any]]:
    """ComfyUI's facts per node id (sections, output_name, display_name, image_upload)."""
    text = resources.files("formats").joinpath("data/comfyui_object_info.json").read_text()
    nodes: dict[str, dict[str, Any]] = json.loads(text)["nodes"]
    return nodes


def object_info(spec: NodeSpec, settings: Settings) -> dict[str, Any]:
    twin = comfy_twins().get(spec.comfy or "") if spec.comfy else None
    sections = _sections(spec, twin)
    inputs: dict[str, Any] = {
        section: {item.name: _input(item, settings, twin) for item in items}
        for section, items in sections.items()
    }
    if twin and twin["hidden"]:
        inputs["hidden"] = {name: name.upper() for name in twin["hidden"]}
    outputs = [type_name(o.type) for o in spec.outputs.values()]
    names = twin["output_name"] if twin and len(twin["output_name"]) == len(outputs) else None
    return {
        "input": inputs,
        "input_order": {section: list(items) for section, items in inputs.items()},
        "output": outputs,
        "output_is_list": [False] * len(spec.outputs),
        "output_name": names or list(spec.outputs),
        "name": spec.comfy or spec.id,
        "display_name": twin["display_name"] if twin else spec.title,
        "description": spec.description,
        "python_module": spec.pack or "nodes",
        "category": spec.category,
        "output_node": spec.is_output,
        "diffgraph_id": spec.id,
    }


def comfy_name(spec: NodeSpec) -> str:
    return spec.comfy or spec.id


def _sections(spec: NodeSpec, twin: dict[str, Any] | None) -> dict[str, list[InputSpec]]:
    """Required and optional inputs. With a ComfyUI twin: its sections in its order, then
    ours it lacks (optional). Without: ComfyUI lists widgets under required (with their
    default); only ports may be optional."""
    if twin is None:
        required = [i for i in spec.inputs.values() if i.widget or i.required]
        optional = [i for i in spec.inputs.values() if not (i.widget or i.required)]
        return {"required": required, "optional": optional}
    ours = dict(spec.inputs)
    required = [ours.pop(name) for name in twin["required"] if name in ours]
    optional = [ours.pop(name) for name in twin["optional"] if name in ours]
    return {"required": required, "optional": optional + list(ours.values())}


def _input(item: InputSpec, settings: Settings, twin: dict[str, Any] | None) -> list[Any]:
    if not item.widget:
        return [type_name(item.type)]
    options: dict[str, Any] = {}
    if not item.required:
        options["default"] = item.default
    if item.description:
        options["tooltip"] = item.description
    if item.has_choices:
        if twin and item.name in twin["image_upload"]:
            options["image_upload"] = True
        return [item.choices(settings), options]
    bounds = {"min": item.ge, "max": item.le, "step": item.step}
    options.update({k: v for k, v in bounds.items() if v is not None})
    if item.multiline:
        options["multiline"] = True
    if item.slider:
        options["display"] = "slider"
    if item.randomize:
        options["control_after_generate"] = True
    return [type_name(item.type), options]
