"""The image-edit and mask nodes through the executor: ComfyUI's API prompts run unchanged,
files are read from input/, bad input names the node's input, and Save Image (WebSocket)
sends ComfyUI's binary PNG frame."""

from __future__ import annotations

import io
import shutil
import struct
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

from apps.jobs.messages import JobMessages
from engine.events import Progress
from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.types import Image
from formats.comfy_api import from_comfy_api
from formats.load import to_workflow
from tests.conftest import graph, link


def run(executor: Executor, workflow: Any, *targets: str) -> dict[str, Any]:
    result = executor.run(workflow, targets=list(targets) or None)
    assert result.status == "success", result.error or result.problems
    return dict(result.values)


def test_a_comfyui_outpainting_prompt_runs_with_outputs_in_comfyui_order(
    executor: Executor, registry: Registry
) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "color": 0xFF0000}},
        "2": {
            "class_type": "ImagePadForOutpaint",
            "inputs": {"image": ["1", 0], "left": 8, "top": 0, "right": 0, "bottom": 0},
        },
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 1]}},
        "4": {"class_type": "ImageBatch", "inputs": {"image1": ["2", 0], "image2": ["3", 0]}},
    }
    values = run(executor, from_comfy_api(prompt, registry), "4")
    batch = values["4"]["image"].pixels
    assert batch.shape == (2, 8, 24, 3)
    assert batch[0, 0, 0].tolist() == [0.5, 0.5, 0.5]  # the grey border of the padded image
    assert batch[1, 0, 0].tolist() == [1.0, 1.0, 1.0]  # ...which its mask selects


def test_comfyui_mask_prompt_grows_inverts_and_combines(
    executor: Executor, registry: Registry
) -> None:
    prompt = {
        "1": {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 9, "height": 9}},
        "2": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 1, "height": 1}},
        "3": {
            "class_type": "MaskComposite",
            "inputs": {
                "destination": ["1", 0],
                "source": ["2", 0],
                "x": 4,
                "y": 4,
                "operation": "or",
            },
        },
        "4": {"class_type": "GrowMask", "inputs": {"mask": ["3", 0], "expand": 2}},
        "5": {"class_type": "InvertMask", "inputs": {"mask": ["4", 0]}},
        "6": {"class_type": "FeatherMask", "inputs": {"mask": ["5", 0], "left": 1}},
    }
    values = run(executor, from_comfy_api(prompt, registry), "4", "6")
    grown = values["4"]["mask"].values
    assert float(grown.sum()) == 13  # GrowMask's default: tapered corners
    assert float(values["6"]["mask"].values[0, 4, 4]) == 0.0


def test_load_image_mask_alpha_is_the_transparency(executor: Executor, settings: Settings) -> None:
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[..., 1] = 255
    rgba[..., 3] = 255
    rgba[:, :2, 3] = 0  # the left two columns are transparent
    PILImage.fromarray(rgba, "RGBA").save(settings.input_dir / "cut.png")
    workflow = graph(
        alpha=("image.load_mask", {"image": "cut.png", "channel": "alpha"}),
        green=("image.load_mask", {"image": "cut.png", "channel": "green"}),
    )
    values = run(executor, workflow, "alpha", "green")
    alpha = values["alpha"]["mask"].values
    assert alpha.shape == (1, 4, 6)
    assert torch.all(alpha[0, :, :2] == 1) and torch.all(alpha[0, :, 2:] == 0)
    assert torch.all(values["green"]["mask"].values == 1)


def test_load_image_mask_names_a_missing_file(executor: Executor) -> None:
    result = executor.run(graph(m=("image.load_mask", {"image": "gone.png"})), targets=["m"])
    assert result.status == "invalid"
    assert [(p.node, p.input) for p in result.problems] == [("m", "image")]


def test_image_to_mask_alpha_of_an_rgb_image_names_the_channel(executor: Executor) -> None:
    workflow = graph(
        e=("image.empty", {"width": 4, "height": 4}),
        m=("mask.from_image", {"image": link("e", "image"), "channel": "alpha"}),
    )
    result = executor.run(workflow, targets=["m"])
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("m", "channel")
    assert "no alpha channel" in result.error.message


def test_scale_by_past_the_largest_side_names_scale_by(executor: Executor) -> None:
    workflow = graph(
        e=("image.empty", {"width": 4096, "height": 8}),
        s=("image.scale_by", {"image": link("e", "image"), "scale_by": 8.0}),
    )
    result = executor.run(workflow, targets=["s"])
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("s", "scale_by")


