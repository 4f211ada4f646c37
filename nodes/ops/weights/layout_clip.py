"""Text encoder weights: transformers CLIP names <-> the layouts found in single files.

Two original layouts exist. SD1 and SDXL's first encoder (CLIP ViT-L) are stored as
transformers' own CLIPTextModel under a prefix ("clip" style). SD2 (OpenCLIP ViT-H) and
SDXL's second encoder (OpenCLIP ViT-bigG) are stored as OpenCLIP modules ("open_clip"
style): fused q/k/v (`in_proj_weight`), `resblocks`, and `text_projection` as a bare
[hidden, projection] matrix, i.e. the transpose of the Linear weight transformers uses.

SD2: diffusers' published text encoder keeps 23 of the file's 24 layers and drops the
projection, because SD2 conditions on the penultimate layer. We keep all 24 layers and the
projection (CLIPTextModelWithProjection, see configs/sd2/text_encoder.json), so a loaded
file saves back unchanged; the encode step must then take hidden_states[-2] and apply
final_layer_norm, which is what the 23-layer model's last_hidden_state computes. A model
built with fewer layers (or without projection) still loads: the surplus is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_open_clip_checkpoint,
)

SD1_CLIP_PREFIX = "cond_stage_model.transformer."
SD2_OPEN_CLIP_PREFIX = "cond_stage_model.model."
SDXL_CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
SDXL_OPEN_CLIP_G_PREFIX = "conditioner.embedders.1.model."
REFINER_OPEN_CLIP_G_PREFIX = "conditioner.embedders.0.model."

StateDict = dict[str, torch.Tensor]

_LAYER = re.compile(r"text_model\.encoder\.layers\.(\d+)\.(.+)")
_OPEN_CLIP_LAYER = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "self_attn.out_proj": "attn.out_proj",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}
_QKV = ("q_proj", "k_proj", "v_proj")
# Any prefix outside diffusers' SD2 ignore list, which would drop layer 23 and the projection.
_NEUTRAL = "open_clip."


def _canonical(key: str) -> str:
    # transformers >= 5.6 flattened CLIPTextModel ("embeddings.*" without "text_model.").
    return key if key.startswith(("text_model.", "text_projection.")) else "text_model." + key


def text_encoder_module_map(num_layers: int, style: str) -> dict[str, str]:
    """HF module path ("text_model.…") -> original module path without the file prefix.

    For "open_clip", q_proj/k_proj/v_proj all map to the fused `attn.in_proj` (rows 0:h,
    h:2h, 2h:3h), and `text_projection` is the transposed bare matrix. The position
    embedding (a bare `positional_embedding` there) is left out: no LoRA targets it.
    """
    if style == "clip":
        paths = ["text_model.embeddings.token_embedding", "text_model.final_layer_norm"]
        paths.append("text_projection")  # present only with CLIPTextModelWithProjection
        for n in range(num_layers):
            layer = f"text_model.encoder.layers.{n}"
            paths += [f"{layer}.{p}" for p in ("layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2")]
            paths += [f"{layer}.self_attn.{p}" for p in (*_QKV, "out_proj")]
        return {p: p for p in paths}
    if style != "open_clip":
        raise ValueError(f"unknown text encoder style {style!r} (expected 'clip' or 'open_clip')")
    out = {
        "text_model.embeddings.token_embedding": "token_embedding",
        "text_model.final_layer_norm": "ln_final",
        "text_projection": "text_projection",
    }
    for n in range(num_layers):
        ours, theirs = f"text_model.encoder.layers.{n}", f"transformer.resblocks.{n}"
        out.update({f"{ours}.{k}": f"{theirs}.{v}" for k, v in _OPEN_CLIP_LAYER.items()})
        out.update({f"{ours}.self_attn.{p}": f"{theirs}.attn.in_proj" for p in _QKV})
    return out


def clip_to_ldm(sd: Mapping[str, torch.Tensor], prefix: str = SD1_CLIP_PREFIX) -> StateDict:
    """A CLIPTextModel state dict in the "clip" file layout, keys under `prefix`."""
    return {prefix + _canonical(k): v for k, v in sd.items()}


def open_clip_to_ldm(
    sd: Mapping[str, torch.Tensor], prefix: str = SD2_OPEN_CLIP_PREFIX
) -> StateDict:
    """A CLIPTextModel(WithProjection) state dict in the OpenCLIP file layout."""
    out: StateDict = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in sd.items():
        key = _canonical(key)
        if key == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
        elif key == "text_model.embeddings.position_embedding.weight":
            out["positional_embedding"] = value
        elif key == "text_model.embeddings.token_embedding.weight":
            out["token_embedding.weight"] = value
        elif key.startswith("text_model.final_layer_norm."):
            out["ln_final." + key.rpartition(".")[2]] = value
        elif (m := _LAYER.fullmatch(key)) is None:
            raise KeyError(f"no OpenCLIP name for text encoder key {key!r}")
        else:
            base = f"transformer.resblocks.{m[1]}."
            module, _, param = m[2].rpartition(".")
            if (proj := module.removeprefix("self_attn.")) in _QKV:
                qkv.setdefault(f"{base}attn.in_proj_{param}", {})[proj] = value
            elif module in _OPEN_CLIP_LAYER:
                out[f"{base}{_OPEN_CLIP_LAYER[module]}.{param}"] = value
            else:
                raise KeyError(f"no OpenCLIP name for text encoder key {key!r}")
    for fused, parts in qkv.items():
        out[fused] = torch.cat([parts[p] for p in _QKV])
    return {prefix + k: v for k, v in out.items()}


def _fit(sd: StateDict, model: torch.nn.Module) -> StateDict:
    """Shape canonical keys to what `model.load_state_dict` expects."""
    wanted = set(model.state_dict())
    wrapped = any(k.startswith("text_model.") for k in wanted)
    config: Any = model.config  # a transformers CLIPTextConfig
    layers = int(config.num_hidden_layers)
    out: StateDict = {}
    for key, value in sd.items():
        if key.endswith("position_ids"):  # a non-persistent buffer that old files carry
            continue
        new = key if wrapped or not key.startswith("text_model.") else key[len("text_model.") :]
        m = _LAYER.fullmatch(key)
        if new not in wanted and (key == "text_projection.weight" or (m and int(m[1]) >= layers)):
            continue  # the smaller-model case described in the module docstring
        out[new] = value
    return out


_STAND_IN = "clip."


def clip_from_ldm(
    ldm_sd: Mapping[str, torch.Tensor], model: torch.nn.Module, prefix: str = SD1_CLIP_PREFIX
) -> StateDict:
    """The "clip"-style encoder under `prefix`, keyed for `model` (built from its config).
    An empty prefix (a CLIP file alone) works too: diffusers' converter drops every key when
    told to strip "", so such keys are put under a stand-in prefix first."""
    if not prefix:
        ldm_sd, prefix = {_STAND_IN + k: v for k, v in ldm_sd.items()}, _STAND_IN
    own = {k: v for k, v in ldm_sd.items() if k.startswith(prefix)}
    sd = convert_ldm_clip_checkpoint(own, remove_prefix=prefix)
    return _fit({_canonical(k): v for k, v in sd.items()}, model)


def open_clip_from_ldm(
    ldm_sd: Mapping[str, torch.Tensor], model: torch.nn.Module, prefix: str = SD2_OPEN_CLIP_PREFIX
) -> StateDict:
    """The OpenCLIP-style encoder under `prefix`, keyed for `model` (built from its config)."""
    own = {_NEUTRAL + k[len(prefix) :]: v for k, v in ldm_sd.items() if k.startswith(prefix)}
    sd = convert_open_clip_checkpoint(model, own, prefix=_NEUTRAL)
    return _fit(dict(sd), model)
