"""Every one of ComfyUI's official workflow templates (the PyPI package
comfyui-workflow-templates-json, 644 editor-format workflows in 0.1.123, a third of them
built from subgraphs) imports; those that use only nodes we have validate, up to the model
files they name; those of our families run on tiny models saved under those names.
`python -m tests.comfy_templates` prints the counts (see tests/comfy_templates.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Workflow
from nodes.ops.weights.checkpoint_write import write_safetensors
from tests.comfy_templates import RUNNABLE, counts, judge, read, template_names
from tests.flux import files as flux_files
from tests.sd.conftest import write_checkpoint

LATENT_TYPES = ("sd.empty_latent", "sd.empty_latent_sd3")
SIDE = 128

# Templates that use only nodes we have but ask for what those nodes lack (strict: a fix
# turns them into failures here, to be moved out of this list).
GAPS = {
    "sd3.5_large_blur.json": "Apply ControlNet's optional vae input (SD3 ControlNets)",
    "sd3.5_large_canny_controlnet_example.json": "Apply ControlNet's optional vae input",
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(plugins=False)


@pytest.fixture(scope="module")
def empty_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """No models at all: every model a template names is a missing file."""
    return Settings.at(tmp_path_factory.mktemp("no_models"))


def cases() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=GAPS[name], strict=True))
        if name in GAPS
        else name
        for name in template_names()
    ]


@pytest.mark.parametrize("name", cases())
def test_the_template_imports_and_validates_up_to_missing_files(
    name: str, registry: Registry, empty_home: Settings
) -> None:
    verdict = judge(name, registry, empty_home)
    for problem in verdict.unknown:  # named by the node's id and the type we lack
        assert problem.node in verdict.workflow.nodes
        assert repr(verdict.workflow.nodes[problem.node].type) in problem.message
    if not verdict.unknown:
        assert verdict.failures == [], [str(p) for p in verdict.failures]


def test_subgraph_templates_are_among_those_that_validate(
    registry: Registry, empty_home: Settings
) -> None:
    with_subgraphs = [n for n in RUNNABLE if read(n).get("definitions", {}).get("subgraphs")]
    assert len(with_subgraphs) >= 2
    for name in with_subgraphs:
        verdict = judge(name, registry, empty_home)
        assert verdict.validated and any(":" in node for node in verdict.workflow.nodes)


def test_the_catalogue_counts(registry: Registry, empty_home: Settings) -> None:
    found = counts(registry, empty_home)
    print(" / ".join(f"{k} {v}" for k, v in found.items()))
    assert found["imported"] == found["templates"] >= 600
    assert found["validated"] >= len(RUNNABLE)


@pytest.fixture(scope="module")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny SDXL and Flux models under the file names the runnable templates ask for."""
    root = tmp_path_factory.mktemp("template_models")
    models = root / "models"
    write_checkpoint(models / "checkpoints" / "sd_xl_base_1.0.safetensors", "sdxl")
    write_checkpoint(models / "checkpoints" / "sd_xl_refiner_1.0.safetensors", "sdxl_refiner")
    schnell = flux_files.write_split_files(root / "schnell", guidance=False)
    dev = flux_files.write_split_files(root / "dev", guidance=True)
    for source, target in [
        (schnell.transformer, "diffusion_models/flux1-schnell.safetensors"),
        (dev.transformer, "diffusion_models/flux1-dev.safetensors"),
        (dev.transformer, "diffusion_models/flux1-krea-dev_fp8_scaled.safetensors"),
        (schnell.clip_l, "text_encoders/clip_l.safetensors"),
        (schnell.t5, "text_encoders/t5xxl_fp16.safetensors"),
        (schnell.ae, "vae/ae.safetensors"),
    ]:
        (models / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, models / target)
    state = flux_files.checkpoint_state(guidance=False)
    fp8 = {
        k: v.to(torch.float8_e4m3fn) if k.startswith("model.") and v.is_floating_point() else v
        for k, v in state.items()
    }
    parts = ("transformer", "text_encoder", "text_encoder_2", "vae")
    checkpoint = models / "checkpoints" / "flux1-schnell-fp8.safetensors"
    write_safetensors(checkpoint, fp8, flux_files.metadata(False, *parts))
    (root / "input").mkdir()
    return root


def small(workflow: Workflow) -> Workflow:
    """The template with its empty latents at 128 px (1024 as shipped): at full size the
    SDXL ones take over 3 minutes each on these CPUs; all else stays as shipped."""
    sizes = {
        (node_id, side): SIDE
        for node_id, node in workflow.nodes.items()
        if node.type in LATENT_TYPES
        for side in ("width", "height")
        if isinstance(node.inputs.get(side), int)
    }
    assert sizes, "a template of our families starts from an empty latent"
    return workflow.with_inputs(sizes)


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNNABLE)
def test_the_template_of_our_families_runs_on_tiny_models(
    name: str, registry: Registry, model_home: Path, tmp_path: Path
) -> None:
    settings = Settings.at(model_home, output_dir=tmp_path / "output", temp_dir=tmp_path / "t")
    verdict = judge(name, registry, settings)
    assert verdict.validated and not verdict.missing_files, [str(p) for p in verdict.failures]
    result = Executor(registry, settings).run(small(verdict.workflow))
    assert result.status == "success", result.error or result.problems
    images = [i for ui in result.ui.values() for i in ui.get("images", [])]
    assert images and all(i["filename"].endswith(".png") for i in images)