def test_mask_composite_of_unpaired_batches_names_the_source(executor: Executor) -> None:
    workflow = graph(
        a=("mask.solid", {"width": 4, "height": 4}),
        i=("image.empty", {"width": 4, "height": 4, "batch_size": 2}),
        b=("mask.from_image", {"image": link("i", "image")}),
        d=("image.empty", {"width": 4, "height": 4, "batch_size": 3}),
        c=("mask.from_image", {"image": link("d", "image")}),
        x=("mask.composite", {"destination": link("b", "mask"), "source": link("c", "mask")}),
    )
    result = executor.run(workflow, targets=["x"])
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("x", "source")


def websocket_frames(executor: Executor, workflow: Any) -> list[bytes]:
    """Run as the server does, keeping what would go to the queuing client."""
    sent: list[dict[str, Any] | bytes] = []
    node_types = {k: n.type for k, n in workflow.nodes.items()}
    result = executor.run(workflow, listener=JobMessages("job", node_types, sent.append))
    assert result.status == "success", result.error or result.problems
    return [item for item in sent if isinstance(item, bytes)]


def save_websocket_graph() -> Any:
    return graph(
        e=("image.empty", {"width": 5, "height": 3, "batch_size": 2, "color": 0x336699}),
        s=("image.save_websocket", {"images": link("e", "image")}),
    )


def test_save_image_websocket_sends_each_image_as_a_png_frame(executor: Executor) -> None:
    frames = websocket_frames(executor, save_websocket_graph())
    assert len(frames) == 2
    for frame in frames:
        assert struct.unpack(">II", frame[:8]) == (1, 2)  # preview image, format PNG
        picture = PILImage.open(io.BytesIO(frame[8:]))
        assert picture.format == "PNG" and picture.size == (5, 3)
        assert picture.convert("RGB").getpixel((4, 2)) == (0x33, 0x66, 0x99)  # lossless


def test_save_image_websocket_sends_again_when_nothing_changed(executor: Executor) -> None:
    workflow = save_websocket_graph()
    websocket_frames(executor, workflow)
    assert len(websocket_frames(executor, workflow)) == 2  # never served from the cache


def test_comfyui_editor_widgets_values_map_to_the_inputs(registry: Registry) -> None:
    document = {
        "version": 0.4,
        "nodes": [
            # LoadImageMask's trailing "image" is the editor's upload button, not an input.
            {"id": 1, "type": "LoadImageMask", "widgets_values": ["m.png", "red", "image"]},
            {
                "id": 2,
                "type": "GrowMask",
                "inputs": [{"name": "mask", "type": "MASK", "link": 1}],
                "widgets_values": [-3, False],
            },
            {
                "id": 3,
                "type": "ImagePadForOutpaint",
                "inputs": [{"name": "image", "type": "IMAGE", "link": None}],
                "widgets_values": [64, 0, 128, 8, 24],
            },
        ],
        "links": [[1, 1, 0, 2, 0, "MASK"]],
    }
    nodes = to_workflow(document, registry).nodes
    assert nodes["1"].inputs == {"image": "m.png", "channel": "red"}
    assert nodes["2"].inputs["expand"] == -3 and nodes["2"].inputs["tapered_corners"] is False
    pad = nodes["3"].inputs
    assert [pad[k] for k in ("left", "top", "right", "bottom", "feathering")] == [64, 0, 128, 8, 24]


def test_a_ray_worker_ships_the_png_frame_whole(settings: Settings) -> None:
    from apps.cluster.worker import RenderWorker

    image = Image(torch.full((1, 2, 3, 3), 0.5))
    event = Progress("s", 1, 1, image, preview_format="PNG")
    worker = RenderWorker(settings, threads=1)
    try:
        relayed = list(worker._relay(event))
    finally:
        shutil.rmtree(worker.settings.input_dir.parent)  # the worker's scratch folder
    assert [kind for kind, _ in relayed] == ["event", "preview"]
    assert relayed[0][1].preview is None  # the tensor stays on the worker
    frame = relayed[1][1]
    assert struct.unpack(">II", frame[:8]) == (1, 2)
    assert PILImage.open(io.BytesIO(frame[8:])).size == (3, 2)


def test_padding_past_the_largest_side_names_the_widest_padding(executor: Executor) -> None:
    workflow = graph(
        e=("image.empty", {"width": 8, "height": 16000}),
        p=("image.pad_for_outpaint", {"image": link("e", "image"), "top": 8, "bottom": 512}),
    )
    result = executor.run(workflow, targets=["p"])
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("p", "bottom")


