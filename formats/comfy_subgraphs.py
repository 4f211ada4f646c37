"""ComfyUI's subgraphs, expanded into one flat litegraph graph before it is imported.

ComfyUI's editor (frontend 1.24 on) saves reusable parts as subgraphs:

    "definitions": {"subgraphs": [{"id": "<uuid>", "name": "Text to Image",
        "inputs": [{"name": "text", "type": "STRING", "linkIds": [68]}, ...],
        "outputs": [{"name": "IMAGE", "type": "IMAGE", "linkIds": [9]}],
        "nodes": [...], "links": [{"id": 68, "origin_id": -10, "origin_slot": 0,
                                   "target_id": 51, "target_slot": 1, "type": "STRING"}, ...]}]}

A node whose `type` is a subgraph's id is an instance of it. Inside, links from node -10
come from the instance's inputs and links to node -20 leave through its outputs; a
subgraph may hold instances of others. We do what ComfyUI's frontend does when it queues
the graph (ExecutableNodeDTO): every instance becomes its inner nodes, named by the path
of instance ids, `56:51` for node 51 inside instance 56, so an error names the node that
ComfyUI's own messages would. Each instance input becomes a Reroute to what feeds the
instance (or a PrimitiveNode holding the instance's own widget value), each output a
Reroute from the inner node feeding it; `comfy_editor` then follows those as it follows
any Reroute. A muted instance is dropped whole; a bypassed one passes its inputs through
by type, like any bypassed node.

Widget values set on an instance (promoted widgets) win over the inner node's own value:
current saves list them in `widgets_values`, one per subgraph input that feeds a widget,
in the subgraph's input order; older saves list `properties.proxyWidgets` pairs
[inner node id or "-1" for an input of the subgraph, widget name] with the values at the
same positions. A value the instance does not carry leaves the inner node's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.admission import MAX_NODES
from engine.workflow import DocumentError
from formats.comfy_subgraph_values import (
    INPUT_NODE,
    MAX_DEPTH,
    NOTHING,
    OUTPUT_NODE,
    as_list,
    definitions_of,
    host_values,
    link_rows,
)

MUTED, BYPASSED = 2, 4  # litegraph's LGraphEventMode.NEVER and .BYPASS


def flatten_subgraphs(data: dict[str, Any]) -> dict[str, Any]:
    """The document with every subgraph instance replaced by its nodes (unchanged when it
    defines no subgraphs)."""
    definitions = definitions_of(data)
    if not definitions:
        return data
    flat = _Flat(definitions)
    flat.expand(as_list(data.get("nodes")), link_rows(data.get("links")), path="")
    groups = as_list(data.get("groups")) + flat.groups
    return {**data, "nodes": flat.nodes, "links": flat.links, "groups": groups}


@dataclass
class _Flat:
    definitions: dict[str, dict[str, Any]]
    nodes: list[dict[str, Any]] = field(default_factory=list)
    links: list[list[Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    expanded: int = 0

    def expand(self, nodes: list[Any], links: dict[Any, list[Any]], path: str) -> None:
        """One graph level: its links get ids in the flat graph (`path` + id), its
        instances are expanded, and links leaving an instance leave its output Reroute."""
        outputs: dict[tuple[Any, int], str] = {}  # (instance id, slot) -> flat node id
        for raw in nodes:
            if not isinstance(raw, dict):
                continue
            kind = raw.get("type")
            definition = self.definitions.get(kind) if isinstance(kind, str) else None
            if definition is None or raw.get("mode") in (MUTED, BYPASSED):
                self.nodes.append(_copy_node(raw, path, definition))
                continue
            for slot in range(len(as_list(definition.get("outputs")))):
                outputs[(raw.get("id"), slot)] = f"{path}{raw.get('id')}:out{slot}"
            self._instance(raw, definition, path)
        for link_id, (origin, slot, target, target_slot, kind) in links.items():
            if (origin, slot) in outputs:
                origin, slot = outputs[(origin, slot)], 0
            elif origin != INPUT_NODE:
                origin = _flat_id(path, origin)
            else:
                origin, slot = f"{path[:-1]}:in{slot}", 0
            self.links.append([_flat_id(path, link_id), origin, slot, target, target_slot, kind])

    def _instance(self, raw: dict[str, Any], definition: dict[str, Any], path: str) -> None:
        instance = f"{path}{raw['id']}"
        if instance.count(":") >= MAX_DEPTH:
            raise DocumentError(
                f"ComfyUI node {instance}: subgraphs nested more than {MAX_DEPTH} deep "
                "(a subgraph that contains itself?)"
            )
        inner_nodes = [n for n in as_list(definition.get("nodes")) if isinstance(n, dict)]
        self.expanded += len(inner_nodes)
        if self.expanded > MAX_NODES:
            raise DocumentError(
                f"ComfyUI workflow: more than {MAX_NODES:,} nodes once its subgraphs are expanded"
            )
        values = host_values(raw, definition, self.definitions)
        for slot, link in enumerate(_instance_input_links(raw, definition)):
            self.nodes.append(_input_end(f"{instance}:in{slot}", link, values.get(slot), path))
        prefix = f"{instance}:"
        inner_links = link_rows(definition.get("links"))
        for slot, _ in enumerate(as_list(definition.get("outputs"))):
            feeding = [i for i, row in inner_links.items() if row[2:4] == [OUTPUT_NODE, slot]]
            link_id = _flat_id(prefix, feeding[0]) if feeding else None
            self.nodes.append(
                {"id": f"{prefix}out{slot}", "type": "Reroute", "inputs": [{"link": link_id}]}
            )
        for (node_id, widget), value in values.widgets.items():
            primitive = f"{prefix}{node_id}:{widget}"
            self.nodes.append({"id": primitive, "type": "PrimitiveNode", "widgets_values": [value]})
            self.links.append([primitive, primitive, 0, f"{prefix}{node_id}", None, "*"])
        offset = _offset(inner_nodes, raw.get("pos"))
        placed = [_placed(n, offset, values.widgets, prefix) for n in inner_nodes]
        self.groups.extend(_groups(definition, placed, offset))
        self.expand(placed, inner_links, prefix)


def _instance_input_links(raw: dict[str, Any], definition: dict[str, Any]) -> list[Any]:
    """Per subgraph input, the link feeding it from outside (None: nothing does). The
    instance's own input list may be shorter or in another order: like ComfyUI, match an
    entry to the subgraph input of the same name and type, else of the same name."""
    slots = [i if isinstance(i, dict) else {} for i in as_list(definition.get("inputs"))]
    feeding: list[Any] = [None] * len(slots)
    taken: set[int] = set()
    for entry in as_list(raw.get("inputs")):
        if not isinstance(entry, dict):
            continue
        for same_type in (True, False):
            match = next(
                (
                    s
                    for s, slot in enumerate(slots)
                    if s not in taken
                    and slot.get("name") == entry.get("name")
                    and (not same_type or slot.get("type") == entry.get("type"))
                ),
                None,
            )
            if match is not None:
                taken.add(match)
                feeding[match] = entry.get("link")
                break
    return feeding


def _input_end(node_id: str, link: Any, value: Any, path: str) -> dict[str, Any]:
    """What stands for a subgraph input inside: a Reroute to the outside, or the
    instance's widget value when nothing outside feeds it."""
    if link is None and value is not NOTHING:
        return {"id": node_id, "type": "PrimitiveNode", "widgets_values": [value]}
    flat_link = None if link is None else _flat_id(path, link)
    return {"id": node_id, "type": "Reroute", "inputs": [{"link": flat_link}]}


