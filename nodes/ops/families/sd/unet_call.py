"""Calling an SD UNet for the guided denoiser: the Karras et al. 2022 parameterisation of
its epsilon or v prediction, the 9-channel inpainting inputs, SDXL's pooled text and size
conditioning, and ControlNets (chained per conditioning part, active between their start
and end percent), all parts of one step stacked into one UNet call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from engine.types import ConditioningPart
from nodes.ops.sampling.denoiser import batched, percent_to_sigma
from nodes.ops.sampling.run_inputs import RunInputs
from nodes.ops.sampling.samplers.steps import VE, host_sigma
from nodes.ops.sampling.schedules import Schedule
from nodes.ops.weights.precision import compute_dtype_of


@dataclass(frozen=True, eq=False)
class ControlSpec:
    """A ControlNet applied to a conditioning part (chained through `previous`)."""

    control: Any  # the ControlNet port value; its weights are fetched from the store on use
    hint: torch.Tensor  # [B, H, W, 3] pixels in [0, 1]
    strength: float
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: ControlSpec | None = None


@dataclass
class InpaintInputs:
    """What a 9-channel inpainting UNet also sees: the mask and the masked image latent."""

    mask: torch.Tensor  # [B, 1, h, w], 1 = repaint
    masked_latent: torch.Tensor  # [B, 4, h, w]


class UNetCall:
    noising = VE

    def __init__(
        self,
        unet: Any,
        schedule: Schedule,
        prediction_type: str,
        inpaint: InpaintInputs | None = None,
    ) -> None:
        self.unet = unet
        self.schedule = schedule
        self.prediction_type = prediction_type
        self.inpaint = inpaint
        self.dtype = compute_dtype_of(unet)  # fp8 weights compute in another dtype
        self.device = next(unet.parameters()).device
        self.inputs = RunInputs()  # the prompts and hints on the device, once per run

    def predict(
        self,
        full_x: torch.Tensor,
        sigma: torch.Tensor,
        parts: Sequence[ConditioningPart],
        region: tuple[int, int, int, int],
    ) -> list[torch.Tensor]:
        """x0 predictions over `region` for each part, the parts stacked into one UNet call."""
        y0, x0, h, w = region
        x = full_x[:, :, y0 : y0 + h, x0 : x0 + w]
        batch, n = x.shape[0], len(parts)
        sigma_b = sigma.reshape(-1)[:1].expand(batch).to(torch.float32)
        c_in = 1.0 / (sigma_b**2 + 1.0).sqrt()
        model_in = x * c_in[:, None, None, None]
        if self.inpaint is not None:
            mask = self.inpaint.mask[..., y0 : y0 + h, x0 : x0 + w]
            masked = self.inpaint.masked_latent[..., y0 : y0 + h, x0 : x0 + w]
            model_in = torch.cat([model_in, mask, masked], dim=1)
        t = self.schedule.sigma_to_t(sigma_b)
        embeds = [self._embeds(p, batch) for p in parts]
        added = [self._added(p, batch, full_x.shape[-2:]) for p in parts]
        extra: dict[str, Any] = {}
        if added[0] is not None:
            extra["added_cond_kwargs"] = {
                key: torch.cat([a[key] for a in added if a is not None]) for key in added[0]
            }
        controls = [
            self._control(p, model_in, t, e, a, sigma, region, full_x.shape[-2:])
            for p, e, a in zip(parts, embeds, added, strict=True)
        ]
        present = [c for c in controls if c is not None]
        if present:  # a part without ControlNet adds zeros in the shared call
            ref_down, ref_mid = present[0]
            zeros = ([torch.zeros_like(d) for d in ref_down], torch.zeros_like(ref_mid))
            filled = [c if c is not None else zeros for c in controls]
            extra["down_block_additional_residuals"] = [
                torch.cat([f[0][i] for f in filled]) for i in range(len(ref_down))
            ]
            extra["mid_block_additional_residual"] = torch.cat([f[1] for f in filled])
        out = self.unet(
            model_in.repeat(n, 1, 1, 1).to(self.device, self.dtype),
            t.repeat(n).to(self.device),
            torch.cat(embeds),
            return_dict=False,
            **extra,
        )[0].to(torch.float32)
        s = sigma_b[:, None, None, None]
        if self.prediction_type == "v_prediction":
            return [x / (s**2 + 1.0) - o * s / (s**2 + 1.0).sqrt() for o in out.chunk(n)]
        return [x - o * s for o in out.chunk(n)]

    def _embeds(self, part: ConditioningPart, batch: int) -> torch.Tensor:
        def make() -> torch.Tensor:
            return batched(part.embeds, batch).to(self.device, self.dtype)

        return self.inputs.get(("embeds", id(part), batch), make, part)

    def _added(
        self, part: ConditioningPart, batch: int, full_size: torch.Size
    ) -> dict[str, torch.Tensor] | None:
        def make() -> dict[str, torch.Tensor] | None:
            return self._added_conditioning(part, batch, full_size)

        return self.inputs.get(("added", id(part), batch, tuple(full_size)), make, part)

    def _added_conditioning(
        self, part: ConditioningPart, batch: int, full_size: torch.Size
    ) -> dict[str, torch.Tensor] | None:
        """SDXL's pooled text embedding and size/crop (or aesthetic score) time ids."""
        config = self.unet.config
        if getattr(config, "addition_embed_type", None) != "text_time":
            return None
        if part.pooled is None:
            raise ValueError(
                "this model needs SDXL conditioning (pooled text), but the prompt "
                "was encoded by a text encoder without pooled output"
            )
        pooled = batched(part.pooled, batch)
        n_ids = (config.projection_class_embeddings_input_dim - pooled.shape[-1]) // (
            config.addition_time_embed_dim
        )
        height, width = (int(s) * 8 for s in full_size)
        e = part.extras
        size = (e.get("height", height), e.get("width", width))
        crop = (e.get("crop_h", 0), e.get("crop_w", 0))
        if n_ids == 5:  # the refiner: original size, crop, aesthetic score
            ids = [*size, *crop, e.get("aesthetic_score", 6.0)]
        else:
            ids = [*size, *crop, e.get("target_height", height), e.get("target_width", width)]
        time_ids = torch.tensor([ids], dtype=torch.float32).expand(batch, -1)
        return {
            "text_embeds": pooled.to(self.device, self.dtype),
            "time_ids": time_ids.to(self.device, self.dtype),
        }

    def _control(
        self,
        part: ConditioningPart,
        model_in: torch.Tensor,
        t: torch.Tensor,
        embeds: torch.Tensor,
        added: Mapping[str, torch.Tensor] | None,
        sigma: torch.Tensor,
        region: tuple[int, int, int, int],
        full_size: torch.Size,
    ) -> tuple[list[torch.Tensor], torch.Tensor] | None:
        spec: ControlSpec | None = part.extras.get("control")
        down: list[torch.Tensor] | None = None
        mid: torch.Tensor | None = None
        while spec is not None:
            if self._active(spec, host_sigma(sigma)) and spec.strength != 0.0:
                hint = self._hint(spec, model_in.shape[0], region, full_size)
                control = spec.control.handle.get()
                dtype = compute_dtype_of(control)
                c_down, c_mid = control(
                    model_in[:, :4].to(self.device, dtype),
                    t.to(self.device),
                    embeds.to(dtype),
                    controlnet_cond=hint.to(self.device, dtype),
                    conditioning_scale=spec.strength,
                    added_cond_kwargs=added,
                    return_dict=False,
                )
                if down is None or mid is None:
                    down, mid = list(c_down), c_mid
                else:
                    down = [a + b for a, b in zip(down, c_down, strict=True)]
                    mid = mid + c_mid
            spec = spec.previous
        return None if down is None or mid is None else (down, mid)

    def _hint(
        self, spec: ControlSpec, batch: int, region: tuple[int, int, int, int], size: torch.Size
    ) -> torch.Tensor:
        def make() -> torch.Tensor:
            return _hint(spec.hint, batch, region, size).to(self.device)

        return self.inputs.get(("hint", id(spec), batch, region, tuple(size)), make, spec)

    def _active(self, spec: ControlSpec, sigma: float) -> bool:
        """Whether sampling is between the spec's start and end percent (0% = most noise)."""
        high = percent_to_sigma(self.schedule, spec.start_percent)
        low = percent_to_sigma(self.schedule, spec.end_percent)
        return low <= sigma <= high


def _hint(
    hint: torch.Tensor, batch: int, region: tuple[int, int, int, int], full_size: torch.Size
) -> torch.Tensor:
    """The control image scaled to the latent's pixel size, cropped to the region."""
    pixels = batched(hint, batch).movedim(-1, 1).to(torch.float32)
    size = (int(full_size[0]) * 8, int(full_size[1]) * 8)
    if tuple(pixels.shape[-2:]) != size:
        pixels = F.interpolate(pixels, size=size, mode="bilinear", antialias=True)
    y0, x0, h, w = region
    return pixels[:, :, y0 * 8 : (y0 + h) * 8, x0 * 8 : (x0 + w) * 8]
