"""The guided denoiser that samplers call: D(x, sigma) -> the model's estimate of x0.

It combines every conditioning part and applies classifier-free guidance,
    denoised = uncond + cfg * (cond - uncond),
over a `ModelCall`: how a family's network turns x at a noise level into x0 estimates
(the UNet's epsilon or v, the Flux transformer's velocity; `families/*`). The call also
says how the model mixes noise in (`noising`), which the samplers follow.

A part may be limited, as in ComfyUI, by its `extras`:
- "area" (height, width, top, left in latent cells): the network sees only that crop, and
  the part's weight fades in over a few cells at the area's edges inside the picture;
- "mask" ([batch, H, W] at any size, resized bilinearly to the latent) times "mask_strength";
  "set_area_to_bounds" crops the network's view to the mask's bounding box;
- "strength": a weight of the part;
- "start_percent" / "end_percent" (0 = pure noise, 1 = done): the part applies only while
  sigma is between the sigmas the model's schedule reaches at those points.
Each side (prompt, negative) is the weighted mean of its parts' predictions, the weight
being mask * mask_strength * strength; where no part applies, the side predicts 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from engine.types import ConditioningPart
from nodes.ops.sampling.guidance import rescaled_cfg
from nodes.ops.sampling.samplers.steps import Noising, host_sigma
from nodes.ops.sampling.schedules import Schedule

Region = tuple[int, int, int, int]  # top, left, height, width in latent cells
MIN_BOUNDS = 8  # latent cells: the smallest crop "mask bounds" gives, as ComfyUI's
FADE_CELLS = 8  # latent cells over which an area's inner edges fade in, as ComfyUI's


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
        schedule: Schedule | None = None,
        rescale: float = 0.0,
    ) -> None:
        self.call = call
        self.noising = call.noising
        self.positive, self.negative, self.cfg = positive, negative, cfg
        # Sigma bounds of each part's timestep range, by part identity (None: always on).
        self._ranges = {id(p): sigma_range(p, schedule) for p in (*positive, *negative)}
        self._weights: dict[tuple[int, tuple[int, ...]], tuple[Region, torch.Tensor]] = {}
        self.rescale = rescale  # RescaleCFG's multiplier (0: plain CFG)
        # The last call's unconditional estimate, for the CFG++ samplers (RecordsUncond).
        self.last_uncond: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        positive = self._active(self.positive, sigma)
        if self.cfg == 1.0 or not self.negative:  # guidance would change nothing: skip a pass
            self.last_uncond = self._combine(x, positive, self._predict(x, sigma, positive))
            return self.last_uncond
        negative = self._active(self.negative, sigma)
        if _pairable(positive, negative):  # the common case: one network call, no weights
            full = (0, 0, x.shape[-2], x.shape[-1])
            cond, uncond = self.call.predict(x, sigma, [positive[0], negative[0]], full)
        else:  # every part of both sides, batched by what can share a call
            predictions = self._predict(x, sigma, [*positive, *negative])
            cond = self._combine(x, positive, predictions[: len(positive)])
            uncond = self._combine(x, negative, predictions[len(positive) :])
        return self._guide(x, sigma, cond, uncond)

    def _guide(
        self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor
    ) -> torch.Tensor:
        """Classifier-free guidance: the one place cond and uncond meet (with x and sigma at
        hand), so samplers that need the unconditional prediction and guidance rescalers
        can hook here."""
        self.last_uncond = uncond
        if self.rescale:
            return rescaled_cfg(x, sigma, cond, uncond, self.cfg, self.rescale)
        return uncond + self.cfg * (cond - uncond)

    def _active(
        self, parts: Sequence[ConditioningPart], sigma: torch.Tensor
    ) -> Sequence[ConditioningPart]:
        """The parts whose timestep range holds this sigma."""
        if all(self._ranges.get(id(p)) is None for p in parts):
            return parts  # no range to check: no need to read sigma back from the device
        level = host_sigma(sigma)
        active = []
        for part in parts:
            bounds = self._ranges.get(id(part))
            if bounds is None or bounds[0] <= level <= bounds[1]:
                active.append(part)
        return active

    def _predict(
        self, x: torch.Tensor, sigma: torch.Tensor, parts: Sequence[ConditioningPart]
    ) -> list[torch.Tensor]:
        """Each part's prediction over its region; parts of the same region and prompt
        shape share one network call."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, part in enumerate(parts):
            region = self._weight(part, x)[0]
            pooled = None if part.pooled is None else tuple(part.pooled.shape[1:])
            groups.setdefault((region, tuple(part.embeds.shape[1:]), pooled), []).append(i)
        out: dict[int, torch.Tensor] = {}
        for (region, *_), members in groups.items():
            preds = self.call.predict(x, sigma, [parts[i] for i in members], region)
            out.update(zip(members, preds, strict=True))
        return [out[i] for i in range(len(parts))]

    def _combine(
        self,
        x: torch.Tensor,
        parts: Sequence[ConditioningPart],
        predictions: Sequence[torch.Tensor],
    ) -> torch.Tensor:
        """Weighted mean of each part's prediction over the region it covers."""
        total = torch.zeros_like(x)
        weight = torch.zeros_like(x[:, :1])
        for part, pred in zip(parts, predictions, strict=True):
            (y0, x0, h, w), mult = self._weight(part, x)
            total[:, :, y0 : y0 + h, x0 : x0 + w] += pred * mult
            weight[:, :, y0 : y0 + h, x0 : x0 + w] += mult
        # Where no part applies, predict nothing (x0 = 0) rather than divide by zero.
        return total / weight.clamp_min(1e-8)

    def _weight(self, part: ConditioningPart, x: torch.Tensor) -> tuple[Region, torch.Tensor]:
        """The part's region and its weight over it ([batch, 1, h, w], or a 0-d tensor
        for an even weight), worked out once per latent shape."""
        key = (id(part), tuple(x.shape))
        if key not in self._weights:
            self._weights[key] = part_weight(part, x)
        return self._weights[key]


