"""Flux.1 (dev and schnell): a rectified-flow transformer over 2x2-packed 16-channel latents,
prompted by CLIP-L (pooled) and T5-XXL (per token). Recognising its files in the layouts
users have (BFL's split files, all-in-one checkpoints, diffusers folders), loading them,
and what sampling it needs (flow denoiser, resolution-dependent shift, guidance embedding)."""
