"""Load Upscale Model and Upscale Image (using Model) through the executor, as ComfyUI
graphs use them: files from models/upscale_models, progress per tile, named errors, and
the memory estimate admission reads before a job is queued."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from engine.admission import Budget, admit, walk
from engine.events import Event, Progress
from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.types import Image
from formats.load import to_workflow
from nodes.footprints.upscale import tile_side, tile_working
from nodes.ops.upscale.compact import SRVGGNetCompact
from tests.conftest import Recorder, graph, link
from tests.upscale.files import (
    old_esrgan_names,
    save_pth,
    save_safetensors,
    tiny_compact,
    tiny_rrdb,
    tiny_swinir,
    weights,
)

GIB = 1024**3


def upscale_models(settings: Settings) -> Path:
    folder = settings.model_folder("upscale_models")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def comfy_graph(model_name: str, width: int, height: int) -> dict[str, Any]:
    """ComfyUI's API format, as its editor exports an upscale graph."""
    return {
        "1": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": model_name}},
        "2": {
            "class_type": "EmptyImage",
            "inputs": {"width": width, "height": height, "batch_size": 1, "color": 0x336699},
        },
        "3": {
            "class_type": "ImageUpscaleWithModel",
            "inputs": {"upscale_model": ["1", 0], "image": ["2", 0]},
        },
    }


def test_comfy_upscale_graph_runs_unchanged(registry: Registry, settings: Settings) -> None:
    settings = replace(settings, dtype="float32")  # compared with the network in float32
    network = tiny_rrdb(4)
    save_pth(upscale_models(settings) / "RealESRGAN_x4plus.pth", weights(network))
    workflow = to_workflow(comfy_graph("RealESRGAN_x4plus.pth", 24, 16), registry)
    result = Executor(registry, settings).run(workflow, targets=["3"])
    assert result.status == "success", result.error or result.problems
    upscaled = result.values["3"]["image"]
    assert isinstance(upscaled, Image) and upscaled.pixels.shape == (1, 64, 96, 3)
    colour = torch.tensor([0x33, 0x66, 0x99]) / 255
    with torch.no_grad():
        expected = network(colour.view(1, 3, 1, 1).expand(1, 3, 16, 24)).clamp(0, 1)
    assert torch.allclose(upscaled.pixels, expected.permute(0, 2, 3, 1), atol=1e-6)


def test_the_model_list_is_the_upscale_models_folder(
    registry: Registry, settings: Settings
) -> None:
    folder = upscale_models(settings)
    save_safetensors(folder / "4x-compact.safetensors", weights(tiny_compact()))
    (folder / "old").mkdir()
    save_pth(folder / "old" / "4x_esrgan.pth", old_esrgan_names(weights(tiny_rrdb())), None)
    spec = registry.get("upscale.load_model")
    assert spec is not None
    choices = spec.schema(settings)["inputs"][0]["choices"]
    assert choices == ["4x-compact.safetensors", "old/4x_esrgan.pth"]


def test_progress_is_reported_per_tile(registry: Registry, settings: Settings) -> None:
    save_safetensors(upscale_models(settings) / "c.safetensors", weights(tiny_compact(2)))
    workflow = graph(
        load=("upscale.load_model", {"model_name": "c.safetensors"}),
        image=("image.empty", {"width": 600, "height": 8, "batch_size": 2}),
        up=(
            "upscale.image_with_model",
            {"upscale_model": link("load", "upscale_model"), "image": link("image", "image")},
        ),
    )
    events = Recorder()
    result = Executor(registry, settings).run(workflow, targets=["up"], listener=events)
    assert result.status == "success", result.error or result.problems
    assert result.values["up"]["image"].pixels.shape == (2, 16, 1200, 3)
    steps = [(e.step, e.total) for e in events.of(Progress) if e.node == "up"]
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]  # 2 images x 2 tiles of 512


def test_an_unknown_file_fails_at_its_input_naming_the_layouts_read(
    registry: Registry, settings: Settings
) -> None:
    save_safetensors(upscale_models(settings) / "vae.safetensors", {"decoder.w": torch.zeros(1)})
    workflow = to_workflow(comfy_graph("vae.safetensors", 8, 8), registry)
    result = Executor(registry, settings).run(workflow, targets=["3"])
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("1", "model_name")
    assert "vae.safetensors" in result.error.message and "SwinIR" in result.error.message


