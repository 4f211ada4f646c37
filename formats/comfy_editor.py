"""ComfyUI's editor (UI, litegraph) workflow format, translated to and from our document.

This is what ComfyUI's editor saves and writes into a PNG's `workflow` chunk (version 0.4):

    {"last_node_id": 9, "last_link_id": 9, "groups": [], "config": {}, "extra": {},
     "nodes": [{"id": 3, "type": "KSampler", "pos": [863, 186], "size": [315, 262],
                "flags": {}, "order": 4, "mode": 0,
                "inputs": [{"name": "model", "type": "MODEL", "link": 1}, ...],
                "outputs": [{"name": "LATENT", "type": "LATENT", "links": [7], "slot_index": 0}],
                "properties": {"Node name for S&R": "KSampler"},
                "widgets_values": [156680208700286, "randomize", 20, 8, "euler", "normal", 1]}],
     "links": [[1, 4, 0, 3, 0, "MODEL"]],  # id, origin, origin slot, target, target slot, type
     "version": 0.4}

Widget values are positional in declared order, a seed followed by its
"control_after_generate" mode; a widget fed by a link is also in `inputs`, with "widget".
What this format cannot say (string ids, unset widgets, extra ui fields) rides in the node's
properties["diffgraph"], which ComfyUI keeps.

Importing: notes are dropped; a Reroute is followed to its source; a PrimitiveNode's value
goes into the widget it feeds; a muted node (mode 2) is dropped and what it fed is left
unset, as when ComfyUI queues the graph; a bypassed node (mode 4) is dropped and each link
through it joined to its input of the same type, by ComfyUI's frontend rule (the same slot
if its type matches, else the first input of the wanted type).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from engine.graph import CycleError, WorkflowGraph
from engine.node import NodeSpec
from engine.registry import Registry
from engine.types import type_name
from engine.workflow import DocumentError, Group, Link, NodeUI, Workflow, WorkflowNode

VERSION = 0.4
OURS = "diffgraph"  # our key in node properties and in the top-level `extra`
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
CONTROL_AFTER_GENERATE = "fixed"  # a saved graph should make the same image again
UI_ONLY = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
MUTED, BYPASSED = 2, 4  # litegraph's LGraphEventMode.NEVER and .BYPASS


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
    for node_id, node in workflow.nodes.items():
        spec = specs[node_id]
        inputs: list[dict[str, Any]] = []
        # ComfyUI lists ports first, then the widgets that a link feeds.
        for inp in sorted(spec.inputs.values(), key=lambda i: i.widget):
            value = node.inputs.get(inp.name)
            if not isinstance(value, Link):
                if inp.widget:
                    continue
                if value is not None:
                    return None  # a literal on a port has no place in this format
            kind = "COMBO" if inp.has_choices else type_name(inp.type)
            entry: dict[str, Any] = {"name": inp.name, "type": kind}
            if inp.widget:
                entry["widget"] = {"name": inp.name}
            entry["link"] = None
            if isinstance(value, Link):
                source = specs.get(value.node)
                if source is None or value.output not in source.outputs:
                    return None
                slot = list(source.outputs).index(value.output)
                link_type = type_name(source.outputs[value.output].type)
                entry["link"] = len(links) + 1
                links.append(
                    [entry["link"], ids[value.node], slot, ids[node_id], len(inputs), link_type]
                )
            inputs.append(entry)
        column = depth[node_id]
        rows[column] = rows.get(column, 0) + 1
        pos = (column * 350.0, rows[column] * 250.0 - 150.0)
        out.append(_ui_node(node_id, node, spec, ids[node_id], order[node_id], inputs, pos))
    for entry, (node_id, spec) in zip(out, specs.items(), strict=True):
        kinds = [type_name(o.type) for o in spec.outputs.values()]
        entry["outputs"] = [
            {
                # Named by type ("MODEL") as ComfyUI does, by role where types repeat.
                "name": kind if kinds.count(kind) == 1 else name,
                "type": kind,
                "links": [link[0] for link in links if link[1:3] == [ids[node_id], slot]],
                "slot_index": slot,
            }
            for slot, (name, kind) in enumerate(zip(spec.outputs, kinds, strict=True))
        ]
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


def from_comfy_ui(data: dict[str, Any], registry: Registry) -> Workflow:
    """Translate a ComfyUI editor workflow. Unknown classes and bad links are kept, so
    validation reports each of them against its node."""
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list):
        raise DocumentError("ComfyUI workflow: 'nodes' must be a list")
    for index, raw in enumerate(raw_nodes):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), int | str):
            raise DocumentError(f"ComfyUI workflow: node #{index} has no id")
        if not isinstance(raw.get("type"), str):
            raise DocumentError(f"ComfyUI node {raw['id']}: type must be a string")
    by_key: dict[str, dict[str, Any]] = {str(raw["id"]): raw for raw in raw_nodes}
    links = _links(data.get("links"))
    kept = [r for r in raw_nodes if r["type"] not in UI_ONLY and _mode(r) not in (MUTED, BYPASSED)]
    our_ids = _our_ids(kept)
    nodes: dict[str, WorkflowNode] = {}
    for raw in kept:
        spec = registry.by_comfy(raw["type"]) or registry.get(raw["type"])
        inputs = _widget_inputs(raw.get("widgets_values"), spec) if spec else {}
        for name in _ours(raw).get("unset", []):
            inputs.pop(name, None)
        for entry in _list(raw.get("inputs")):
            if not isinstance(entry, dict) or entry.get("link") is None:
                continue
            widget = entry.get("widget")
            name = widget.get("name") if isinstance(widget, dict) else entry.get("name")
            source = _resolve(entry["link"], by_key, links, entry.get("type"))
            if not isinstance(name, str) or source is None:
                continue  # nothing that runs feeds it: a widget keeps its own value
            if isinstance(source, _Value):
                inputs[name] = source.value
            elif source[0] in our_ids:
                output = _output_name(by_key[source[0]], source[1], registry)
                inputs[name] = Link(node=our_ids[source[0]], output=output)
        if spec:  # declared order, so a round trip gives the same JSON
            inputs = {n: inputs[n] for n in spec.inputs if n in inputs} | inputs
        try:
            type_id = spec.id if spec else raw["type"]
            node = WorkflowNode(type=type_id, inputs=inputs, ui=_node_ui(raw))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise DocumentError(f"ComfyUI node {raw['id']}: {where}: {error['msg']}") from None
        nodes[our_ids[str(raw["id"])]] = node
    extra = data.get("extra")
    ours = extra.get(OURS) if isinstance(extra, dict) else None
    ui, meta = (ours.get("ui"), ours.get("meta")) if isinstance(ours, dict) else (None, None)
    groups = [g for g in map(_group, _list(data.get("groups"))) if g is not None]
    return Workflow(
        nodes=nodes,
        groups=groups,
        ui=ui if isinstance(ui, dict) else {},
        meta=meta if isinstance(meta, dict) else {},
    )


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


def _widget_inputs(values: Any, spec: NodeSpec) -> dict[str, Any]:
    widgets = [i for i in spec.inputs.values() if i.widget]
    if isinstance(values, dict):  # some frontends key the values by widget name
        return {i.name: values[i.name] for i in widgets if i.name in values}
    values = values if isinstance(values, list) else []
    inputs: dict[str, Any] = {}
    position = 0
    for inp in widgets:
        if position >= len(values):
            break  # the rest keep their defaults, as in ComfyUI
        inputs[inp.name] = values[position]
        position += 1
        # A seed's control mode follows it; very old saves wrote a bool there.
        control = values[position] if inp.randomize and position < len(values) else None
        if isinstance(control, bool) or (isinstance(control, str) and control in CONTROL_VALUES):
            position += 1
    return inputs


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


@dataclass(frozen=True)
class _Value:
    """A literal that a PrimitiveNode feeds into a widget."""

    value: Any


def _mode(raw: dict[str, Any]) -> Any:
    return raw.get("mode", 0)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _ours(raw: dict[str, Any]) -> dict[str, Any]:
    properties = raw.get("properties")
    ours = properties.get(OURS) if isinstance(properties, dict) else None
    return ours if isinstance(ours, dict) else {}


def _our_ids(kept: list[dict[str, Any]]) -> dict[str, str]:
    """ComfyUI id -> our id: the one kept in properties, unless taken (a node copied in
    ComfyUI carries its original's properties)."""
    plain = {str(raw["id"]) for raw in kept}
    ids: dict[str, str] = {}
    for raw in kept:
        key, wanted = str(raw["id"]), _ours(raw).get("id")
        usable = isinstance(wanted, str) and wanted not in plain and wanted not in ids.values()
        ids[key] = wanted if usable and wanted else key
    return ids


def _links(raw: Any) -> dict[Any, tuple[str, int]]:
    """Link id -> (origin node, origin slot), from 0.4 arrays or version-1 objects."""
    links: dict[Any, tuple[str, int]] = {}
    for link in _list(raw):
        if isinstance(link, dict):
            link = [link.get("id"), link.get("origin_id"), link.get("origin_slot")]
        if isinstance(link, list) and len(link) >= 3:
            # A malformed link is dropped: the input it fed stays unset.
            with suppress(TypeError, ValueError):
                links[link[0]] = (str(link[1]), int(link[2]))
    return links


def _input_link(raw: dict[str, Any], slot: int | None) -> Any:
    inputs = _list(raw.get("inputs"))
    entry = inputs[slot] if slot is not None and 0 <= slot < len(inputs) else None
    return entry.get("link") if isinstance(entry, dict) else None


def _bypass_slot(raw: dict[str, Any], slot: int, wanted: Any) -> int | None:
    """The input a bypassed node passes on to its output `slot`."""
    types = [i.get("type") if isinstance(i, dict) else None for i in _list(raw.get("inputs"))]
    outputs = _list(raw.get("outputs"))
    output = outputs[slot] if 0 <= slot < len(outputs) and isinstance(outputs[slot], dict) else {}
    if slot < len(types) and types[slot] == output.get("type", wanted):
        return slot
    return next((types.index(t) for t in (wanted, output.get("type")) if t in types), None)


def _resolve(
    link_id: Any, by_key: dict[str, dict[str, Any]], links: dict[Any, tuple[str, int]], want: Any
) -> tuple[str, int] | _Value | None:
    """The real source of a link, through Reroutes and bypassed nodes: (node, slot), a
    PrimitiveNode's value, or None when nothing that runs feeds it."""
    seen: set[Any] = set()
    while link_id in links and link_id not in seen:
        seen.add(link_id)
        key, slot = links[link_id]
        raw = by_key.get(key)
        if raw is None or _mode(raw) == MUTED:
            return None
        if raw["type"] == "PrimitiveNode":
            values = raw.get("widgets_values")
            return _Value(values[0]) if isinstance(values, list) and values else None
        if raw["type"] == "Reroute":
            link_id = _input_link(raw, 0)
        elif _mode(raw) == BYPASSED:
            link_id = _input_link(raw, _bypass_slot(raw, slot, want))
        else:
            return None if raw["type"] in UI_ONLY else (key, slot)
    return None


def _output_name(raw: dict[str, Any], slot: int, registry: Registry) -> str:
    spec = registry.by_comfy(raw["type"]) or registry.get(raw["type"])
    names = list(spec.outputs) if spec else []
    # As in the API-format import: a slot we cannot name stays readable for validation.
    return names[slot] if 0 <= slot < len(names) else f"#{slot}"


def _vector(value: Any) -> tuple[float, float] | None:
    if isinstance(value, dict):  # older saves wrote {"0": x, "1": y}
        value = [value.get("0"), value.get("1")]
    numbers = isinstance(value, list | tuple) and len(value) == 2
    if numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return float(value[0]), float(value[1])
    return None


def _node_ui(raw: dict[str, Any]) -> NodeUI | None:
    ours = _ours(raw)
    fields: dict[str, Any] = {}
    for key in ("pos", "size"):
        vector = _vector(raw.get(key))
        if vector is not None and key not in ours.get("invented", []):
            fields[key] = vector
    fields |= {k: raw[k] for k in ("title", "color", "bgcolor") if isinstance(raw.get(k), str)}
    flags = raw.get("flags")
    if isinstance(flags, dict) and isinstance(flags.get("collapsed"), bool):
        fields["collapsed"] = flags["collapsed"]
    if isinstance(ours.get("ui"), dict):
        fields |= ours["ui"]
    return NodeUI.model_validate(fields) if fields else None


def _group(raw: Any) -> Group | None:
    """A group keeps its title, box, colour and font size; ComfyUI's own id and flags go."""
    try:
        return Group.model_validate({k: v for k, v in raw.items() if k not in ("id", "flags")})
    except (AttributeError, ValidationError):
        return None  # a group is only decoration, not worth refusing a file for
