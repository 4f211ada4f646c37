"""The guided denoiser that samplers call: D(x, sigma) -> the model's estimate of x0.

It combines every conditioning part (area, strength) and applies classifier-free guidance,
    denoised = uncond + cfg * (cond - uncond),
over a `ModelCall`: how a family's network turns x at a noise level into x0 estimates
(the UNet's epsilon or v, the Flux transformer's velocity; `families/*`). The call also
says how the model mixes noise in (`noising`), which the samplers follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from engine.types import ConditioningPart
from nodes.ops.sampling.samplers.steps import Noising

Region = tuple[int, int, int, int]  # top, left, height, width in latent cells


class ModelCall(Protocol):
    noising: Noising

    def predict(
        self,
        full_x: torch.Tensor,
        sigma: torch.Tensor,
        parts: Sequence[ConditioningPart],
        region: Region,
    ) -> list[torch.Tensor]:
        """x0 estimates over `region` of `full_x`, one per part, in as few network calls
        as the parts allow."""


class GuidedDenoiser:
    def __init__(
        self,
        call: ModelCall,
        *,
        positive: Sequence[ConditioningPart],
        negative: Sequence[ConditioningPart],
        cfg: float,
    ) -> None:
        self.call = call
        self.noising = call.noising
        self.positive, self.negative, self.cfg = positive, negative, cfg
        # The last call's unconditional estimate, for the CFG++ samplers (RecordsUncond).
        self.last_uncond: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if self.cfg == 1.0 or not self.negative:  # guidance would change nothing: skip a pass
            self.last_uncond = self._combine(x, sigma, self.positive)
            return self.last_uncond
        if _pairable(self.positive, self.negative):  # the common case: one UNet call
            full = (0, 0, x.shape[-2], x.shape[-1])
            cond, uncond = self.call.predict(x, sigma, [self.positive[0], self.negative[0]], full)
        else:
            cond = self._combine(x, sigma, self.positive)
            uncond = self._combine(x, sigma, self.negative)
        self.last_uncond = uncond
        return uncond + self.cfg * (cond - uncond)

    def _combine(
        self, x: torch.Tensor, sigma: torch.Tensor, parts: Sequence[ConditioningPart]
    ) -> torch.Tensor:
        """Weighted mean of each part's prediction over the region it covers."""
        total = torch.zeros_like(x)
        weight = torch.zeros_like(x[:, :1])
        for part in parts:
            y0, x0, h, w = _region(part.extras.get("area"), x.shape[-2:])
            strength = float(part.extras.get("strength", 1.0))
            pred = self.call.predict(x, sigma, [part], (y0, x0, h, w))[0]
            total[:, :, y0 : y0 + h, x0 : x0 + w] += pred * strength
            weight[:, :, y0 : y0 + h, x0 : x0 + w] += strength
        # Where no part applies, predict nothing (x0 = 0) rather than divide by zero.
        return total / weight.clamp_min(1e-8)


def _pairable(positive: Sequence[ConditioningPart], negative: Sequence[ConditioningPart]) -> bool:
    """Whether the prompt and the negative can share one UNet call: one whole-image part
    each, embeddings of the same length."""
    if len(positive) != 1 or len(negative) != 1:
        return False
    pos, neg = positive[0], negative[0]
    plain = all("area" not in p.extras for p in (pos, neg))
    same_pooled = (pos.pooled is None) == (neg.pooled is None)
    return plain and same_pooled and pos.embeds.shape[1:] == neg.embeds.shape[1:]


def _region(area: Any, size: torch.Size) -> tuple[int, int, int, int]:
    """(top, left, height, width) in latent cells, clipped to the latent."""
    height, width = int(size[0]), int(size[1])
    if area is None:
        return 0, 0, height, width
    h, w, y, x = (int(v) for v in area)
    y, x = min(y, height - 1), min(x, width - 1)
    return y, x, max(1, min(h, height - y)), max(1, min(w, width - x))


def batched(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """A conditioning tensor repeated to the latent batch (a prompt is encoded once)."""
    if tensor.shape[0] == batch:
        return tensor
    reps = -(-batch // tensor.shape[0])
    return tensor.repeat(reps, *([1] * (tensor.dim() - 1)))[:batch]
