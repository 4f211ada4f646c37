"""Our node specs in the shape of ComfyUI's /object_info, so ComfyUI clients can list and
fill in our nodes. Nodes with a ComfyUI twin appear under the ComfyUI class name."""

from __future__ import annotations

from typing import Any

from engine.node import InputSpec, NodeSpec
from engine.settings import Settings
from engine.types import type_name


def object_info(spec: NodeSpec, settings: Settings) -> dict[str, Any]:
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    for item in spec.inputs.values():
        # ComfyUI lists widgets under "required" (with their default); only ports may be optional.
        target = required if item.widget or item.required else optional
        target[item.name] = _input(item, settings)
    name = spec.comfy or spec.id
    return {
        "input": {"required": required, "optional": optional},
        "input_order": {"required": list(required), "optional": list(optional)},
        "output": [type_name(o.type) for o in spec.outputs.values()],
        "output_is_list": [False] * len(spec.outputs),
        "output_name": list(spec.outputs),
        "name": name,
        "display_name": spec.title,
        "description": spec.description,
        "python_module": spec.pack or "nodes",
        "category": spec.category,
        "output_node": spec.is_output,
        "diffgraph_id": spec.id,
    }


def comfy_name(spec: NodeSpec) -> str:
    return spec.comfy or spec.id


def _input(item: InputSpec, settings: Settings) -> list[Any]:
    if not item.widget:
        return [type_name(item.type)]
    options: dict[str, Any] = {}
    if not item.required:
        options["default"] = item.default
    if item.description:
        options["tooltip"] = item.description
    if item.has_choices:
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
