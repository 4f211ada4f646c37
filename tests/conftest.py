from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.events import Event
from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Link, Workflow, WorkflowNode
from tests.packs import testpack

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    (home / "input").mkdir(parents=True)
    return Settings.at(home, cache_bytes=64 * 1024 * 1024)


@pytest.fixture
def registry() -> Registry:
    registry = Registry.discover(plugins=False)
    registry.add_pack(testpack, "testpack")
    assert not registry.failures
    return registry


@pytest.fixture
def executor(registry: Registry, settings: Settings) -> Executor:
    return Executor(registry, settings)


def link(node: str, output: str = "value") -> Link:
    return Link(node=node, output=output)


def graph(**nodes: tuple[str, dict[str, Any]]) -> Workflow:
    """graph(n1=("test.number", {"value": 2}), ...) with ids 'n1', ..."""
    return Workflow(nodes={k: WorkflowNode(type=t, inputs=i) for k, (t, i) in nodes.items()})


class Recorder:
    """A listener that keeps every event, by kind."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def nodes(self, kind: type) -> list[str]:
        return [e.node for e in self.events if isinstance(e, kind)]  # type: ignore[attr-defined]

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]
