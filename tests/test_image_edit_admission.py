"""Admission for the image-edit and mask nodes that change sizes: a job whose scaled, padded
or converted images cannot fit the budget is refused before it runs, naming the input that
chose the size."""

from __future__ import annotations

from typing import Any

from PIL import Image as PILImage

from engine.admission import Budget, admit
from engine.footprint import CostInputs, tensor
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Workflow
from tests.conftest import graph, link

GIB = 1024**3
BUDGET = Budget(ram=2 * GIB)


def refusal(workflow: Workflow, registry: Registry, settings: Settings) -> Any:
    problems = admit(workflow, registry, settings, BUDGET)
    assert len(problems) == 1, problems
    assert problems[0].code == "too_much_memory"
    return problems[0]


def test_scaling_by_a_large_factor_is_refused_at_scale_by(
    registry: Registry, settings: Settings
) -> None:
    workflow = graph(
        empty=("image.empty", {"width": 4096, "height": 4096}),
        scale=("image.scale_by", {"image": link("empty", "image"), "scale_by": 4.0}),
        save=("image.save", {"images": link("scale", "image")}),
    )
    refused = refusal(workflow, registry, settings)
    assert (refused.node, refused.input) == ("scale", "scale_by")
    assert "of 16384x16384 pixels" in refused.message


def test_a_small_scale_is_admitted(registry: Registry, settings: Settings) -> None:
    workflow = graph(
        empty=("image.empty", {"width": 512, "height": 512}),
        scale=("image.scale_by", {"image": link("empty", "image"), "scale_by": 2.0}),
        save=("image.save", {"images": link("scale", "image")}),
    )
    assert admit(workflow, registry, settings, BUDGET) == []


def test_wide_outpaint_padding_is_refused_at_the_padded_side(
    registry: Registry, settings: Settings
) -> None:
    pad = {"image": link("empty", "image"), "left": 0, "right": 16000}
    workflow = graph(
        empty=("image.empty", {"width": 256, "height": 16384, "batch_size": 2}),
        pad=("image.pad_for_outpaint", pad),
        save=("image.save", {"images": link("pad", "image")}),
    )
    refused = refusal(workflow, registry, settings)
    assert (refused.node, refused.input) == ("pad", "right")


def test_a_huge_solid_mask_shown_as_an_image_is_refused_at_its_size(
    registry: Registry, settings: Settings
) -> None:
    workflow = graph(
        solid=("mask.solid", {"width": 16384, "height": 16384}),
        image=("mask.to_image", {"mask": link("solid", "mask")}),
        save=("image.save", {"images": link("image", "image")}),
    )
    refused = refusal(workflow, registry, settings)
    assert (refused.node, refused.input) == ("solid", "width")


def test_load_image_mask_is_estimated_from_the_file_header(
    registry: Registry, settings: Settings
) -> None:
    PILImage.new("RGBA", (30, 20)).save(settings.input_dir / "cut.png")
    spec = registry.get("image.load_mask")
    assert spec is not None and spec.cost is not None
    widgets = {"image": "cut.png", "channel": "alpha"}
    cost = spec.cost(CostInputs("m", widgets, {}, settings, accelerator=False))
    assert list(cost.outputs) == ["mask"]
    assert cost.outputs["mask"].shape == (1, 20, 30)


def test_batching_images_adds_the_batches_at_the_first_size(
    registry: Registry, settings: Settings
) -> None:
    spec = registry.get("image.batch")
    assert spec is not None and spec.cost is not None
    links = {
        "image1": tensor((2, 64, 48, 3), ("a", "width"), "2 images"),
        "image2": tensor((3, 512, 512, 3), ("b", "width"), "3 images"),
    }
    cost = spec.cost(CostInputs("batch", {}, links, settings, accelerator=False))
    assert cost.outputs["image"].shape == (5, 64, 48, 3)


def test_growing_a_huge_mask_by_a_large_diamond_is_refused(
    registry: Registry, settings: Settings
) -> None:
    def grown(expand: int) -> Workflow:
        return graph(
            solid=("mask.solid", {"width": 8192, "height": 8192}),
            grow=("mask.grow", {"mask": link("solid", "mask"), "expand": expand}),
            show=("mask.preview", {"mask": link("grow", "mask")}),
        )

    refused = refusal(grown(100), registry, settings)
    assert refused.node == "solid" and "at node grow (Grow Mask)" in refused.message
    assert admit(grown(4), registry, settings, BUDGET) == []  # grown a step at a time


def test_repeating_a_batch_thousands_of_times_is_refused_at_amount(
    registry: Registry, settings: Settings
) -> None:
    workflow = graph(
        empty=("image.empty", {"width": 1024, "height": 1024}),
        rep=("image.repeat_batch", {"image": link("empty", "image"), "amount": 4096}),
        save=("image.save", {"images": link("rep", "image")}),
    )
    refused = refusal(workflow, registry, settings)
    assert (refused.node, refused.input) == ("rep", "amount")


def test_scaling_a_batch_to_16_megapixels_is_refused_at_megapixels(
    registry: Registry, settings: Settings
) -> None:
    scale = {"image": link("empty", "image"), "megapixels": 16.0}
    workflow = graph(
        empty=("image.empty", {"width": 512, "height": 512, "batch_size": 16}),
        scale=("image.scale_to_total_pixels", scale),
        save=("image.save", {"images": link("scale", "image")}),
    )
    refused = refusal(workflow, registry, settings)
    assert (refused.node, refused.input) == ("scale", "megapixels")


def test_scaling_a_batch_to_a_huge_longest_side_is_refused_at_largest_size(
    registry: Registry, settings: Settings
) -> None:
    scale = {"image": link("empty", "image"), "largest_size": 16384}
    workflow = graph(
        empty=("image.empty", {"width": 64, "height": 64, "batch_size": 4}),
        scale=("image.scale_to_max_dimension", scale),
        save=("image.save", {"images": link("scale", "image")}),
    )
    refused = refusal(workflow, registry, settings)
    assert (refused.node, refused.input) == ("scale", "largest_size")


def test_padding_into_a_huge_frame_is_refused_at_its_size(
    registry: Registry, settings: Settings
) -> None:
    size = {"image": link("empty", "image"), "target_width": 16384, "target_height": 8192}
    workflow = graph(
        empty=("image.empty", {"width": 64, "height": 64, "batch_size": 2}),
        pad=("image.resize_and_pad", size),
        save=("image.save", {"images": link("pad", "image")}),
    )
    refused = refusal(workflow, registry, settings)
    assert (refused.node, refused.input) == ("pad", "target_width")
