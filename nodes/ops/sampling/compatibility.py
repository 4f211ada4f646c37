"""Whether a latent and a prompt fit the model about to sample them, said in words before
the first step (instead of a shape error from deep inside the network)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from engine.types import ConditioningPart
from nodes.ops.families.control_fit import control_problem
from nodes.ops.families.registry import family_of

# Where each latent shape comes from, for the hint in the message.
_LATENT_SOURCES = {
    4: "Empty Latent, or an SD VAE (SD 1.x, 2.x, XL)",
    16: "Empty Latent (SD3, Flux), or the Flux AE",
}


def latent_problem(config: Mapping[str, Any], latent: torch.Tensor) -> str | None:
    family = family_of(config)
    have, want = int(latent.shape[1]), family.latent.channels
    if have == want:
        return None
    made = _LATENT_SOURCES.get(have, "another kind of VAE")
    return (
        f"the latent has {have} channels (made by {made}), but {family.title} samples "
        f"{want}-channel latents: make it with {_LATENT_SOURCES.get(want, 'its own VAE')}"
    )


def prompt_problem(
    config: Mapping[str, Any], network: Any, parts: Sequence[ConditioningPart]
) -> str | None:
    family = family_of(config)
    want = family.context_width(network)
    for part in parts:
        have = int(part.embeds.shape[-1])
        if have != want:
            return (
                f"this prompt was encoded {have} wide, but the {family.title} model reads "
                f"{want}-wide text embeddings: encode it with the CLIP that belongs to this "
                "model (a Flux model needs its CLIP-L + T5 pair, an SD model its own CLIP)"
            )
    return control_problem(config, parts)
