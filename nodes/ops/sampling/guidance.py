"""Rescaled classifier-free guidance (Lin et al. 2023, "Common Diffusion Noise Schedules
and Sample Steps are Flawed", section 3.4).

Strong CFG inflates the prediction's standard deviation and over-exposes images. The
rescale matches the guided prediction's per-image std to the conditional prediction's,
then mixes the rescaled and plain results by `multiplier` (0: plain CFG). The paper states
it for v-prediction, so, as ComfyUI's RescaleCFG does, the x0 estimates are turned into v
in variance-preserving terms first, whatever the model predicts, and the result is
turned back into an x0 estimate.
"""

from __future__ import annotations

import torch

from nodes.ops.sampling.samplers.steps import known_sigma


def _levels(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """sigma as [batch, 1, 1, 1] (a sampler may pass one level or one per image)."""
    sigma = sigma.to(like.device, like.dtype).reshape(-1)
    if sigma.numel() == 1:
        sigma = sigma.expand(like.shape[0])
    return sigma.reshape(-1, *([1] * (like.dim() - 1)))


def _std(t: torch.Tensor) -> torch.Tensor:
    return t.std(dim=tuple(range(1, t.dim())), keepdim=True)


def rescaled_cfg(
    x: torch.Tensor,
    sigma: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor,
    cfg: float,
    multiplier: float,
) -> torch.Tensor:
    """The guided x0 estimate from the conditional and unconditional x0 estimates of the
    noisy `x` at noise level `sigma`, with the guided v's std rescaled to the conditional
    v's, mixed in by `multiplier`."""
    plain = uncond + cfg * (cond - uncond)
    s = _levels(sigma, x)
    # No noise left: v is undefined there, and CFG is all there is. (A sampler's level says
    # its value without a read-back from the device.)
    known = known_sigma(sigma)
    if bool((s == 0).any()) if known is None else known == 0.0:
        return plain
    root = (s * s + 1.0).sqrt()
    x_vp = x / (s * s + 1.0)  # x in variance-preserving terms, divided once more by root
    v_cond = (x_vp - cond) * root / s
    v_cfg = (x_vp - plain) * root / s  # v is linear in x0: the guided v is plain CFG's
    v_rescaled = v_cfg * (_std(v_cond) / _std(v_cfg))
    v_final = multiplier * v_rescaled + (1.0 - multiplier) * v_cfg
    return x_vp - v_final * s / root
