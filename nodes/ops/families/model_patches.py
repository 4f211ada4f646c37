"""What the model patch and merge nodes make of a Model or Clip value: new values whose
config says how the shared network is to be used (a LoRA on the model alone, FreeU's
hooks, RescaleCFG's multiplier, a merge with another model). Nothing here changes a
network: `patches.unet_in_use` / `clip_in_use` apply it all for the duration of the work.
"""

from __future__ import annotations

from typing import Any

from engine.types import Clip, LoadedModel, Model
from nodes.ops.families.sd.freeu import FreeU
from nodes.ops.text.encoding import TextEncoders
from nodes.ops.weights.lora import LoraPatch
from nodes.ops.weights.merge import MergePatch, mismatch

UNET_FAMILIES = ("sd1", "sd2", "sdxl", "sdxl_refiner")


def with_config(value: Any, **changes: Any) -> Any:
    """A Model or Clip on the same network with its config changed."""
    return type(value)(value.handle, {**value.config, **changes})


def add_freeu(model: Model, freeu: FreeU) -> Model:
    """The model with FreeU v2 on its decoder (UNet families only)."""
    family = model.config.get("family")
    if family not in UNET_FAMILIES:
        raise ValueError(f"FreeU works on UNet models (SD 1.x, 2.x, XL), not on {family}")
    return with_config(model, hooks=(*model.config.get("hooks", ()), freeu))


def _leaves(value: LoadedModel) -> list[Any]:
    """The networks a (possibly merged) value computes with."""
    merge: MergePatch | None = value.config.get("merge")
    if merge is None:
        return [value.handle.get()]
    return [*_leaves(merge.first), *_leaves(merge.second)]


def _same_network_merge(first: Any, second: Any, ratio: float) -> Any:
    """A model merged with another value of its own network differs only in LoRAs, and
    ratio * (W + A) + (1 - ratio) * (W + B) = W + ratio * A + (1 - ratio) * B."""
    if first.config.get("merge") or second.config.get("merge"):
        raise ValueError("cannot merge a merged model with one of the models it was made from")
    scaled = [
        *(
            LoraPatch(p.path, p.fingerprint, p.strength * ratio)
            for p in first.config.get("patches", ())
        ),
        *(
            LoraPatch(p.path, p.fingerprint, p.strength * (1 - ratio))
            for p in second.config.get("patches", ())
        ),
    ]
    return with_config(first, patches=tuple(scaled))


def merged(first: Any, second: Any, ratio: float, problem: str | None) -> Any:
    """ratio * first + (1 - ratio) * second, weight by weight (refused with `problem`)."""
    if problem:
        raise ValueError(f"these cannot be merged: {problem}")
    if ratio == 1.0:  # all the first: the same weights, without blending every layer
        return first
    ours, theirs = _leaves(first), _leaves(second)
    if any(a is b for a in ours for b in theirs):
        return _same_network_merge(first, second, ratio)
    return with_config(first, patches=(), merge=MergePatch(first, second, ratio))


def merge_models(first: Model, second: Model, ratio: float) -> Model:
    """Model Merge Simple: keeps the first model's own options (FreeU, RescaleCFG...)."""
    a, b = first.config.get("family"), second.config.get("family")
    problem = f"a {a} model and a {b} model" if a != b else None
    problem = problem or mismatch(_leaves(first)[0], _leaves(second)[0])
    result: Model = merged(first, second, ratio, problem)
    return result


def merge_clips(first: Clip, second: Clip, ratio: float) -> Clip:
    """CLIP Merge Simple: each text encoder blended with its counterpart."""
    mine: TextEncoders = _leaves(first)[0]
    other: TextEncoders = _leaves(second)[0]
    names = [e.name for e in mine.encoders], [e.name for e in other.encoders]
    problem = None
    if names[0] != names[1]:
        problem = f"text encoders {'+'.join(names[0])} and {'+'.join(names[1])}"
    for a, b in zip(mine.encoders, other.encoders, strict=False):
        problem = problem or mismatch(a.model, b.model)
    result: Clip = merged(first, second, ratio, problem)
    return result
