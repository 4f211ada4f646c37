"""A sampler's progress as the node reports it: step, total, and (when whoever follows the
run wants one) a preview of the current x0 estimate through the family's latent-to-RGB map.

A preview has to come back from the device, and waiting for it would idle a GPU once per
step. So each step's small image is made on the device and copied back without waiting,
and step i is reported once step i + 1 has been queued: the host then waits for step i's
copy while the device already works on step i + 1. The last step is reported when the
sampler returns (`finish`). Without previews, each step is reported at once and nothing
is read back. The same code runs on the CPU, where nothing waits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from engine.context import NodeContext
from engine.types import Image
from nodes.ops.families.base import LatentFormat
from nodes.ops.families.registry import family_of
from nodes.ops.sampling.preview import LatentPreviewer
from nodes.ops.sampling.sample import Progress

Held = tuple[int, int, torch.Tensor, Callable[[], None]]  # step, total, image, wait for it


def reporter(ctx: NodeContext, model_config: Mapping[str, Any]) -> Progress:
    if not ctx.previews_wanted:
        return lambda step, total, _denoised: ctx.progress(step, total)
    return StepPreviews(ctx, family_of(model_config).latent)


class StepPreviews:
    """Reports each step with its preview, one step late (see the module's docstring)."""

    def __init__(self, ctx: NodeContext, form: LatentFormat) -> None:
        self.ctx = ctx
        self.previewer = LatentPreviewer(form)
        self.held: Held | None = None

    def __call__(self, step: int, total: int, denoised: torch.Tensor) -> None:
        image = self.previewer.rgb(denoised)
        copy = image.to("cpu", non_blocking=True)  # from a GPU: into page-locked memory
        held, self.held = self.held, (step, total, copy, _copied(image.device))
        if held is None:
            self.ctx.check_interrupt()  # nothing to report yet; an interrupt still lands here
        else:
            self._report(held)

    def finish(self) -> None:
        """Report the step held back (the sampler has returned)."""
        held, self.held = self.held, None
        if held is not None:
            self._report(held)

    def _report(self, held: Held) -> None:
        step, total, image, wait = held
        wait()
        self.ctx.progress(step, total, Image(image))


def _copied(device: torch.device) -> Callable[[], None]:
    """Waits until the work queued on `device` so far (a preview's copy) is done."""
    if device.type != "cuda":
        return lambda: None  # the CPU copied it before returning
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(device))
    return event.synchronize
