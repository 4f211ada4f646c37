"""Configs of Flux's other components (T5, CLIP-L, the 16-channel AE) from key -> shape maps.

As for the transformer (`config.py`), the weights decide what they show and a saved config
(`override`: ours in the file's metadata, or a folder's config.json) fills the rest, but may
not contradict them. What neither tells is Flux.1's own value, so full-size files need no
saved config: CLIP-L's 12 heads (or 64-wide heads for other widths), T5's relative-position
distance 128, the AE's 32 norm groups and its latent scale and shift (0.3611, 0.1159).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from diffusers import AutoencoderKL
from transformers import CLIPTextConfig, PretrainedConfig, T5Config

Shapes = Mapping[str, Sequence[int]]

CLIP_ANCHOR = "embeddings.token_embedding.weight"  # after "text_model." in most files
CLIP_L_WIDTH, CLIP_L_HEADS = 768, 12
AE_SCALE, AE_SHIFT = 0.3611, 0.1159
AE_NORM_GROUPS = 32


def _arguments(cls: type, base: type | None = None) -> set[str]:
    """The constructor arguments of `cls` (a config or model class), less those of `base`."""
    names = set(inspect.signature(cls).parameters) - {"args", "kwargs"}
    return names - (_arguments(base) if base else set())


# The fields a saved config may give: the classes' own arguments.
_T5_FIELDS = _arguments(T5Config, PretrainedConfig)
_CLIP_FIELDS = _arguments(CLIPTextConfig, PretrainedConfig)
_AE_FIELDS = _arguments(AutoencoderKL)


def _merge(
    derived: dict[str, Any],
    defaults: Mapping[str, Any],
    override: Mapping[str, Any] | None,
    fields: set[str],
    what: str,
) -> dict[str, Any]:
    """derived (from the weights), then the override's other fields, then our defaults."""
    saved = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in (override or {}).items()
        if k in fields
    }
    for key, value in saved.items():
        if key in derived and value != derived[key]:
            raise ValueError(
                f"the saved {what} config says {key}={value!r}, the weights {derived[key]!r}"
            )
    return {**defaults, **saved, **derived}


def _count(shapes: Shapes, start: str) -> int:
    return len({k[len(start) :].split(".")[0] for k in shapes if k.startswith(start)})


def t5_config_from_shapes(
    shapes: Shapes, prefix: str = "", override: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """transformers' T5Config fields for the T5 encoder whose keys start with `prefix`."""
    layer0 = f"{prefix}encoder.block.0.layer."
    embedding = shapes.get(
        f"{prefix}shared.weight", shapes.get(f"{prefix}encoder.embed_tokens.weight")
    )
    buckets, heads = shapes[f"{layer0}0.SelfAttention.relative_attention_bias.weight"]
    gated = f"{layer0}1.DenseReluDense.wi_0.weight" in shapes
    d_ff = shapes[f"{layer0}1.DenseReluDense.{'wi_0' if gated else 'wi'}.weight"][0]
    q_rows, d_model = shapes[f"{layer0}0.SelfAttention.q.weight"]
    derived = {
        "d_model": int(d_model),
        "d_kv": int(q_rows) // int(heads),
        "d_ff": int(d_ff),
        "num_layers": _count(shapes, f"{prefix}encoder.block."),
        "num_heads": int(heads),
        "relative_attention_num_buckets": int(buckets),
        # v1.1 (Flux's T5-XXL) gates a GELU; the original T5 has one ReLU projection.
        "feed_forward_proj": "gated-gelu" if gated else "relu",
    }
    if embedding is not None:
        derived["vocab_size"] = int(embedding[0])
    defaults = {"relative_attention_max_distance": 128, "vocab_size": 32128}
    return _merge(derived, defaults, override, _T5_FIELDS, "T5")


def clip_base(shapes: Shapes, prefix: str = "") -> str:
    """Where CLIP's `embeddings.…` keys start: `prefix + "text_model."` or, in files written
    by transformers >= 5.6, `prefix` itself."""
    return prefix + "text_model." if f"{prefix}text_model.{CLIP_ANCHOR}" in shapes else prefix


def clip_config_from_shapes(
    shapes: Shapes, prefix: str = "", override: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """transformers' CLIPTextConfig fields for the CLIP text encoder under `prefix` (the part
    before `text_model.`)."""
    base = clip_base(shapes, prefix)
    vocab, width = shapes[f"{base}{CLIP_ANCHOR}"]
    projection = shapes.get(f"{prefix}text_projection.weight", (width,))
    derived = {
        "vocab_size": int(vocab),
        "hidden_size": int(width),
        "intermediate_size": int(shapes[f"{base}encoder.layers.0.mlp.fc1.weight"][0]),
        "projection_dim": int(projection[0]),
        "num_hidden_layers": _count(shapes, f"{base}encoder.layers."),
        "max_position_embeddings": int(shapes[f"{base}embeddings.position_embedding.weight"][0]),
    }
    heads = CLIP_L_HEADS if width == CLIP_L_WIDTH else max(1, int(width) // 64)
    defaults = {
        "num_attention_heads": heads,
        "hidden_act": "quick_gelu",
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": 49407,
    }
    return _merge(derived, defaults, override, _CLIP_FIELDS, "CLIP")


def ae_config_from_shapes(
    shapes: Shapes, prefix: str = "", override: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """diffusers' AutoencoderKL config for the LDM-layout AE under `prefix`."""
    levels = _count(shapes, f"{prefix}encoder.down.")
    channels = tuple(
        int(shapes[f"{prefix}encoder.down.{i}.block.0.conv1.weight"][0]) for i in range(levels)
    )
    derived = {
        "in_channels": int(shapes[f"{prefix}encoder.conv_in.weight"][1]),
        "out_channels": int(shapes[f"{prefix}decoder.conv_out.weight"][0]),
        "latent_channels": int(shapes[f"{prefix}decoder.conv_in.weight"][1]),
        "block_out_channels": channels,
        "down_block_types": ("DownEncoderBlock2D",) * levels,
        "up_block_types": ("UpDecoderBlock2D",) * levels,
        "layers_per_block": _count(shapes, f"{prefix}encoder.down.0.block."),
        "use_quant_conv": f"{prefix}quant_conv.weight" in shapes,
        "use_post_quant_conv": f"{prefix}post_quant_conv.weight" in shapes,
    }
    defaults = {
        "norm_num_groups": AE_NORM_GROUPS,
        "sample_size": 1024,  # the tile size diffusers' tiled decoding starts from
        "scaling_factor": AE_SCALE,
        "shift_factor": AE_SHIFT,
        "force_upcast": True,
    }
    return _merge(derived, defaults, override, _AE_FIELDS, "AE")
