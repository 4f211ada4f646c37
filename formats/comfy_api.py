"""ComfyUI's API format, translated to and from our workflow document.

ComfyUI: {"3": {"class_type": "KSampler", "inputs": {"model": ["4", 0], "seed": 5}}}
Links are [source id, output index]; we name outputs, so the index is looked up in the
source node's declared outputs. A node declares `comfy="KSampler"` to stand for that class
with the same input names.
"""

from __future__ import annotations

from typing import Any

from engine.registry import Registry
from engine.workflow import DocumentError, Link, NodeUI, Workflow, WorkflowNode


def is_comfy_api(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(v, dict) and "class_type" in v for v in data.values())
    )


def is_comfy_ui(data: Any) -> bool:
    """The editor's save format of ComfyUI (litegraph): nodes as a list, links as arrays."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def from_comfy_api(data: dict[str, Any], registry: Registry) -> Workflow:
    """Translate a ComfyUI API-format prompt. Unknown classes and bad links are kept as
    they are, so validation reports each of them against its node."""
    nodes: dict[str, WorkflowNode] = {}
    for node_id, entry in data.items():
        class_type = entry.get("class_type")
        if not isinstance(class_type, str):
            raise DocumentError(f"node {node_id}: class_type must be a string")
        spec = registry.by_comfy(class_type) or registry.get(class_type)
        inputs: dict[str, Any] = {}
        raw_inputs = entry.get("inputs", {})
        if not isinstance(raw_inputs, dict):
            raise DocumentError(f"node {node_id}: inputs must be an object")
        for name, value in raw_inputs.items():
            inputs[name] = _link(value, data, registry) if _is_link(value) else value
        title = (entry.get("_meta") or {}).get("title")
        nodes[str(node_id)] = WorkflowNode(
            type=spec.id if spec else class_type,
            inputs=inputs,
            ui=NodeUI(title=title) if title else None,
        )
    return Workflow(nodes=nodes)


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
    source = data.get(source_id) or {}
    spec = registry.by_comfy(source.get("class_type", "")) or registry.get(
        source.get("class_type", "")
    )
    names = list(spec.outputs) if spec else []
    # An index past the outputs keeps a readable name that validation then reports.
    return Link(node=source_id, output=names[index] if 0 <= index < len(names) else f"#{index}")
