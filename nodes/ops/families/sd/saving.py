"""Writing models back as single original-layout .safetensors files (what community tools
load), with the configs in the file's metadata so tiny or unusual models reload exactly."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from engine.model_store import ModelStore
from engine.paths import safe_join
from engine.types import Clip, Model, Vae
from nodes.ops.families.patches import clip_in_use, unet_in_use
from nodes.ops.families.sd import layout as L
from nodes.ops.families.sd.detect import TEXT_ENCODERS, Family
from nodes.ops.families.sd.loading import ROLES
from nodes.ops.weights.build import META
from nodes.ops.weights.checkpoint_write import write_safetensors


def next_path(root: Path, prefix: str) -> Path:
    """`prefix_00001_.safetensors` under root (prefix may name subfolders), counting on."""
    target = safe_join(root, prefix + "_")
    folder, stem = target.parent, target.name[:-1]
    folder.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"^{re.escape(stem)}_(\d+)_\.safetensors$")
    taken = [int(m[1]) for p in folder.iterdir() if (m := pattern.match(p.name))]
    return folder / f"{stem}_{max(taken, default=0) + 1:05d}_.safetensors"


def _state(module: Any, copy: bool) -> dict[str, torch.Tensor]:
    # Patched (LoRA-merged) weights are restored after use: keep a copy of them.
    return {k: v.detach().clone() if copy else v.detach() for k, v in module.state_dict().items()}


def _config_json(config: Any) -> str:
    data = dict(config.to_dict() if hasattr(config, "to_dict") else config)
    return json.dumps(
        {k: v for k, v in data.items() if not k.startswith("_") or k == "_class_name"}, default=list
    )


def save_checkpoint(path: Path, model: Model, clip: Clip, vae: Vae, store: ModelStore) -> None:
    family = str(model.config["family"])
    with unet_in_use(model, store) as unet:
        unet_state = _state(unet, bool(model.config.get("patches")))
        unet_config = dict(unet.config)
    components = {name: comp for comp, (name, _, _) in ROLES[family].items()}
    texts: dict[str, dict[str, torch.Tensor]] = {}
    metadata = {
        f"{META}family": family,
        f"{META}prediction_type": str(model.config.get("prediction_type", "epsilon")),
        f"{META}unet_config": _config_json(unet_config),
        "format": "pt",
    }
    with clip_in_use(clip, store) as encoders:
        for encoder in encoders.encoders:
            component = components[encoder.name]
            texts[component] = _state(encoder.model, bool(clip.config.get("patches")))
            metadata[f"{META}{component}_config"] = _config_json(encoder.model.config)
    vae_module = vae.handle.get()
    metadata[f"{META}vae_config"] = _config_json(vae_module.config)
    state = to_single_file(family, unet_state, unet_config, _state(vae_module, False), texts)  # type: ignore[arg-type]
    write_safetensors(path, state, metadata)


def save_controlnet(path: Path, controlnet: Any) -> None:
    """A ControlNet in the original layout (`control_model.` keys), config in metadata."""
    config = dict(controlnet.config)
    state = L.controlnet_to_ldm(_state(controlnet, False), config)
    write_safetensors(
        path, state, {f"{META}controlnet_config": _config_json(config), "format": "pt"}
    )


def to_single_file(
    family: Family,
    unet: Mapping[str, torch.Tensor],
    unet_config: Mapping[str, Any],
    vae: Mapping[str, torch.Tensor] | None = None,
    text_encoders: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
) -> L.StateDict:
    """Assemble an original-layout checkpoint from diffusers state dicts (for saving).

    `text_encoders` maps the diffusers component name ("text_encoder", "text_encoder_2")
    to its state dict; components left out are simply absent from the file.
    """
    out = L.unet_to_ldm(unet, unet_config)
    if vae is not None:
        out.update(L.vae_to_ldm(vae))
    slots = {s.component: s for s in TEXT_ENCODERS[family]}
    for name, sd in (text_encoders or {}).items():
        if name not in slots:
            raise ValueError(f"{family} has no {name!r} (it has {sorted(slots)})")
        slot = slots[name]
        convert = L.clip_to_ldm if slot.style == "clip" else L.open_clip_to_ldm
        out.update(convert(sd, slot.prefix))
    return out
