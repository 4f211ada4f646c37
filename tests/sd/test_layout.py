"""diffusers <-> original-layout conversion: our reverse maps against diffusers' own loaders.

Tiny random models shaped like each family go diffusers -> *_to_ldm -> *_from_ldm (which
wraps diffusers' single-file helpers) and must come back bit-exact; the shipped full-size
configs do the same on the meta device (names and shapes, no weights).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from nodes.ops.families.sd import layout as L
from nodes.ops.families.sd.shipped_configs import CONFIG_DIR

TIME_IDS = 8  # tiny addition_time_embed_dim
CLIP_L_WIDTH, BIG_G_WIDTH, BIG_G_PROJ = 16, 24, 12

# -- tiny models shaped like each family ------------------------------------------------

SD_DOWN = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
SD_UP = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")


def tiny_unet_config(kind: str) -> dict[str, Any]:
    """kind: sd1, sd2, sdxl, sdxl_refiner, with "_inpaint" for 9 input channels."""
    family, inpaint = kind.removesuffix("_inpaint"), kind.endswith("_inpaint")
    config: dict[str, Any] = dict(
        sample_size=8,
        in_channels=9 if inpaint else 4,
        out_channels=4,
        block_out_channels=(16, 32, 32),
        layers_per_block=2,
        norm_num_groups=8,
        down_block_types=SD_DOWN,
        up_block_types=SD_UP,
        cross_attention_dim=CLIP_L_WIDTH,
        attention_head_dim=4,
    )
    if family == "sd2":
        config.update(
            use_linear_projection=True, attention_head_dim=(2, 4, 4), cross_attention_dim=40
        )
    elif family == "sdxl":
        config.update(
            block_out_channels=(16, 32, 48),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 3),
            attention_head_dim=(2, 4, 6),
            cross_attention_dim=CLIP_L_WIDTH + BIG_G_WIDTH,
            projection_class_embeddings_input_dim=6 * TIME_IDS + BIG_G_PROJ,
        )
    elif family == "sdxl_refiner":
        config.update(
            block_out_channels=(16, 32, 32, 48),
            layers_per_block=1,
            down_block_types=("DownBlock2D", *SD_DOWN[:2], "DownBlock2D"),
            up_block_types=("UpBlock2D", *SD_UP[1:], "UpBlock2D"),
            transformer_layers_per_block=2,
            attention_head_dim=(2, 4, 4, 6),
            cross_attention_dim=BIG_G_WIDTH,
            projection_class_embeddings_input_dim=5 * TIME_IDS + BIG_G_PROJ,
        )
    if family.startswith("sdxl"):
        config.update(use_linear_projection=True, addition_embed_type="text_time")
        config.update(addition_time_embed_dim=TIME_IDS)
    return config


def tiny_unet(kind: str) -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(**tiny_unet_config(kind))


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(1)
    return AutoencoderKL(
        block_out_channels=(8, 16, 32),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        layers_per_block=2,
        norm_num_groups=4,
        latent_channels=4,
        sample_size=32,
    )


def tiny_text_config(
    width: int, act: str, layers: int = 3, proj: int | None = None
) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=64,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=layers,
        num_attention_heads=2,
        max_position_embeddings=12,
        projection_dim=proj or width,
        hidden_act=act,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )


def tiny_clip_l() -> CLIPTextModel:
    torch.manual_seed(2)
    return CLIPTextModel(tiny_text_config(CLIP_L_WIDTH, "quick_gelu"))


def tiny_open_clip(layers: int = 3) -> CLIPTextModelWithProjection:
    torch.manual_seed(3)
    return CLIPTextModelWithProjection(tiny_text_config(BIG_G_WIDTH, "gelu", layers, BIG_G_PROJ))


def tiny_controlnet(kind: str = "sd1", hint: tuple[int, ...] = (4, 8, 8, 16)) -> ControlNetModel:
    torch.manual_seed(4)
    unet = tiny_unet_config(kind)
    for up_only in ("sample_size", "out_channels", "up_block_types"):
        unet.pop(up_only)
    return ControlNetModel(conditioning_embedding_out_channels=hint, **unet)


def assert_exact(ours: dict[str, torch.Tensor], back: dict[str, torch.Tensor]) -> None:
    assert set(back) == set(ours), sorted(set(back) ^ set(ours))[:8]
    for key, value in ours.items():
        assert back[key].shape == value.shape, key
        assert torch.equal(back[key], value), key


def shapes(sd: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in sd.items()}


# -- UNet ----------------------------------------------------------------------------------

KINDS = ["sd1", "sd1_inpaint", "sd2", "sdxl", "sdxl_inpaint", "sdxl_refiner"]


@pytest.mark.parametrize("kind", KINDS)
def test_unet_round_trip_is_exact(kind: str) -> None:
    model = tiny_unet(kind)
    sd = model.state_dict()
    ldm = L.unet_to_ldm(sd, model.config)
    assert len(ldm) == len(sd) and all(k.startswith("model.diffusion_model.") for k in ldm)
    assert_exact(sd, L.unet_from_ldm(ldm, model.config))
    # A bare UNet file (no prefix) works the same way.
    bare = L.unet_to_ldm(sd, model.config, prefix="")
    assert_exact(sd, L.unet_from_ldm(bare, model.config, prefix=""))


TINY_NAMES = {
    "sd1": {
        "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (16, 16),
        "input_blocks.1.1.proj_in.weight": (16, 16, 1, 1),  # conv projection
        "input_blocks.3.0.op.weight": (16, 16, 3, 3),
        "input_blocks.4.0.skip_connection.weight": (32, 16, 1, 1),
        "input_blocks.8.0.out_layers.3.weight": (32, 32, 3, 3),
        "middle_block.1.proj_in.weight": (32, 32, 1, 1),
        "middle_block.2.emb_layers.1.weight": (32, 64),
        "output_blocks.2.1.conv.weight": (32, 32, 3, 3),  # upsampler after a plain resnet
        "output_blocks.5.2.conv.weight": (32, 32, 3, 3),  # upsampler after an attention
        "output_blocks.8.1.proj_out.weight": (16, 16, 1, 1),
        "output_blocks.8.0.skip_connection.weight": (16, 32, 1, 1),
        "time_embed.2.weight": (64, 64),
        "out.2.weight": (4, 16, 3, 3),
    },
    "sd2": {"input_blocks.1.1.proj_in.weight": (16, 16)},  # linear projection
    "sdxl": {
        "label_emb.0.0.weight": (64, 6 * TIME_IDS + BIG_G_PROJ),
        "input_blocks.7.1.transformer_blocks.2.attn1.to_q.weight": (48, 48),
        "middle_block.1.transformer_blocks.2.ff.net.2.weight": (48, 192),
        "output_blocks.0.1.transformer_blocks.2.norm3.weight": (48,),
        "output_blocks.2.2.conv.weight": (48, 48, 3, 3),
        "output_blocks.8.0.in_layers.2.weight": (16, 32, 3, 3),
    },
    "sdxl_refiner": {
        "label_emb.0.2.weight": (64, 64),
        "input_blocks.2.0.op.weight": (16, 16, 3, 3),
        "input_blocks.3.1.transformer_blocks.1.attn2.to_v.weight": (32, BIG_G_WIDTH),
        "output_blocks.1.1.conv.weight": (48, 48, 3, 3),
        "output_blocks.3.2.conv.weight": (32, 32, 3, 3),
    },
}
TINY_ABSENT = {
    "sd1": [
        "input_blocks.7.1.norm.weight",
        "output_blocks.8.2.conv.weight",
        "label_emb.0.0.weight",
    ],
    "sdxl": ["input_blocks.1.1.norm.weight", "output_blocks.6.1.norm.weight"],
    "sdxl_refiner": ["input_blocks.7.1.norm.weight", "output_blocks.0.1.norm.weight"],
}


@pytest.mark.parametrize("kind", ["sd1", "sd2", "sdxl", "sdxl_refiner"])
def test_unet_original_names(kind: str) -> None:
    model = tiny_unet(kind)
    got = shapes(L.unet_to_ldm(model.state_dict(), model.config, prefix=""))
    for name, shape in TINY_NAMES[kind].items():
        assert got.get(name) == shape, name
    for name in TINY_ABSENT.get(kind, []):
        assert name not in got, name


def module_paths(sd: dict[str, torch.Tensor]) -> set[str]:
    return {k.rpartition(".")[0] for k in sd}


def assert_map_fits(module_map: dict[str, str], sd: dict[str, torch.Tensor]) -> None:
    mods = module_paths(sd)
    assert mods <= module_map.keys(), sorted(mods - module_map.keys())[:5]
    phantom = [m for m in module_map if not any(p == m or p.startswith(m + ".") for p in mods)]
    assert not phantom, phantom[:5]
    assert len(set(module_map.values())) == len(module_map)  # one original name each


@pytest.mark.parametrize("kind", ["sd1", "sdxl", "sdxl_refiner"])
def test_unet_module_map_names_every_layer(kind: str) -> None:
    model = tiny_unet(kind)
    module_map = L.unet_module_map(model.config)
    assert_map_fits(module_map, model.state_dict())
    # The LoRA loader's use: kohya SDXL names are original paths, SD1 names diffusers paths.
    original = L.invert(module_map)
    if kind == "sdxl":
        path = "input_blocks.4.1.transformer_blocks.0.attn1.to_k"
        assert original[path] == "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k"
    assert L.translate("down_blocks.1.resnets.0.conv_shortcut", module_map).endswith(
        "skip_connection"
    )
    with pytest.raises(KeyError, match="no counterpart"):
        L.translate("encoder_hid_proj.weight", module_map)


# -- VAE -------------------------------------------------------------------------------------


def test_vae_round_trip_is_exact() -> None:
    model = tiny_vae()
    sd = model.state_dict()
    ldm = L.vae_to_ldm(sd)
    assert_exact(sd, L.vae_from_ldm(ldm, model.config))
    got = shapes(ldm)
    p = "first_stage_model."
    assert got[p + "encoder.mid.attn_1.q.weight"] == (32, 32, 1, 1)  # conv, not linear
    assert got[p + "decoder.mid.attn_1.proj_out.weight"] == (32, 32, 1, 1)
    assert got[p + "encoder.down.1.block.0.nin_shortcut.weight"] == (16, 8, 1, 1)
    # Decoder levels are numbered from the top resolution: up.0 is the 8-channel level.
    assert got[p + "decoder.up.0.block.0.nin_shortcut.weight"] == (8, 16, 1, 1)
    assert got[p + "decoder.up.2.upsample.conv.weight"] == (32, 32, 3, 3)
    assert p + "decoder.up.0.upsample.conv.weight" not in got
    assert got[p + "encoder.norm_out.weight"] == (32,)
    # A standalone VAE file has no prefix.
    assert_exact(sd, L.vae_from_ldm(L.vae_to_ldm(sd, prefix=""), model.config, prefix=""))


# -- text encoders ---------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [L.SD1_CLIP_PREFIX, L.SDXL_CLIP_L_PREFIX])
def test_clip_round_trip_is_exact(prefix: str) -> None:
    model = tiny_clip_l()
    sd = model.state_dict()
    ldm = L.clip_to_ldm(sd, prefix)
    assert prefix + "text_model.encoder.layers.2.mlp.fc2.weight" in ldm
    assert_exact(sd, L.clip_from_ldm(ldm, model, prefix))


def test_clip_reads_old_files() -> None:
    # Older SD1 files lack "text_model." and carry the position_ids buffer.
    model = tiny_clip_l()
    sd = model.state_dict()
    old = {L.SD1_CLIP_PREFIX + k: v for k, v in sd.items()}
    old[L.SD1_CLIP_PREFIX + "embeddings.position_ids"] = torch.arange(12)[None]
    assert_exact(sd, L.clip_from_ldm(old, model))


PREFIXES = [L.SD2_OPEN_CLIP_PREFIX, L.SDXL_OPEN_CLIP_G_PREFIX, L.REFINER_OPEN_CLIP_G_PREFIX]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_open_clip_round_trip_is_exact(prefix: str) -> None:
    model = tiny_open_clip()
    sd = model.state_dict()
    ldm = L.open_clip_to_ldm(sd, prefix)
    got = shapes(ldm)
    w = BIG_G_WIDTH
    assert got[prefix + "transformer.resblocks.2.attn.in_proj_weight"] == (3 * w, w)
    assert got[prefix + "transformer.resblocks.0.attn.in_proj_bias"] == (3 * w,)
    assert got[prefix + "text_projection"] == (w, BIG_G_PROJ)  # transposed Linear weight
    assert got[prefix + "positional_embedding"] == (12, w)
    assert got[prefix + "transformer.resblocks.1.mlp.c_fc.weight"] == (2 * w, w)
    assert {prefix + "token_embedding.weight", prefix + "ln_final.bias"} <= got.keys()
    # Every layer is kept, SD2's last one and its projection included.
    assert_exact(sd, L.open_clip_from_ldm(ldm, model, prefix))
    q = sd["text_model.encoder.layers.1.self_attn.k_proj.weight"]
    assert torch.equal(ldm[prefix + "transformer.resblocks.1.attn.in_proj_weight"][w : 2 * w], q)


def test_open_clip_without_projection() -> None:
    # diffusers' published SD2 encoder: a CLIPTextModel, flat keys, no projection.
    torch.manual_seed(5)
    model = CLIPTextModel(tiny_text_config(BIG_G_WIDTH, "gelu"))
    sd = model.state_dict()
    ldm = L.open_clip_to_ldm(sd)
    assert L.SD2_OPEN_CLIP_PREFIX + "text_projection" not in ldm
    assert_exact(sd, L.open_clip_from_ldm(ldm, model))


def test_open_clip_into_a_shallower_model() -> None:
    # A 24-layer SD2 file into diffusers' 23-layer, projection-less encoder: surplus dropped.
    ldm = L.open_clip_to_ldm(tiny_open_clip(layers=3).state_dict())
    torch.manual_seed(6)
    small = CLIPTextModel(tiny_text_config(BIG_G_WIDTH, "gelu", layers=2))
    got = L.open_clip_from_ldm(ldm, small)
    assert set(got) == set(small.state_dict())
    small.load_state_dict(got)


@pytest.mark.parametrize("style", ["clip", "open_clip"])
def test_text_encoder_module_map(style: str) -> None:
    model = tiny_open_clip()
    module_map = L.text_encoder_module_map(3, style)
    assert module_paths(model.state_dict()) - {"text_model.embeddings.position_embedding"} <= set(
        module_map
    )
    ldm = L.open_clip_to_ldm(model.state_dict(), "") if style == "open_clip" else None
    for ours, theirs in module_map.items():
        if ldm is not None:  # each original path names real keys ("attn.in_proj" -> "_weight")
            assert any(k.startswith(theirs) for k in ldm), theirs
        else:
            assert ours == theirs
    with pytest.raises(ValueError, match="style"):
        L.text_encoder_module_map(1, "t5")


# -- ControlNet ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "hint"),
    [("sd1", (4, 8, 8, 16)), ("sd1", (4, 8, 16)), ("sd2", (4, 8, 8, 16)), ("sdxl", (4, 8, 8, 16))],
)
def test_controlnet_round_trip_is_exact(kind: str, hint: tuple[int, ...]) -> None:
    model = tiny_controlnet(kind, hint)
    sd = model.state_dict()
    ldm = L.controlnet_to_ldm(sd, model.config)
    assert_exact(sd, L.controlnet_from_ldm(ldm, model.config))
    assert_exact(sd, L.controlnet_from_ldm(L.controlnet_to_ldm(sd, model.config, ""), model.config))
    assert_map_fits(L.controlnet_module_map(model.config), sd)
    got = shapes(ldm)
    p = "control_model."
    last_conv = 2 * 2 * (len(hint) - 1) + 2  # conv, SiLU, conv, SiLU, ... then the zero conv
    assert got[f"{p}input_hint_block.{last_conv}.weight"][:2] == (16, hint[-1])
    assert got[f"{p}input_hint_block.0.weight"] == (hint[0], 3, 3, 3)
    assert got[f"{p}zero_convs.0.0.weight"] == (16, 16, 1, 1)
    assert f"{p}middle_block_out.0.bias" in got
    assert (f"{p}label_emb.0.0.weight" in got) == (kind == "sdxl")


# -- the full-size shipped configs, on the meta device ---------------------------------------


def meta_model(path: str) -> Any:
    config = json.loads((CONFIG_DIR / f"{path}.json").read_text())
    with torch.device("meta"):
        if "architectures" in config:
            cls = {
                "CLIPTextModel": CLIPTextModel,
                "CLIPTextModelWithProjection": CLIPTextModelWithProjection,
            }
            return cls[config["architectures"][0]](CLIPTextConfig(**config))
        cls2 = {"UNet2DConditionModel": UNet2DConditionModel, "AutoencoderKL": AutoencoderKL}
        return cls2.get(config["_class_name"], ControlNetModel).from_config(config)


def assert_same_shapes(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b), sorted(set(a) ^ set(b))[:8]
    assert all(a[k].shape == b[k].shape for k in a)


FULL_NAMES = {
    "sd1/unet": (
        686,
        {
            "output_blocks.11.0.skip_connection.weight": (320, 640, 1, 1),
            "input_blocks.1.1.proj_in.weight": (320, 320, 1, 1),
            "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": (320, 768),
            "output_blocks.2.1.conv.weight": (1280, 1280, 3, 3),
            "output_blocks.8.2.conv.weight": (640, 640, 3, 3),
        },
    ),
    "sd2/unet": (686, {"input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024)}),
    "sdxl/unet": (
        1680,
        {
            "label_emb.0.0.weight": (1280, 2816),
            "input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight": (1280, 2048),
            "middle_block.1.transformer_blocks.9.ff.net.2.weight": (1280, 5120),
            "output_blocks.2.2.conv.weight": (1280, 1280, 3, 3),
            "input_blocks.4.1.proj_in.weight": (640, 640),
        },
    ),
    "sdxl_refiner/unet": (
        None,
        {
            "label_emb.0.0.weight": (1536, 2560),
            "input_blocks.4.1.transformer_blocks.3.attn2.to_k.weight": (768, 1280),
            "output_blocks.2.1.conv.weight": (1536, 1536, 3, 3),
        },
    ),
}


@pytest.mark.parametrize("path", sorted(FULL_NAMES))
def test_full_size_unet_layout(path: str) -> None:
    model = meta_model(path)
    sd = model.state_dict()
    ldm = L.unet_to_ldm(sd, model.config)
    assert_same_shapes(sd, L.unet_from_ldm(ldm, model.config))
    assert_map_fits(L.unet_module_map(model.config), sd)
    count, names = FULL_NAMES[path]
    assert count is None or len(ldm) == count
    for name, shape in names.items():
        assert tuple(ldm[L.UNET_PREFIX + name].shape) == shape, name


def test_full_size_vae_controlnet_and_text_layouts() -> None:
    vae = meta_model("sd1/vae")
    ldm = L.vae_to_ldm(vae.state_dict())
    assert len(ldm) == 248
    assert_same_shapes(vae.state_dict(), L.vae_from_ldm(ldm, vae.config))
    assert ldm["first_stage_model.decoder.up.0.block.0.nin_shortcut.weight"].shape == (
        128,
        256,
        1,
        1,
    )
    assert ldm["first_stage_model.encoder.mid.attn_1.v.weight"].shape == (512, 512, 1, 1)

    cn = meta_model("sd1/controlnet")
    ldm = L.controlnet_to_ldm(cn.state_dict(), cn.config)
    assert_same_shapes(cn.state_dict(), L.controlnet_from_ldm(ldm, cn.config))
    # We map the hint block ourselves; for the standard one diffusers' helper agrees.
    theirs = convert_controlnet_checkpoint(dict(ldm), dict(cn.config))
    assert_same_shapes(cn.state_dict(), theirs)
    assert ldm["control_model.input_hint_block.14.weight"].shape == (320, 256, 3, 3)
    assert ldm["control_model.zero_convs.11.0.weight"].shape == (1280, 1280, 1, 1)

    for path, prefix, resblocks in [
        ("sd2/text_encoder", L.SD2_OPEN_CLIP_PREFIX, 24),
        ("sdxl/text_encoder_2", L.SDXL_OPEN_CLIP_G_PREFIX, 32),
    ]:
        te = meta_model(path)
        ldm = L.open_clip_to_ldm(te.state_dict(), prefix)
        assert_same_shapes(te.state_dict(), L.open_clip_from_ldm(ldm, te, prefix))
        width = te.config.hidden_size
        assert ldm[f"{prefix}transformer.resblocks.{resblocks - 1}.attn.in_proj_weight"].shape == (
            3 * width,
            width,
        )
        assert ldm[prefix + "text_projection"].shape == (width, width)
    clip = meta_model("sd1/text_encoder")
    ldm = L.clip_to_ldm(clip.state_dict())
    assert len(ldm) == 196
    assert_same_shapes(clip.state_dict(), L.clip_from_ldm(ldm, clip))
