"""The workflow document: the one JSON file the editor saves and the executor runs.

    {"format": "diffgraph.workflow", "version": 1,
     "nodes": {"1": {"type": "image.empty", "inputs": {"width": 64}},
               "2": {"type": "image.save",
                     "inputs": {"images": {"node": "1", "output": "image"}},
                     "ui": {"pos": [300, 80], "title": "Result"}}},
     "groups": [], "ui": {}, "meta": {}}

An input is a literal value or a link naming the source node and its output *by name*.
No torch here: loading and validating a document is instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT = "diffgraph.workflow"
VERSION = 1


class DocumentError(ValueError):
    """The file is not a workflow document we can read; the message says where and why."""


class Link(BaseModel):
    """An input fed by another node's output."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    node: str
    output: str


# A dict value is always a link; literals are JSON scalars or lists.
InputValue = Link | bool | int | float | str | list[Any] | None


class NodeUI(BaseModel):
    """Editor-only data: ignored by the executor, kept byte-for-byte by round trips."""

    model_config = ConfigDict(extra="allow")
    pos: tuple[float, float] | None = None
    size: tuple[float, float] | None = None
    title: str | None = None
    color: str | None = None
    collapsed: bool | None = None


class WorkflowNode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="Node type id (e.g. 'image.save')")
    inputs: dict[str, InputValue] = Field(default_factory=dict)
    ui: NodeUI | None = None


class Group(BaseModel):
    model_config = ConfigDict(extra="allow")
    title: str = ""
    bounding: tuple[float, float, float, float] = Field(description="x, y, width, height")
    color: str | None = None


class Workflow(BaseModel):
    """A graph of nodes, keyed by id, plus what the editor needs to draw it."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["diffgraph.workflow"] = "diffgraph.workflow"
    version: Literal[1] = 1
    nodes: dict[str, WorkflowNode] = Field(default_factory=dict)
    groups: list[Group] = Field(default_factory=list)
    ui: dict[str, Any] = Field(default_factory=dict, description="Viewport and editor state")
    meta: dict[str, Any] = Field(default_factory=dict, description="Title, notes, author")

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, exclude_none=True)

    def links(self) -> list[tuple[str, str, Link]]:
        """Every edge as (target node id, target input name, link)."""
        return [
            (node_id, name, value)
            for node_id, n in self.nodes.items()
            for name, value in n.inputs.items()
            if isinstance(value, Link)
        ]

    def with_inputs(self, changes: dict[tuple[str, str], Any]) -> Workflow:
        """A copy with literal inputs set: {(node id, input name): value}."""
        copy = self.model_copy(deep=True)
        for (node_id, name), value in changes.items():
            if node_id not in copy.nodes:
                raise DocumentError(f"cannot set {node_id}.{name}: there is no node {node_id!r}")
            copy.nodes[node_id].inputs[name] = value
        return copy


def parse_workflow(data: Any) -> Workflow:
    """Read our own format from decoded JSON, with errors that say where the problem is."""
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > VERSION:
        raise DocumentError(
            f"workflow version {version} was written by a newer diffgraph "
            f"(this one reads up to version {VERSION})"
        )
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}"
            for e in exc.errors()[:10]
        )
        raise DocumentError(f"not a valid workflow document: {problems}") from None


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"{path}: not valid JSON ({exc})") from None


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of the workflow document."""
    schema = Workflow.model_json_schema()
    schema["title"] = "diffgraph workflow"
    return schema
