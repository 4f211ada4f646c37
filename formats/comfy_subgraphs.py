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
    Library,
    Subgraph,
    as_list,
    host_values,
    link_rows,
    widget_name,
)

MUTED, BYPASSED = 2, 4  # litegraph's LGraphEventMode.NEVER and .BYPASS
MAX_ENDS = 4 * MAX_NODES  # Reroutes standing for subgraph inputs and outputs
MAX_ROOM_MAKING = 64  # instances on one level past which neighbours are left in place


def flatten_subgraphs(data: dict[str, Any]) -> dict[str, Any]:
    """The document with every subgraph instance replaced by its nodes (unchanged when it
    defines no subgraphs)."""
    library = Library(data)
    if not library.subgraphs:
        return data
    flat = _Flat(library)
    flat.expand(as_list(data.get("nodes")), link_rows(data.get("links")), path="")
    groups = as_list(data.get("groups")) + flat.groups
    return {**data, "nodes": flat.nodes, "links": flat.links, "groups": groups}


@dataclass
class _Flat:
    library: Library
    nodes: list[dict[str, Any]] = field(default_factory=list)
    links: list[list[Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    inner: int = 0  # nodes taken out of subgraphs so far
    ends: int = 0  # Reroutes and PrimitiveNodes made for their inputs and outputs

    def expand(self, nodes: list[Any], links: dict[Any, list[Any]], path: str) -> None:
        """One graph level: its links get ids in the flat graph (`path` + id), its
        instances are expanded, and links leaving an instance leave its output Reroute."""
        outputs: dict[tuple[Any, int], str] = {}  # (instance id, slot) -> flat node id
        for raw in _make_room(nodes, self.library):
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), int | str):
                raise DocumentError(f"ComfyUI subgraph {path[:-1]}: a node has no id")
            if not isinstance(raw.get("type"), str):
                raise DocumentError(f"ComfyUI node {path}{raw['id']}: type must be a string")
            sub = self.library.get(raw.get("type"))
            if sub is None or raw.get("mode") in (MUTED, BYPASSED):
                self.nodes.append(_copy_node(raw, path, sub))
                continue
            for slot in range(len(sub.outputs)):
                outputs[(raw.get("id"), slot)] = f"{path}{raw.get('id')}:out{slot}"
            self._instance(raw, sub, path)
        for link_id, (origin, slot, target, target_slot, kind) in links.items():
            if (origin, slot) in outputs:
                origin, slot = outputs[(origin, slot)], 0
            elif origin != INPUT_NODE:
                origin = _flat_id(path, origin)
            else:
                origin, slot = f"{path[:-1]}:in{slot}", 0
            self.links.append([_flat_id(path, link_id), origin, slot, target, target_slot, kind])

    def _instance(self, raw: dict[str, Any], sub: Subgraph, path: str) -> None:
        instance, prefix = f"{path}{raw['id']}", f"{path}{raw['id']}:"
        values = host_values(raw, sub, self.library)
        self._count(instance, sub, len(values.widgets))
        for slot, link in enumerate(_instance_input_links(raw, sub)):
            self.nodes.append(_input_end(f"{prefix}in{slot}", link, values.get(slot), path))
        for slot in range(len(sub.outputs)):
            link = sub.to_output.get(slot)
            link_id = None if link is None else _flat_id(prefix, link)
            self.nodes.append(
                {"id": f"{prefix}out{slot}", "type": "Reroute", "inputs": [{"link": link_id}]}
            )
        for (node_id, widget), value in values.widgets.items():
            primitive = f"{prefix}{node_id}:{widget}"
            self.nodes.append({"id": primitive, "type": "PrimitiveNode", "widgets_values": [value]})
            self.links.append([primitive, primitive, 0, f"{prefix}{node_id}", None, "*"])
        offset = _offset(sub.nodes, raw.get("pos"))
        placed = [_placed(n, offset, values.widgets) for n in sub.nodes]
        self.groups.extend(_groups(sub, placed, offset))
        self.expand(placed, sub.links, prefix)

    def _count(self, instance: str, sub: Subgraph, overrides: int) -> None:
        """Refuse what would not fit in a job once expanded (a few lines of JSON can
        nest a subgraph holding two of the one below 30 levels deep)."""
        if instance.count(":") >= MAX_DEPTH:
            raise DocumentError(
                f"ComfyUI node {instance}: subgraphs nested more than {MAX_DEPTH} deep "
                "(a subgraph that contains itself?)"
            )
        self.inner += len(sub.nodes) + 1  # the instance too: an empty subgraph costs work
        self.ends += len(sub.inputs) + len(sub.outputs) + overrides
        if self.inner > MAX_NODES or self.ends > MAX_ENDS:
            raise DocumentError(
                f"ComfyUI workflow: more than {MAX_NODES:,} nodes once its subgraphs are expanded"
            )


def _instance_input_links(raw: dict[str, Any], sub: Subgraph) -> list[Any]:
    """Per subgraph input, the link feeding it from outside (None: nothing does). The
    instance's own input list may be shorter or in another order: like ComfyUI, match an
    entry to the subgraph input of the same name and type, else of the same name."""
    feeding: list[Any] = [None] * len(sub.inputs)
    taken: set[int] = set()
    for entry in as_list(raw.get("inputs")):
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        named = sub.input_slots.get(name, []) if isinstance(name, str) else []
        free = [s for s in named if s not in taken]
        typed = [s for s in free if sub.inputs[s].get("type") == entry.get("type")]
        if free:
            slot = (typed or free)[0]
            taken.add(slot)
            feeding[slot] = entry.get("link")
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


