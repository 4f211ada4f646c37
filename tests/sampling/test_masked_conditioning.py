"""The guided denoiser with masked and timestep-ranged conditioning, on a tiny real UNet:
a part's mask decides where its prediction lands, its timestep range when it counts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import torch

from engine.types import ConditioningPart
from nodes.ops.families.sd.unet_call import UNetCall
from nodes.ops.sampling.denoiser import GuidedDenoiser, percent_to_sigma
from nodes.ops.sampling.schedules import DiscreteSchedule, FlowSchedule
from tests.sd import tiny

SIZE = 8  # latent cells
SIGMA = torch.tensor([2.0])


@pytest.fixture(scope="module")
def call() -> UNetCall:
    return UNetCall(tiny.unet("sd1").eval(), DiscreteSchedule(), "epsilon")


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(1, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def prompt(seed: int, **extras: Any) -> ConditioningPart:
    g = torch.Generator().manual_seed(seed)
    return ConditioningPart(torch.randn(1, 77, tiny.WIDTH, generator=g), None, extras)


def halves() -> tuple[torch.Tensor, torch.Tensor]:
    """Masks of the left and right halves of a 64x64 picture (pixel size, as a Mask is)."""
    left = torch.zeros(1, 64, 64)
    left[..., :32] = 1.0
    return left, 1.0 - left


def denoise(
    call: UNetCall,
    x: torch.Tensor,
    positive: Sequence[ConditioningPart],
    negative: Sequence[ConditioningPart] = (),
    cfg: float = 1.0,
    sigma: torch.Tensor = SIGMA,
) -> torch.Tensor:
    denoiser = GuidedDenoiser(
        call, positive=positive, negative=negative, cfg=cfg, schedule=DiscreteSchedule()
    )
    with torch.inference_mode():
        return denoiser(x, sigma)


@pytest.fixture
def unet_calls(call: UNetCall) -> Iterator[list[int]]:
    """The batch size of every UNet forward pass while the test runs."""
    sizes: list[int] = []
    hook = call.unet.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
    yield sizes
    hook.remove()


def test_each_masked_prompt_decides_its_own_half(call: UNetCall, x: torch.Tensor) -> None:
    left, right = halves()
    a, b = prompt(1), prompt(2)
    out = denoise(call, x, [prompt(1, mask=left), prompt(2, mask=right)])
    alone_a, alone_b = denoise(call, x, [a]), denoise(call, x, [b])
    torch.testing.assert_close(out[..., :4], alone_a[..., :4], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[..., 4:], alone_b[..., 4:], atol=1e-5, rtol=1e-5)


def test_mask_strength_weights_the_mean_of_overlapping_prompts(
    call: UNetCall, x: torch.Tensor
) -> None:
    everywhere = torch.ones(1, 64, 64)
    out = denoise(call, x, [prompt(1, mask=everywhere, mask_strength=3.0), prompt(2)])
    alone_a, alone_b = denoise(call, x, [prompt(1)]), denoise(call, x, [prompt(2)])
    torch.testing.assert_close(out, (3 * alone_a + alone_b) / 4, atol=1e-5, rtol=1e-5)


def test_a_mask_of_zeros_leaves_the_other_prompt_alone(call: UNetCall, x: torch.Tensor) -> None:
    nowhere = torch.zeros(1, 64, 64)
    out = denoise(call, x, [prompt(1, mask=nowhere), prompt(2)])
    torch.testing.assert_close(out, denoise(call, x, [prompt(2)]), atol=1e-5, rtol=1e-5)


def test_mask_bounds_show_the_network_only_the_masked_box(call: UNetCall, x: torch.Tensor) -> None:
    seen: list[tuple[int, ...]] = []
    hook = call.unet.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape))
    corner = torch.zeros(1, 16, 16)  # a mask at another size is resized to the latent
    corner[:, :6, :6] = 1.0
    small = torch.randn(1, 4, 16, 16)
    try:
        denoise(call, small, [prompt(1, mask=corner, set_area_to_bounds=True)])
    finally:
        hook.remove()
    assert seen == [(1, 4, 8, 8)]  # the 6x6 cells of the mask, grown to ComfyUI's minimum 8


def test_a_prompt_outside_its_timestep_range_does_not_count(
    call: UNetCall, x: torch.Tensor
) -> None:
    late = prompt(1, start_percent=0.5, end_percent=1.0)
    early_sigma = torch.tensor([10.0])  # above the schedule's sigma at 50%
    late_sigma = torch.tensor([0.5])
    both = [late, prompt(2)]
    at_start = denoise(call, x, both, sigma=early_sigma)
    torch.testing.assert_close(at_start, denoise(call, x, [prompt(2)], sigma=early_sigma))
    at_end = denoise(call, x, both, sigma=late_sigma)
    assert not torch.allclose(at_end, denoise(call, x, [prompt(2)], sigma=late_sigma))


def test_percent_bounds_are_the_schedules_sigmas() -> None:
    for schedule in (DiscreteSchedule(), FlowSchedule(1.15, "exponential")):
        assert percent_to_sigma(schedule, 0.0) == float("inf")
        assert percent_to_sigma(schedule, 1.0) == 0.0
        middle = percent_to_sigma(schedule, 0.5)
        assert schedule.sigma_min < middle < schedule.sigma_max
        assert percent_to_sigma(schedule, 0.25) > middle > percent_to_sigma(schedule, 0.75)


def test_plain_prompt_and_negative_share_one_network_call(
    call: UNetCall, x: torch.Tensor, unet_calls: list[int]
) -> None:
    denoise(call, x, [prompt(1)], [prompt(3)], cfg=7.0)
    assert unet_calls == [2]


def test_regional_prompts_and_negative_share_one_network_call(
    call: UNetCall, x: torch.Tensor, unet_calls: list[int]
) -> None:
    left, right = halves()
    regional = [prompt(1, mask=left), prompt(2, mask=right)]
    denoise(call, x, regional, [prompt(3)], cfg=7.0)
    assert unet_calls == [3]


def test_guidance_over_masked_prompts_equals_guidance_per_half(
    call: UNetCall, x: torch.Tensor
) -> None:
    left, right = halves()
    regional = [prompt(1, mask=left), prompt(2, mask=right)]
    out = denoise(call, x, regional, [prompt(3)], cfg=7.0)
    only_a = denoise(call, x, [prompt(1)], [prompt(3)], cfg=7.0)
    torch.testing.assert_close(out[..., :4], only_a[..., :4], atol=1e-4, rtol=1e-4)


def test_masked_prompts_on_flux_decide_their_own_half() -> None:
    from nodes.ops.families.flux.call import FluxCall
    from tests.flux import tiny as flux_tiny

    call = FluxCall(flux_tiny.transformer())
    x = torch.randn(1, 16, SIZE, SIZE, generator=torch.Generator().manual_seed(0))

    def flux_prompt(seed: int, **extras: Any) -> ConditioningPart:
        g = torch.Generator().manual_seed(seed)
        embeds = torch.randn(1, 8, flux_tiny.T5_WIDTH, generator=g)
        pooled = torch.randn(1, flux_tiny.CLIP_WIDTH, generator=g)
        return ConditioningPart(embeds, pooled, extras)

    left, right = halves()
    sigma = torch.tensor([0.7])
    schedule = FlowSchedule(1.15, "exponential")

    def run(parts: Sequence[ConditioningPart]) -> torch.Tensor:
        denoiser = GuidedDenoiser(call, positive=parts, negative=(), cfg=1.0, schedule=schedule)
        with torch.inference_mode():
            return denoiser(x, sigma)

    out = run([flux_prompt(1, mask=left), flux_prompt(2, mask=right)])
    torch.testing.assert_close(out[..., :4], run([flux_prompt(1)])[..., :4], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[..., 4:], run([flux_prompt(2)])[..., 4:], atol=1e-5, rtol=1e-5)


def test_an_area_fades_in_at_its_inner_edges_only() -> None:
    from nodes.ops.sampling.denoiser import part_weight

    latent = torch.zeros(1, 4, 64, 64)
    region, weight = part_weight(prompt(1, area=(32, 32, 0, 32), strength=2.0), latent)
    assert region == (0, 32, 32, 32)  # top, left, height, width: the top-right quarter
    rows, cols = weight[0, 0, :, 0], weight[0, 0, 0, :]
    # The left edge (inside the picture) rises over 8 cells; the top and right (the
    # picture's border) do not fade; the bottom edge (inside) falls over 8 cells.
    torch.testing.assert_close(cols[:8], 2.0 * torch.arange(1, 9) / 8)
    assert torch.all(weight[0, 0, 0, 8:] == 2.0)
    torch.testing.assert_close(rows[-8:] / rows[0], torch.arange(8, 0, -1) / 8)


def test_a_masked_part_does_not_fade() -> None:
    from nodes.ops.sampling.denoiser import part_weight

    latent = torch.zeros(1, 4, 8, 8)
    _, weight = part_weight(prompt(1, mask=torch.ones(1, 64, 64), area=(4, 4, 2, 2)), latent)
    assert torch.all(weight == 1.0)
