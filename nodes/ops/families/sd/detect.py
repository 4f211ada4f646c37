"""Which Stable Diffusion family a checkpoint is, from key names and shapes alone.

Detection reads structure, not full-size numbers, so it works on tiny test models too:
- a `label_emb` (size/pooled-text embedding) means SDXL; the refiner is the SDXL shape
  whose deepest level has no attention (base: attention at the two deepest levels);
- otherwise linear `proj_in` layers or a 1024-wide context mean SD2, else SD1;
- the text encoders in the file, when present, decide instead (they are unambiguous);
- 9 UNet input channels mean an inpainting model.
Prediction type (epsilon / v) is not in the weights and is not detected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from nodes.ops.families.sd import layout as L

Family = Literal["sd1", "sd2", "sdxl", "sdxl_refiner"]
FAMILIES: tuple[Family, ...] = ("sd1", "sd2", "sdxl", "sdxl_refiner")


class UnknownModelError(ValueError):
    """The weights are not an SD1/SD2/SDXL checkpoint we can load."""


@dataclass(frozen=True)
class TextEncoderSlot:
    component: str  # diffusers name: "text_encoder" or "text_encoder_2"
    prefix: str  # key prefix in a single file, or the subfolder of a diffusers folder
    style: Literal["clip", "open_clip"]  # original layout, see sd_layout


TEXT_ENCODERS: dict[Family, tuple[TextEncoderSlot, ...]] = {
    "sd1": (TextEncoderSlot("text_encoder", L.SD1_CLIP_PREFIX, "clip"),),
    "sd2": (TextEncoderSlot("text_encoder", L.SD2_OPEN_CLIP_PREFIX, "open_clip"),),
    "sdxl": (
        TextEncoderSlot("text_encoder", L.SDXL_CLIP_L_PREFIX, "clip"),
        TextEncoderSlot("text_encoder_2", L.SDXL_OPEN_CLIP_G_PREFIX, "open_clip"),
    ),
    "sdxl_refiner": (TextEncoderSlot("text_encoder_2", L.REFINER_OPEN_CLIP_G_PREFIX, "open_clip"),),
}


@dataclass(frozen=True)
class Detection:
    family: Family
    inpaint: bool
    unet_in_channels: int
    unet_out_channels: int
    context_dim: int
    adm_in_channels: int | None  # SDXL's label_emb input width (2816 base, 2560 refiner)
    unet_prefix: str  # "model.diffusion_model." (or "" for a bare UNet); a subfolder for folders
    vae_prefix: str | None  # None: no VAE in the file
    text_encoders: tuple[TextEncoderSlot, ...]  # those present, in the family's order
    layout: Literal["ldm", "diffusers"] = "ldm"
    extra_keys: int = field(default=0, compare=False)  # keys of no component (EMA, schedules)

    @property
    def has_vae(self) -> bool:
        return self.vae_prefix is not None

    @property
    def has_text_encoders(self) -> bool:
        """All the family's text encoders are present."""
        return len(self.text_encoders) == len(TEXT_ENCODERS[self.family])

    @property
    def components(self) -> dict[str, str]:
        """Component name -> key prefix (or subfolder)."""
        out = {"unet": self.unet_prefix}
        if self.vae_prefix is not None:
            out["vae"] = self.vae_prefix
        out.update({s.component: s.prefix for s in self.text_encoders})
        return out

    def keys_of(self, component: str, keys: Iterable[str]) -> list[str]:
        """The keys (of a single file) that belong to `component`."""
        prefix = self.components[component]
        others = [p for c, p in self.components.items() if c != component and p.startswith(prefix)]
        return [
            k for k in keys if k.startswith(prefix) and not any(k.startswith(p) for p in others)
        ]


Shapes = Mapping[str, Sequence[int]]

# What a file that is not a checkpoint is instead, by the `_kind` that recognised it.
_NOT_A_CHECKPOINT = {
    "lora": "a LoRA/LyCORIS file ('lora_unet_…' or '….lora_down.weight' keys): load it as a LoRA",
    "controlnet": "a ControlNet ('control_model.…', 'input_hint_block'): load it as a ControlNet",
    "embedding": "a textual-inversion embedding: load it as an embedding",
    "diffusers_unet": "a diffusers-format UNet ('down_blocks.…' keys): use a diffusers folder",
    "vae": "a standalone VAE (only 'encoder.…'/'decoder.…' keys): load it as a VAE",
    "text_encoder": "a standalone text encoder: load it as a CLIP model",
    "transformer": "a transformer-based model (SD3, Flux, …), which is not an SD1/SD2/SDXL UNet",
}
_VAE_KEYS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.", L.VAE_PREFIX)


