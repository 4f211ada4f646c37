"""`--compile`: the denoising network compiled with torch.compile, its weights frozen.

Measured on one full-size SD 1.5 UNet call at 256x256 in bfloat16 on this project's 2-core
Xeon: 0.32 s compiled with inductor's freezing (weights folded in as constants, prepacked
for oneDNN) against 0.49-0.50 s eager, after 64 s of compiling in a fresh process (44 s
with inductor's on-disk cache warm); compiled without freezing it was no faster than eager
(0.50-0.62 s). Hence opt-in: it pays on long sessions at one size, not on a first image.

Frozen weights are what makes it fast and also why it is only used on a network as loaded:
a LoRA, a merge or a hook (FreeU) changes the weights or the forward around each use, which
frozen constants would silently ignore, so such a model runs eagerly. So does a network
whose weights are held narrower than it computes (widened per layer by hooks).
"""

from __future__ import annotations

from typing import Any

import torch

from nodes.ops.weights.precision import compute_dtype_of

_COMPILED = "_diffgraph_compiled"


def unchanged(config: Any) -> bool:
    """Whether a Model's config adds nothing to the network as loaded."""
    return not config.get("patches") and config.get("merge") is None and not config.get("hooks")


def compiled(network: Any) -> Any:
    """The network compiled (once per network; torch recompiles per new input shape), or
    the network itself where compiling would be wrong (see the module's docstring)."""
    params = (p.dtype for p in network.parameters())
    if any(dtype != compute_dtype_of(network) for dtype in params):
        return network
    existing = network.__dict__.get(_COMPILED)
    if existing is None:
        import torch._inductor.config as inductor

        # Process-wide, not `options=`: passed that way freezing was only partly applied
        # (0.46 s a step instead of 0.31-0.40 s). Only these networks are compiled here.
        inductor.freezing = True
        existing = torch.compile(network, dynamic=False)
        network.__dict__[_COMPILED] = existing
    return existing
