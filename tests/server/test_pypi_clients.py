"""ComfyUI API clients as published on PyPI, unchanged, against a real `diffgraph serve` on
the embedded toy model: each queues a prompt through its own normal call and gets the saved
PNG back. Both read every binary WebSocket frame as a result (or refuse one), so this also
holds the server to ComfyUI's default of sending no sampler previews to API clients."""

from __future__ import annotations

import asyncio
import copy
import io
from pathlib import Path
from typing import Any

import pytest
from comfy_api_simplified import ComfyApiWrapper, ComfyWorkflowWrapper
from comfyui_utils import comfy as comfyui_utils
from PIL import Image

from tests.server.conftest import needs_toy_model
from tests.server.harness import Server

pytestmark = [pytest.mark.slow, needs_toy_model]  # starts a server, runs the toy model

CHECKPOINT = "diffgraph-toy.safetensors"
TXT2IMG: dict[str, Any] = {
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": CHECKPOINT},
        "_meta": {"title": "Load Checkpoint"},
    },
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "a large yellow circle", "clip": ["4", 1]},
        "_meta": {"title": "Positive"},
    },
    "7": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "", "clip": ["4", 1]},
        "_meta": {"title": "Negative"},
    },
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 1},
        "_meta": {"title": "Empty Latent Image"},
    },
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 5,
            "steps": 4,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "_meta": {"title": "KSampler"},
    },
    "8": {
        "class_type": "VAEDecode",
        "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
        "_meta": {"title": "VAE Decode"},
    },
    "9": {
        "class_type": "SaveImage",
        "inputs": {"filename_prefix": "pypi_client", "images": ["8", 0]},
        "_meta": {"title": "Save Image"},
    },
}


def img2img(image_name: str) -> dict[str, Any]:
    """TXT2IMG starting from an uploaded picture: Load Image -> VAE Encode -> KSampler."""
    prompt = copy.deepcopy(TXT2IMG)
    del prompt["5"]
    prompt["10"] = {
        "class_type": "LoadImage",
        "inputs": {"image": image_name},
        "_meta": {"title": "Load Image"},
    }
    prompt["11"] = {
        "class_type": "VAEEncode",
        "inputs": {"pixels": ["10", 0], "vae": ["4", 2]},
        "_meta": {"title": "VAE Encode"},
    }
    prompt["3"]["inputs"].update(latent_image=["11", 0], denoise=0.6)
    return prompt


def is_png(data: bytes, size: tuple[int, int]) -> bool:
    picture = Image.open(io.BytesIO(data))
    return picture.format == "PNG" and picture.size == size


def test_comfy_api_simplified_gets_the_saved_png(server: Server) -> None:
    api = ComfyApiWrapper(server.url)
    images = api.queue_and_wait_images(ComfyWorkflowWrapper(TXT2IMG), "Save Image")
    assert len(images) == 1
    ((name, data),) = images.items()
    assert name.startswith("pypi_client") and is_png(data, (64, 64))


def test_comfy_api_simplified_uploads_a_picture_and_runs_img2img(
    server: Server, tmp_path: Path
) -> None:
    picture = tmp_path / "start.png"
    Image.new("RGB", (64, 48), (20, 60, 200)).save(picture)
    api = ComfyApiWrapper(server.url)
    uploaded = api.upload_image(picture)
    workflow = ComfyWorkflowWrapper(img2img("placeholder.png"))
    workflow.set_node_param("Load Image", "image", f"{uploaded['subfolder']}/{uploaded['name']}")
    images = api.queue_and_wait_images(workflow, "Save Image")
    assert len(images) == 1
    assert is_png(next(iter(images.values())), (64, 48))


class Recorder(comfyui_utils.Callbacks):
    """comfyui-utils' callbacks: it reports positions, progress and the node's output."""

    def __init__(self) -> None:
        self.outputs: dict[str, Any] = {}

    async def queue_position(self, position: str) -> None:
        pass

    async def in_progress(self, node_id: int, progress: int, total: int) -> None:
        pass

    async def completed(self, outputs: dict[str, Any], cached: bool) -> None:
        self.outputs = outputs


def test_comfyui_utils_gets_the_saved_png(server: Server) -> None:
    address = server.url.removeprefix("http://")
    client, recorder = comfyui_utils.ComfyAPI(address), Recorder()
    prompt = copy.deepcopy(TXT2IMG)
    prompt["3"]["inputs"]["seed"] = 6  # not in the history yet: it runs, not cached
    fetched: list[bytes] = []

    async def keep(data: io.BytesIO) -> None:
        fetched.append(data.getvalue())

    async def run() -> None:
        await client.submit(prompt, recorder)
        await client.fetch(recorder.outputs["images"][0], keep)

    asyncio.run(run())
    assert recorder.outputs["images"][0]["filename"].startswith("pypi_client")
    assert is_png(fetched[0], (64, 64))
