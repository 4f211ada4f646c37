"""The guided denoiser's own work per call, without the network: a model call that costs
nothing (it hands back its input) stands in for the UNet, so what is timed is combining
parts, masks and guidance. Plain prompt + negative, and two masked regional prompts +
negative, on a 64x64 latent (512x512 px), one thread, best of three runs of 20,000 calls.

A real UNet call takes milliseconds on a GPU and seconds on a CPU; this shows the
denoiser adds microseconds on top.

Run: .venv/bin/python bench/denoiser_overhead.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from engine.types import ConditioningPart  # noqa: E402
from nodes.ops.sampling.denoiser import GuidedDenoiser, Region  # noqa: E402
from nodes.ops.sampling.samplers.steps import VE  # noqa: E402


class FreeCall:
    """A model call that predicts its input: no network work at all."""

    noising = VE

    def predict(
        self,
        full_x: torch.Tensor,
        sigma: torch.Tensor,
        parts: Sequence[ConditioningPart],
        region: Region,
    ) -> list[torch.Tensor]:
        y, x, h, w = region
        return [full_x[:, :, y : y + h, x : x + w] for _ in parts]


def per_call_us(denoiser: GuidedDenoiser, calls: int = 20_000) -> float:
    x, sigma = torch.randn(1, 4, 64, 64), torch.tensor([3.0])
    for _ in range(200):
        denoiser(x, sigma)
    start = time.perf_counter()
    for _ in range(calls):
        denoiser(x, sigma)
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    torch.set_num_threads(1)
    prompt = ConditioningPart(torch.randn(1, 77, 768))
    negative = [ConditioningPart(torch.randn(1, 77, 768))]
    left = torch.zeros(1, 512, 512)
    left[..., :256] = 1.0
    cases = {
        "prompt + negative": [prompt],
        "2 masked prompts + negative": [
            ConditioningPart(prompt.embeds, None, {"mask": left}),
            ConditioningPart(prompt.embeds, None, {"mask": 1.0 - left}),
        ],
    }
    print("| case | µs per denoiser call (network excluded) |\n|---|--:|")
    for name, positive in cases.items():
        best = min(
            per_call_us(GuidedDenoiser(FreeCall(), positive=positive, negative=negative, cfg=7.0))
            for _ in range(3)
        )
        print(f"| {name} | {best:.1f} |")


if __name__ == "__main__":
    main()
