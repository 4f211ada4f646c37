"""A sampler's progress as the node reports it: step, total, and a preview of the current
x0 estimate through the family's latent-to-RGB map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from engine.context import NodeContext
from engine.types import Image
from nodes.ops.families.registry import family_of
from nodes.ops.sampling.preview import latent_to_rgb
from nodes.ops.sampling.sample import Progress


def reporter(ctx: NodeContext, model_config: Mapping[str, Any]) -> Progress:
    form = family_of(model_config).latent

    def progress(step: int, total: int, denoised: torch.Tensor) -> None:
        ctx.progress(step, total, Image(latent_to_rgb(denoised, form)))

    return progress
