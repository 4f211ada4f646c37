"""What the executor reports while it runs. Plain data: the CLI draws progress bars from
these, the server turns them into WebSocket messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.types import Image


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    to_run: tuple[str, ...]  # node ids that will execute, in order
    cached: tuple[str, ...]  # node ids whose results come from the cache


@dataclass(frozen=True)
class NodeCached:
    node: str
    ui: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class NodeStarted:
    node: str
    type: str


@dataclass(frozen=True)
class Progress:
    node: str
    step: int
    total: int
    preview: Image | None = None


@dataclass(frozen=True)
class NodeFinished:
    node: str
    seconds: float
    ui: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class NodeFailed:
    node: str
    type: str
    exception: str  # the exception's class name
    message: str
    input: str | None = None  # the input at fault, when the node said so
    traceback: str = ""


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    seconds: float
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInterrupted:
    run_id: str
    node: str | None  # the node that was running, if any


Event = (
    RunStarted
    | NodeCached
    | NodeStarted
    | Progress
    | NodeFinished
    | NodeFailed
    | RunFinished
    | RunInterrupted
)
Listener = Callable[[Event], None]
