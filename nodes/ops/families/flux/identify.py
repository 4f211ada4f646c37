"""What a weight file is, from its key -> shape map alone, so that a file given to the wrong
Flux loader is refused with what it is ("this is an SDXL UNet, not a Flux transformer").

Recognised by structure, never by full-size numbers alone, so tiny test models are named too;
widths only refine a name (768 is CLIP-L, 1280 CLIP-G). SD files are named by the SD family's
own detection. A 16-channel AE without quant_conv is Flux.1's shape, which SD3's AE shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from nodes.ops.families.flux.layout import TRANSFORMER_PREFIX
from nodes.ops.families.sd.detect import UnknownModelError
from nodes.ops.families.sd.detect import detect as detect_sd

Shapes = Mapping[str, Sequence[int]]

# Suffixes that anchor each kind's keys; what precedes them is the component's prefix.
BFL_ANCHORS = ("img_in.weight", "time_in.in_layer.weight", "vector_in.in_layer.weight")
BFL_GUIDANCE = "guidance_in.in_layer.weight"
DIFFUSERS_ANCHORS = ("x_embedder.weight", "time_text_embed.text_embedder.linear_1.weight")
DIFFUSERS_GUIDANCE = "time_text_embed.guidance_embedder.linear_1.weight"
T5_ANCHORS = (
    "encoder.block.0.layer.0.SelfAttention.q.weight",
    "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
)
CLIP_ANCHORS = ("embeddings.token_embedding.weight", "encoder.layers.0.self_attn.q_proj.weight")
AE_ANCHORS = ("decoder.conv_in.weight", "encoder.conv_out.weight")
LDM_AE_BLOCK = "encoder.down.0.block.0.conv1.weight"

CLIP_NAMES = {768: "CLIP-L", 1024: "CLIP-H", 1280: "CLIP-G"}  # by width; others: tiny
_SD_NAMES = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL", "sdxl_refiner": "SDXL refiner"}
_LORA_PARTS = (
    *(".lora_down.", ".lora_up.", ".lora.down.", ".lora_A.", ".lora_B.", "_lora.down."),
    *(".hada_w1", ".lokr_w1", ".lora_linear_layer.", ".lora_magnitude_vector"),
)
_CONTROLNET_PARTS = ("control_model.", "input_hint_block.", "controlnet_")


class WrongFileError(ValueError):
    """A file that is not the kind of weights the caller expected."""

    def __init__(self, found: str, expected: str, advice: str = "") -> None:
        super().__init__(f"this is {found}, not {expected}" + (f"; {advice}" if advice else ""))
        self.found = found
        self.expected = expected


def find_prefix(shapes: Shapes, anchor: str, *others: str) -> str | None:
    """The shortest prefix p (empty or ending in '.') such that p + anchor and p + each of
    `others` are keys: where a component sits in the file, or None."""
    starts = (k[: len(k) - len(anchor)] for k in shapes if k.endswith(anchor))
    for prefix in sorted((p for p in starts if p == "" or p.endswith(".")), key=len):
        if all(prefix + other in shapes for other in others):
            return prefix
    return None


def _any(keys: Iterable[str], parts: Sequence[str], starts: Sequence[str] = ()) -> bool:
    return any(k.startswith(tuple(starts)) or any(p in k for p in parts) for k in keys)


# Where each kind belongs, for the end of an error message.
_AS_CHECKPOINT = "load it as a checkpoint"
_AS_DIFFUSION_MODEL = "load it as a diffusion model (models/diffusion_models)"
_AS_TEXT_ENCODER = "load it as a text encoder (models/text_encoders)"
_AS_VAE = "load it as a VAE (models/vae)"
_SD = "it belongs to the Stable Diffusion loaders"
Found = tuple[str, str]  # (what the file is, where it belongs)


def _flux(shapes: Shapes) -> Found | None:
    bfl = find_prefix(shapes, *BFL_ANCHORS)
    if bfl is not None and len(shapes[bfl + BFL_ANCHORS[0]]) == 2:
        variant = "dev" if bfl + BFL_GUIDANCE in shapes else "schnell"
        others = any(k.startswith(("text_encoders.", "vae.")) for k in shapes)
        if bfl == TRANSFORMER_PREFIX and others:
            return f"a Flux.1 {variant} all-in-one checkpoint", _AS_CHECKPOINT
        return f"a Flux.1 {variant} transformer (BFL layout)", _AS_DIFFUSION_MODEL
    theirs = find_prefix(shapes, *DIFFUSERS_ANCHORS)
    if theirs is not None and any(
        k.startswith(f"{theirs}single_transformer_blocks.") for k in shapes
    ):
        variant = "dev" if theirs + DIFFUSERS_GUIDANCE in shapes else "schnell"
        return f"a Flux.1 {variant} transformer (diffusers layout)", _AS_DIFFUSION_MODEL
    if any(".double_blocks." in f".{k}" for k in shapes):
        return "a transformer with BFL-style blocks that is not Flux.1 (HunyuanVideo, Chroma?)", ""
    if any(".joint_blocks." in f".{k}" for k in shapes):
        return "an SD3 transformer (MMDiT)", ""
    return None


def _stable_diffusion(shapes: Shapes) -> Found | None:
    if not any(k.endswith("input_blocks.0.0.weight") for k in shapes):
        return None
    try:
        found = detect_sd(shapes)
    except UnknownModelError:
        return "a Stable Diffusion UNet of an unknown family", _SD
    whole = found.has_vae or bool(found.text_encoders)
    return f"an {_SD_NAMES[found.family]} {'checkpoint' if whole else 'UNet'}", _SD


def _text_encoder(shapes: Shapes) -> Found | None:
    if find_prefix(shapes, *T5_ANCHORS) is not None:
        return "a T5 text encoder", _AS_TEXT_ENCODER
    clip = find_prefix(shapes, *CLIP_ANCHORS)
    if clip is not None:
        width = int(shapes[clip + CLIP_ANCHORS[0]][1])
        return f"a {CLIP_NAMES.get(width, f'{width}-wide CLIP')} text encoder", _AS_TEXT_ENCODER
    if any(".resblocks." in f".{k}" for k in shapes):
        return "an OpenCLIP text encoder (SD2/SDXL layout)", _SD
    return None


def _autoencoder(shapes: Shapes) -> Found | None:
    prefix = find_prefix(shapes, *AE_ANCHORS)
    if prefix is None:
        return None
    if prefix + LDM_AE_BLOCK not in shapes:
        return (
            "a VAE in diffusers layout ('down_blocks' keys)",
            "use the diffusers folder it is from",
        )
    latent = int(shapes[prefix + AE_ANCHORS[0]][1])
    if latent == 4:
        return "a 4-channel VAE (SD1/SD2/SDXL's)", _SD
    if latent != 16:
        return f"a {latent}-channel VAE", ""
    if prefix + "quant_conv.weight" in shapes:
        return "a 16-channel VAE with quant_conv layers, which Flux.1's AE has not", ""
    return "a 16-channel AE (Flux.1's, or SD3's: they share their shapes)", _AS_VAE


def _identify(shapes: Shapes) -> Found:
    keys = list(shapes)
    if not keys:
        return "an empty file (no tensors)", ""
    if _any(keys, _LORA_PARTS, ("lora_", "lycoris_")):
        return "a LoRA", "load it as a LoRA"
    if _any(keys, _CONTROLNET_PARTS):
        return "a ControlNet", "load it as a ControlNet"
    for kind in (_flux, _stable_diffusion, _text_encoder, _autoencoder):
        if (found := kind(shapes)) is not None:
            return found
    if "conv_in.weight" in shapes and any(k.startswith("down_blocks.") for k in keys):
        return "a UNet in diffusers layout", "use the diffusers folder it is from"
    sample = ", ".join(repr(k) for k in keys[:3])
    return f"an unrecognised file (keys such as {sample})", ""


def describe(shapes: Shapes) -> str:
    """A noun phrase naming the kind of weights in the file, e.g. "an SDXL UNet"."""
    return _identify(shapes)[0]


def refuse(shapes: Shapes, expected: str) -> WrongFileError:
    """The error for a file that is not `expected`, naming what it is and where it belongs."""
    found, where = _identify(shapes)
    return WrongFileError(found, expected, where)


# Where a file belongs, as `placement` says it (the end of a refusal's message).
CHECKPOINT, DIFFUSION_MODEL, TEXT_ENCODER, VAE = (
    _AS_CHECKPOINT,
    _AS_DIFFUSION_MODEL,
    _AS_TEXT_ENCODER,
    _AS_VAE,
)
STABLE_DIFFUSION = _SD


def placement(shapes: Shapes) -> str:
    """Which loader the file belongs to: one of the constants above, or "" (none of ours)."""
    return _identify(shapes)[1]
