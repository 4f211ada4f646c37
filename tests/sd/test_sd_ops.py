"""Sampling plumbing and latent operations that need no checkpoint."""

from __future__ import annotations

import torch

from engine.types import Latent
from nodes.ops.pixels import latent as ops
from nodes.ops.sampling.sample import BatchNoise, SampleSettings, sigmas_for
from nodes.ops.sampling.samplers import SAMPLERS
from nodes.ops.sampling.schedules import SCHEDULERS, DiscreteSchedule
from nodes.sd_sampling import SAMPLER_NAMES, SCHEDULER_NAMES


def test_node_choices_match_the_registries() -> None:
    assert set(SAMPLER_NAMES) == set(SAMPLERS)
    assert set(SCHEDULER_NAMES) == set(SCHEDULERS)


def settings(**kw: object) -> SampleSettings:
    base: dict[str, object] = dict(seed=1, steps=10, cfg=7.0, sampler="euler", scheduler="normal")
    base.update(kw)
    return SampleSettings(**base)  # type: ignore[arg-type]


def test_sigmas_for_denoise_and_step_ranges() -> None:
    schedule = DiscreteSchedule()
    full = sigmas_for(schedule, settings())
    assert len(full) == 11 and float(full[-1]) == 0.0
    half = sigmas_for(schedule, settings(denoise=0.5))
    assert len(half) == 11 and float(half[0]) < float(full[0])  # starts part way down
    assert len(sigmas_for(schedule, settings(denoise=0.0))) == 0
    first = sigmas_for(schedule, settings(end_step=4, leave_noise=True))
    second = sigmas_for(schedule, settings(start_step=4))
    assert torch.equal(first, full[:5]) and torch.equal(second, full[4:])
    assert float(sigmas_for(schedule, settings(end_step=4))[-1]) == 0.0  # finished to 0


def test_batch_noise_is_per_item() -> None:
    shape = torch.Size([3, 4, 8, 8])
    batch = BatchNoise(42, shape, (0, 1, 2)).draw()
    single = BatchNoise(42 + 2, torch.Size([1, 4, 8, 8]), (0,)).draw()
    assert torch.equal(batch[2], single[0])
    again = BatchNoise(42, shape, (0, 1, 2)).draw()
    assert torch.equal(batch, again) and not torch.equal(batch[0], batch[1])


def test_latent_pick_and_repeat_keep_seeds() -> None:
    latent = Latent(torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 4, 2, 2).clone())
    picked = ops.pick(latent, 2, 2)
    assert picked.batch_index == (2, 3) and float(picked.samples[0, 0, 0, 0]) == 2.0
    repeated = ops.repeat(ops.pick(latent, 1, 1), 3)
    assert repeated.samples.shape[0] == 3 and repeated.batch_index == (1, 3, 5)


def test_latent_composite_and_resize() -> None:
    dest = torch.zeros(1, 4, 8, 8)
    src = torch.ones(1, 4, 4, 4)
    out = ops.composite(dest, src, 2, 2, 0)
    assert float(out.sum()) == 4 * 16 and float(out[0, 0, 2, 2]) == 1.0
    feathered = ops.composite(dest, src, 2, 2, 1)
    assert 0 < float(feathered[0, 0, 2, 3]) < 1 and float(feathered[0, 0, 3, 3]) == 1.0
    assert ops.resize(dest, 4, 16, "bilinear", "disabled").shape == (1, 4, 4, 16)
    assert ops.resize(torch.zeros(1, 4, 8, 16), 8, 8, "nearest-exact", "center").shape == (
        1,
        4,
        8,
        8,
    )
