"""Image edit maths (nodes/ops/pixels/edit.py), one behaviour each, with ComfyUI's semantics."""

from __future__ import annotations

import pytest
import torch

from nodes.ops.pixels import edit


def ramp(batch: int = 1, height: int = 6, width: int = 8) -> torch.Tensor:
    """Pixels whose red channel is the column and green the row, so a crop shows where
    it came from."""
    pixels = torch.zeros(batch, height, width, 3)
    pixels[..., 0] = torch.arange(width, dtype=torch.float32) / 100
    pixels[..., 1] = torch.arange(height, dtype=torch.float32)[:, None] / 100
    return pixels


def test_scale_by_multiplies_and_rounds_both_sides() -> None:
    assert edit.scale_by(ramp(2, 6, 8), 1.5, "bilinear").shape == (2, 9, 12, 3)
    assert edit.scale_by(ramp(1, 6, 8), 0.3, "nearest-exact").shape == (1, 2, 2, 3)


def test_scale_by_never_gives_an_empty_image() -> None:
    assert edit.scale_by(ramp(1, 6, 8), 0.01, "area").shape == (1, 1, 1, 3)


def test_crop_takes_the_window_at_x_y() -> None:
    out = edit.crop(ramp(), width=3, height=2, x=4, y=1)
    assert out.shape == (1, 2, 3, 3)
    assert out[0, 0, 0, :2].tolist() == pytest.approx([0.04, 0.01])


def test_crop_is_cut_at_the_image_edge() -> None:
    assert edit.crop(ramp(), width=512, height=512, x=5, y=2).shape == (1, 4, 3, 3)


def test_crop_past_the_image_clamps_to_the_last_column_and_row() -> None:
    out = edit.crop(ramp(), width=4, height=4, x=100, y=100)
    assert out.shape == (1, 1, 1, 3)  # ComfyUI's min(x, width - 1), min(y, height - 1)
    assert out[0, 0, 0, :2].tolist() == pytest.approx([0.07, 0.05])


def test_pad_adds_a_grey_border_around_the_image() -> None:
    pixels = ramp(2, 6, 8)
    padded, mask = edit.pad_for_outpaint(pixels, 1, 2, 3, 4, feathering=0)
    assert padded.shape == (2, 12, 12, 3) and mask.shape == (1, 12, 12)
    assert torch.equal(padded[:, 2:8, 1:9], pixels)
    assert torch.all(padded[:, :2] == 0.5) and torch.all(padded[:, :, 9:] == 0.5)


def test_pad_mask_is_one_on_the_border_and_zero_on_the_image_without_feathering() -> None:
    _, mask = edit.pad_for_outpaint(ramp(), 0, 0, 8, 0, feathering=0)
    assert torch.all(mask[0, :, 8:] == 1) and torch.all(mask[0, :, :8] == 0)


def test_pad_feathering_rises_quadratically_towards_the_padded_side_only() -> None:
    _, mask = edit.pad_for_outpaint(torch.zeros(1, 20, 20, 3), 0, 0, 8, 0, feathering=4)
    row = mask[0, 10, 14:20].tolist()  # distances 6..1 from the padded right side
    assert row == pytest.approx([0, 0, 0, 0.0625, 0.25, 0.5625])
    assert torch.all(mask[0, :, :16] == 0)  # the unpadded sides are not feathered


def test_pad_feathering_is_skipped_when_it_is_half_the_image_or_more() -> None:
    _, mask = edit.pad_for_outpaint(torch.zeros(1, 8, 20, 3), 8, 0, 0, 0, feathering=4)
    assert torch.all(mask[0, :, 8:] == 0)


def test_batch_of_equal_sizes_is_both_batches_in_order() -> None:
    first, second = ramp(2), ramp(1) + 0.5
    out = edit.batch(first, second)
    assert out.shape == (3, 6, 8, 3) and torch.equal(out[2], second[0])


def test_batch_scales_the_second_image_to_the_first() -> None:
    out = edit.batch(torch.zeros(1, 6, 8, 3), torch.ones(2, 30, 20, 3))
    assert out.shape == (3, 6, 8, 3)
    assert torch.allclose(out[1:], torch.ones(2, 6, 8, 3))


def test_composite_pastes_the_source_at_x_y_cut_at_the_edge() -> None:
    out = edit.composite(torch.zeros(1, 6, 8, 3), torch.ones(1, 4, 4, 3), 6, 3, None, False)
    assert torch.all(out[0, 3:, 6:] == 1)
    assert float(out.sum()) == 3 * 2 * 3  # 3 rows x 2 columns visible, 3 channels


def test_composite_blends_through_the_mask() -> None:
    mask = torch.tensor([[[1.0, 0.0], [0.25, 0.0]]])
    out = edit.composite(torch.zeros(1, 2, 2, 3), torch.ones(1, 2, 2, 3), 0, 0, mask, False)
    assert out[0, ..., 0].tolist() == [[1.0, 0.0], [0.25, 0.0]]


def test_composite_scales_the_mask_to_the_source() -> None:
    out = edit.composite(
        torch.zeros(1, 4, 4, 3), torch.ones(1, 4, 4, 3), 0, 0, torch.ones(1, 2, 2), False
    )
    assert torch.all(out == 1)