def _copy_node(raw: dict[str, Any], path: str, sub: Subgraph | None) -> dict[str, Any]:
    """A node of this level under its flat id, its input links renamed. A muted or
    bypassed instance keeps the subgraph's slots, for bypassing by type."""
    node = {**raw, "id": _flat_id(path, raw.get("id"))}
    entries = as_list(raw.get("inputs"))
    if sub is not None:
        links = _instance_input_links(raw, sub)
        entries = [{**s, "link": link} for s, link in zip(sub.inputs, links, strict=True)]
        node["outputs"] = [{"name": o.get("name"), "type": o.get("type")} for o in sub.outputs]
    node["inputs"] = [
        {**e, "link": None if e.get("link") is None else _flat_id(path, e["link"])}
        if isinstance(e, dict)
        else e
        for e in entries
    ]
    return node


def _placed(
    raw: dict[str, Any], offset: tuple[float, float], widgets: dict[tuple[str, str], Any]
) -> dict[str, Any]:
    """An inner node moved to where its instance stood, with the instance's own values
    for its widgets linked in (links of this level; `expand` renames them)."""
    node = dict(raw)
    pos = _point(raw.get("pos"))
    if pos is not None:
        node["pos"] = [pos[0] + offset[0], pos[1] + offset[1]]
    own = {w: v for (n, w), v in widgets.items() if n == str(raw.get("id"))}
    if own:
        entries = [e for e in as_list(raw.get("inputs")) if isinstance(e, dict)]
        for widget in own:
            link = f"{raw.get('id')}:{widget}"  # the PrimitiveNode's link, see _instance
            entries = [e for e in entries if widget_name(e) != widget]
            entries.append({"name": widget, "widget": {"name": widget}, "link": link})
        node["inputs"] = entries
    return node


def _make_room(nodes: list[Any], library: Library) -> list[Any]:
    """The nodes of one level, those right of or below an instance moved on by as much as
    its subgraph's nodes are wider or taller than the instance's box, so that the nodes
    taking its place do not cover its neighbours. (Cosmetic: skipped on crowded levels.)"""
    moved = list(nodes)
    instances = [i for i, raw in enumerate(nodes) if _expands(raw, library)]
    if len(instances) > MAX_ROOM_MAKING:
        return moved
    for index in instances:
        raw, sub = moved[index], library.get(nodes[index]["type"])
        at, size = _point(raw.get("pos")), _point(raw.get("size")) or (200.0, 100.0)
        extent = _extent(sub.nodes) if sub else None
        if at is None or extent is None:
            continue
        right, bottom = at[0] + size[0], at[1] + size[1]
        dx, dy = max(0.0, extent[0] - size[0]), max(0.0, extent[1] - size[1])
        for other, node in enumerate(moved):
            pos = _point(node.get("pos")) if isinstance(node, dict) else None
            if other == index or pos is None:
                continue
            below = pos[1] >= bottom and at[0] <= pos[0] < at[0] + extent[0]
            shifted = (pos[0] + dx if pos[0] >= right else pos[0], pos[1] + dy if below else pos[1])
            if shifted != pos:
                moved[other] = {**node, "pos": list(shifted)}
    return moved


def _expands(raw: Any, library: Library) -> bool:
    found = isinstance(raw, dict) and library.get(raw.get("type")) is not None
    return found and raw.get("mode") not in (MUTED, BYPASSED)


def _extent(inner: list[dict[str, Any]]) -> tuple[float, float] | None:
    """Width and height of the box around a subgraph's nodes."""
    bounds = _bounds(inner)
    return None if bounds is None else (bounds[2] - bounds[0], bounds[3] - bounds[1])


def _bounds(nodes: list[dict[str, Any]]) -> tuple[float, float, float, float] | None:
    """Left, top, right and bottom of the nodes that have a position."""
    boxes = [
        (pos, _point(n.get("size")) or (200.0, 100.0))
        for n in nodes
        if (pos := _point(n.get("pos"))) is not None
    ]
    if not boxes:
        return None
    left, top = min(p[0] for p, _ in boxes), min(p[1] for p, _ in boxes)
    return left, top, max(p[0] + s[0] for p, s in boxes), max(p[1] + s[1] for p, s in boxes)


def _offset(inner: list[dict[str, Any]], anchor: Any) -> tuple[float, float]:
    """How far to move the inner nodes so that their top left is at the instance's place."""
    points = [p for p in (_point(n.get("pos")) for n in inner) if p is not None]
    at = _point(anchor)
    if not points or at is None:
        return 0.0, 0.0
    left, top = min(p[0] for p in points), min(p[1] for p in points)
    return at[0] - left, at[1] - top


def _point(value: Any) -> tuple[float, float] | None:
    """Two numbers ([x, y] or [width, height]), else None."""
    numbers = isinstance(value, list) and len(value) == 2
    if numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return float(value[0]), float(value[1])
    return None


def _groups(
    sub: Subgraph, placed: list[dict[str, Any]], offset: tuple[float, float]
) -> list[dict[str, Any]]:
    """A group named after the subgraph around its nodes (so our editor shows where the
    part was), and the subgraph's own groups, moved with its nodes."""
    groups = []
    bounds = _bounds(placed)
    if bounds is not None:  # a margin, and room for the title above
        left, top, right, bottom = bounds[0] - 20, bounds[1] - 60, bounds[2] + 20, bounds[3] + 20
        groups.append({"title": sub.name, "bounding": [left, top, right - left, bottom - top]})
    for group in sub.groups:
        bounding = group.get("bounding") if isinstance(group, dict) else None
        corner = _point(bounding[:2]) if isinstance(bounding, list) else None
        if corner is not None and isinstance(bounding, list) and len(bounding) == 4:
            moved = [corner[0] + offset[0], corner[1] + offset[1], *bounding[2:]]
            groups.append({**group, "bounding": moved})
    return groups
