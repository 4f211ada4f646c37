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
if its type matches, else the first input of the wanted type). Subgraphs are flattened
first (`comfy_subgraphs`), so all of this applies inside them too.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from engine.node import NodeSpec
from engine.registry import Registry
from engine.workflow import DocumentError, Group, Link, NodeUI, Workflow, WorkflowNode
from formats.comfy_subgraphs import flatten_subgraphs

VERSION = 0.4
OURS = "diffgraph"  # our key in node properties and in the top-level `extra`
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
CONTROL_AFTER_GENERATE = "fixed"  # a saved graph should make the same image again
UI_ONLY = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
MUTED, BYPASSED = 2, 4  # litegraph's LGraphEventMode.NEVER and .BYPASS


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
    data = flatten_subgraphs(data)  # nodes inside subgraphs take their place, ids "56:51"
    raw_nodes = data["nodes"]
    by_key: dict[str, dict[str, Any]] = {str(raw["id"]): raw for raw in raw_nodes}
    links = _links(data.get("links"))
    kept = [r for r in raw_nodes if r["type"] not in UI_ONLY and _mode(r) not in (MUTED, BYPASSED)]
    our_ids = _our_ids(kept)
    nodes: dict[str, WorkflowNode] = {}
    for raw in kept:
        spec = registry.by_comfy(raw["type"]) or registry.get(raw["type"])
        inputs = _widget_inputs(_saved_values(raw), spec) if spec else {}
        for name in _list(_ours(raw).get("unset")):
            if isinstance(name, str):
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


def _saved_values(raw: dict[str, Any]) -> Any:
    """The positional list, as ComfyUI's frontend restores by default; current saves also
    key them by name (`widgets_values_named`, sometimes stale), used when the list is absent."""
    values = raw.get("widgets_values")
    return raw.get("widgets_values_named") if values is None else values


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
    # Link ids are numbers (or text in some saves); anything else links nothing.
    while isinstance(link_id, int | str) and link_id in links and link_id not in seen:
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