def test_threshold_crop_and_preview_masks(executor: Executor, settings: Settings) -> None:
    prompt = {
        "1": {"class_type": "SolidMask", "inputs": {"value": 0.3, "width": 6, "height": 4}},
        "2": {"class_type": "ThresholdMask", "inputs": {"mask": ["1", 0], "value": 0.2}},
        "3": {
            "class_type": "CropMask",
            "inputs": {"mask": ["2", 0], "x": 4, "y": 1, "width": 5, "height": 2},
        },
        "4": {"class_type": "MaskPreview", "inputs": {"mask": ["3", 0]}},
    }
    registry = executor.registry
    result = executor.run(from_comfy_api(prompt, registry))
    assert result.status == "success", result.error or result.problems
    shown = result.ui["4"]["images"][0]
    picture = PILImage.open(settings.temp_dir / shown["filename"])
    assert picture.size == (2, 2)  # cut at the mask's right edge
    assert picture.convert("L").getpixel((1, 1)) == 255  # 0.3 > 0.2: white


def test_crop_mask_outside_the_mask_names_x(executor: Executor) -> None:
    workflow = graph(
        m=("mask.solid", {"width": 4, "height": 4}),
        c=("mask.crop", {"mask": link("m", "mask"), "x": 4}),
    )
    result = executor.run(workflow, targets=["c"])
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("c", "x")


def test_batch_transform_nodes_from_a_comfyui_prompt(
    executor: Executor, registry: Registry
) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 6, "height": 4, "color": 0x0000FF}},
        "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 3}},
        "3": {"class_type": "ImageRotate", "inputs": {"image": ["2", 0], "rotation": "90 degrees"}},
        "4": {"class_type": "ImageFromBatch", "inputs": {"image": ["3", 0], "batch_index": -2}},
        "5": {"class_type": "GetImageSize", "inputs": {"image": ["4", 0]}},
        # The sizes feed widgets, as in ComfyUI: a blank image of the rotated size.
        "6": {
            "class_type": "EmptyImage",
            "inputs": {"width": ["5", 0], "height": ["5", 1], "batch_size": ["5", 2]},
        },
        "7": {"class_type": "ImageColorToMask", "inputs": {"image": ["4", 0], "color": 0xFF}},
        "8": {"class_type": "ImageFlip", "inputs": {"image": ["6", 0]}},
    }
    values = run(executor, from_comfy_api(prompt, registry), "5", "7", "8")
    assert (values["5"]["width"], values["5"]["height"], values["5"]["batch_size"]) == (4, 6, 1)
    assert values["8"]["image"].pixels.shape == (1, 6, 4, 3)
    assert torch.all(values["7"]["mask"].values == 1)  # every pixel is the blue 0x0000FF


def test_latent_composite_masked_keeps_the_destination_noise_mask(
    executor: Executor, registry: Registry
) -> None:
    prompt = {
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64}},
        "2": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}},
        "3": {
            "class_type": "SetLatentNoiseMask",
            "inputs": {"samples": ["1", 0], "mask": ["2", 0]},
        },
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 16, "height": 16}},
        "5": {
            "class_type": "LatentCompositeMasked",
            "inputs": {"destination": ["3", 0], "source": ["4", 0], "x": 8, "y": 8},
        },
    }
    latent = run(executor, from_comfy_api(prompt, registry), "5")["5"]["latent"]
    assert latent.samples.shape == (1, 4, 8, 8) and latent.noise_mask is not None


def test_stitch_and_resize_and_pad_from_a_comfyui_prompt(
    executor: Executor, registry: Registry
) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 4}},
        "2": {"class_type": "ImageStitch", "inputs": {"image1": ["1", 0]}},  # no image2
        "3": {
            "class_type": "ImageStitch",
            "inputs": {"image1": ["1", 0], "image2": ["2", 0], "direction": "down"},
        },
        "4": {
            "class_type": "ResizeAndPadImage",
            "inputs": {"image": ["3", 0], "target_width": 16, "target_height": 32},
        },
    }
    values = run(executor, from_comfy_api(prompt, registry), "2", "3", "4")
    assert values["2"]["image"].pixels.shape == (1, 4, 8, 3)
    assert values["3"]["image"].pixels.shape == (1, 8, 8, 3)
    padded = values["4"]["image"].pixels
    assert padded.shape == (1, 32, 16, 3) and float(padded[0, 0, 0, 0]) == 1.0  # white