def _kind(keys: list[str]) -> str | None:
    def has(*parts: str) -> bool:
        return any(p in k for k in keys for p in parts)

    if any(k.startswith("lora_") for k in keys) or has(".lora_down.", ".lora.down.", ".lora_A."):
        return "lora"
    if has(".hada_w1", ".lokr_w1", "_lora.down.", ".lora_linear_layer.", ".lora_magnitude_vector"):
        return "lora"
    if has(L.CONTROLNET_PREFIX, "input_hint_block.", "controlnet_cond_embedding."):
        return "controlnet"
    if len(keys) <= 4 and has("string_to_param", "emb_params", "clip_l", "clip_g"):
        return "embedding"
    if "conv_in.weight" in keys and has("down_blocks."):
        return "diffusers_unet"
    # VAE files may also carry EMA counters or the training loss's discriminator.
    if keys and all(k.startswith((*_VAE_KEYS, "model_ema.", "loss.")) for k in keys):
        return "vae"
    if has("text_model.encoder.", "transformer.resblocks."):
        return "text_encoder"
    if has("joint_blocks.", "double_blocks.", "transformer_blocks.0.attn.to_q"):
        return "transformer"
    return None


def _unknown(keys: list[str]) -> UnknownModelError:
    kind = _kind(keys)
    what = (
        f"this looks like {_NOT_A_CHECKPOINT[kind]}" if kind else "not an SD1/SD2/SDXL checkpoint"
    )
    sample = ", ".join(repr(k) for k in keys[:3]) or "no keys at all"
    return UnknownModelError(
        f"{what}. A checkpoint needs UNet keys such as "
        f"'{L.UNET_PREFIX}input_blocks.0.0.weight' (found {sample})"
    )


def _family_from_structure(
    linear: bool, context_dim: int, adm: int | None, deep_attn: bool
) -> Family:
    if adm is not None:
        return "sdxl" if deep_attn else "sdxl_refiner"
    return "sd2" if linear or context_dim == 1024 else "sd1"


def _family_from_text(slots: Sequence[TextEncoderSlot]) -> Family | None:
    prefixes = {s.prefix for s in slots}
    for family, expected in TEXT_ENCODERS.items():
        if prefixes and prefixes <= {s.prefix for s in expected}:
            return family
    return None


def detect(shapes: Shapes) -> Detection:
    """Detect the family of an original-layout single file from its key -> shape map."""
    keys = list(shapes)
    unet = next((p for p in (L.UNET_PREFIX, "") if f"{p}input_blocks.0.0.weight" in shapes), None)
    if unet is None or (unet == "" and _kind(keys) == "controlnet"):
        raise _unknown(keys)
    unet_keys = [k for k in keys if k.startswith(unet)]
    in_ch = int(shapes[f"{unet}input_blocks.0.0.weight"][1])
    out_ch = int(shapes.get(f"{unet}out.2.weight", (in_ch,))[0])
    to_k = sorted(k for k in unet_keys if k.endswith("attn2.to_k.weight"))
    proj_in = [k for k in unet_keys if k.endswith(".proj_in.weight")]
    if not to_k or not proj_in:
        raise UnknownModelError(f"UNet under {unet!r} has no cross-attention: not SD1/SD2/SDXL")
    context = int(shapes[to_k[0]][1])
    linear = len(shapes[proj_in[0]]) == 2
    adm_shape = shapes.get(f"{unet}label_emb.0.0.weight")
    adm = int(adm_shape[1]) if adm_shape is not None else None
    # Whether the deepest input level has attention: its last input block carries a `.1.`.
    last = max(
        int(k[len(unet) :].split(".")[1])
        for k in unet_keys
        if k[len(unet) :].startswith("input_blocks.")
    )
    deep_attn = any(k.startswith(f"{unet}input_blocks.{last}.1.") for k in unet_keys)

    slots = tuple(
        s
        for family in FAMILIES
        for s in TEXT_ENCODERS[family]
        if any(k.startswith(s.prefix) for k in keys)
    )
    family = _family_from_text(slots) or _family_from_structure(linear, context, adm, deep_attn)
    if (adm is not None) != family.startswith("sdxl"):
        raise UnknownModelError(
            f"text encoders say {family} but the UNet {'has' if adm else 'lacks'} SDXL's label_emb"
        )
    vae = L.VAE_PREFIX if any(k.startswith(L.VAE_PREFIX) for k in keys) else None
    known = [unet] + ([vae] if vae else []) + [s.prefix for s in slots]
    extra = sum(1 for k in keys if not k.startswith(tuple(known)))
    return Detection(
        family=family,
        inpaint=in_ch == 9,
        unet_in_channels=in_ch,
        unet_out_channels=out_ch,
        context_dim=context,
        adm_in_channels=adm,
        unet_prefix=unet,
        vae_prefix=vae,
        text_encoders=slots,
        extra_keys=extra,
    )


