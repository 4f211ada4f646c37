"""Peak memory and time of one network call (batch 2, as with CFG) with a Model Merge
Simple model: how much above the two source models it goes (a third full copy would add
one model's size), and what blending each layer as it runs costs.

    .venv/bin/python bench/merge_memory.py

Each phase runs in its own process, so ru_maxrss (the process's peak) measures that phase.
"""

from __future__ import annotations

import resource
import sys
import time
from multiprocessing import get_context
from typing import Any

import torch
from diffusers import UNet2DConditionModel

CONFIG: dict[str, Any] = dict(
    sample_size=32,
    block_out_channels=(160, 320, 640, 640),  # SD 1.5's layout at half width
    cross_attention_dim=768,
    attention_head_dim=8,
)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_step(network: Any) -> float:
    """Seconds of the faster of two calls."""
    x = torch.randn(2, 4, 32, 32)
    context = torch.randn(2, 77, 768)
    times = []
    with torch.inference_mode():
        for _ in range(2):
            start = time.perf_counter()
            network(x, torch.tensor([500.0, 500.0]), encoder_hidden_states=context)
            times.append(time.perf_counter() - start)
    return min(times)


def phase(name: str, queue: Any) -> None:
    from nodes.ops.weights.merge import blended

    torch.set_num_threads(1)
    torch.manual_seed(0)
    first, second = UNet2DConditionModel(**CONFIG).eval(), UNet2DConditionModel(**CONFIG).eval()
    size = sum(p.numel() * p.element_size() for p in first.parameters()) / 2**20
    if name == "plain":  # the first model alone, the same step
        seconds = one_step(first)
    elif name == "merged":
        with blended(first, second, 0.5):
            seconds = one_step(first)
    else:  # a third network holding the blend, as a naive merge would build
        third = UNet2DConditionModel(**CONFIG).eval()
        with torch.no_grad():
            for mine, a, b in zip(
                third.parameters(), first.parameters(), second.parameters(), strict=True
            ):
                mine.copy_(torch.lerp(b, a, 0.5))
        seconds = one_step(third)
    queue.put((name, size, peak_mib(), seconds))


def main() -> None:
    context = get_context("spawn")
    results = {}
    for name in ("plain", "merged", "third copy"):
        queue = context.Queue()
        process = context.Process(target=phase, args=(name, queue))
        process.start()
        results[name] = queue.get()
        process.join()
    size = results["plain"][1]
    base = results["plain"][2]
    print(f"one model: {size:.0f} MiB of weights; peak RSS with both models loaded:")
    for name, (_, _, peak, seconds) in results.items():
        print(
            f"  {name:10s} {peak:7.0f} MiB  (+{peak - base:.0f} over plain), {seconds:.2f} s a call"
        )


if __name__ == "__main__":
    sys.exit(main())
