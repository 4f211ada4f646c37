"""A full-size SD 1.5 or SDXL single-file checkpoint with random weights, for benchmarks.

The models are built from the diffusers configs we ship (nodes/ops/families/sd/configs/, the
published shapes), filled with seeded random numbers and written in the original (LDM) layout
by the same conversion our Save Checkpoint node uses. Nothing is downloaded. The file carries
no diffgraph metadata, like a community checkpoint, so every loader (ours and ComfyUI's) has to
recognise it from its tensor names and shapes alone.

The weights are scaled by 1/sqrt(fan_in) (norm weights 1, biases 0) so activations stay of
order one through every layer: fp16 neither overflows nor hands back NaN images, and timings
are those of ordinary numbers.

Run: .venv/bin/python bench/make_random_checkpoint.py sd15 /tmp/sd15_random.safetensors
     (sdxl instead of sd15; --dtype fp16|bf16|fp32, default fp16; --seed N)
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from nodes.ops.families.sd.loading import ROLES
from nodes.ops.families.sd.saving import to_single_file
from nodes.ops.families.sd.shipped_configs import load_config
from nodes.ops.weights.checkpoint_write import write_safetensors

FAMILIES = {"sd15": "sd1", "sdxl": "sdxl"}
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
Configs = dict[str, dict[str, Any]]


def shipped_configs(family: str) -> Configs:
    """unet, vae and each text encoder config of a family, as published."""
    names = ["unet", "vae", *ROLES[family]]
    return {name: load_config(family, name) for name in names}


def _build(component: str, config: dict[str, Any], pooled: bool) -> torch.nn.Module:
    if component == "unet":
        return UNet2DConditionModel.from_config(config)
    if component == "vae":
        return AutoencoderKL.from_config(config)
    cls = CLIPTextModelWithProjection if pooled else CLIPTextModel
    clean = {k: v for k, v in config.items() if not k.startswith("_")}
    return cls(CLIPTextConfig.from_dict(clean))


def _fill(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Seeded weights of a sensible scale, drawn straight in the target dtype's storage."""
    for name, param in module.named_parameters():
        data = param.data
        if data.dim() <= 1:
            data.fill_(1.0 if name.endswith("weight") else 0.0)
            continue
        std = 1.0 / math.sqrt(math.prod(data.shape[1:]))
        # Drawn in fp32 one tensor at a time (randn has no fp16 kernel on every CPU build);
        # the peak is one fp32 tensor, not the model.
        data.copy_(torch.randn(data.shape, generator=generator) * std)


def random_state(
    component: str,
    config: dict[str, Any],
    dtype: torch.dtype,
    seed: int,
    pooled: bool = False,
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """A component's diffusers state dict with random weights, built without an fp32 copy.

    device="meta" gives the shapes alone, at no cost (to check a layout).
    """
    with torch.device("meta"):
        model = _build(component, config, pooled).to(dtype)
    if device != "meta":
        model = model.to_empty(device=device)
        _fill(model, torch.Generator().manual_seed(seed))
    state = model.state_dict()
    params = {name for name, _ in model.named_parameters()}
    # Buffers would be left uninitialised by to_empty: the published models persist none.
    missing = set(state) - params
    if missing:
        raise RuntimeError(f"{component} has persistent buffers we do not fill: {sorted(missing)}")
    return state


def random_checkpoint(
    family: str,
    dtype: torch.dtype,
    seed: int = 0,
    configs: Configs | None = None,
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """The original-layout state dict of a random `family` ("sd1", "sdxl") checkpoint, from
    the shipped configs unless `configs` are given (the tests pass tiny ones)."""
    configs = configs or shipped_configs(family)
    unet = random_state("unet", configs["unet"], dtype, seed, device=device)
    vae = random_state("vae", configs["vae"], dtype, seed + 1, device=device)
    texts = {
        component: random_state(
            component, configs[component], dtype, seed + 2 + i, pooled, device=device
        )
        for i, (component, (_, _, pooled)) in enumerate(ROLES[family].items())
    }
    return to_single_file(family, unet, configs["unet"], vae, texts)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(FAMILIES))
    parser.add_argument("path", type=Path, help="the .safetensors file to write")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    state = random_checkpoint(FAMILIES[args.model], DTYPES[args.dtype], args.seed)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(args.path, state, {"format": "pt"}, overwrite=args.overwrite)
    size = args.path.stat().st_size
    print(f"{args.path}: {args.model} {args.dtype}, {len(state)} tensors, {size / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