def detect_state_dict(sd: Mapping[str, torch.Tensor]) -> Detection:
    """`detect` for loaded (or meta) tensors."""
    return detect({k: tuple(v.shape) for k, v in sd.items()})


@dataclass(frozen=True)
class ControlNetDetection:
    family: Literal["sd1", "sd2", "sdxl"]
    layout: Literal["ldm", "diffusers"]
    prefix: str  # "control_model." or "" (ldm); "" (diffusers)
    context_dim: int
    hint_channels: int  # channels of the control image (3 for most)


def detect_controlnet(shapes: Shapes) -> ControlNetDetection:
    """Family and layout of a ControlNet file (original or diffusers layout)."""
    keys = list(shapes)
    prefix = next(
        (p for p in (L.CONTROLNET_PREFIX, "") if f"{p}input_hint_block.0.weight" in shapes), None
    )
    hint = f"{prefix}input_hint_block.0.weight"
    layout: Literal["ldm", "diffusers"] = "ldm"
    if prefix is None and "controlnet_cond_embedding.conv_in.weight" in shapes:
        prefix, hint, layout = "", "controlnet_cond_embedding.conv_in.weight", "diffusers"
    to_k = sorted(k for k in keys if k.startswith(prefix or "") and k.endswith("attn2.to_k.weight"))
    proj_in = [k for k in keys if k.startswith(prefix or "") and k.endswith(".proj_in.weight")]
    if prefix is None or not to_k or not proj_in:
        kind = _kind(keys)
        what = _NOT_A_CHECKPOINT[kind] if kind and kind != "controlnet" else "something else"
        raise UnknownModelError(
            f"not an SD1/SD2/SDXL ControlNet (this looks like {what}): expected "
            f"'{L.CONTROLNET_PREFIX}input_hint_block.0.weight' or diffusers' "
            "'controlnet_cond_embedding.conv_in.weight'"
        )
    context = int(shapes[to_k[0]][1])
    family: Literal["sd1", "sd2", "sdxl"] = "sd1"
    if any(k.startswith((f"{prefix}label_emb.", "add_embedding.")) for k in keys):
        family = "sdxl"
    elif len(shapes[proj_in[0]]) == 2 or context == 1024:
        family = "sd2"
    return ControlNetDetection(family, layout, prefix, context, int(shapes[hint][1]))


def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise UnknownModelError(f"{path} is not a JSON object")
    return data


def detect_folder(path: str | Path) -> Detection:
    """Detect a diffusers-format folder (model_index.json, unet/, vae/, text_encoder*/)."""
    root = Path(path)
    unet_config = root / "unet" / "config.json"
    if not unet_config.is_file():
        raise UnknownModelError(
            f"{root} is not a diffusers Stable Diffusion folder: expected unet/config.json "
            "(next to model_index.json, vae/, text_encoder/)"
        )
    cfg = _read_json(unet_config)
    types = list(cfg.get("down_block_types", ()))
    adm = (
        cfg.get("projection_class_embeddings_input_dim")
        if cfg.get("addition_embed_type") == "text_time"
        else None
    )
    context = cfg.get("cross_attention_dim", 1280)
    context = int(context[0] if isinstance(context, list) else context)
    deep_attn = bool(types) and "CrossAttn" in types[-1]
    family = _family_from_structure(bool(cfg.get("use_linear_projection")), context, adm, deep_attn)
    present = [(root / s.component / "config.json").is_file() for s in TEXT_ENCODERS[family]]
    slots = tuple(
        TextEncoderSlot(s.component, s.component, s.style)
        for s, ok in zip(TEXT_ENCODERS[family], present, strict=True)
        if ok
    )
    in_ch = int(cfg.get("in_channels", 4))
    return Detection(
        family=family,
        inpaint=in_ch == 9,
        unet_in_channels=in_ch,
        unet_out_channels=int(cfg.get("out_channels", 4)),
        context_dim=context,
        adm_in_channels=int(adm) if adm is not None else None,
        unet_prefix="unet",
        vae_prefix="vae" if (root / "vae" / "config.json").is_file() else None,
        text_encoders=slots,
        layout="diffusers",
    )
