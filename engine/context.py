"""What a running node may use: settings, the model store, the device policy, progress
reporting and the interrupt flag. One context per node execution.

Plain functions deep in a node's work (reading a weight file tensor by tensor, a network's
blocks, a batch item by item) are not handed the context; they call `check_interrupt()`,
which reads the flag of the run their thread works for (`interruptible_by`, set by the
executor), so an interrupt lands within one such piece of work anywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

from engine.events import Listener, Progress, wants_previews
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


# The interrupt flag of the run this thread (or task) works for; None outside any run.
_RUN_FLAG: ContextVar[threading.Event | None] = ContextVar("diffgraph_run_flag", default=None)


@contextmanager
def interruptible_by(flag: threading.Event) -> Iterator[None]:
    """Within this block, `check_interrupt()` in this thread honours `flag`."""
    token = _RUN_FLAG.set(flag)
    try:
        yield
    finally:
        _RUN_FLAG.reset(token)


def check_interrupt() -> None:
    """Stop here if the run this thread works for was interrupted; outside a run, nothing.
    Cheap (one flag read): call it between any pieces of work that take a while."""
    flag = _RUN_FLAG.get()
    if flag is not None and flag.is_set():
        raise Interrupted("interrupted")


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

    @property
    def previews_wanted(self) -> bool:
        """Whether whoever follows the run uses a sampler's step previews: when not, a
        sampler reports its steps without making them (`events.wants_previews`)."""
        return wants_previews(self._listener)

    def check_interrupt(self) -> None:
        """Stop here if the run was interrupted. Long loops call this (or `progress`)
        every step, so an interrupt takes effect within one step."""
        if self._interrupt.is_set():
            raise Interrupted(f"interrupted in node {self.node_id}")

    def progress(
        self,
        step: int,
        total: int,
        preview: Image | None = None,
        preview_format: Literal["JPEG", "PNG"] = "JPEG",
    ) -> None:
        """Report step `step` of `total` (and a preview image, sent to the client in
        `preview_format`), then honour an interrupt."""
        self._listener(Progress(self.node_id, step, total, preview, preview_format))
        self.check_interrupt()

    def show(self, **items: Any) -> None:
        """Results an output node presents (saved files, text); JSON-serialisable."""
        self.ui.update(items)
