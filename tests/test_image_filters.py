"""Image filters (nodes/ops/pixels/filters.py and their nodes), with ComfyUI's semantics."""

from __future__ import annotations

import pytest
import torch

from engine.executor import Executor
from engine.registry import Registry
from formats.comfy_api import from_comfy_api
from nodes.ops.pixels import filters
from nodes.ops.pixels.morphology import morphology


def grey(value: float, height: int = 8, width: int = 8) -> torch.Tensor:
    return torch.full((1, height, width, 3), value)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("normal", 0.6),
        ("multiply", 0.4 * 0.6),
        ("screen", 1 - 0.6 * 0.4),
        ("overlay", 2 * 0.4 * 0.6),
        ("difference", 0.0),  # 0.4 - 0.6, clamped as ComfyUI does
    ],
)
def test_blend_modes_at_full_factor(mode: str, expected: float) -> None:
    out = filters.blend(grey(0.4), grey(0.6), 1.0, mode)
    assert float(out[0, 0, 0, 0]) == pytest.approx(expected)


def test_blend_factor_mixes_with_the_first_image() -> None:
    out = filters.blend(grey(0.2), grey(1.0), 0.25, "normal")
    assert float(out.mean()) == pytest.approx(0.4)


def test_blend_scales_the_second_image_to_the_first() -> None:
    assert filters.blend(grey(0.2), grey(1.0, 20, 30), 0.5, "normal").shape == (1, 8, 8, 3)


def test_blur_keeps_a_flat_image_and_spreads_a_point_evenly() -> None:
    assert torch.allclose(filters.blur(grey(0.3), 2, 1.0), grey(0.3))
    point = torch.zeros(1, 9, 9, 3)
    point[0, 4, 4] = 1.0
    spread = filters.blur(point, 2, 1.0)[0, ..., 0]
    assert float(spread.sum()) == pytest.approx(1.0)
    assert float(spread[4, 3]) == pytest.approx(float(spread[3, 4]))
    assert float(spread[4, 4]) < 1.0 and float(spread[0, 0]) == 0.0  # radius 2 reaches 2 px


def test_blur_works_on_an_image_smaller_than_its_radius() -> None:
    assert filters.blur(grey(0.5, 2, 2), 5, 1.0).shape == (1, 2, 2, 3)


def test_sharpen_keeps_a_flat_image_and_steepens_an_edge() -> None:
    assert torch.allclose(filters.sharpen(grey(0.5), 1, 1.0, 1.0), grey(0.5), atol=1e-6)
    edge = grey(0.4)
    edge[:, :, 4:] = 0.6
    sharpened = filters.sharpen(edge, 1, 1.0, 0.1)[0, 0, :, 0]
    assert float(sharpened[3]) < 0.4 and float(sharpened[4]) > 0.6


@pytest.mark.parametrize(
    ("size", "megapixels", "steps", "expected"),
    [
        ((1024, 1024), 1.0, 1, (1024, 1024)),
        ((256, 512), 1.0, 1, (724, 1448)),
        ((256, 512), 1.0, 64, (704, 1472)),
    ],
)
def test_total_pixels_keeps_the_aspect_ratio_in_steps(
    size: tuple[int, int], megapixels: float, steps: int, expected: tuple[int, int]
) -> None:
    assert filters.total_pixels_size(*size, megapixels, steps) == expected


def test_filter_nodes_from_a_comfyui_prompt(executor: Executor, registry: Registry) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 32, "color": 0x808080}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageSharpen", "inputs": {"image": ["2", 0]}},
        "4": {
            "class_type": "ImageBlend",
            "inputs": {"image1": ["3", 0], "image2": ["1", 0], "blend_mode": "multiply"},
        },
        "5": {
            "class_type": "ImageScaleToTotalPixels",
            "inputs": {"image": ["4", 0], "upscale_method": "bilinear", "megapixels": 0.01},
        },
    }
    result = executor.run(from_comfy_api(prompt, registry), targets=["5"])
    assert result.status == "success", result.error or result.problems
    assert result.values["5"]["image"].pixels.shape == (1, 72, 145, 3)


@pytest.mark.parametrize(
    ("size", "expected"), [((300, 600), (256, 512)), ((600, 300), (512, 256)), ((7, 7), (512, 512))]
)
def test_longest_side_becomes_the_largest_size(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert filters.longest_side_size(*size, 512) == expected


def test_add_noise_is_comfyuis_draw_for_the_seed() -> None:
    pixels = torch.rand(2, 4, 5, 3)
    generator = torch.manual_seed(7)  # ComfyUI: torch.manual_seed(seed), randn on the CPU
    expected = (pixels + 0.25 * torch.randn(pixels.size(), generator=generator)).clamp(0, 1)
    assert torch.equal(filters.add_noise(pixels, 7, 0.25), expected)
    assert not torch.equal(filters.add_noise(pixels, 8, 0.25), expected)


def test_scale_to_max_dimension_node(executor: Executor, registry: Registry) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 40, "height": 20}},
        "2": {"class_type": "ImageScaleToMaxDimension", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageAddNoise", "inputs": {"image": ["2", 0], "seed": 3}},
    }
    result = executor.run(from_comfy_api(prompt, registry), targets=["3"])
    assert result.status == "success", result.error or result.problems
    assert result.values["3"]["image"].pixels.shape == (1, 256, 512, 3)


def box_reference(pixels: torch.Tensor, kernel: int, pick: str) -> torch.Tensor:
    """Max (or min) over the kernel x kernel box anchored at kernel // 2, written plainly:
    rows i - kernel // 2 .. i + kernel - 1 - kernel // 2 that lie inside, the same for columns."""
    out = torch.empty_like(pixels)
    height, width = pixels.shape[1:3]
    before, after = kernel // 2, kernel - 1 - kernel // 2
    for y in range(height):
        for x in range(width):
            box = pixels[:, max(0, y - before) : y + after + 1, max(0, x - before) : x + after + 1]
            out[:, y, x] = box.amax(dim=(1, 2)) if pick == "max" else box.amin(dim=(1, 2))
    return out


@pytest.mark.parametrize("kernel", [3, 4])
def test_morphology_erode_and_dilate_are_box_minimum_and_maximum(kernel: int) -> None:
    pixels = torch.rand(2, 5, 7, 3)
    assert torch.equal(morphology(pixels, "dilate", kernel), box_reference(pixels, kernel, "max"))
    assert torch.equal(morphology(pixels, "erode", kernel), box_reference(pixels, kernel, "min"))


def test_morphology_compound_operations() -> None:
    pixels = torch.rand(1, 9, 9, 3)
    opened, closed = morphology(pixels, "open", 3), morphology(pixels, "close", 3)
    assert torch.all(opened <= pixels) and torch.all(closed >= pixels)
    assert torch.equal(morphology(pixels, "top_hat", 3), pixels - opened)
    assert torch.equal(morphology(pixels, "bottom_hat", 3), closed - pixels)
    spread = morphology(pixels, "dilate", 3) - morphology(pixels, "erode", 3)
    assert torch.equal(morphology(pixels, "gradient", 3), spread)


def test_morphology_node_from_a_comfyui_prompt(executor: Executor, registry: Registry) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 9, "height": 9}},
        "2": {"class_type": "Morphology", "inputs": {"image": ["1", 0], "operation": "gradient"}},
    }
    result = executor.run(from_comfy_api(prompt, registry), targets=["2"])
    assert result.status == "success", result.error or result.problems
    assert torch.all(result.values["2"]["image"].pixels == 0)  # a flat image has no edges
