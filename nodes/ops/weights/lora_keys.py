"""The key names LoRA trainers write, brought to one form: (flat layer name, part).

Flat names are kohya's: a prefix saying which network (`lora_unet_`, `lora_te_`,
`lora_te1_`, `lora_te2_`) and the module path with dots as underscores. Parts are the
tensor's role in its format (`lora_down`, `hada_w1_a`, `lokr_w2`, `alpha`, `dora_scale`...).

What is read, by writer:
- kohya / LyCORIS: `lora_unet_<path>.lora_down.weight`, `.hada_w1_a`, `.lokr_w1`, `.alpha`,
  `.dora_scale`; text encoders `lora_te_` (SD1/2), `lora_te1_`/`lora_te2_` (SDXL).
- diffusers / PEFT / ai-toolkit: `unet.<path>.lora_A.weight` / `lora_B.weight` (also
  `.lora.down.weight`, `.lora_linear_layer.down.weight`, PEFT's `.lora_A.default.weight`
  and `.lora_magnitude_vector` for DoRA), under `unet.`, `transformer.`, `text_encoder.`,
  `text_encoder_2.`, `base_model.model.`, or no prefix at all.
- diffusers' older attention processors: `<path>.processor.to_q_lora.down.weight`.
- ComfyUI's own saves: `diffusion_model.<original path>`, `text_encoders.clip_l.transformer.`.
"""

from __future__ import annotations

# Longest first: ".lora_A.default.weight" must win over a shorter ending.
SUFFIXES: tuple[tuple[str, str], ...] = (
    (".lora_linear_layer.down.weight", "lora_down"),
    (".lora_linear_layer.up.weight", "lora_up"),
    (".lora_magnitude_vector.default.weight", "magnitude"),
    (".lora_magnitude_vector.weight", "magnitude"),
    (".lora_magnitude_vector", "magnitude"),
    (".lora_A.default.weight", "lora_down"),
    (".lora_B.default.weight", "lora_up"),
    (".lora_down.weight", "lora_down"),
    (".lora_up.weight", "lora_up"),
    (".lora_mid.weight", "lora_mid"),
    (".lora.down.weight", "lora_down"),
    (".lora.up.weight", "lora_up"),
    ("_lora.down.weight", "lora_down"),
    ("_lora.up.weight", "lora_up"),
    (".lora_A.weight", "lora_down"),
    (".lora_B.weight", "lora_up"),
    (".dora_scale", "dora_scale"),
    (".diff", "diff"),
    (".alpha", "alpha"),
    *((f".hada_{p}", f"hada_{p}") for p in ("w1_a", "w1_b", "w2_a", "w2_b", "t1", "t2")),
    *((f".lokr_{p}", f"lokr_{p}") for p in ("w1_a", "w1_b", "w2_a", "w2_b", "w1", "w2", "t2")),
)

# Dotted prefixes (diffusers, PEFT, ComfyUI saves) -> the flat prefix of that network.
PREFIXES: tuple[tuple[str, str], ...] = (
    ("text_encoders.clip_l.transformer.", "lora_te1_"),
    ("text_encoders.clip_g.transformer.", "lora_te2_"),
    ("model.diffusion_model.", "lora_unet_"),
    ("diffusion_model.", "lora_unet_"),  # original (LDM/BFL) layer paths
    ("base_model.model.", "lora_unet_"),  # PEFT's own save of a wrapped UNet
    ("unet.", "lora_unet_"),
    ("transformer.", "lora_unet_"),  # diffusers' Flux (and other transformer) LoRAs
    ("text_encoder_2.", "lora_te2_"),
    ("text_encoder.", "lora_te1_"),
)
FLAT_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")
# A diffusers UNet path without any prefix (ComfyUI reads these too).
BARE_UNET = ("down_blocks.", "mid_block.", "up_blocks.", "conv_in.", "conv_out.", "time_embedding.")
TEXT_PREFIXES = ("lora_te_", "lora_te1_", "lora_te2_")


def split_key(key: str) -> tuple[str, str] | None:
    """(flat layer name, part) of one tensor of a LoRA file, or None for a key of no
    format we know."""
    for suffix, part in SUFFIXES:
        if key.endswith(suffix):
            flat = flat_name(key[: -len(suffix)])
            return (flat, part) if flat is not None else None
    return None


def flat_name(base: str) -> str | None:
    """A layer path as any trainer writes it -> kohya's flat name (None: no known network)."""
    if base.startswith(FLAT_PREFIXES):
        return base
    base = _processor_path(base)
    for prefix, flat in PREFIXES:
        if base.startswith(prefix):
            rest = base[len(prefix) :]
            if prefix == "base_model.model." and rest.startswith("text_model."):
                flat = "lora_te_"
            return flat + rest.replace(".", "_")
    if base.startswith(BARE_UNET):
        return "lora_unet_" + base.replace(".", "_")
    return None


def _processor_path(base: str) -> str:
    """diffusers' attention-processor LoRAs (`attn1.processor.to_q`, `...to_out`) name
    the projection layers `attn1.to_q`, `attn1.to_out.0`."""
    if ".processor." not in base:
        return base
    base = base.replace(".processor.", ".")
    return base + ".0" if base.endswith(".to_out") else base


def is_text_layer(flat: str) -> bool:
    return flat.startswith(TEXT_PREFIXES)
