"""Family detection from names and shapes, the shipped configs, and what is not a checkpoint."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from diffusers.loaders.single_file_utils import infer_diffusers_model_type
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from nodes.ops.families.sd import layout as L
from nodes.ops.families.sd.detect import (
    TEXT_ENCODERS,
    UnknownModelError,
    detect,
    detect_controlnet,
    detect_folder,
    detect_state_dict,
)
from nodes.ops.families.sd.saving import to_single_file
from nodes.ops.families.sd.shipped_configs import load_config
from tests.sd.test_layout import (
    assert_exact,
    shapes,
    tiny_clip_l,
    tiny_controlnet,
    tiny_open_clip,
    tiny_unet,
    tiny_vae,
)

Tensors = dict[str, torch.Tensor]


def tiny_file(kind: str, *, vae: bool = True, text: bool = True) -> Tensors:
    """A tiny single file of a family (kind as in tiny_unet_config)."""
    family: Any = kind.removesuffix("_inpaint")
    unet = tiny_unet(kind)
    encoders: dict[str, Tensors] = {}
    if text:
        for slot in TEXT_ENCODERS[family]:
            model = tiny_clip_l() if slot.style == "clip" else tiny_open_clip()
            encoders[slot.component] = model.state_dict()
    vae_sd = tiny_vae().state_dict() if vae else None
    return to_single_file(family, unet.state_dict(), unet.config, vae_sd, encoders)


CASES = [
    ("sd1", "sd1", False),
    ("sd1_inpaint", "sd1", True),
    ("sd2", "sd2", False),
    ("sdxl", "sdxl", False),
    ("sdxl_inpaint", "sdxl", True),
    ("sdxl_refiner", "sdxl_refiner", False),
]


@pytest.mark.parametrize(("kind", "family", "inpaint"), CASES)
def test_detect_tiny_checkpoints(kind: str, family: str, inpaint: bool) -> None:
    sd = tiny_file(kind)
    det = detect_state_dict(sd)
    assert (det.family, det.inpaint) == (family, inpaint)
    assert det.unet_in_channels == (9 if inpaint else 4) and det.unet_out_channels == 4
    assert det.has_vae and det.has_text_encoders and det.extra_keys == 0
    assert det.text_encoders == TEXT_ENCODERS[det.family]
    assert (det.adm_in_channels is not None) == family.startswith("sdxl")
    # The components partition the file.
    parts = [det.keys_of(c, sd) for c in det.components]
    assert sorted(k for part in parts for k in part) == sorted(sd)
    assert all(k.startswith(L.UNET_PREFIX) for k in det.keys_of("unet", sd))


@pytest.mark.parametrize(("kind", "family", "inpaint"), CASES)
def test_detect_unet_only_from_structure(kind: str, family: str, inpaint: bool) -> None:
    unet = tiny_unet(kind)
    for prefix in (L.UNET_PREFIX, ""):
        det = detect(shapes(L.unet_to_ldm(unet.state_dict(), unet.config, prefix)))
        assert (det.family, det.inpaint, det.unet_prefix) == (family, inpaint, prefix)
        assert not det.has_vae and not det.text_encoders and not det.has_text_encoders


def test_saved_file_reads_back(tmp_path: Path) -> None:
    # Save -> safetensors -> detect -> load every component: exact, as a loader would do it.
    unet, vae, h = tiny_unet("sd2"), tiny_vae(), tiny_open_clip()
    sd = to_single_file(
        "sd2", unet.state_dict(), unet.config, vae.state_dict(), {"text_encoder": h.state_dict()}
    )
    save_file(sd, tmp_path / "model.safetensors")
    back = load_file(tmp_path / "model.safetensors")
    det = detect_state_dict(back)
    assert (det.family, det.has_vae, det.has_text_encoders) == ("sd2", True, True)
    assert_exact(unet.state_dict(), L.unet_from_ldm(back, unet.config, det.unet_prefix))
    assert_exact(vae.state_dict(), L.vae_from_ldm(back, vae.config))
    assert_exact(h.state_dict(), L.open_clip_from_ldm(back, h, det.text_encoders[0].prefix))


def test_detect_extra_keys_and_conflicts() -> None:
    sd = shapes(tiny_file("sd1", vae=False))
    sd["model_ema.decay"] = ()
    sd["alphas_cumprod"] = (1000,)
    det = detect(sd)
    assert det.extra_keys == 2 and not det.has_vae and det.has_text_encoders
    # SD1's text encoder next to an SDXL UNet is not a model we know.
    mixed = shapes(tiny_file("sdxl", text=False)) | {
        k: v for k, v in sd.items() if k.startswith(L.SD1_CLIP_PREFIX)
    }
    with pytest.raises(UnknownModelError, match="label_emb"):
        detect(mixed)


def not_checkpoints() -> list[tuple[str, dict[str, tuple[int, ...]], str]]:
    unet, vae, cn = tiny_unet("sd1"), tiny_vae(), tiny_controlnet()
    return [
        (
            "kohya lora",
            {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (4, 16)},
            "LoRA",
        ),
        ("peft lora", {"unet.conv_in.lora_A.weight": (4, 4)}, "LoRA"),
        (
            "diffusers processor lora",
            {"unet.mid_block.attentions.0.processor.to_q_lora.down.weight": (4, 16)},
            "LoRA",
        ),
        ("vae file", shapes(L.vae_to_ldm(vae.state_dict(), "")), "standalone VAE"),
        ("vae only", shapes(L.vae_to_ldm(vae.state_dict())), "standalone VAE"),
        ("controlnet", shapes(L.controlnet_to_ldm(cn.state_dict(), cn.config)), "ControlNet"),
        (
            "bare controlnet",
            shapes(L.controlnet_to_ldm(cn.state_dict(), cn.config, "")),
            "ControlNet",
        ),
        ("diffusers controlnet", shapes(cn.state_dict()), "ControlNet"),
        ("diffusers unet", shapes(unet.state_dict()), "diffusers-format UNet"),
        ("text encoder", shapes(L.clip_to_ldm(tiny_clip_l().state_dict(), "")), "text encoder"),
        ("embedding", {"emb_params": (2, 768)}, "textual-inversion"),
        ("flux", {"double_blocks.0.img_attn.qkv.weight": (9, 3)}, "transformer-based"),
        ("empty", {}, "not an SD1/SD2/SDXL checkpoint"),
    ]


def test_not_a_checkpoint_is_named() -> None:
    for name, file_shapes, message in not_checkpoints():
        with pytest.raises(UnknownModelError, match=message) as info:
            detect(file_shapes)
        assert isinstance(info.value, ValueError), name
        assert "model.diffusion_model.input_blocks.0.0.weight" in str(info.value), name


def test_detect_controlnet() -> None:
    for kind, family in [("sd1", "sd1"), ("sd2", "sd2"), ("sdxl", "sdxl")]:
        cn = tiny_controlnet(kind)
        sd = cn.state_dict()
        ldm = detect_controlnet(shapes(L.controlnet_to_ldm(sd, cn.config)))
        assert (ldm.family, ldm.layout, ldm.prefix, ldm.hint_channels) == (
            family,
            "ldm",
            "control_model.",
            3,
        )
        bare = detect_controlnet(shapes(L.controlnet_to_ldm(sd, cn.config, "")))
        assert (bare.family, bare.prefix) == (family, "")
        assert detect_controlnet(shapes(sd)).layout == "diffusers"
    with pytest.raises(UnknownModelError, match="LoRA"):
        detect_controlnet({"lora_unet_x.lora_up.weight": (4, 4)})


# -- the full-size families, on the meta device ----------------------------------------------

TEXT_CLASSES = {
    "CLIPTextModel": CLIPTextModel,
    "CLIPTextModelWithProjection": CLIPTextModelWithProjection,
}


def build_meta(family: str, component: str, inpaint: bool = False) -> Any:
    config = load_config(family, component, inpaint)
    with torch.device("meta"):
        if component.startswith("text_encoder"):
            return TEXT_CLASSES[config["architectures"][0]](CLIPTextConfig(**config))
        cls = {"unet": UNet2DConditionModel, "vae": AutoencoderKL, "controlnet": ControlNetModel}
        return cls[component].from_config(config)


@cache
def full_file(family: Any, inpaint: bool) -> Tensors:
    unet = build_meta(family, "unet", inpaint)
    encoders = {
        s.component: build_meta(family, s.component).state_dict() for s in TEXT_ENCODERS[family]
    }
    vae = build_meta(family, "vae").state_dict()
    return to_single_file(family, unet.state_dict(), unet.config, vae, encoders)


FULL = [
    ("sd1", False, "v1"),
    ("sd1", True, "inpainting"),
    ("sd2", False, "v2"),
    ("sd2", True, "inpainting_v2"),
    ("sdxl", False, "xl_base"),
    ("sdxl", True, "xl_inpaint"),
    ("sdxl_refiner", False, "xl_refiner"),
]


@pytest.mark.parametrize(("family", "inpaint", "diffusers_type"), FULL)
def test_detect_full_size(family: str, inpaint: bool, diffusers_type: str) -> None:
    sd = full_file(family, inpaint)
    det = detect(shapes(sd))
    assert (det.family, det.inpaint, det.has_vae, det.has_text_encoders) == (
        family,
        inpaint,
        True,
        True,
    )
    assert det.context_dim == {"sd1": 768, "sd2": 1024, "sdxl": 2048, "sdxl_refiner": 1280}[family]
    assert det.adm_in_channels == {"sdxl": 2816, "sdxl_refiner": 2560}.get(family)
    # diffusers' own detection (full-size shapes only) agrees; it works on meta tensors.
    assert infer_diffusers_model_type(sd) == diffusers_type
    # Without text encoders we decide from the UNet alone.
    unet_only = {k: v for k, v in shapes(sd).items() if k.startswith(L.UNET_PREFIX)}
    assert detect(unet_only).family == family


def test_detect_full_size_controlnet() -> None:
    cn = build_meta("sd1", "controlnet")
    det = detect_controlnet(shapes(L.controlnet_to_ldm(cn.state_dict(), cn.config)))
    assert (det.family, det.context_dim, det.hint_channels) == ("sd1", 768, 3)


# Published parameter counts; the refiner's (≈2.3B) and ControlNet's (≈361M) are
# quoted rounded, these exact values come from the shipped configs.
COUNTS = [
    ("sd1", "unet", False, 859_520_964),
    ("sd1", "unet", True, 859_535_364),  # 5 more input channels: +5 * 320 * 9
    ("sd2", "unet", False, 865_910_724),
    ("sd2", "unet", True, 865_925_124),
    ("sdxl", "unet", False, 2_567_463_684),
    ("sdxl_refiner", "unet", False, 2_259_526_660),
    ("sd1", "text_encoder", False, 123_060_480),
    ("sdxl", "text_encoder", False, 123_060_480),
    ("sd2", "text_encoder", False, 354_032_640),  # OpenCLIP ViT-H text tower, 24 layers
    ("sdxl", "text_encoder_2", False, 694_659_840),
    ("sdxl_refiner", "text_encoder_2", False, 694_659_840),
    ("sd1", "vae", False, 83_653_863),
    ("sdxl", "vae", False, 83_653_863),
    ("sd1", "controlnet", False, 361_279_120),
]


@pytest.mark.parametrize(("family", "component", "inpaint", "count"), COUNTS)
def test_shipped_config_parameter_counts(
    family: str, component: str, inpaint: bool, count: int
) -> None:
    model = build_meta(family, component, inpaint)
    assert sum(p.numel() for p in model.parameters()) == count


def test_load_config() -> None:
    a, b = load_config("sdxl", "vae"), load_config("sdxl", "vae")
    assert a == b and a is not b and a["scaling_factor"] == 0.13025
    assert load_config("sd1", "vae")["scaling_factor"] == 0.18215
    assert load_config("sd2", "unet", inpaint=True)["in_channels"] == 9
    assert load_config("sd1", "vae", inpaint=True) == load_config("sd1", "vae")
    assert load_config("sdxl_refiner", "unet")["transformer_layers_per_block"] == 4
    assert load_config("sd2", "text_encoder")["num_hidden_layers"] == 24
    with pytest.raises(ValueError, match="ships no text_encoder"):
        load_config("sdxl_refiner", "text_encoder")
    with pytest.raises(ValueError, match="families"):
        load_config("sd3", "unet")


# -- diffusers folders -----------------------------------------------------------------------


def make_folder(root: Path, family: Any, inpaint: bool = False) -> Path:
    (root / "unet").mkdir(parents=True)
    (root / "unet" / "config.json").write_text(json.dumps(load_config(family, "unet", inpaint)))
    for component in ["vae", *(s.component for s in TEXT_ENCODERS[family])]:
        (root / component).mkdir()
        (root / component / "config.json").write_text(json.dumps(load_config(family, component)))
    (root / "model_index.json").write_text("{}")
    return root


@pytest.mark.parametrize(
    ("family", "inpaint"),
    [("sd1", False), ("sd1", True), ("sd2", False), ("sdxl", False), ("sdxl_refiner", False)],
)
def test_detect_folder(tmp_path: Path, family: str, inpaint: bool) -> None:
    det = detect_folder(make_folder(tmp_path / "model", family, inpaint))
    assert (det.family, det.inpaint, det.layout) == (family, inpaint, "diffusers")
    assert det.has_vae and det.has_text_encoders
    assert det.components[
        "text_encoder_2" if family == "sdxl_refiner" else "text_encoder"
    ].startswith("text_encoder")


def test_detect_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match=r"unet/config\.json"):
        detect_folder(tmp_path)
    folder = make_folder(tmp_path / "m", "sdxl")
    for part in ("vae", "text_encoder"):
        (folder / part / "config.json").unlink()
    det = detect_folder(folder)
    assert not det.has_vae and not det.has_text_encoders and len(det.text_encoders) == 1
