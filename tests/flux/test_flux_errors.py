"""Flux parts where they do not belong, and other families' parts in a Flux graph: each is
refused naming the node, the input, what was found and what was expected, never a shape
error from inside a model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.events import NodeFailed
from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from formats.comfy_api import from_comfy_api
from tests.conftest import REPO
from tests.flux.conftest import Written
from tests.flux.test_flux_workflows import checkpoint_example, dev_example

TOY = REPO / "models" / "checkpoints" / "diffgraph-toy.safetensors"


def failure(root: Path, graph: dict[str, Any]) -> NodeFailed:
    registry = Registry.discover(plugins=False)
    result = Executor(registry, Settings.at(root, threads=1)).run(from_comfy_api(graph, registry))
    assert result.status == "failed", result.problems
    assert result.error is not None
    assert "Traceback" not in result.error.message
    return result.error


@pytest.fixture
def home(written: Written, tmp_path: Path) -> Path:
    """The split Flux files, plus the toy SD checkpoint and the Flux transformer placed as
    if it were a checkpoint."""
    root = tmp_path / "home"
    shutil.copytree(written.dev.transformer.parents[2] / "models", root / "models")
    checkpoints = root / "models" / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    shutil.copy(written.dev.transformer, checkpoints / "transformer-only.safetensors")
    if TOY.is_file():
        shutil.copy(TOY, checkpoints / TOY.name)
    return root


def test_a_flux_transformer_given_to_load_checkpoint_says_where_it_belongs(home: Path) -> None:
    error = failure(home, checkpoint_example("transformer-only.safetensors"))
    assert (error.node, error.input) == ("30", "ckpt_name")
    assert "Flux.1 dev transformer" in error.message and "not a checkpoint" in error.message
    assert "Load Diffusion Model" in error.message or "diffusion model" in error.message


def test_a_t5_file_where_clip_l_is_expected_is_named(home: Path) -> None:
    graph = dev_example()
    graph["11"] = {
        "class_type": "CLIPLoader",
        "inputs": {"clip_name": "t5xxl_tiny.safetensors", "type": "stable_diffusion"},
    }
    error = failure(home, graph)
    assert (error.node, error.input) == ("11", "clip_name")
    assert "T5 text encoder" in error.message and "CLIP-L" in error.message


def test_two_t5_files_for_flux_are_refused(home: Path) -> None:
    error = failure(home, dev_example(**{"11__clip_name2": "t5xxl_tiny.safetensors"}))
    assert error.node == "11" and error.input is not None
    assert "T5 text encoder" in error.message and "CLIP-L" in error.message


@pytest.mark.skipif(not TOY.is_file(), reason="the toy model is missing")
def test_an_sd_vae_on_a_flux_latent_is_refused_at_vae_decode(home: Path) -> None:
    graph = dev_example()
    graph["40"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TOY.name}}
    graph["8"]["inputs"]["vae"] = ["40", 2]
    error = failure(home, graph)
    assert (error.node, error.input) == ("8", "vae")
    assert "4-channel" in error.message and "16 channels" in error.message


@pytest.mark.skipif(not TOY.is_file(), reason="the toy model is missing")
def test_an_sd_vae_in_flux_img2img_is_refused_before_sampling(home: Path) -> None:
    graph = dev_example()
    graph["40"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TOY.name}}
    graph["1"] = {
        "class_type": "EmptyImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0},
    }
    graph["2"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["40", 2]}}
    graph["13"]["inputs"]["latent_image"] = ["2", 0]
    error = failure(home, graph)
    assert (error.node, error.input) == ("13", "latent_image")
    assert "4 channels" in error.message and "16-channel" in error.message


@pytest.mark.skipif(not TOY.is_file(), reason="the toy model is missing")
def test_an_sd_prompt_in_a_flux_graph_is_refused_before_sampling(home: Path) -> None:
    graph = dev_example()
    graph["40"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TOY.name}}
    graph["6"]["inputs"]["clip"] = ["40", 1]
    error = failure(home, graph)
    assert (error.node, error.input) == ("13", "guider")
    assert "encoded" in error.message and "CLIP-L + T5" in error.message
