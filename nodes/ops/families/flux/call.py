"""Calling the Flux transformer for the guided denoiser.

The transformer sees latents as tokens: every 2x2 patch of the 16-channel latent becomes one
64-wide token, with its (0, row, column) position for the rotary embedding; the prompt is
T5's hidden states (positions all 0) plus CLIP-L's pooled vector; its timestep is sigma
itself. It predicts a velocity v, and on a flow model x = (1 - sigma) x0 + sigma noise, so
x0 = x - sigma * v. The dev model also takes the guidance scale it was distilled with
(FluxGuidance); schnell has no such input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from engine.types import ConditioningPart
from nodes.ops.sampling.denoiser import Region, batched
from nodes.ops.sampling.run_inputs import RunInputs
from nodes.ops.sampling.samplers.steps import FLOW
from nodes.ops.weights.precision import compute_dtype_of

DEFAULT_GUIDANCE = 3.5  # what dev was distilled around, when no FluxGuidance sets one


def pack(latent: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] (H, W even) -> [B, H/2 * W/2, 4C] tokens, row by row."""
    b, c, h, w = latent.shape
    patches = latent.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return patches.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The inverse of `pack` for a latent of `height` x `width` cells."""
    b, _, wide = tokens.shape
    c = wide // 4
    patches = tokens.reshape(b, height // 2, width // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return patches.reshape(b, c, height, width)


def image_ids(height: int, width: int, top: int = 0, left: int = 0) -> torch.Tensor:
    """[(H/2) * (W/2), 3] positions (0, row, column) of the tokens of a latent region
    whose top-left cell is (top, left), so a cropped area keeps its place in the image."""
    rows = torch.arange(height // 2, dtype=torch.float32) + top // 2
    cols = torch.arange(width // 2, dtype=torch.float32) + left // 2
    ids = torch.zeros(height // 2, width // 2, 3)
    ids[..., 1] = rows[:, None]
    ids[..., 2] = cols[None, :]
    return ids.reshape(-1, 3)


class FluxCall:
    noising = FLOW

    def __init__(self, transformer: Any) -> None:
        self.transformer = transformer
        self.guided = bool(getattr(transformer.config, "guidance_embeds", False))
        self.device = next(transformer.parameters()).device
        self.dtype = compute_dtype_of(transformer)  # fp8 weights compute in another dtype
        self.inputs = RunInputs()  # the prompts and position ids on the device, once per run

    def predict(
        self,
        full_x: torch.Tensor,
        sigma: torch.Tensor,
        parts: Sequence[ConditioningPart],
        region: Region,
    ) -> list[torch.Tensor]:
        top, left, h, w = region
        x = full_x[:, :, top : top + h, left : left + w]
        # A token is a 2x2 patch: an odd region grows by a copied row or column, cut again.
        even = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate") if (h % 2 or w % 2) else x
        batch, n = x.shape[0], len(parts)
        sigma_b = sigma.reshape(-1)[:1].expand(batch).to(torch.float32)
        if n > 1 and len({p.embeds.shape[1] for p in parts}) > 1:  # prompts of other lengths
            return [self.predict(full_x, sigma, [p], region)[0] for p in parts]
        tokens = pack(even).repeat(n, 1, 1)
        rows, cols = int(even.shape[-2]), int(even.shape[-1])
        velocity = self.transformer(
            hidden_states=tokens.to(self.device, self.dtype),
            encoder_hidden_states=self._stacked(parts, batch, "embeds"),
            pooled_projections=self._stacked(parts, batch, "pooled"),
            timestep=sigma_b.repeat(n).to(self.device, self.dtype),
            img_ids=self._image_ids(rows, cols, top, left),
            txt_ids=torch.zeros(parts[0].embeds.shape[1], 3, device=self.device, dtype=self.dtype),
            guidance=self._guidance(parts, batch),
            return_dict=False,
        )[0]
        v = unpack(velocity.to(torch.float32), rows, cols)[..., :h, :w]
        s = sigma_b[:, None, None, None]
        return [x - s * chunk for chunk in v.chunk(n)]

    def _image_ids(self, rows: int, cols: int, top: int, left: int) -> torch.Tensor:
        def make() -> torch.Tensor:
            return image_ids(rows, cols, top, left).to(self.device, self.dtype)

        return self.inputs.get(("ids", rows, cols, top, left), make)

    def _stacked(self, parts: Sequence[ConditioningPart], batch: int, what: str) -> torch.Tensor:
        key = (what, tuple(id(p) for p in parts), batch)
        return self.inputs.get(key, lambda: self._stack(parts, batch, what), *parts)

    def _stack(self, parts: Sequence[ConditioningPart], batch: int, what: str) -> torch.Tensor:
        tensors = [getattr(p, what) for p in parts]
        if any(t is None for t in tensors):
            raise ValueError(
                "Flux needs a prompt encoded by its CLIP-L and T5 together (a pooled CLIP "
                "vector and T5's tokens); this one was encoded by another text encoder"
            )
        return torch.cat([batched(t, batch) for t in tensors]).to(self.device, self.dtype)

    def _guidance(self, parts: Sequence[ConditioningPart], batch: int) -> torch.Tensor | None:
        if not self.guided:
            return None
        key = ("guidance", tuple(id(p) for p in parts), batch)
        return self.inputs.get(key, lambda: self._guidance_values(parts, batch), *parts)

    def _guidance_values(self, parts: Sequence[ConditioningPart], batch: int) -> torch.Tensor:
        scales = [float(p.extras.get("guidance", DEFAULT_GUIDANCE)) for p in parts]
        values = torch.tensor(scales, dtype=torch.float32).repeat_interleave(batch)
        return values.to(self.device, self.dtype)
