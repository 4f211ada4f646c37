"""Mask maths (nodes/ops/pixels/masks.py), one behaviour each, with ComfyUI's semantics."""

from __future__ import annotations

import pytest
import torch

from nodes.ops.pixels import masks, morphology


def dot(size: int = 9) -> torch.Tensor:
    """A single selected pixel in the middle of a size x size mask."""
    mask = torch.zeros(1, size, size)
    mask[0, size // 2, size // 2] = 1.0
    return mask


def test_solid_mask_is_one_mask_of_the_value() -> None:
    mask = masks.solid(0.25, width=5, height=3)
    assert mask.shape == (1, 3, 5)
    assert torch.all(mask == 0.25)


def test_grow_by_2_without_tapered_corners_makes_a_5x5_square() -> None:
    grown = masks.grow(dot(), 2, tapered_corners=False)
    expected = torch.zeros(1, 9, 9)
    expected[0, 2:7, 2:7] = 1.0
    assert torch.equal(grown, expected)


def test_grow_by_2_with_tapered_corners_drops_the_corners() -> None:
    grown = masks.grow(dot(), 2, tapered_corners=True)[0]
    rows, cols = torch.nonzero(grown, as_tuple=True)
    distances = (rows - 4).abs() + (cols - 4).abs()
    assert grown.sum() == 13  # the diamond of pixels at most 2 steps away
    assert int(distances.max()) == 2
    assert grown[2, 2] == 0 and grown[2, 4] == 1


def test_negative_expand_shrinks_the_mask() -> None:
    square = torch.zeros(1, 9, 9)
    square[0, 2:7, 2:7] = 1.0
    shrunk = masks.grow(square, -2, tapered_corners=False)
    assert torch.equal(shrunk, dot())


def test_grow_reaches_the_edge_without_wrapping() -> None:
    mask = torch.zeros(1, 4, 6)
    mask[0, 0, 0] = 1.0
    grown = masks.grow(mask, 1, tapered_corners=False)[0]
    assert grown[:2, :2].sum() == 4 and grown.sum() == 4  # nothing appears on the far side


def test_grow_keeps_grey_values_as_a_maximum() -> None:
    mask = torch.zeros(1, 5, 5)
    mask[0, 2, 2] = 0.4
    assert float(masks.grow(mask, 1, tapered_corners=False).max()) == pytest.approx(0.4)


def test_feather_fades_each_side_linearly_to_the_edge() -> None:
    mask = masks.feather(torch.ones(1, 6, 8), left=4, top=0, right=2, bottom=0)
    assert mask[0, 3].tolist() == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1, 1, 0.5])


def test_feather_top_and_bottom_multiply_with_the_sides() -> None:
    mask = masks.feather(torch.ones(1, 4, 4), left=2, top=2, right=0, bottom=0)
    assert float(mask[0, 0, 0]) == pytest.approx(0.25)  # 1/2 from the left x 1/2 from the top
    assert float(mask[0, 3, 3]) == 1.0


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("multiply", [0.0, 0.0, 0.0, 1.0]),
        ("add", [0.0, 1.0, 1.0, 1.0]),  # 2 clamped to 1
        ("subtract", [0.0, 0.0, 1.0, 0.0]),  # -1 clamped to 0
        ("and", [0.0, 0.0, 0.0, 1.0]),
        ("or", [0.0, 1.0, 1.0, 1.0]),
        ("xor", [0.0, 1.0, 1.0, 0.0]),
    ],
)
def test_mask_composite_operations(operation: str, expected: list[float]) -> None:
    destination = torch.tensor([[[0.0, 0.0, 1.0, 1.0]]])
    source = torch.tensor([[[0.0, 1.0, 0.0, 1.0]]])
    assert masks.combine(destination, source, 0, 0, operation)[0, 0].tolist() == expected


def test_logical_composites_round_grey_values_first() -> None:
    destination = torch.tensor([[[0.6, 0.6, 0.4]]])
    source = torch.tensor([[[0.6, 0.4, 0.4]]])
    assert masks.combine(destination, source, 0, 0, "xor")[0, 0].tolist() == [0.0, 1.0, 0.0]