def part_weight(part: ConditioningPart, x: torch.Tensor) -> tuple[Region, torch.Tensor]:
    """Where a part applies on latent `x` and how much: its area (or its mask's bounds),
    and mask * mask_strength * strength cropped to that region."""
    extras = part.extras
    strength = float(extras.get("strength", 1.0))
    mask = extras.get("mask")
    if mask is None:
        region = _region(extras.get("area"), x.shape[-2:])
        if extras.get("area") is None:
            return region, torch.tensor(strength, dtype=x.dtype, device=x.device)
        return region, edge_fade(region, x.shape[-2:]).to(x.device, x.dtype) * strength
    latent_mask = mask_at(mask, x)
    if extras.get("set_area_to_bounds"):
        region = _bounds(latent_mask)
    else:
        region = _region(extras.get("area"), x.shape[-2:])
    y0, x0, h, w = region
    scale = float(extras.get("mask_strength", 1.0)) * strength
    return region, latent_mask[:, :, y0 : y0 + h, x0 : x0 + w] * scale


def edge_fade(region: Region, size: torch.Size) -> torch.Tensor:
    """An area's soft edges, as ComfyUI makes them: over the outer min(8, side / 4) cells
    of each edge that lies inside the latent (not on its border), the weight rises from
    1/n to 1, so neighbouring areas blend instead of meeting at a seam. [1, 1, h, w]."""
    top, left, height, width = region
    ramps = []
    for start, length, full in ((top, height, int(size[0])), (left, width, int(size[1]))):
        ramp = torch.ones(length)
        n = min(FADE_CELLS, length // 4)
        rise = torch.arange(1, n + 1, dtype=torch.float32) / max(n, 1)
        if n and start != 0:
            ramp[:n] *= rise
        if n and start + length < full:
            ramp[length - n :] *= rise.flip(0)
        ramps.append(ramp)
    return (ramps[0][:, None] * ramps[1][None, :])[None, None]


def mask_at(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A [batch, H, W] (or [H, W]) mask at the latent's size and batch: [batch, 1, h, w]."""
    m = mask.to(x.device, torch.float32)
    m = m.reshape(-1, 1, m.shape[-2], m.shape[-1])
    if tuple(m.shape[-2:]) != tuple(x.shape[-2:]):
        m = F.interpolate(m, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    return batched(m, x.shape[0]).to(x.dtype)


def _bounds(mask: torch.Tensor) -> Region:
    """The bounding box of the mask's non-zero cells over the whole batch, at least
    MIN_BOUNDS cells a side (an empty mask gives the smallest box at the corner)."""
    height, width = mask.shape[-2:]
    rows = torch.nonzero(mask.abs().amax(dim=(0, 1, 3)) > 0).flatten()
    cols = torch.nonzero(mask.abs().amax(dim=(0, 1, 2)) > 0).flatten()
    if len(rows) == 0 or len(cols) == 0:
        return 0, 0, min(MIN_BOUNDS, height), min(MIN_BOUNDS, width)
    top, left = int(rows[0]), int(cols[0])
    h = max(MIN_BOUNDS, int(rows[-1]) - top + 1)
    w = max(MIN_BOUNDS, int(cols[-1]) - left + 1)
    return _region((h, w, top, left), mask.shape[-2:])


def sigma_range(part: ConditioningPart, schedule: Schedule | None) -> tuple[float, float] | None:
    """(lowest, highest) sigma at which a part with a timestep range applies."""
    start = float(part.extras.get("start_percent", 0.0))
    end = float(part.extras.get("end_percent", 1.0))
    if (start, end) == (0.0, 1.0):
        return None
    if schedule is None:
        raise ValueError("a conditioning with a timestep range needs the model's schedule")
    return percent_to_sigma(schedule, end), percent_to_sigma(schedule, start)


def percent_to_sigma(schedule: Schedule, percent: float) -> float:
    """Sampling progress (0 = pure noise, 1 = done) as the sigma reached at that point."""
    if percent <= 0.0:
        return float("inf")
    if percent >= 1.0:
        return 0.0
    t = torch.tensor([(1.0 - percent) * (len(schedule.sigmas) - 1)])
    return float(schedule.t_to_sigma(t)[0])


def _pairable(positive: Sequence[ConditioningPart], negative: Sequence[ConditioningPart]) -> bool:
    """Whether the prompt and the negative can share one network call with no weighting:
    one whole-image part each at full strength, embeddings of the same length."""
    if len(positive) != 1 or len(negative) != 1:
        return False
    pos, neg = positive[0], negative[0]
    limited = ("area", "mask", "strength")
    plain = all(key not in p.extras for p in (pos, neg) for key in limited)
    same_pooled = (pos.pooled is None) == (neg.pooled is None)
    return plain and same_pooled and pos.embeds.shape[1:] == neg.embeds.shape[1:]


def _region(area: Any, size: torch.Size) -> Region:
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