def test_admission_estimates_the_enlarged_image_from_the_file_scale(
    registry: Registry, settings: Settings
) -> None:
    save_safetensors(upscale_models(settings) / "x2.safetensors", weights(tiny_rrdb(2)))
    workflow = to_workflow(comfy_graph("x2.safetensors", 2048, 1024), registry)
    moments, problems = walk(workflow, registry, settings, accelerator=False, targets=["3"])
    assert problems == []
    upscale = next(m for m in moments if m.node == "3")
    assert upscale.cost.outputs["image"].shape == (1, 2048, 4096, 3)  # x2 read from the header
    assert admit(workflow, registry, settings, Budget(ram=4 * GIB), targets=["3"]) == []
    refused = admit(workflow, registry, settings, Budget(ram=GIB // 8), targets=["3"])
    assert [p.code for p in refused] == ["too_much_memory"]


def test_tiles_shrink_to_fit_half_the_memory_budget(registry: Registry, tmp_path: Path) -> None:
    # The tiny network's 512-pixel tile is estimated at 2.5 x sqrt(params) float32 values
    # per pixel: with that over half the budget, the node starts at 256-pixel tiles.
    network = tiny_compact(2)
    params = sum(p.numel() for p in network.parameters())
    per_512_tile = tile_working(512, params, 4)
    settings = Settings.at(tmp_path / "home", ram_budget=per_512_tile, dtype="float32")
    save_safetensors(upscale_models(settings) / "c.safetensors", weights(network))
    assert tile_side(params, 4, settings.ram_budget) == 256
    workflow = graph(
        load=("upscale.load_model", {"model_name": "c.safetensors"}),
        image=("image.empty", {"width": 600, "height": 8, "batch_size": 1}),
        up=(
            "upscale.image_with_model",
            {"upscale_model": link("load", "upscale_model"), "image": link("image", "image")},
        ),
    )
    events = Recorder()
    result = Executor(registry, settings).run(workflow, targets=["up"], listener=events)
    assert result.status == "success", result.error or result.problems
    assert [e.total for e in events.of(Progress) if e.node == "up"] == [3, 3, 3]


def test_a_grayscale_model_is_refused_at_its_input(registry: Registry, settings: Settings) -> None:
    network = SRVGGNetCompact(in_channels=1, features=4, convs=1, scale=2)
    save_safetensors(upscale_models(settings) / "gray.safetensors", weights(network))
    workflow = to_workflow(comfy_graph("gray.safetensors", 8, 8), registry)
    result = Executor(registry, settings).run(workflow, targets=["3"])
    assert result.error is not None and (result.error.node, result.error.input) == (
        "3",
        "upscale_model",
    )
    assert "gray.safetensors reads 1-channel images" in result.error.message


def test_the_model_says_what_its_tiles_align_to(registry: Registry, settings: Settings) -> None:
    from engine.device import DevicePolicy
    from engine.model_store import ModelStore
    from nodes.ops.upscale.loading import load_upscale_model

    folder = upscale_models(settings)
    files = {
        "swinir.pth": (weights(tiny_swinir()), 8),  # its attention window
        "x2.pth": (weights(tiny_rrdb(2)), 2),  # its pixel unshuffle
        "x4.pth": (weights(tiny_rrdb(4)), 1),
    }
    for name, (state, align) in files.items():
        model = load_upscale_model(
            save_pth(folder / name, state), ModelStore(), DevicePolicy("cpu")
        )
        assert model.config["align"] == align


def test_the_example_workflow_saves_the_enlarged_image(
    registry: Registry, settings: Settings
) -> None:
    from PIL import Image as PILImage

    from formats.load import load_document
    from tests.conftest import REPO

    PILImage.new("RGB", (12, 10), (200, 40, 90)).save(settings.input_dir / "example.png")
    save_pth(upscale_models(settings) / "RealESRGAN_x4plus.pth", weights(tiny_rrdb(4)))
    workflow = load_document(REPO / "workflows" / "upscale_esrgan.json", registry)
    result = Executor(registry, settings).run(workflow)
    assert result.status == "success", result.error or result.problems
    [saved] = result.ui["4"]["images"]
    with PILImage.open(settings.output_dir / saved["subfolder"] / saved["filename"]) as png:
        assert png.size == (48, 40)


def test_an_interrupt_during_the_upscale_stops_it_after_the_current_tile(
    registry: Registry, settings: Settings
) -> None:
    save_safetensors(upscale_models(settings) / "c.safetensors", weights(tiny_compact(2)))
    workflow = graph(
        load=("upscale.load_model", {"model_name": "c.safetensors"}),
        image=("image.empty", {"width": 1200, "height": 8, "batch_size": 2}),
        up=(
            "upscale.image_with_model",
            {"upscale_model": link("load", "upscale_model"), "image": link("image", "image")},
        ),
    )
    executor = Executor(registry, settings)
    events = Recorder()

    def stop_after_the_first_tile(event: Event) -> None:
        events(event)
        if isinstance(event, Progress) and event.node == "up":
            executor.interrupt()

    result = executor.run(workflow, targets=["up"], listener=stop_after_the_first_tile)
    assert result.status == "interrupted"
    assert [(e.step, e.total) for e in events.of(Progress) if e.node == "up"] == [(1, 6)]


def test_admission_takes_a_pth_or_an_unreadable_header_as_x4(
    registry: Registry, settings: Settings
) -> None:
    # A .pth is only unpickled when the node runs (admission imports no torch), and a file
    # of unknown layout is named by the loader at run time, not refused by the estimate.
    folder = upscale_models(settings)
    save_pth(folder / "x2.pth", weights(tiny_rrdb(2)))
    save_safetensors(folder / "odd.safetensors", {"encoder.w": torch.zeros(4, 4)})
    for name in ("x2.pth", "odd.safetensors"):
        workflow = to_workflow(comfy_graph(name, 64, 32), registry)
        moments, problems = walk(workflow, registry, settings, accelerator=False, targets=["3"])
        upscale = next(m for m in moments if m.node == "3")
        assert problems == [] and upscale.cost.outputs["image"].shape == (1, 128, 256, 3)
