"""Loading checkpoints: every family from our own single files, exact round trips, other
formats, the model store, and clear errors for bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from engine.device import DevicePolicy
from engine.executor import Executor
from engine.model_store import ModelStore, StoreEvent
from engine.settings import Settings
from nodes.ops.families.sd.detect import detect
from nodes.ops.families.sd.loading import load_checkpoint
from nodes.ops.families.sd.saving import save_checkpoint
from nodes.ops.weights.checkpoint_io import read_shapes, read_state_dict
from tests.sd import graphs, tiny
from tests.sd.conftest import FAMILIES, port_values


def render(executor: Executor, workflow: graphs.Workflow) -> torch.Tensor:
    result = executor.run(workflow, targets=["decode"])
    assert result.status == "success", result.error or result.problems
    return result.values["decode"]["image"].pixels


@pytest.mark.parametrize("family", FAMILIES)
def test_family_detected_round_trip_exact_and_renders(
    family: str, model_home: Path, sd_executor: Executor, tmp_path: Path
) -> None:
    path = model_home / "models" / "checkpoints" / f"tiny_{family}.safetensors"
    shapes, metadata = read_shapes(path)
    assert detect(shapes).family == family
    assert metadata["diffgraph.family"] == family
    exact = DevicePolicy("cpu", "float32")  # what was saved, bit for bit (as in a merge)
    model, clip, vae = load_checkpoint(path, ModelStore(), exact)
    assert model.config["family"] == family
    again = tmp_path / "again.safetensors"
    save_checkpoint(again, model, clip, vae, ModelStore())
    original, _ = read_state_dict(path)
    copy, _ = read_state_dict(again)
    assert original.keys() == copy.keys()
    assert all(torch.equal(original[k], copy[k]) for k in original)
    pixels = render(sd_executor, graphs.txt2img(f"tiny_{family}.safetensors"))
    assert pixels.shape == (1, 64, 64, 3) and torch.isfinite(pixels).all()
    assert float(pixels.std()) > 0  # an image, not a constant


def test_original_layout_keys(model_home: Path) -> None:
    shapes, _ = read_shapes(model_home / "models/checkpoints/tiny_sdxl.safetensors")
    assert "model.diffusion_model.input_blocks.0.0.weight" in shapes
    assert "model.diffusion_model.label_emb.0.0.weight" in shapes
    assert "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight" in shapes
    assert "conditioner.embedders.1.model.text_projection" in shapes
    assert "first_stage_model.decoder.conv_in.weight" in shapes


def test_second_workflow_does_not_reload(sd_executor: Executor) -> None:
    events: list[StoreEvent] = []
    sd_executor.models.add_listener(events.append)
    render(sd_executor, graphs.txt2img())
    loads = [e for e in events if e.kind == "loaded" and e.key.kind == "checkpoint"]
    assert sorted(e.key.part for e in loads) == ["clip", "unet", "vae"]
    sd_executor.cache.clear()  # a different workflow: nothing cached but the models
    events.clear()
    render(sd_executor, graphs.txt2img(prompt="a blue square", seed=9))
    assert not [e for e in events if e.kind == "loaded"]
    assert {e.key.part for e in events if e.kind == "hit"} >= {"unet", "clip", "vae"}


def test_pickled_checkpoint_loads_through_weights_only(
    model_home: Path, sd_settings: Settings, sd_executor: Executor
) -> None:
    source = model_home / "models/checkpoints/tiny_sd1.safetensors"
    state, metadata = read_state_dict(source)
    target = sd_settings.models_dir / "checkpoints" / "pickled_sd1.ckpt"
    torch.save({"state_dict": state, "global_step": 123}, target)
    try:  # a tiny model needs its configs: pickles carry them in a JSON sidecar
        assert failure(sd_executor, "pickled_sd1.ckpt")[2].find("a config is needed") > 0
        sidecar = target.with_suffix(".json")
        sidecar.write_text(json.dumps({k: v for k, v in metadata.items() if "config" in k}))
        a = render(sd_executor, graphs.txt2img("tiny_sd1.safetensors"))
        b = render(sd_executor, graphs.txt2img("pickled_sd1.ckpt"))
    finally:
        target.unlink()
        target.with_suffix(".json").unlink(missing_ok=True)
    # Same weights; memory-mapped tensors may take other CPU kernels: equal to rounding.
    assert torch.allclose(a, b, atol=1e-5)


def test_diffusers_folder_loads(sd_settings: Settings, sd_executor: Executor) -> None:
    model, clip, vae, _ = port_values("sd1")
    folder = sd_settings.models_dir / "checkpoints" / "tiny_sd1_diffusers"
    model.handle.get().save_pretrained(folder / "unet")
    vae.handle.get().save_pretrained(folder / "vae")
    clip.handle.get().encoders[0].model.save_pretrained(folder / "text_encoder")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    try:
        a = render(sd_executor, graphs.txt2img("tiny_sd1.safetensors"))
        b = render(sd_executor, graphs.txt2img("tiny_sd1_diffusers"))
    finally:
        shutil.rmtree(folder)
    assert torch.allclose(a, b, atol=1e-5)


def test_prediction_type_travels_and_can_be_forced(model_home: Path, sd_executor: Executor) -> None:
    ckpts = model_home / "models" / "checkpoints"
    store, devices = ModelStore(), sd_executor.devices
    model, _, _ = load_checkpoint(ckpts / "tiny_sd2_v.safetensors", store, devices)
    assert model.config["prediction_type"] == "v_prediction"
    model, _, _ = load_checkpoint(ckpts / "tiny_sd2_v.safetensors", store, devices, "epsilon")
    assert model.config["prediction_type"] == "epsilon"
    v = render(sd_executor, graphs.txt2img("tiny_sd2_v.safetensors"))
    eps = render(
        sd_executor,
        graphs.rewire(graphs.txt2img("tiny_sd2_v.safetensors"), "ckpt", prediction="epsilon"),
    )
    assert not torch.equal(v, eps)


class Evil:
    """Stands for arbitrary code a pickle could carry."""


def failure(executor: Executor, ckpt: str) -> tuple[str, str | None, str]:
    result = executor.run(graphs.txt2img(ckpt))
    assert result.status == "failed" and result.error is not None
    return result.error.node, result.error.input, result.error.message


def test_bad_files_give_named_errors(model_home: Path, sd_executor: Executor) -> None:
    ckpts = model_home / "models" / "checkpoints"
    good = (ckpts / "tiny_sd1.safetensors").read_bytes()
    broken = {
        "truncated.safetensors": good[: len(good) // 2],
        "random.safetensors": bytes(range(256)) * 64,
        "empty.safetensors": b"",
    }
    for name, data in broken.items():
        (ckpts / name).write_bytes(data)
    lora = {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 32)}
    from safetensors.torch import save_file

    save_file(lora, str(ckpts / "a_lora.safetensors"))
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Evil()}, ckpts / "evil.ckpt")
    try:
        for name in (*broken, "a_lora.safetensors", "evil.ckpt"):
            node, input_name, message = failure(sd_executor, name)
            assert (node, input_name) == ("ckpt", "ckpt_name")
            assert name in message
            if name == "a_lora.safetensors":
                assert "LoRA" in message
            if name == "evil.ckpt":
                assert "refuse" in message.lower() and "safetensors" in message
    finally:
        for name in (*broken, "a_lora.safetensors", "evil.ckpt"):
            (ckpts / name).unlink()


def test_missing_file_and_bad_values_are_validation_errors(sd_executor: Executor) -> None:
    workflow = graphs.rewire(graphs.txt2img("nope.safetensors"), "empty", width=65)
    result = sd_executor.run(workflow)
    assert result.status == "invalid"
    found = {(p.node, p.input, p.code) for p in result.problems}
    assert ("ckpt", "ckpt_name", "value_not_in_choices") in found
    assert ("empty", "width", "value_out_of_range") in found


def test_extra_model_paths_yaml_finds_another_collection(
    model_home: Path, sd_registry: object, tmp_path: Path
) -> None:
    collection = tmp_path / "ComfyUI" / "models"
    (collection / "checkpoints").mkdir(parents=True)
    shutil.copy(
        model_home / "models/checkpoints/tiny_sd1.safetensors",
        collection / "checkpoints" / "elsewhere.safetensors",
    )
    home = tmp_path / "home"
    home.mkdir()
    (home / "extra_model_paths.yaml").write_text(
        f"comfyui:\n  base_path: {collection}\n  checkpoints: checkpoints\n"
    )
    executor = Executor(sd_registry, Settings.at(home))  # type: ignore[arg-type]
    assert render(executor, graphs.txt2img("elsewhere.safetensors")).shape == (1, 64, 64, 3)


def test_standalone_vae_file(sd_settings: Settings, sd_executor: Executor) -> None:
    from nodes.ops.families.sd.layout import vae_to_ldm
    from nodes.ops.weights.checkpoint_write import write_safetensors

    vae = tiny.vae()
    path = sd_settings.models_dir / "vae" / "tiny_vae.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    config = json.dumps(dict(vae.config))
    write_safetensors(
        path,
        vae_to_ldm(vae.state_dict(), prefix=""),
        {"diffgraph.vae_config": config},
        overwrite=True,
    )
    workflow = graphs.with_node(
        graphs.txt2img(), "vae", "sd.load_vae", vae_name="tiny_vae.safetensors"
    )
    workflow = graphs.rewire(workflow, "decode", vae=graphs.link("vae", "vae"))
    # the checkpoint's VAE is the same tiny VAE (same seed): same pixels
    assert torch.allclose(
        render(sd_executor, workflow), render(sd_executor, graphs.txt2img()), atol=1e-6
    )