def _flat_id(path: str, local: Any) -> Any:
    """A node or link id in the flat graph: the root's stay as they are."""
    return local if not path else f"{path}{local}"


def _copy_node(raw: dict[str, Any], path: str, definition: dict[str, Any] | None) -> dict[str, Any]:
    """A node of this level under its flat id, its input links renamed. A muted or
    bypassed instance keeps the subgraph's slots, for bypassing by type."""
    node = {**raw, "id": _flat_id(path, raw.get("id"))}
    entries = as_list(raw.get("inputs"))
    if definition is not None:
        links = _instance_input_links(raw, definition)
        slots = [s for s in as_list(definition.get("inputs")) if isinstance(s, dict)]
        entries = [{**s, "link": link} for s, link in zip(slots, links, strict=False)]
        outputs = [o for o in as_list(definition.get("outputs")) if isinstance(o, dict)]
        node["outputs"] = [{"name": o.get("name"), "type": o.get("type")} for o in outputs]
    node["inputs"] = [
        {**e, "link": None if e.get("link") is None else _flat_id(path, e["link"])}
        if isinstance(e, dict)
        else e
        for e in entries
    ]
    return node


def _placed(
    raw: dict[str, Any],
    offset: tuple[float, float],
    widgets: dict[tuple[str, str], Any],
    prefix: str,
) -> dict[str, Any]:
    """An inner node moved to where its instance stood, with the instance's own values
    for its widgets linked in (links of this level; `expand` renames them)."""
    node = dict(raw)
    pos = raw.get("pos")
    if isinstance(pos, list) and len(pos) == 2 and all(isinstance(v, int | float) for v in pos):
        node["pos"] = [pos[0] + offset[0], pos[1] + offset[1]]
    own = {w: v for (n, w), v in widgets.items() if n == str(raw.get("id"))}
    if own:
        entries = [e for e in as_list(raw.get("inputs")) if isinstance(e, dict)]
        for widget in own:
            link = f"{raw.get('id')}:{widget}"  # the PrimitiveNode's link, see _instance
            entries = [e for e in entries if _widget_name(e) != widget]
            entries.append({"name": widget, "widget": {"name": widget}, "link": link})
        node["inputs"] = entries
    return node


