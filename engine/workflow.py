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

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from engine.jsontext import JSONRefused, parse_json

FORMAT = "diffgraph.workflow"
VERSION = 1


class DocumentError(ValueError):
    """The file is not a workflow document we can read; the message says where and why."""


class Link(BaseModel):
    """An input fed by another node's output."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    node: str
    output: str


def _link_if_object(value: Any) -> Any:
    """An object among a node's inputs is a link; one that is not is said so plainly,
    instead of pydantic's list of every member of the union it did not match."""
    if not isinstance(value, dict):
        return value
    try:
        return Link.model_validate(value)
    except ValidationError:
        keys = ", ".join(repr(key)[:40] for key in list(value)[:5]) or "none"
        raise ValueError(
            f'an object must be a link {{"node": ID, "output": NAME}} (its keys: {keys})'
        ) from None


# A dict value is always a link; literals are JSON scalars or lists.
InputValue = Annotated[
    Link | bool | int | float | str | list[Any] | None, BeforeValidator(_link_if_object)
]
_INPUT_VALUE: TypeAdapter[InputValue] = TypeAdapter(InputValue)


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
            try:
                value = _INPUT_VALUE.validate_python(value)
            except ValidationError as exc:
                raise DocumentError(f"cannot set {node_id}.{name}: {explain(exc)}") from None
            copy.nodes[node_id].inputs[name] = value
        return copy


def explain(exc: ValidationError, limit: int = 10) -> str:
    """A pydantic error as "where: what" per problem, `where` a dotted path (left out
    for the value itself)."""
    return "; ".join(
        (f"{'.'.join(str(p) for p in e['loc'])}: " if e["loc"] else "")
        + e["msg"].removeprefix("Value error, ")
        for e in exc.errors()[:limit]
    )


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
        raise DocumentError(f"not a valid workflow document: {explain(exc)}") from None


def read_json(path: str | Path) -> Any:
    """The JSON document in the file at `path`, or a DocumentError naming the file."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DocumentError(f"{path}: is a folder, not a workflow file") from None
    except OSError as exc:
        raise DocumentError(f"{path}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:  # a NUL or a lone surrogate in the name
        raise DocumentError(f"{path!r} cannot name a file ({exc})") from None
    try:
        return parse_json(data)
    except JSONRefused as exc:
        raise DocumentError(f"{path}: {exc}") from None


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of the workflow document."""
    schema = Workflow.model_json_schema()
    schema["title"] = "diffgraph workflow"
    return schema
