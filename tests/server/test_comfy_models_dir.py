"""`diffgraph serve --models-dir ComfyUI/models`: an existing ComfyUI models folder, used as
it is, with ComfyUI's folder names (the older unet/, clip/ and t2i_adapter/ included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.harness import Server, call, make_home

# ComfyUI 0.3.64's models/ folders (folder_paths.py), with one file placed in each we read.
COMFY_FOLDERS = {
    "checkpoints": "sd15.safetensors",
    "loras": "style.safetensors",
    "vae": "vae-ft-mse.safetensors",
    "upscale_models": "4x.pth",
    "embeddings": "easynegative.safetensors",
    "controlnet": "canny.safetensors",
    "t2i_adapter": "sketch.safetensors",
    "clip": "clip_l.safetensors",
    "text_encoders": "t5xxl_fp16.safetensors",
    "unet": "flux1-schnell.safetensors",
    "diffusion_models": "flux1-dev.safetensors",
    "clip_vision": "vit-h.safetensors",
    "configs": "v1-inference.yaml",
    "hypernetworks": "hn.pt",
}


@pytest.fixture(scope="module")
def comfy_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("ComfyUI") / "models"
    for folder, name in COMFY_FOLDERS.items():
        (models / folder).mkdir(parents=True)
        (models / folder / name).write_bytes(b"weights")
        (models / folder / "put_here").write_bytes(b"")  # ComfyUI's placeholder files
    return models


@pytest.fixture(scope="module")
def pointed(tmp_path_factory: pytest.TempPathFactory, comfy_models: Path) -> Iterator[Server]:
    home = make_home(tmp_path_factory.mktemp("home"), with_models=False)
    running = Server(home, "--models-dir", str(comfy_models)).start()
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("checkpoints", ["sd15.safetensors"]),
        ("loras", ["style.safetensors"]),
        ("vae", ["vae-ft-mse.safetensors"]),
        ("upscale_models", ["4x.pth"]),
        ("embeddings", ["easynegative.safetensors"]),
        ("controlnet", ["canny.safetensors", "sketch.safetensors"]),
        ("text_encoders", ["clip_l.safetensors", "t5xxl_fp16.safetensors"]),
        ("diffusion_models", ["flux1-dev.safetensors", "flux1-schnell.safetensors"]),
    ],
)
def test_each_kind_lists_the_files_of_comfyuis_folders(
    pointed: Server, kind: str, expected: list[str]
) -> None:
    assert call("GET", f"{pointed.url}/models/{kind}").json() == expected


def test_the_loader_nodes_offer_the_files_found_there(pointed: Server) -> None:
    info = call("GET", f"{pointed.url}/object_info/CheckpointLoaderSimple").json()
    choices = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    assert choices == ["sd15.safetensors"]