def _widget_name(entry: dict[str, Any]) -> Any:
    widget = entry.get("widget")
    return widget.get("name") if isinstance(widget, dict) else None


def _offset(inner: list[dict[str, Any]], anchor: Any) -> tuple[float, float]:
    """How far to move the inner nodes so that their top left is at the instance's place."""
    points = [n["pos"] for n in inner if _is_point(n.get("pos"))]
    if not points or not _is_point(anchor):
        return 0.0, 0.0
    left, top = min(p[0] for p in points), min(p[1] for p in points)
    return anchor[0] - left, anchor[1] - top


def _is_point(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


def _groups(
    definition: dict[str, Any], placed: list[dict[str, Any]], offset: tuple[float, float]
) -> list[dict[str, Any]]:
    """A group named after the subgraph around its nodes (so our editor shows where the
    part was), and the subgraph's own groups, moved with its nodes."""
    groups = []
    boxes = [
        (n["pos"], n.get("size") if _is_point(n.get("size")) else [200, 100])
        for n in placed
        if _is_point(n.get("pos"))
    ]
    if boxes:
        left = min(p[0] for p, _ in boxes) - 20
        top = min(p[1] for p, _ in boxes) - 60
        right = max(p[0] + s[0] for p, s in boxes) + 20
        bottom = max(p[1] + s[1] for p, s in boxes) + 20
        title = definition.get("name") if isinstance(definition.get("name"), str) else "Subgraph"
        groups.append({"title": title, "bounding": [left, top, right - left, bottom - top]})
    for group in as_list(definition.get("groups")):
        bounding = group.get("bounding") if isinstance(group, dict) else None
        if isinstance(bounding, list) and len(bounding) == 4:
            moved = [bounding[0] + offset[0], bounding[1] + offset[1], *bounding[2:]]
            groups.append({**group, "bounding": moved})
    return groups
