"""A cheap latent -> RGB approximation for previews while sampling: the family's linear map
of the latent channels (`LatentFormat.rgb_factors`), no VAE pass.

The small image is made where the latent is (a GPU), so only it travels back to the host,
and the map's tensors are moved there once per previewer, not once per step."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nodes.ops.families.base import LatentFormat


class LatentPreviewer:
    def __init__(self, form: LatentFormat, size: int = 256) -> None:
        self.form, self.size = form, size
        self._maps: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def rgb(self, latent: torch.Tensor) -> torch.Tensor:
        """The first item of a model-space latent [B, C, h, w] as a [1, H, W, 3] image in
        [0, 1] on the latent's device, at most `size` pixels on its long side."""
        x = latent[:1].to(torch.float32)
        if len(self.form.rgb_factors) == x.shape[1]:
            factors, bias = self._map(x.device)
            rgb = torch.einsum("bchw,cr->brhw", x, factors) + bias
            rgb = (rgb + 1.0) / 2.0
        else:  # a latent space without a known map: show its mean as grey
            rgb = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)
            rgb = (rgb - rgb.min()) / (rgb.max() - rgb.min() + 1e-6)
        h, w = rgb.shape[-2:]
        scale = min(8.0, self.size / max(h, w))
        rgb = F.interpolate(
            rgb, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="nearest"
        )
        return rgb.clamp(0.0, 1.0).movedim(1, -1)

    def _map(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._maps:
            factors = torch.tensor(self.form.rgb_factors, dtype=torch.float32)
            bias = torch.tensor(self.form.rgb_bias, dtype=torch.float32)[None, :, None, None]
            self._maps[device] = (factors.to(device), bias.to(device))
        return self._maps[device]


def latent_to_rgb(latent: torch.Tensor, form: LatentFormat, size: int = 256) -> torch.Tensor:
    """`LatentPreviewer.rgb` of `latent`, on the CPU."""
    return LatentPreviewer(form, size).rgb(latent).to("cpu")
