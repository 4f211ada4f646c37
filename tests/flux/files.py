"""The tiny Flux models of `tiny.py` written in the three layouts users have:

- split files, as ComfyUI keeps them: `models/diffusion_models/flux1-tiny-<variant>.safetensors`
  (BFL layout), `models/text_encoders/clip_l.safetensors` (transformers' `text_model.` names),
  `models/text_encoders/t5xxl_tiny.safetensors`, `models/vae/ae.safetensors` (LDM layout);
- an all-in-one checkpoint, `models/checkpoints/flux1-tiny-<variant>.safetensors`;
- a diffusers folder, `models/diffusers/flux1-tiny-<variant>/` (save_pretrained of each part).

Single files carry each part's config in their metadata (`diffgraph.<component>_config`), as our
own saved files do: tiny widths leave out what Flux.1's full-size defaults would supply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from nodes.ops.families.flux import layout as L
from nodes.ops.weights.build import META
from nodes.ops.weights.checkpoint_write import write_safetensors
from tests.flux import tiny

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class SplitFiles:
    transformer: Path
    clip_l: Path
    t5: Path
    ae: Path


def variant_name(guidance: bool) -> str:
    return "dev" if guidance else "schnell"


def _config_json(config: Any) -> str:
    data = dict(config.to_dict() if hasattr(config, "to_dict") else config)
    return json.dumps({k: v for k, v in data.items() if not k.startswith("_")}, default=list)


def transformer_bfl(guidance: bool, prefix: str = "") -> StateDict:
    return L.transformer_to_bfl(tiny.transformer(guidance).state_dict(), prefix)


def clip_l_file_state(prefix: str = "") -> StateDict:
    """CLIP-L as ComfyUI stores it: transformers' names under `text_model.`."""
    return L.clip_l_to_file(tiny.clip_l().state_dict(), prefix)


def t5_file_state(prefix: str = "") -> StateDict:
    """T5 as ComfyUI stores it: transformers' names, the tied embedding once (`shared`)."""
    return L.t5_to_file(tiny.t5().state_dict(), prefix)


def ae_file_state(prefix: str = "") -> StateDict:
    return L.ae_to_ldm(tiny.vae().state_dict(), prefix)


def metadata(guidance: bool, *components: str) -> dict[str, str]:
    """Our metadata for a file holding `components` (diffusers' names)."""
    configs = {
        "transformer": tiny.transformer_config(guidance),
        "text_encoder": tiny.clip_l().config,
        "text_encoder_2": tiny.t5().config,
        "vae": tiny.VAE_CONFIG,
    }
    return {f"{META}{c}_config": _config_json(configs[c]) for c in components} | {"format": "pt"}


def write_split_files(root: Path, guidance: bool = True) -> SplitFiles:
    models = root / "models"
    files = SplitFiles(
        transformer=models
        / "diffusion_models"
        / f"flux1-tiny-{variant_name(guidance)}.safetensors",
        clip_l=models / "text_encoders" / "clip_l.safetensors",
        t5=models / "text_encoders" / "t5xxl_tiny.safetensors",
        ae=models / "vae" / "ae.safetensors",
    )
    write_safetensors(
        files.transformer, transformer_bfl(guidance), metadata(guidance, "transformer")
    )
    write_safetensors(files.clip_l, clip_l_file_state(), metadata(guidance, "text_encoder"))
    write_safetensors(files.t5, t5_file_state(), metadata(guidance, "text_encoder_2"))
    write_safetensors(files.ae, ae_file_state(), metadata(guidance, "vae"))
    return files


def checkpoint_state(guidance: bool = True, transformer_form: bool = True) -> StateDict:
    """ComfyUI's all-in-one layout. `transformer_form`: the text encoders under
    `text_encoders.<name>.transformer.`, as ComfyUI saves them, else `text_encoders.<name>.`."""
    middle = "transformer." if transformer_form else ""
    return {
        **transformer_bfl(guidance, L.TRANSFORMER_PREFIX),
        **clip_l_file_state(f"text_encoders.clip_l.{middle}"),
        **t5_file_state(f"text_encoders.t5xxl.{middle}"),
        **ae_file_state(L.AE_PREFIX),
    }


def write_checkpoint(root: Path, guidance: bool = True, transformer_form: bool = True) -> Path:
    path = root / "models" / "checkpoints" / f"flux1-tiny-{variant_name(guidance)}.safetensors"
    components = ("transformer", "text_encoder", "text_encoder_2", "vae")
    write_safetensors(
        path, checkpoint_state(guidance, transformer_form), metadata(guidance, *components)
    )
    return path


def write_diffusers_folder(root: Path, guidance: bool = True) -> Path:
    """save_pretrained of each part, a scheduler as Flux.1 dev's, and model_index.json."""
    path = root / "models" / "diffusers" / f"flux1-tiny-{variant_name(guidance)}"
    parts = {
        "transformer": tiny.transformer(guidance),
        "text_encoder": tiny.clip_l(),
        "text_encoder_2": tiny.t5(),
        "vae": tiny.vae(),
        "scheduler": FlowMatchEulerDiscreteScheduler(
            shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15
        ),
    }
    index: dict[str, Any] = {"_class_name": "FluxPipeline", "_diffusers_version": "0.42.0"}
    for name, part in parts.items():
        part.save_pretrained(path / name)
        library = "transformers" if name.startswith("text_encoder") else "diffusers"
        index[name] = [library, type(part).__name__]
    (path / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    return path
