"""ComfyUI's API format, translated to and from our workflow document.

ComfyUI: {"3": {"class_type": "KSampler", "inputs": {"model": ["4", 0], "seed": 5}}}
Links are [source id, output index]; we name outputs, so the index is looked up in the
source node's declared outputs. A node declares `comfy="KSampler"` to stand for that class
with the same input names.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from engine.registry import Registry
from engine.workflow import DocumentError, Link, Workflow, WorkflowNode, explain


def is_comfy_api(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(v, dict) for v in data.values())
        # one entry without class_type (ComfyUI's frontend leaves it out of a node whose
        # type it could not build) is a prompt with that node at fault, not another format
        and any("class_type" in v for v in data.values())
    )


def is_comfy_ui(data: Any) -> bool:
    """The editor's save format of ComfyUI (litegraph): nodes as a list, links as arrays."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def from_comfy_api(data: dict[str, Any], registry: Registry) -> Workflow:
    """Translate a ComfyUI API-format prompt. Unknown classes and bad links are kept as
    they are, so validation reports each of them against its node."""
    nodes = {
        str(node_id): _node(str(node_id), entry, data, registry) for node_id, entry in data.items()
    }
    return Workflow(nodes=nodes)


def _node(
    node_id: str, entry: dict[str, Any], data: dict[str, Any], registry: Registry
) -> WorkflowNode:
    class_type = entry.get("class_type")
    if class_type is None:
        raise DocumentError(f"node {node_id}: class_type is missing (which node it is)")
    if not isinstance(class_type, str):
        raise DocumentError(f"node {node_id}: class_type must be a string")
    raw_inputs = entry.get("inputs", {})
    if not isinstance(raw_inputs, dict):
        raise DocumentError(f"node {node_id}: inputs must be an object")
    meta = entry.get("_meta") or {}
    if not isinstance(meta, dict):
        raise DocumentError(f"node {node_id}: _meta must be an object")
    title = meta.get("title")
    if title is not None and not isinstance(title, str):
        raise DocumentError(f"node {node_id}: _meta.title must be text")
    spec = registry.by_comfy(class_type) or registry.get(class_type)
    inputs = {
        name: _link(value, data, registry) if _is_link(value) else value
        for name, value in raw_inputs.items()
    }
    try:
        return WorkflowNode.model_validate(
            {
                "type": spec.id if spec else class_type,
                "inputs": inputs,
                "ui": {"title": title} if title else None,
            }
        )
    except ValidationError as exc:
        raise DocumentError(f"node {node_id}: {explain(exc)}") from None


def to_comfy_api(workflow: Workflow, registry: Registry) -> dict[str, Any] | None:
    """The same graph in ComfyUI's API format, or None when a node has no ComfyUI twin."""
    out: dict[str, Any] = {}
    for node_id, node in workflow.nodes.items():
        spec = registry.get(node.type)
        if spec is None or spec.comfy is None:
            return None
        inputs: dict[str, Any] = {}
        for name, value in node.inputs.items():
            if isinstance(value, Link):
                source = registry.get(workflow.nodes[value.node].type)
                if source is None or value.output not in source.outputs:
                    return None
                inputs[name] = [value.node, list(source.outputs).index(value.output)]
            else:
                inputs[name] = value
        entry: dict[str, Any] = {"class_type": spec.comfy, "inputs": inputs}
        if node.ui and node.ui.title:
            entry["_meta"] = {"title": node.ui.title}
        out[node_id] = entry
    return out


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def _link(value: list[Any], data: dict[str, Any], registry: Registry) -> Link:
    source_id, index = str(value[0]), value[1]
    class_type = (data.get(source_id) or {}).get("class_type")
    spec = None
    if isinstance(class_type, str):  # a bad one is reported on its own node
        spec = registry.by_comfy(class_type) or registry.get(class_type)
    names = list(spec.outputs) if spec else []
    # An index past the outputs keeps a readable name that validation then reports.
    return Link(node=source_id, output=names[index] if 0 <= index < len(names) else f"#{index}")
