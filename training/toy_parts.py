"""The trained parts, read back from the stages' saved states (their EMA weights), and the
latents of the training set that the UNet and ControlNet stages learn from."""

from __future__ import annotations

import os
from typing import Any

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextModel

from training.toy_loop import RUN_DIR, load_images
from training.toy_models import new_controlnet, new_text_encoder, new_unet, new_vae


def stage_state(name: str) -> dict[str, Any]:
    path = RUN_DIR / f"{name}.pt"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: run the '{name}' stage first")
    return dict(torch.load(path, weights_only=False))


def _ema(module: torch.nn.Module, state: dict[str, Any], name: str) -> Any:
    module.load_state_dict(state["ema"]["shadow"][name])
    return module.eval().requires_grad_(False)


def trained_vae(state: dict[str, Any] | None = None) -> AutoencoderKL:
    """The VAE's EMA weights with its latent scaling factor in the config."""
    state = state or stage_state("vae")
    if "scaling_factor" not in state["extra"]:
        raise SystemExit("the 'vae' stage has not finished (no scaling factor yet)")
    vae = _ema(new_vae(), state, "vae")
    vae.register_to_config(scaling_factor=float(state["extra"]["scaling_factor"]))
    return vae


def trained_unet(state: dict[str, Any] | None = None) -> tuple[UNet2DConditionModel, CLIPTextModel]:
    state = state or stage_state("unet")
    return _ema(new_unet(), state, "unet"), _ema(new_text_encoder(), state, "text")


def trained_controlnet(state: dict[str, Any] | None = None) -> ControlNetModel:
    state = state or stage_state("controlnet")
    return _ema(new_controlnet(new_unet()), state, "controlnet")


def parts(stage: str) -> dict[str, Any]:
    """Everything `toy_eval.render` needs, from the given stage on (unet or controlnet)."""
    vae = trained_vae()
    unet, text = trained_unet()
    out: dict[str, Any] = {
        "vae": vae,
        "unet": unet,
        "text": text,
        "scale": vae.config.scaling_factor,
    }
    if stage == "controlnet":
        out["controlnet"] = trained_controlnet()
    return out


@torch.no_grad()
def training_latents(vae: AutoencoderKL, vae_step: int) -> torch.Tensor:
    """[N, 4, 8, 8]: the training set through the VAE encoder (its mean), times the
    scaling factor; cached per VAE step."""
    path = RUN_DIR / f"latents_{vae_step}.pt"
    if path.is_file():
        return torch.load(path)
    images = load_images()["images"]
    print(f"encoding {len(images)} images to latents ...", flush=True)
    chunks = []
    for start in range(0, len(images), 256):
        x = torch.from_numpy(images[start : start + 256]).permute(0, 3, 1, 2).float()
        chunks.append(vae.encode(x / 127.5 - 1.0).latent_dist.mean)
    latents = torch.cat(chunks) * float(vae.config.scaling_factor)
    tmp = path.with_suffix(".tmp")
    torch.save(latents, tmp)
    os.replace(tmp, path)
    return latents
