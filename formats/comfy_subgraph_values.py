"""ComfyUI's subgraph definitions, read once and indexed, and the values an instance sets
on the widgets inside it.

Instance values: current saves list them in the instance's `widgets_values`, one per
subgraph input that ends in a widget, in the subgraph's input order (ComfyUI frontend,
SubgraphNode `_applyPromotedWidgetValues`). Older saves list `properties.proxyWidgets`
pairs [inner node id, or "-1" for an input of the subgraph; widget name] with the values at
the same positions (its `proxyWidgetMigration`). A value the instance lacks (or null)
leaves the inner widget's own.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

INPUT_NODE, OUTPUT_NODE = -10, -20  # the subgraph's own input and output ends
MAX_DEPTH = 16  # instance ids in a path: deeper is a subgraph that holds itself
PSEUDO_WIDGETS = frozenset({"control_after_generate", "control_before_generate"})
NOTHING = object()  # no value for a slot (None is a value a widget may hold)


@dataclass
class Subgraph:
    """One definition: its slots, nodes and links, indexed for every instance of it."""

    id: str
    name: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    links: dict[Any, list[Any]]
    groups: list[Any]
    by_id: dict[Any, dict[str, Any]] = field(default_factory=dict)
    from_input: dict[int, list[list[Any]]] = field(default_factory=dict)  # slot -> rows
    to_output: dict[int, Any] = field(default_factory=dict)  # slot -> link id
    input_slots: dict[Any, list[int]] = field(default_factory=dict)  # name -> slots

    @classmethod
    def read(cls, raw: dict[str, Any]) -> Subgraph:
        name = raw.get("name")
        sub = cls(
            id=raw["id"],
            name=name if isinstance(name, str) else "Subgraph",
            inputs=[s if isinstance(s, dict) else {} for s in as_list(raw.get("inputs"))],
            outputs=[s if isinstance(s, dict) else {} for s in as_list(raw.get("outputs"))],
            nodes=[n for n in as_list(raw.get("nodes")) if isinstance(n, dict)],
            links=link_rows(raw.get("links")),
            groups=as_list(raw.get("groups")),
        )
        sub.by_id = {n.get("id"): n for n in sub.nodes if isinstance(n.get("id"), int | str)}
        for link_id, row in sub.links.items():
            if row[0] == INPUT_NODE:
                sub.from_input.setdefault(row[1], []).append(row)
            if row[2] == OUTPUT_NODE and isinstance(row[3], int):
                sub.to_output.setdefault(row[3], link_id)
        for slot, entry in enumerate(sub.inputs):
            name = entry.get("name")
            if isinstance(name, str):
                sub.input_slots.setdefault(name, []).append(slot)
        return sub

    def target(self, row: list[Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The inner node a link goes to, and its input entry there."""
        node = self.by_id.get(row[2]) if isinstance(row[2], int | str) else None
        entries = as_list(node.get("inputs")) if node else []
        slot = row[3]
        entry = entries[slot] if isinstance(slot, int) and 0 <= slot < len(entries) else None
        return node, entry if isinstance(entry, dict) else None


