"""The built-in image nodes, run through the executor on real pixels and files."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image as PILImage

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.types import Image
from engine.validate import validate
from formats.load import load_document
from formats.png import read_texts
from tests.conftest import graph, link


def pixels_of(executor: Executor, workflow, node: str) -> torch.Tensor:
    result = executor.run(workflow, targets=[node])
    assert result.status == "success", result.error or result.problems
    value = result.values[node]["image"]
    assert isinstance(value, Image)
    return value.pixels


def test_empty_invert_and_scale(executor: Executor) -> None:
    workflow = graph(
        e=("image.empty", {"width": 40, "height": 20, "batch_size": 2, "color": 0xFF8000}),
        i=("image.invert", {"image": link("e", "image")}),
        s=("image.scale", {"image": link("i", "image"), "width": 20, "height": 0}),
        c=(
            "image.scale",
            {
                "image": link("e", "image"),
                "width": 10,
                "height": 10,
                "crop": "center",
                "upscale_method": "lanczos",
            },
        ),
    )
    empty = pixels_of(executor, workflow, "e")
    assert empty.shape == (2, 20, 40, 3)
    assert torch.allclose(empty[0, 0, 0], torch.tensor([1.0, 128 / 255, 0.0]))
    inverted = pixels_of(executor, workflow, "i")
    assert torch.allclose(inverted[1, 5, 5], torch.tensor([0.0, 127 / 255, 1.0]))
    assert pixels_of(executor, workflow, "s").shape == (2, 10, 20, 3)  # aspect kept
    cropped = pixels_of(executor, workflow, "c")
    assert cropped.shape == (2, 10, 10, 3)
    assert torch.allclose(cropped, empty[:, :10, :10], atol=1 / 255)


def test_load_image_gives_mask_from_alpha(executor: Executor, settings: Settings) -> None:
    rgba = np.zeros((8, 6, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    rgba[:4, :, 3] = 0  # top half transparent
    PILImage.fromarray(rgba, "RGBA").save(settings.input_dir / "red.png")
    workflow = graph(load=("image.load", {"image": "red.png"}))
    result = executor.run(workflow, targets=["load"])
    image, mask = result.values["load"]["image"], result.values["load"]["mask"]
    assert image.pixels.shape == (1, 8, 6, 3) and float(image.pixels[0, 7, 0, 0]) == 1.0
    assert mask.values.shape == (1, 8, 6)
    assert float(mask.values[0, :4].min()) == 1.0 and float(mask.values[0, 4:].max()) == 0.0


def test_load_image_choices_come_from_the_input_folder(
    registry: Registry, settings: Settings
) -> None:
    PILImage.new("RGB", (2, 2)).save(settings.input_dir / "a.png")
    spec = registry.get("image.load")
    assert spec is not None
    assert spec.schema(settings)["inputs"][0]["choices"] == ["a.png"]
    problems = validate(
        graph(
            load=("image.load", {"image": "b.png"}),
            out=("image.save", {"images": link("load", "image")}),
        ),
        registry,
        settings,
    )
    assert [(p.code, p.node, p.input) for p in problems] == [
        ("value_not_in_choices", "load", "image")
    ]


def test_replacing_an_input_file_reloads_it(executor: Executor, settings: Settings) -> None:
    path = settings.input_dir / "x.png"
    PILImage.new("RGB", (2, 2), (255, 0, 0)).save(path)
    workflow = graph(load=("image.load", {"image": "x.png"}))
    assert float(pixels_of(executor, workflow, "load")[0, 0, 0, 0]) == 1.0
    PILImage.new("RGB", (3, 3), (0, 0, 255)).save(path)
    assert pixels_of(executor, workflow, "load").shape == (1, 3, 3, 3)


def test_save_embeds_the_workflow_so_the_png_reloads_it(
    executor: Executor, registry: Registry, settings: Settings
) -> None:
    workflow = graph(
        e=("image.empty", {"width": 8, "height": 8, "color": 0x123456}),
        save=("image.save", {"images": link("e", "image"), "filename_prefix": "sub/dir/pic"}),
    )
    result = executor.run(workflow)
    assert result.ui["save"] == {
        "images": [{"filename": "pic_00001_.png", "subfolder": "sub/dir", "type": "output"}]
    }
    path = settings.output_dir / "sub/dir/pic_00001_.png"
    texts = read_texts(path)
    assert json.loads(texts["prompt"])["save"]["class_type"] == "SaveImage"
    assert load_document(path, registry) == workflow
    assert PILImage.open(path).getpixel((0, 0)) == (0x12, 0x34, 0x56)
    # a second run with a new prefix counts on from existing files in that folder
    again = workflow.with_inputs({("save", "filename_prefix"): "sub/dir/pic"})
    executor.cache.clear()
    assert executor.run(again).ui["save"]["images"][0]["filename"] == "pic_00002_.png"


def test_save_refuses_to_leave_the_output_folder(executor: Executor) -> None:
    workflow = graph(
        e=("image.empty", {"width": 8, "height": 8}),
        save=("image.save", {"images": link("e", "image"), "filename_prefix": "../../evil"}),
    )
    result = executor.run(workflow)  # refused before anything runs, as the queue refuses it
    assert result.status == "invalid" and not result.executed
    problem = result.problems[0]
    assert (problem.code, problem.node, problem.input) == ("unsafe_path", "save", "filename_prefix")


def test_preview_writes_to_temp(executor: Executor, settings: Settings) -> None:
    workflow = graph(
        e=("image.empty", {"width": 8, "height": 8}),
        p=("image.preview", {"images": link("e", "image")}),
    )
    item = executor.run(workflow).ui["p"]["images"][0]
    assert item["type"] == "temp" and (settings.temp_dir / item["filename"]).is_file()
