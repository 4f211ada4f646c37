"""A ComfyUI API-format txt2img prompt runs unchanged through `diffgraph run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image as PILImage

from tests.conftest import REPO

# ComfyUI's default txt2img graph as its "Save (API Format)" writes it.
COMFY_TXT2IMG = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 156680208700286,
            "steps": 4,
            "cfg": 8.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny_sd1.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {
            "text": "beautiful scenery nature glass bottle landscape, purple galaxy bottle",
            "clip": ["4", 1],
        },
    },
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}


def test_comfy_api_prompt_runs_from_the_cli(model_home: Path, tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.json"
    prompt.write_text(json.dumps(COMFY_TXT2IMG))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.cli",
            "--home",
            str(model_home),
            "run",
            str(prompt),
            "--output-dir",
            str(tmp_path / "out"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [path] = done.stdout.split()
    image = PILImage.open(path)
    assert image.size == (64, 64) and Path(path).name == "ComfyUI_00001_.png"
    assert json.loads(image.text["prompt"]) == COMFY_TXT2IMG  # ComfyUI reads this chunk
    assert "diffgraph" in image.text
    editor = json.loads(image.text["workflow"])  # ComfyUI's editor restores this one
    assert {n["type"] for n in editor["nodes"]} == {e["class_type"] for e in COMFY_TXT2IMG.values()}
