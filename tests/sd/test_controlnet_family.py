"""A ControlNet made for another family than the model is named before sampling, with
both families, instead of a shape error from deep inside the network."""

from __future__ import annotations

from pathlib import Path

from engine.executor import Executor
from engine.settings import Settings
from nodes.ops.families.sd.saving import save_controlnet
from nodes.ops.families.sd.standalone import load_controlnet
from tests.sd import graphs, tiny
from tests.sd.test_sd_conditioning import with_control


def xl_controlnet(settings: Settings) -> Path:
    """A tiny SDXL ControlNet in the shared model folder (written once)."""
    path = settings.models_dir / "controlnet" / "tiny_cn_xl.safetensors"
    if not path.exists():
        save_controlnet(path, tiny.controlnet("sdxl"))
    return path


def test_load_controlnet_reads_the_family_from_the_weights(
    sd_settings: Settings, sd_executor: Executor
) -> None:
    path = xl_controlnet(sd_settings)
    control = load_controlnet(path, sd_executor.models, sd_executor.devices)
    assert control.config["family"] == "sdxl"


def test_an_sd1_controlnet_on_an_sdxl_model_names_both_families(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    workflow = with_control(graphs.txt2img("tiny_sdxl.safetensors"), 1.0, sd_settings)
    result = sd_executor.run(workflow)
    assert result.error is not None
    assert (result.error.node, result.error.input) == ("sample", "positive")
    message = result.error.message
    assert "ControlNet made for Stable Diffusion 1.x" in message
    assert "the model is Stable Diffusion XL" in message
    assert "mat1" not in message


def test_an_sdxl_controlnet_on_an_sd1_model_names_both_families(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    xl_controlnet(sd_settings)
    workflow = with_control(graphs.txt2img(), 1.0, sd_settings)
    workflow = graphs.with_node(
        workflow, "cn", "sd.load_controlnet", control_net_name="tiny_cn_xl.safetensors"
    )
    result = sd_executor.run(workflow)
    assert result.error is not None
    assert (result.error.node, result.error.input) == ("sample", "positive")
    assert "made for Stable Diffusion XL" in result.error.message
    assert "the model is Stable Diffusion 1.x" in result.error.message
