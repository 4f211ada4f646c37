"""The FluxTransformer2DModel config of a file, from its key -> shape map.

Nearly everything is in the weights: the hidden width and the latent channels (`img_in`), the
T5 and CLIP widths (`txt_in`, `vector_in`), the block counts, dev's guidance embedding, and
the attention head width (the q/k RMSNorm gains have one entry per head channel, so the heads
are hidden width / head width). Only the rotary embedding's split of the head width over
(time, height, width) is not. It is, in order: the caller's override (our files carry their
config in the metadata key `diffgraph.transformer_config`), Flux.1's (16, 56, 56) for its
128-wide heads, else `default_rope_axes`. Weights win: an override that contradicts them is
refused rather than silently built into a model that cannot load them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from nodes.ops.families.flux.layout_transformer import transformer_from_bfl
from nodes.ops.weights.build import META

Shapes = Mapping[str, Sequence[int]]
TRANSFORMER_CONFIG_KEY = f"{META}transformer_config"  # JSON in safetensors metadata
FLUX1_HEAD_DIM = 128  # Flux.1 dev and schnell: 24 heads x 128 = 3072
FLUX1_ROPE_AXES = (16, 56, 56)
MLP_RATIO = 4  # fixed in diffusers' FluxTransformer2DModel
_FIELDS = (
    "patch_size",
    "in_channels",
    "out_channels",
    "num_layers",
    "num_single_layers",
    "attention_head_dim",
    "num_attention_heads",
    "joint_attention_dim",
    "pooled_projection_dim",
    "guidance_embeds",
    "axes_dims_rope",
)


def default_rope_axes(head_dim: int) -> tuple[int, int, int]:
    """Flux.1's proportions for other head widths: height and width each 2*floor(7/32 of it),
    time the rest; all even, as rotary pairs need. 128 -> (16, 56, 56), 16 -> (4, 6, 6)."""
    if head_dim < 4 or head_dim % 2:
        raise ValueError(f"a rotary head width must be even and at least 4, not {head_dim}")
    side = 2 * (7 * head_dim // 32)
    return (head_dim - 2 * side, side, side)


def embedded_config(
    metadata: Mapping[str, str], component: str = "transformer"
) -> dict[str, Any] | None:
    """The config of `component` (diffusers' name: transformer, text_encoder, text_encoder_2,
    vae) that our files carry in their metadata as `diffgraph.<component>_config`, if any."""
    key = f"{META}{component}_config"
    raw = metadata.get(key)
    if raw is None:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"{key} is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{key} is not a JSON object")
    return config


def _diffusers_shapes(shapes: Shapes, prefix: str) -> dict[str, tuple[int, ...]]:
    """The transformer's shapes in diffusers' names, whichever layout the map is in."""
    own = {
        k[len(prefix) :]: tuple(int(n) for n in s)
        for k, s in shapes.items()
        if k.startswith(prefix)
    }
    if "img_in.weight" in own:  # BFL: convert meta tensors, i.e. names and shapes only
        meta = {k: torch.empty(s, device="meta") for k, s in own.items()}
        return {k: tuple(v.shape) for k, v in transformer_from_bfl(meta).items()}
    if "x_embedder.weight" in own:
        return own
    raise ValueError(
        f"no Flux transformer under {prefix!r}: expected {prefix}img_in.weight (BFL layout) "
        f"or {prefix}x_embedder.weight (diffusers layout)"
    )


def _count(shapes: Mapping[str, Any], blocks: str) -> int:
    found = {int(k.split(".")[1]) for k in shapes if k.startswith(f"{blocks}.")}
    if found != set(range(len(found))):
        raise ValueError(f"{blocks} are not numbered 0..{len(found) - 1}: {sorted(found)}")
    return len(found)


def _from_weights(d: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    width, in_channels = d["x_embedder.weight"]
    norms = [k for k in d if k.endswith("attn.norm_q.weight")]
    if not norms:
        raise ValueError("a Flux transformer without attention blocks")
    head_dim = d[norms[0]][0]
    mlp = [s[0] for k, s in d.items() if k.endswith(("ff.net.0.proj.weight", "proj_mlp.weight"))]
    if width % head_dim or any(rows != MLP_RATIO * width for rows in mlp):
        raise ValueError(
            f"a {width}-wide transformer with {head_dim}-wide heads and MLP widths "
            f"{sorted(set(mlp))} is not a FluxTransformer2DModel (MLP ratio {MLP_RATIO})"
        )
    config: dict[str, Any] = {
        "patch_size": 1,  # Flux packs 2x2 latent patches itself, before the transformer
        "in_channels": in_channels,
        "num_layers": _count(d, "transformer_blocks"),
        "num_single_layers": _count(d, "single_transformer_blocks"),
        "attention_head_dim": head_dim,
        "num_attention_heads": width // head_dim,
        "joint_attention_dim": d["context_embedder.weight"][1],
        "pooled_projection_dim": d["time_text_embed.text_embedder.linear_1.weight"][1],
        "guidance_embeds": "time_text_embed.guidance_embedder.linear_1.weight" in d,
    }
    if d["proj_out.weight"][0] != in_channels:
        config["out_channels"] = d["proj_out.weight"][0]
    return config


def _rope_axes(head_dim: int, override: Mapping[str, Any]) -> tuple[int, int, int]:
    if "axes_dims_rope" not in override:
        return FLUX1_ROPE_AXES if head_dim == FLUX1_HEAD_DIM else default_rope_axes(head_dim)
    axes = tuple(int(n) for n in override["axes_dims_rope"])
    if len(axes) != 3 or sum(axes) != head_dim or any(n % 2 for n in axes):
        raise ValueError(
            f"axes_dims_rope {list(axes)} must be three even widths that sum to the "
            f"{head_dim}-wide heads of the weights"
        )
    return (axes[0], axes[1], axes[2])


def flux_config_from_shapes(
    shapes: Shapes, override: Mapping[str, Any] | None = None, prefix: str = ""
) -> dict[str, Any]:
    """FluxTransformer2DModel's config for the transformer under `prefix` (BFL or diffusers
    layout). `override`: a saved config (ours in metadata, a folder's config.json); its
    rotary axes are used, and its other fields must agree with the weights."""
    override = {k: v for k, v in (override or {}).items() if k in _FIELDS}
    config = _from_weights(_diffusers_shapes(shapes, prefix))
    config["axes_dims_rope"] = _rope_axes(config["attention_head_dim"], override)
    for key, value in override.items():
        derived = config.get(key, config["in_channels"] if key == "out_channels" else None)
        if key != "axes_dims_rope" and value is not None and value != derived:
            raise ValueError(f"the saved config says {key}={value!r}, the weights {derived!r}")
    return {k: config[k] for k in _FIELDS if k in config}
