"""How the Sample nodes report their steps: with a preview of each step's x0 estimate when
whoever follows the run wants one (made on the device and reported a step late, so the
device never waits for it), with none, and nothing read back, when nobody does."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from apps.cli.progress import ProgressBars
from apps.jobs.messages import JobMessages
from engine.context import Interrupted, NodeContext
from engine.events import Event, Progress, wants_previews
from nodes.ops.families.sd.family import SD_LATENT
from nodes.ops.sampling.preview import latent_to_rgb
from nodes.ops.sampling.progress import StepPreviews, reporter

CONFIG = {"family": "sd1"}


class Follower(list[Event]):
    """A listener that keeps every event; `previews` as it says."""

    def __init__(self, previews: bool = True) -> None:
        super().__init__()
        self.previews = previews

    def __call__(self, event: Event) -> None:
        self.append(event)


def context(listener: Any, interrupt: threading.Event | None = None) -> NodeContext:
    unused: Any = None
    return NodeContext(
        node_id="sample", run_id="r", workflow=unused, registry=unused, settings=unused,
        models=unused, devices=unused, interrupt=interrupt or threading.Event(),
        listener=listener,
    )  # fmt: skip


def estimates(n: int) -> list[torch.Tensor]:
    return [torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(n)]


def test_each_step_is_reported_with_its_own_preview_the_last_when_sampling_ends() -> None:
    seen = Follower()
    report = reporter(context(seen), CONFIG)
    assert isinstance(report, StepPreviews)
    x0 = estimates(3)
    report(1, 3, x0[0])
    assert seen == []  # held back until the next step is under way
    report(2, 3, x0[1])
    assert [e.step for e in seen if isinstance(e, Progress)] == [1]
    report(3, 3, x0[2])
    report.finish()  # the sampler returned
    steps = [e for e in seen if isinstance(e, Progress)]
    assert [(e.step, e.total) for e in steps] == [(1, 3), (2, 3), (3, 3)]
    for event, estimate in zip(steps, x0, strict=True):
        assert event.preview is not None
        assert torch.equal(event.preview.pixels, latent_to_rgb(estimate, SD_LATENT))


def test_an_interrupt_still_lands_on_the_first_step() -> None:
    stop = threading.Event()
    report = reporter(context(Follower(), stop), CONFIG)
    stop.set()
    with pytest.raises(Interrupted):
        report(1, 3, estimates(1)[0])


def test_without_previews_each_step_is_reported_at_once_and_no_image_is_made() -> None:
    seen = Follower(previews=False)
    report = reporter(context(seen), CONFIG)
    report(1, 2, torch.full((1, 4, 8, 8), float("nan"), device="meta"))  # never read
    assert [(e.step, e.total, e.preview) for e in seen if isinstance(e, Progress)] == [(1, 2, None)]


def test_who_wants_previews() -> None:
    assert wants_previews(lambda event: None)  # a listener that says nothing gets them
    assert not wants_previews(ProgressBars(enabled=False))
    assert not wants_previews(JobMessages("p", {}, lambda m: None, previews=False))
    assert wants_previews(JobMessages("p", {}, lambda m: None, previews=True))
