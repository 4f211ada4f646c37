"""A PNG written by A1111/Forge/Civitai (a `parameters` chunk, no workflow) read as a
workflow, and run by `diffgraph run image.png` on the embedded toy model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image as PILImage

from engine.registry import Registry
from formats.load import load_document
from formats.png import COMFY_PROMPT_CHUNK, png_info
from tests.conftest import REPO
from tests.server.harness import make_home

TOY = REPO / "models" / "checkpoints" / "diffgraph-toy.safetensors"
needs_toy = pytest.mark.skipif(not TOY.is_file(), reason="the toy model is not in this checkout")

TOY_PARAMETERS = """a large red circle on the left, blue background
Negative prompt: a small green square
Steps: 4, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 11, Size: 64x64, \
Model hash: 0123456789, Model: diffgraph-toy, Clip skip: 2, Denoising strength: 0.5, \
Hires upscale: 1.5, Hires steps: 2, Hires upscaler: Latent, Version: v1.10.1"""


def a1111_png(path: Path, parameters: str, **other_chunks: str) -> Path:
    """A PNG as A1111 saves it: the picture, and its settings in a `parameters` chunk."""
    info = png_info({"parameters": parameters, **other_chunks})
    PILImage.new("RGB", (64, 64), (0, 0, 255)).save(path, format="PNG", pnginfo=info)
    return path


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_a_png_with_only_parameters_loads_as_their_workflow(tmp_path: Path) -> None:
    png = a1111_png(tmp_path / "a1111.png", TOY_PARAMETERS)
    workflow = load_document(png, Registry.discover(plugins=False))
    assert [n.type for n in workflow.nodes.values()].count("sd.sample") == 2
    assert workflow.meta["title"] == "Imported A1111 parameters"


def test_a_workflow_chunk_wins_over_parameters(tmp_path: Path) -> None:
    """ComfyUI extensions write both; the graph that ran is exact, the settings are not."""
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}
    png = a1111_png(
        tmp_path / "both.png", TOY_PARAMETERS, **{COMFY_PROMPT_CHUNK: json.dumps(prompt)}
    )
    workflow = load_document(png, Registry.discover(plugins=False))
    assert [n.type for n in workflow.nodes.values()] == ["image.empty"]


@needs_toy
@pytest.mark.slow
def test_diffgraph_run_renders_an_a1111_png_with_its_hires_pass(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    png = a1111_png(tmp_path / "from_a1111.png", TOY_PARAMETERS)
    done = cli(home, "run", str(png), "--quiet")
    assert done.returncode == 0, done.stderr
    [written] = done.stdout.split()
    with PILImage.open(written) as image:
        assert image.size == (96, 96)  # 64x64, hires upscale 1.5
        assert "diffgraph" in image.text  # the rebuilt workflow travels on, as ours
    assert "note:" not in done.stderr  # every setting of this image is reproduced


@needs_toy
@pytest.mark.slow
def test_a_checkpoint_we_lack_fails_validation_naming_ckpt_name(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    text = TOY_PARAMETERS.replace("Model: diffgraph-toy", "Model: dreamshaper_8")
    png = a1111_png(tmp_path / "other_model.png", text)
    done = cli(home, "run", str(png), "--json")
    assert done.returncode == 1
    [problem] = json.loads(done.stdout)["problems"]
    assert problem["input"] == "ckpt_name" and "dreamshaper_8.safetensors" in problem["message"]
    assert "note: Model: dreamshaper_8: not among your checkpoints" in done.stderr
