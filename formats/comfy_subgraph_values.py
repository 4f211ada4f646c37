"""The values a ComfyUI subgraph instance sets on the widgets inside it, and the small
readers of subgraph documents that `comfy_subgraphs` shares.

Current saves list them in the instance's `widgets_values`, one per subgraph input that
ends in a widget, in the subgraph's input order (ComfyUI frontend, SubgraphNode
`_applyPromotedWidgetValues`). Older saves list `properties.proxyWidgets` pairs
[inner node id, or "-1" for an input of the subgraph; widget name] with the values at the
same positions (its `proxyWidgetMigration`). A value the instance lacks (or null) leaves
the inner widget's own.
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
class HostValues:
    inputs: dict[int, Any] = field(default_factory=dict)  # subgraph input slot -> value
    widgets: dict[tuple[str, str], Any] = field(default_factory=dict)  # (inner id, widget)

    def get(self, slot: int) -> Any:
        return self.inputs.get(slot, NOTHING)


def host_values(
    raw: dict[str, Any], definition: dict[str, Any], definitions: dict[str, dict[str, Any]]
) -> HostValues:
    values = as_list(raw.get("widgets_values"))
    inputs = as_list(definition.get("inputs"))
    host = HostValues()
    properties = raw.get("properties")
    proxies = properties.get("proxyWidgets") if isinstance(properties, dict) else None
    if not isinstance(proxies, list):  # current saves: one value per widget-fed input
        widget_slots = [s for s in range(len(inputs)) if _feeds_widget(definition, s, definitions)]
        for slot, value in zip(widget_slots, values, strict=False):
            if value is not None:
                host.inputs[slot] = value
        return host
    names = [i.get("name") if isinstance(i, dict) else None for i in inputs]
    for entry, value in zip(proxies, values, strict=False):
        if not (isinstance(entry, list) and len(entry) >= 2) or value is None:
            continue
        node_id, widget = str(entry[0]), entry[1]
        if widget in PSEUDO_WIDGETS or not isinstance(widget, str):
            continue
        slot = names.index(widget) if node_id == "-1" and widget in names else None
        slot = slot if slot is not None else _input_feeding(definition, node_id, widget)
        if slot is not None:
            host.inputs[slot] = value
        elif node_id != "-1":
            host.widgets[(node_id, widget)] = value
    return host


def _inner_links_from_input(definition: dict[str, Any], slot: int) -> list[list[Any]]:
    rows = link_rows(definition.get("links")).values()
    return [row for row in rows if row[0] == INPUT_NODE and row[1] == slot]


def _target_input(definition: dict[str, Any], row: list[Any]) -> tuple[Any, Any]:
    """The inner node a link goes to, and its input entry there."""
    node = next(
        (
            n
            for n in as_list(definition.get("nodes"))
            if isinstance(n, dict) and n.get("id") == row[2]
        ),
        None,
    )
    entries = as_list(node.get("inputs")) if node else []
    slot = row[3]
    entry = entries[slot] if isinstance(slot, int) and 0 <= slot < len(entries) else None
    return node, entry


def _feeds_widget(
    definition: dict[str, Any], slot: int, definitions: dict[str, dict[str, Any]], depth: int = 0
) -> bool:
    """Whether a subgraph input ends in a widget, so the instance shows it as one."""
    for row in _inner_links_from_input(definition, slot):
        node, entry = _target_input(definition, row)
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("widget"), dict):
            return True
        kind = node.get("type") if node else None
        nested = definitions.get(kind) if isinstance(kind, str) else None
        if nested is not None and depth < MAX_DEPTH:
            names = [i.get("name") for i in as_list(nested.get("inputs")) if isinstance(i, dict)]
            if entry.get("name") in names:
                return _feeds_widget(nested, names.index(entry.get("name")), definitions, depth + 1)
    return False


def _input_feeding(definition: dict[str, Any], node_id: str, widget: str) -> int | None:
    """The subgraph input that feeds `widget` of inner node `node_id`, if one does."""
    for slot in range(len(as_list(definition.get("inputs")))):
        for row in _inner_links_from_input(definition, slot):
            node, entry = _target_input(definition, row)
            if node and str(node.get("id")) == node_id and isinstance(entry, dict):
                named = (
                    entry.get("widget", {}).get("name")
                    if isinstance(entry.get("widget"), dict)
                    else None
                )
                if widget in (named, entry.get("name")):
                    return slot
    return None


def definitions_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    definitions = data.get("definitions")
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    return {
        d["id"]: d
        for d in as_list(subgraphs)
        if isinstance(d, dict) and isinstance(d.get("id"), str)
    }


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
        if isinstance(link, list) and len(link) >= 5 and isinstance(link[0], int | str):
            with suppress(TypeError, ValueError):  # a malformed link links nothing
                rows[link[0]] = [link[1], int(link[2]), link[3], link[4], _at(link, 5)]
    return rows


def _at(row: list[Any], index: int) -> Any:
    return row[index] if index < len(row) else None
