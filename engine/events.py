"""What the executor reports while it runs. Plain data: the CLI draws progress bars from
these, the server turns them into WebSocket messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
    # JPEG: a sampler's small preview. PNG: the full image, lossless (Save Image (WebSocket)).
    preview_format: Literal["JPEG", "PNG"] = "JPEG"


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

    def __str__(self) -> str:
        where = f"node {self.node} ({self.type})" if self.node else "the run"
        if self.input:
            where += f", input {self.input!r}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """What a user is told (the CLI's --json, a job's record): node, type, input at
        fault, exception class and message. The traceback stays out: it is for the log."""
        return {
            "node": self.node,
            "type": self.type,
            "input": self.input,
            "exception": self.exception,
            "message": self.message,
        }


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


def wants_previews(listener: Listener) -> bool:
    """Whether `listener` uses the preview images a sampler reports with its progress. One
    that drops them says so with a `previews` attribute set to False (a job that asked for
    none, the CLI's progress bars), which spares the sampler a device read-back per step."""
    return bool(getattr(listener, "previews", True))
