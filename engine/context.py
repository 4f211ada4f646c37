"""What a running node may use: settings, the model store, the device policy, progress
reporting and the interrupt flag. One context per node execution."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from engine.events import Listener, Progress
from engine.types import Image

if TYPE_CHECKING:
    import torch

    from engine.device import DevicePolicy
    from engine.model_store import ModelStore
    from engine.registry import Registry
    from engine.settings import Settings
    from engine.workflow import Workflow


class Interrupted(Exception):
    """Raised inside a run when someone asked it to stop."""


class NodeInputError(ValueError):
    """A node's input is wrong in a way only visible at run time (a missing file, an image
    of the wrong size). Reported with the node and input named, like a validation error."""

    def __init__(self, input: str, message: str) -> None:
        super().__init__(message)
        self.input = input


class NodeContext:
    def __init__(
        self,
        *,
        node_id: str,
        run_id: str,
        workflow: Workflow,
        registry: Registry,
        settings: Settings,
        models: ModelStore,
        devices: DevicePolicy,
        interrupt: threading.Event,
        listener: Listener,
    ) -> None:
        self.node_id = node_id
        self.run_id = run_id
        self.workflow = workflow
        self.registry = registry
        self.settings = settings
        self.models = models
        self.devices = devices
        self.ui: dict[str, Any] = {}
        self._interrupt = interrupt
        self._listener = listener

    @property
    def device(self) -> torch.device:
        return self.devices.device

    @property
    def dtype(self) -> torch.dtype:
        return self.devices.dtype

    def check_interrupt(self) -> None:
        """Stop here if the run was interrupted. Long loops call this (or `progress`)
        every step, so an interrupt takes effect within one step."""
        if self._interrupt.is_set():
            raise Interrupted(f"interrupted in node {self.node_id}")

    def progress(self, step: int, total: int, preview: Image | None = None) -> None:
        """Report step `step` of `total` (and a preview image), then honour an interrupt."""
        self._listener(Progress(self.node_id, step, total, preview))
        self.check_interrupt()

    def show(self, **items: Any) -> None:
        """Results an output node presents (saved files, text); JSON-serialisable."""
        self.ui.update(items)
