"""The torch Canny detector: thin edges where the image steps, nothing elsewhere."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nodes.ops.pixels.canny import canny


def square(size: int = 32, lo: int = 8, hi: int = 24, inside: float = 1.0) -> torch.Tensor:
    image = torch.zeros(1, size, size, 3)
    image[:, lo:hi, lo:hi] = inside
    return image


def texture(seed: int = 0) -> torch.Tensor:
    noise = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(noise, size=(48, 48), mode="bilinear").permute(0, 2, 3, 1)


def test_square_border_only() -> None:
    edges = canny(square(), 0.4, 0.8)[0, ..., 0]
    near = torch.zeros(32, 32, dtype=torch.bool)
    near[6:26, 6:26] = True
    near[10:22, 10:22] = False  # the band of two pixels either side of the border
    assert edges[~near].sum() == 0, "edges inside or outside the square"
    # a closed, thin outline: every row and column of the square crosses it twice
    for line in range(9, 23):
        assert edges[line, :16].sum() == 1 and edges[line, 16:].sum() == 1
        assert edges[:16, line].sum() == 1 and edges[16:, line].sum() == 1


def test_output_shape_dtype_range() -> None:
    image = texture()
    out = canny(image, 0.2, 0.5)
    assert out.shape == image.shape and out.dtype == torch.float32
    assert set(out.unique().tolist()) <= {0.0, 1.0} and out.sum() > 0
    assert torch.equal(out[..., 0], out[..., 1]) and torch.equal(out[..., 0], out[..., 2])
    half = canny(image.half(), 0.2, 0.5)
    assert half.dtype == torch.float16
    assert torch.equal(half.float(), canny(image.half().float(), 0.2, 0.5))
    assert canny(torch.full((1, 9, 7, 3), 0.5), 0.1, 0.2).sum() == 0  # flat: nothing
    assert canny(torch.rand(1, 2, 2, 3), 0.1, 0.2).shape == (1, 2, 2, 3)  # tiny images work


def test_thresholds_are_monotonic() -> None:
    image = texture(1)
    counts = []
    previous = None
    for low, high in [(0.05, 0.1), (0.05, 0.3), (0.2, 0.3), (0.2, 0.6), (0.5, 0.6), (3, 9)]:
        edges = canny(image, low, high)[..., 0].bool()
        if previous is not None:
            assert not (edges & ~previous).any(), f"raising to {low}/{high} added edges"
        previous = edges
        counts.append(int(edges.sum()))
    assert counts[0] > counts[-2] and counts[-1] == 0


def test_contrast_against_thresholds() -> None:
    faint = square(inside=0.1)  # a step of 0.1 measures about 0.26
    assert canny(faint, 0.4, 0.8).sum() == 0
    assert canny(faint, 0.1, 0.2).sum() > 0
    # a weak edge survives only when connected to a strong one
    assert canny(faint, 0.1, 0.8).sum() == 0


def test_hysteresis_follows_weak_edges_from_strong_ones() -> None:
    image = torch.zeros(1, 32, 64, 3)
    image[:, 16:] = torch.linspace(1.0, 0.15, 64).view(1, 1, 64, 1)  # a fading step
    # the step measures about 2.6 at the left, 0.4 at the right
    strong_only = canny(image, 2.0, 2.0)[0, ..., 0]
    followed = canny(image, 0.2, 2.0)[0, ..., 0]
    assert strong_only[:, :10].sum() > 0 and strong_only[:, 30:].sum() == 0
    assert followed[:, 2:62].sum(0).eq(1).all()  # the whole line, reached along itself
    assert followed[:12].sum() == 0 and followed[20:].sum() == 0
    assert canny(image * 0.3, 0.2, 2.0).sum() == 0  # weak alone is not enough


def test_batch_matches_single_images() -> None:
    batch = torch.cat([square(), torch.zeros(1, 32, 32, 3), texture()[:, :32, :32]])
    out = canny(batch, 0.3, 0.6)
    for i in range(3):
        assert torch.equal(out[i : i + 1], canny(batch[i : i + 1], 0.3, 0.6))
    assert out[1].sum() == 0


def test_rejects_other_layouts() -> None:
    with pytest.raises(ValueError):
        canny(torch.zeros(1, 3, 8, 8), 0.1, 0.2)