def test_mask_composite_places_the_source_at_x_y_and_cuts_it_at_the_edge() -> None:
    out = masks.combine(torch.zeros(1, 4, 4), torch.ones(1, 3, 3), 2, 1, "add")
    expected = torch.zeros(1, 4, 4)
    expected[0, 1:, 2:] = 1.0
    assert torch.equal(out, expected)


def test_mask_composite_outside_the_destination_changes_nothing() -> None:
    destination = torch.rand(1, 4, 4)
    assert torch.equal(masks.combine(destination, torch.ones(1, 2, 2), 9, 0, "add"), destination)


def test_mask_composite_refuses_batches_that_do_not_pair() -> None:
    with pytest.raises(ValueError, match="batches of 2 and 3 masks"):
        masks.combine(torch.zeros(2, 4, 4), torch.zeros(3, 4, 4), 0, 0, "add")


def test_mask_to_image_repeats_the_value_in_three_channels() -> None:
    image = masks.to_image(torch.tensor([[[0.0, 0.5]]]))
    assert image.shape == (1, 1, 2, 3)
    assert image[0, 0, 1].tolist() == [0.5, 0.5, 0.5]


def test_image_channel_becomes_a_mask() -> None:
    pixels = torch.zeros(2, 3, 4, 3)
    pixels[..., 1] = 0.75
    mask = masks.from_channel(pixels, "green")
    assert mask.shape == (2, 3, 4) and torch.all(mask == 0.75)
    assert torch.all(masks.from_channel(pixels, "blue") == 0)


def comfyui_step(mask: torch.Tensor, tapered: bool, erode: bool) -> torch.Tensor:
    """One 3x3 grey dilation (or erosion) step written plainly, pixel by pixel: the
    reference for ComfyUI's scipy footprint (the cross, or the full 3x3 square)."""
    out = mask.clone()
    pick = torch.minimum if erode else torch.maximum
    height, width = mask.shape[-2:]
    for y in range(height):
        for x in range(width):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    inside = 0 <= y + dy < height and 0 <= x + dx < width
                    if inside and not (tapered and dy and dx):
                        out[:, y, x] = pick(out[:, y, x], mask[:, y + dy, x + dx])
    return out


@pytest.mark.parametrize("tapered", [True, False])
@pytest.mark.parametrize("expand", [3, -2])
def test_grow_equals_comfyuis_repeated_3x3_steps(tapered: bool, expand: int) -> None:
    mask = torch.rand(2, 7, 9) * (torch.rand(2, 7, 9) > 0.6)
    expected = mask
    for _ in range(abs(expand)):
        expected = comfyui_step(expected, tapered, erode=expand < 0)
    assert torch.equal(masks.grow(mask, expand, tapered), expected)


def test_growing_past_the_image_fills_it_with_the_largest_value() -> None:
    mask = torch.zeros(1, 5, 6)
    mask[0, 0, 0] = 0.7
    assert torch.all(masks.grow(mask, 16384, tapered_corners=True) == 0.7)


def test_a_large_diamond_equals_as_many_single_steps() -> None:
    # Past the stepwise radius the diamond is grown on a rotated grid in one go.
    radius = morphology.STEPWISE_RADIUS + 5
    mask = torch.rand(2, 40, 50) * (torch.rand(2, 40, 50) > 0.97)
    stepwise = mask
    for _ in range(radius):
        stepwise = morphology.dilate_diamond(stepwise, 1)
    assert torch.equal(morphology.dilate_diamond(mask, radius), stepwise)
    assert not torch.all(stepwise == stepwise.amax())  # the diamond did not fill the mask


def test_color_to_mask_selects_exactly_that_8_bit_colour() -> None:
    pixels = torch.zeros(1, 1, 3, 3)
    pixels[0, 0, 0] = torch.tensor([0x12, 0x34, 0x56]) / 255
    pixels[0, 0, 1] = torch.tensor([0x12, 0x34, 0x57]) / 255
    assert masks.from_color(pixels, 0x123456)[0, 0].tolist() == [1.0, 0.0, 0.0]