class Library:
    """The document's subgraphs by id, with what is worked out once per subgraph."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.subgraphs: dict[str, Subgraph] = {}
        # A definition may carry its own `definitions` (ComfyUI's schema allows it); ids
        # are UUIDs, so all of them share one table (the first of an id wins).
        level, depth = _defined_in(data), 0
        while level and depth <= MAX_DEPTH:
            for raw in level:
                self.subgraphs.setdefault(raw["id"], Subgraph.read(raw))
            level, depth = [d for raw in level for d in _defined_in(raw)], depth + 1
        self._widget_slots: dict[str, list[int]] = {}

    def get(self, kind: Any) -> Subgraph | None:
        return self.subgraphs.get(kind) if isinstance(kind, str) else None

    def widget_slots(self, sub: Subgraph, depth: int = 0) -> list[int]:
        """The inputs that end in a widget, which the instance shows as its own widgets."""
        if sub.id not in self._widget_slots:
            self._widget_slots[sub.id] = []  # a subgraph inside itself ends in no widget
            slots = [s for s in range(len(sub.inputs)) if self._feeds_widget(sub, s, depth)]
            self._widget_slots[sub.id] = slots
        return self._widget_slots[sub.id]

    def _feeds_widget(self, sub: Subgraph, slot: int, depth: int) -> bool:
        for row in sub.from_input.get(slot, []):
            node, entry = sub.target(row)
            if entry is None or node is None:
                continue
            if isinstance(entry.get("widget"), dict):
                return True
            nested = self.get(node.get("type"))
            if nested is not None and depth < MAX_DEPTH:
                name = entry.get("name")
                inner = nested.input_slots.get(name, []) if isinstance(name, str) else []
                if inner and inner[0] in self.widget_slots(nested, depth + 1):
                    return True
        return False


def _defined_in(graph: dict[str, Any]) -> list[dict[str, Any]]:
    definitions = graph.get("definitions")
    found = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    return [d for d in as_list(found) if isinstance(d, dict) and isinstance(d.get("id"), str)]


@dataclass
class HostValues:
    inputs: dict[int, Any] = field(default_factory=dict)  # subgraph input slot -> value
    widgets: dict[tuple[str, str], Any] = field(default_factory=dict)  # (inner id, widget)

    def get(self, slot: int) -> Any:
        return self.inputs.get(slot, NOTHING)


def host_values(raw: dict[str, Any], sub: Subgraph, library: Library) -> HostValues:
    values = as_list(raw.get("widgets_values"))
    host = HostValues()
    properties = raw.get("properties")
    proxies = properties.get("proxyWidgets") if isinstance(properties, dict) else None
    if not isinstance(proxies, list):  # current saves: one value per widget-fed input
        for widget_slot, value in zip(library.widget_slots(sub), values, strict=False):
            if value is not None:
                host.inputs[widget_slot] = value
        return host
    for entry, value in zip(proxies, values, strict=False):
        if not (isinstance(entry, list) and len(entry) >= 2) or value is None:
            continue
        node_id, widget = str(entry[0]), entry[1]
        if not isinstance(widget, str) or widget in PSEUDO_WIDGETS:
            continue
        slots = sub.input_slots.get(widget, []) if node_id == "-1" else []
        slot: int | None = slots[0] if slots else _input_feeding(sub, node_id, widget)
        if slot is not None:
            host.inputs[slot] = value
        elif node_id != "-1":
            host.widgets[(node_id, widget)] = value
    return host


def _input_feeding(sub: Subgraph, node_id: str, widget: str) -> int | None:
    """The subgraph input that feeds `widget` of inner node `node_id`, if one does."""
    for slot, rows in sub.from_input.items():
        for row in rows:
            node, entry = sub.target(row)
            named = widget_name(entry) if entry else None
            if (
                node
                and entry
                and str(node.get("id")) == node_id
                and widget in (named, entry.get("name"))
            ):
                return slot
    return None


def widget_name(entry: dict[str, Any]) -> Any:
    widget = entry.get("widget")
    return widget.get("name") if isinstance(widget, dict) else None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def link_rows(raw: Any) -> dict[Any, list[Any]]:
    """Link id -> [origin, origin slot, target, target slot, type], from 0.4 arrays or
    the objects subgraphs (and version-1 saves) use."""
    rows: dict[Any, list[Any]] = {}
    for link in as_list(raw):
        if isinstance(link, dict):
            keys = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")
            link = [link.get(k) for k in keys]
        ids = isinstance(link, list) and len(link) >= 5 and isinstance(link[0], int | str)
        if ids and isinstance(link[1], int | str):  # an origin we can look up
            with suppress(TypeError, ValueError):  # a malformed link links nothing
                kind = link[5] if len(link) > 5 else None
                rows[link[0]] = [link[1], int(link[2]), link[3], link[4], kind]
    return rows
