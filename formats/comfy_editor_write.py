"""Writing a workflow in ComfyUI's editor format (see `comfy_editor` for the format), so a
PNG made here opens in ComfyUI's editor and a graph can be handed to its users.

Only graphs whose every node has a ComfyUI twin can be said there. Positions the graph
lacks (an API-format import) are invented in columns by depth and marked as invented, so
they are dropped again on the way back.
"""

from __future__ import annotations

from typing import Any

from engine.graph import CycleError, WorkflowGraph
from engine.node import NodeSpec
from engine.registry import Registry
from engine.types import type_name
from engine.workflow import Link, NodeUI, Workflow, WorkflowNode
from formats.comfy_editor import CONTROL_AFTER_GENERATE, OURS, VERSION


class _Unsayable(Exception):
    """Something in the graph has no place in ComfyUI's editor format."""


def to_comfy_ui(workflow: Workflow, registry: Registry) -> dict[str, Any] | None:
    """The graph as ComfyUI's editor saves it, or None when it cannot be said there (a node
    with no ComfyUI twin, a link to a missing node or output, an undeclared input)."""
    specs: dict[str, NodeSpec] = {}
    for node_id, node in workflow.nodes.items():
        spec = registry.get(node.type)
        if spec is None or spec.comfy is None or not node.inputs.keys() <= spec.inputs.keys():
            return None
        specs[node_id] = spec
    ids = _int_ids(list(workflow.nodes))
    order, depth = _order_and_depth(workflow)
    links: list[list[Any]] = []
    rows: dict[int, int] = {}  # nodes placed so far per column, for invented positions
    out: list[dict[str, Any]] = []
    try:
        for node_id, node in workflow.nodes.items():
            inputs = _inputs(node_id, node, specs, ids, links)
            column = depth[node_id]
            rows[column] = rows.get(column, 0) + 1
            pos = (column * 350.0, rows[column] * 250.0 - 150.0)
            spec = specs[node_id]
            out.append(_ui_node(node_id, node, spec, ids[node_id], order[node_id], inputs, pos))
    except _Unsayable:
        return None
    for entry, (node_id, spec) in zip(out, specs.items(), strict=True):
        entry["outputs"] = _outputs(spec, ids[node_id], links)
    ours = {"ui": workflow.ui, "meta": workflow.meta} if workflow.ui or workflow.meta else None
    return {
        "last_node_id": max(ids.values(), default=0),
        "last_link_id": len(links),
        "nodes": out,
        "links": links,
        "groups": [g.model_dump(mode="json", exclude_none=True) for g in workflow.groups],
        "config": {},
        "extra": {OURS: ours} if ours else {},
        "version": VERSION,
    }


def _inputs(
    node_id: str,
    node: WorkflowNode,
    specs: dict[str, NodeSpec],
    ids: dict[str, int],
    links: list[list[Any]],
) -> list[dict[str, Any]]:
    """A node's input slots: its ports, then the widgets that a link feeds (ComfyUI's
    order). Each link is appended to `links` as [id, origin, slot, target, slot, type]."""
    spec = specs[node_id]
    inputs: list[dict[str, Any]] = []
    for inp in sorted(spec.inputs.values(), key=lambda i: i.widget):
        value = node.inputs.get(inp.name)
        if not isinstance(value, Link):
            if inp.widget:
                continue
            if value is not None:
                raise _Unsayable  # a literal on a port
        kind = "COMBO" if inp.has_choices else type_name(inp.type)
        entry: dict[str, Any] = {"name": inp.name, "type": kind}
        if inp.widget:
            entry["widget"] = {"name": inp.name}
        entry["link"] = None
        if isinstance(value, Link):
            source = specs.get(value.node)
            if source is None or value.output not in source.outputs:
                raise _Unsayable
            slot = list(source.outputs).index(value.output)
            link_type = type_name(source.outputs[value.output].type)
            entry["link"] = len(links) + 1
            links.append(
                [entry["link"], ids[value.node], slot, ids[node_id], len(inputs), link_type]
            )
        inputs.append(entry)
    return inputs


