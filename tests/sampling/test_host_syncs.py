"""The step loop never waits for the device: no value is read back from it and nothing is
copied to it from host memory on each step (on a GPU either waits until every queued step
is done), beyond the fresh noise a stochastic sampler asks for.

The CPU has nothing to wait for, so these tests run the sampler, the guided denoiser and the
UNet call, as the Sample node runs them, with the network and the latent on PyTorch's "meta"
device: a device of its own (any read-back from it fails) whose kernels only work out shapes.
A torch function mode sees every read-back and every copy from the host to it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch.overrides import TorchFunctionMode

from engine.types import ConditioningPart
from nodes.ops.families.flux.call import FluxCall
from nodes.ops.families.sd.unet_call import ControlSpec, UNetCall
from nodes.ops.sampling import sample
from nodes.ops.sampling.denoiser import GuidedDenoiser, ModelCall
from nodes.ops.sampling.samplers import SAMPLERS
from nodes.ops.sampling.schedules import SCHEDULERS, DiscreteSchedule, FlowSchedule, Schedule
from tests.flux import tiny as flux
from tests.sd import tiny

META = torch.device("meta")
T = torch.Tensor
READ_BACKS = {T.item, T.tolist, T.__bool__, T.__float__, T.__int__, T.__index__, T.numpy, T.cpu}
COPIES = {T.to, T.copy_, T.cuda, torch.tensor, torch.as_tensor}


class DeviceTraffic(TorchFunctionMode):
    """Counts read-backs from the device and copies of host data onto it."""

    def __init__(self) -> None:
        super().__init__()
        self.read_backs: list[str] = []
        self.copies: list[str] = []

    def __torch_function__(
        self, func: Any, types: Any, args: Any = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        if func in READ_BACKS and args[0].device.type != "cpu":
            self.read_backs.append(func.__name__)
        out = func(*args, **(kwargs or {}))
        if func in COPIES and isinstance(out, torch.Tensor) and out.device.type != "cpu":
            host = [a for a in args if isinstance(a, torch.Tensor) and a.device.type == "cpu"]
            if host or func in (torch.tensor, torch.as_tensor):
                self.copies.append(func.__name__)
        return out


def prompt(seed: int, family: str, **extras: Any) -> ConditioningPart:
    """A prompt as Encode Prompt hands it over: float32, on the CPU."""
    g = torch.Generator().manual_seed(seed)
    if family == "flux":
        embeds, pooled = torch.randn(1, 12, flux.T5_WIDTH), torch.randn(1, flux.CLIP_WIDTH)
        return ConditioningPart(embeds, pooled, extras)
    width = tiny.unet_config(family)["cross_attention_dim"]
    pooled = torch.randn(1, tiny.WIDTH, generator=g) if family == "sdxl" else None
    return ConditioningPart(torch.randn(1, 77, width, generator=g), pooled, extras)


def model_call(family: str) -> tuple[ModelCall, Schedule, int]:
    """The network call of a tiny model on the meta device, its schedule, latent channels."""
    if family == "flux":
        return FluxCall(flux.transformer().to(META)), FlowSchedule(1.15, "exponential"), 16
    schedule = DiscreteSchedule()
    return UNetCall(tiny.unet(family).to(META), schedule, "epsilon"), schedule, 4


def traffic(steps: int, family: str, sampler: str, **extras: Any) -> DeviceTraffic:
    """One sampling run on the meta device: what crossed between it and the host."""
    call, schedule, channels = model_call(family)
    positive, negative = prompt(0, family, **extras), prompt(1, family)
    denoiser = GuidedDenoiser(
        call, positive=[positive], negative=[negative], cfg=7.0, schedule=schedule
    )
    x = torch.zeros(2, channels, 8, 8, device=META)
    sigmas = SCHEDULERS["karras"](schedule, steps)
    reported: list[int] = []
    with DeviceTraffic() as seen:
        sample._run(
            SAMPLERS[sampler],
            denoiser,
            x,
            sigmas,
            sample.BatchNoise(0, x.shape, [0, 1]),
            lambda step, total, denoised: reported.append(step),
            [x],
        )
    assert reported == list(range(1, steps + 1))
    return seen


@pytest.mark.parametrize("family", ["sd1", "sdxl", "flux"])
def test_a_deterministic_sampler_moves_the_same_few_things_however_many_steps(
    family: str,
) -> None:
    short, long = traffic(3, family, "euler"), traffic(9, family, "euler")
    assert short.read_backs == long.read_backs == []
    # The prompts (and SDXL's pooled text and size ids, Flux's position ids), once a run.
    assert 0 < len(short.copies) == len(long.copies) <= 8


def test_a_stochastic_sampler_copies_only_its_fresh_noise_each_step() -> None:
    # The noise is drawn on the CPU from per-image generators (the same images on any
    # device); on a GPU it is copied from page-locked memory, without waiting.
    short, long = traffic(3, "sd1", "euler_ancestral"), traffic(9, "sd1", "euler_ancestral")
    assert short.read_backs == long.read_backs == []
    assert len(long.copies) - len(short.copies) == 9 - 3


def test_timestep_ranges_and_controlnets_need_no_read_back_of_sigma() -> None:
    control = tiny.controlnet().to(META)
    spec = ControlSpec(
        control=SimpleNamespace(handle=SimpleNamespace(get=lambda: control)),
        hint=torch.rand(1, 64, 64, 3),
        strength=0.8,  # over the whole run: its range is checked at every step
    )
    short = traffic(3, "sd1", "euler", control=spec, start_percent=0.0, end_percent=0.5)
    long = traffic(9, "sd1", "euler", control=spec, start_percent=0.0, end_percent=0.5)
    assert short.read_backs == long.read_backs == []
    assert len(short.copies) == len(long.copies)  # the hint is resized and moved once