def test_composite_resize_source_fills_the_destination() -> None:
    out = edit.composite(torch.zeros(1, 6, 8, 3), torch.ones(1, 2, 2, 3), 3, 3, None, True)
    assert torch.all(out[0, 3:, 3:] == 1) and torch.all(out[0, :3] == 0)


def test_composite_cycles_a_single_source_over_the_destination_batch() -> None:
    out = edit.composite(torch.zeros(3, 2, 2, 3), torch.ones(1, 2, 2, 3), 0, 0, None, False)
    assert torch.all(out == 1)


def numbered(batch: int) -> torch.Tensor:
    """A batch whose image i is filled with i."""
    return torch.arange(batch, dtype=torch.float32)[:, None, None, None].expand(batch, 2, 2, 3)


@pytest.mark.parametrize(
    ("index", "length", "expected"),
    [(1, 2, [1, 2]), (-1, 1, [4]), (3, 9, [3, 4]), (99, 1, [4]), (-99, 2, [0, 1])],
)
def test_pick_from_batch_clamps_like_comfyui(index: int, length: int, expected: list[int]) -> None:
    picked = edit.pick(numbered(5), index, length)
    assert picked[:, 0, 0, 0].tolist() == expected


def test_flip_x_axis_turns_upside_down_and_y_axis_mirrors() -> None:
    pixels = ramp()
    assert torch.equal(edit.flip(pixels, "x-axis: vertically")[0, 0], pixels[0, -1])
    assert torch.equal(edit.flip(pixels, "y-axis: horizontally")[0, :, 0], pixels[0, :, -1])


def test_rotate_90_degrees_is_clockwise() -> None:
    pixels = ramp(1, 6, 8)
    turned = edit.rotate(pixels, "90 degrees")
    assert turned.shape == (1, 8, 6, 3)
    # Clockwise: the top-left corner goes to the top-right, the bottom-left to the top-left.
    assert torch.equal(turned[0, 0, -1], pixels[0, 0, 0])
    assert torch.equal(turned[0, 0, 0], pixels[0, -1, 0])
    assert torch.equal(edit.rotate(turned, "270 degrees"), pixels)


def test_latent_composite_places_the_source_in_whole_cells() -> None:
    out = edit.composite_latent(torch.zeros(1, 4, 8, 8), torch.ones(1, 4, 2, 2), 20, 8, None, False)
    expected = torch.zeros(1, 4, 8, 8)
    expected[..., 1:3, 2:4] = 1.0  # pixel (20, 8) is cell (2, 1)
    assert torch.equal(out, expected)


def test_latent_composite_through_a_mask_and_resized() -> None:
    mask = torch.zeros(1, 16, 16)
    mask[:, :, 8:] = 1.0  # the right half of the (resized) source
    out = edit.composite_latent(torch.zeros(1, 4, 8, 8), torch.ones(1, 4, 2, 2), 0, 0, mask, True)
    assert torch.all(out[..., 4:] == 1) and torch.all(out[..., :3] == 0)


def solid_image(value: float, height: int, width: int, batch: int = 1) -> torch.Tensor:
    return torch.full((batch, height, width, 3), value)


def test_stitch_right_scales_the_second_image_to_the_first_height() -> None:
    out = edit.stitch(solid_image(0.2, 8, 10), solid_image(0.8, 4, 6), "right", True, 0, "white")
    assert out.shape == (1, 8, 22, 3)  # 10 + 6 x 8/4
    assert torch.allclose(out[0, :, :10], torch.tensor(0.2))
    assert float(out[0, 0, -1, 0]) == pytest.approx(0.8, abs=1 / 255)  # lanczos via 8 bits


def test_stitch_up_puts_the_second_image_first_with_an_even_band() -> None:
    out = edit.stitch(solid_image(0.2, 4, 6), solid_image(0.8, 4, 6), "up", True, 3, "red")
    assert out.shape == (1, 12, 6, 3)  # 4 + a band of 3 rounded up to 4 + 4
    assert float(out[0, 0, 0, 0]) == pytest.approx(0.8)
    assert out[0, 5, 0].tolist() == [1.0, 0.0, 0.0]


def test_stitch_without_matching_centres_the_smaller_image_on_the_padding() -> None:
    out = edit.stitch(solid_image(0.5, 6, 4), solid_image(0.5, 2, 4), "right", False, 0, "black")
    assert out.shape == (1, 6, 8, 3)
    assert out[0, :, 4:, 0].tolist() == [
        [0.0] * 4,
        [0.0] * 4,
        [0.5] * 4,
        [0.5] * 4,
        [0.0] * 4,
        [0.0] * 4,
    ]


def test_stitch_repeats_the_last_image_of_the_shorter_batch() -> None:
    first = torch.cat([solid_image(0.1, 2, 2), solid_image(0.9, 2, 2)])
    out = edit.stitch(first, solid_image(0.5, 2, 2, batch=3), "right", True, 0, "white")
    assert out.shape[0] == 3 and float(out[2, 0, 0, 0]) == pytest.approx(0.9)


def test_resize_and_pad_fits_inside_and_centres() -> None:
    out = edit.resize_and_pad(solid_image(0.5, 10, 20), 40, 40, "black", "bilinear")
    assert out.shape == (1, 40, 40, 3)
    assert float(out[0, 0, 0, 0]) == 0.0 and float(out[0, 20, 20, 0]) == pytest.approx(0.5)
    assert torch.all(out[0, 10:30, :, 0] == 0.5) and torch.all(out[0, :10, :, 0] == 0)
