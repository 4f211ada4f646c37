"""Weight interpolation of two networks of one architecture (ModelMergeSimple,
CLIPMergeSimple): every parameter becomes ratio * first + (1 - ratio) * second.

Neither network is changed and no third full copy is made: while a merge is in use, each
module's own parameters are swapped for their blend just before the module runs and
swapped back right after, so only one layer's blend exists at a time. Reading the state
dict (Save Checkpoint) gives the blended tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from engine.types import LoadedModel

LERPABLE = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def mismatch(first: Any, second: Any) -> str | None:
    """Why two networks cannot be merged weight by weight (other layers or shapes), or None."""
    ours = {k: tuple(v.shape) for k, v in first.named_parameters()}
    theirs = {k: tuple(v.shape) for k, v in second.named_parameters()}
    missing = sorted(set(ours) ^ set(theirs))
    if missing:
        return f"the models have different layers ({missing[0]} is in one only)"
    for name, shape in ours.items():
        if theirs[name] != shape:
            return f"layer {name} is {shape} in one model and {theirs[name]} in the other"
    return None


def blend(mine: torch.Tensor, other: torch.Tensor, ratio: float) -> torch.Tensor:
    """ratio * mine + (1 - ratio) * other, in mine's dtype and device."""
    other = other.detach().to(mine.device)
    if mine.dtype in LERPABLE:
        return torch.lerp(other.to(mine.dtype), mine.detach(), ratio)
    # fp8 and other storage-only types: blend in float32, store as before.
    return torch.lerp(other.float(), mine.detach().float(), ratio).to(mine.dtype)


def _owners(first: Any, second: Any) -> list[tuple[Any, list[tuple[str, Any, Any]]]]:
    """(module, [(parameter name, its parameter, the other network's)]) for every module
    of `first` that holds parameters itself."""
    theirs = dict(second.named_modules())
    owners = []
    for path, module in first.named_modules():
        own = list(module.named_parameters(recurse=False))
        if own:
            other = dict(theirs[path].named_parameters(recurse=False))
            owners.append((module, [(name, p, other[name]) for name, p in own]))
    return owners


@contextmanager
def blended(first: Any, second: Any, ratio: float) -> Iterator[Any]:
    """`first`, computing (and reporting its state dict) with the blended weights for the
    duration of the block; both networks are as they were after it."""
    originals: dict[Any, torch.Tensor] = {}
    with ExitStack() as stack:
        for module, params in _owners(first, second):
            for _, mine, _ in params:
                originals[mine] = mine.data
            stack.enter_context(_swapping(module, params, ratio, originals))
        try:
            yield first
        finally:
            for param, data in originals.items():  # also when a forward pass failed
                param.data = data


@contextmanager
def _swapping(
    module: Any, params: list[tuple[str, Any, Any]], ratio: float, originals: dict[Any, Any]
) -> Iterator[None]:
    def swap_in(_module: Any, _args: Any) -> None:
        for _, mine, other in params:
            mine.data = blend(originals[mine], other, ratio)

    def swap_out(_module: Any, _args: Any, _output: Any) -> None:
        for _, mine, _ in params:
            mine.data = originals[mine]

    def blended_state(_module: Any, state: dict[str, Any], prefix: str, _meta: Any) -> None:
        for name, mine, other in params:
            if prefix + name in state:
                state[prefix + name] = blend(originals[mine], other, ratio)

    handles = [
        module.register_forward_pre_hook(swap_in),
        module.register_forward_hook(swap_out),
        module.register_state_dict_post_hook(blended_state),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class MergePatch:
    """Two models (or text encoders) blended at `ratio` (1: all the first): what Model
    Merge Simple puts in its output's config. Each side keeps its own LoRAs."""

    first: LoadedModel
    second: LoadedModel
    ratio: float
