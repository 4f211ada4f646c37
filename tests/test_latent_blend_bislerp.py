"""Latent Blend and the "bislerp" resize: what a user mixing or upscaling latents sees."""

from __future__ import annotations

import torch

from engine.executor import Executor
from nodes.ops.pixels import latent as ops
from nodes.ops.pixels.bislerp import bislerp, slerp
from tests.conftest import graph, link


def noisy(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_bislerp_at_scale_one_returns_the_input() -> None:
    samples = noisy(2, 4, 8, 8)
    assert torch.equal(bislerp(samples, 8, 8), samples)


def test_bislerp_upscale_keeps_vector_norms_where_bilinear_shrinks_them() -> None:
    samples = noisy(1, 4, 16, 16)
    before = samples.norm(dim=1).mean()
    spherical = bislerp(samples, 64, 64).norm(dim=1).mean()
    linear = torch.nn.functional.interpolate(samples, size=(64, 64), mode="bilinear")
    assert abs(float(spherical / before) - 1.0) < 0.03
    assert float(linear.norm(dim=1).mean() / before) < 0.85


def test_bislerp_of_parallel_vectors_equals_bilinear() -> None:
    direction = torch.tensor([1.0, 2.0, -1.0, 0.5])[None, :, None, None]
    lengths = torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(1)) + 0.5
    samples = direction * lengths
    linear = torch.nn.functional.interpolate(samples, size=(12, 18), mode="bilinear")
    torch.testing.assert_close(bislerp(samples, 12, 18), linear, atol=1e-5, rtol=1e-5)


def test_slerp_halfway_between_orthogonal_vectors_is_on_the_circle() -> None:
    a = torch.tensor([[2.0, 0.0]])
    b = torch.tensor([[0.0, 2.0]])
    middle = slerp(a, b, torch.tensor(0.5))
    torch.testing.assert_close(middle, torch.tensor([[2**0.5, 2**0.5]]))


def test_bislerp_downscales_and_keeps_batch_and_channels() -> None:
    assert bislerp(noisy(3, 16, 10, 14), 5, 7).shape == (3, 16, 5, 7)


def test_latent_resize_offers_bislerp() -> None:
    samples = noisy(1, 4, 8, 8)
    torch.testing.assert_close(
        ops.resize(samples, 12, 12, "bislerp", "disabled"), bislerp(samples, 12, 12)
    )


def test_blend_mixes_by_the_factor() -> None:
    first, second = noisy(2, 4, 8, 8, seed=1), noisy(2, 4, 8, 8, seed=2)
    torch.testing.assert_close(ops.blend(first, second, 0.25), 0.25 * first + 0.75 * second)
    assert torch.equal(ops.blend(first, second, 1.0), first)


def test_blend_resizes_a_second_latent_of_another_size() -> None:
    first, second = noisy(1, 4, 8, 8), torch.ones(1, 4, 4, 6)
    out = ops.blend(first, second, 0.5)
    assert out.shape == first.shape
    torch.testing.assert_close(out, 0.5 * first + 0.5)


def test_latent_blend_node_names_samples2_when_channels_differ(executor: Executor) -> None:
    workflow = graph(
        sd=("sd.empty_latent", {"width": 64, "height": 64}),
        flux=("sd.empty_latent_sd3", {"width": 64, "height": 64}),
        blend=(
            "sd.latent_blend",
            {"samples1": link("sd", "latent"), "samples2": link("flux", "latent")},
        ),
    )
    result = executor.run(workflow, targets=["blend"])
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("blend", "samples2")
    assert "channels" in result.error.message


def test_latent_upscale_node_accepts_bislerp(executor: Executor) -> None:
    workflow = graph(
        empty=("sd.empty_latent", {"width": 64, "height": 64}),
        up=(
            "sd.latent_upscale_by",
            {"samples": link("empty", "latent"), "upscale_method": "bislerp", "scale_by": 2.0},
        ),
    )
    result = executor.run(workflow, targets=["up"])
    assert result.status == "success", result.error or result.problems
    assert result.values["up"]["latent"].samples.shape == (1, 4, 16, 16)