def _outputs(spec: NodeSpec, comfy_id: int, links: list[list[Any]]) -> list[dict[str, Any]]:
    kinds = [type_name(o.type) for o in spec.outputs.values()]
    return [
        {
            # Named by type ("MODEL") as ComfyUI does, by role where types repeat.
            "name": kind if kinds.count(kind) == 1 else name,
            "type": kind,
            "links": [link[0] for link in links if link[1:3] == [comfy_id, slot]],
            "slot_index": slot,
        }
        for slot, (name, kind) in enumerate(zip(spec.outputs, kinds, strict=True))
    ]


def _ui_node(
    node_id: str,
    node: WorkflowNode,
    spec: NodeSpec,
    comfy_id: int,
    order: int,
    inputs: list[dict[str, Any]],
    pos: tuple[float, float],
) -> dict[str, Any]:
    """One node as the editor saves it; its outputs are filled in once all links are known."""
    values, unset = _widgets_values(node, spec)
    ui = node.ui or NodeUI()
    extras = dict(ui.model_extra or {})
    bgcolor = extras.pop("bgcolor", None)
    ours: dict[str, Any] = {"id": node_id} if str(comfy_id) != node_id else {}
    if unset:
        ours["unset"] = unset
    if ui.pos is None or ui.size is None:  # invented here, dropped again on import
        ours["invented"] = [key for key in ("pos", "size") if getattr(ui, key) is None]
    if extras:
        ours["ui"] = extras
    lines = max(len(inputs), len(spec.outputs)) + len(values)
    entry: dict[str, Any] = {
        "id": comfy_id,
        "type": spec.comfy,
        "pos": list(ui.pos or pos),
        "size": list(ui.size or (315.0, 30.0 + 24.0 * lines)),
        "flags": {} if ui.collapsed is None else {"collapsed": ui.collapsed},
        "order": order,
        "mode": 0,
        "inputs": inputs,
        "outputs": [],
        "properties": {"Node name for S&R": spec.comfy, **({OURS: ours} if ours else {})},
    }
    if any(i.widget for i in spec.inputs.values()):
        entry["widgets_values"] = values
    for key, value in (("title", ui.title), ("color", ui.color), ("bgcolor", bgcolor)):
        if value is not None:
            entry[key] = value
    return entry


def _widgets_values(node: WorkflowNode, spec: NodeSpec) -> tuple[list[Any], list[str]]:
    """The widget values in declared order, and the widgets the node leaves unset: written
    as their default, as the list is positional, or left out when nothing set follows."""
    widgets = [i for i in spec.inputs.values() if i.widget]
    while widgets and widgets[-1].name not in node.inputs:
        widgets.pop()
    values: list[Any] = []
    for inp in widgets:
        value = node.inputs.get(inp.name, inp.default)
        values.append(inp.default if isinstance(value, Link) else value)  # the link wins
        if inp.randomize:
            values.append(CONTROL_AFTER_GENERATE)
    return values, [i.name for i in widgets if i.name not in node.inputs]


def _int_ids(node_ids: list[str]) -> dict[str, int]:
    """ComfyUI's integer ids: "12" stays 12, other ids get fresh numbers after the largest."""
    ids = {n: int(n) for n in node_ids if n.isascii() and n.isdigit() and str(int(n)) == n}
    for node_id in node_ids:
        ids.setdefault(node_id, max(ids.values(), default=0) + 1)
    return ids


def _order_and_depth(workflow: Workflow) -> tuple[dict[str, int], dict[str, int]]:
    """Execution order (ComfyUI saves it) and a column for each node that has no position."""
    graph = WorkflowGraph(workflow)
    try:
        ordered = graph.order(workflow.nodes.keys())
    except CycleError:  # validation reports the cycle; any order will do here
        ordered = list(workflow.nodes)
    return {n: i for i, n in enumerate(ordered)}, graph.depths(ordered)
