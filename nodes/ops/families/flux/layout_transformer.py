"""Flux transformer weights: BFL names <-> diffusers' FluxTransformer2DModel names.

BFL's names are those of Black Forest Labs' reference code, which the released single files
(`flux1-dev.safetensors`) and ComfyUI use, bare or under `model.diffusion_model.`. Beyond
renames, the two layouts differ in three facts, each checked in tests against diffusers' own
converter at full width and by running a model filled from a converted file:

- BFL fuses attention inputs along the rows: a double block's `img_attn.qkv` is diffusers'
  [to_q; to_k; to_v] and its `txt_attn.qkv` [add_q_proj; add_k_proj; add_v_proj]; a single
  block's `linear1` is [to_q; to_k; to_v; proj_mlp] (q, k, v one hidden width each, the MLP
  the rest);
- BFL's final modulation `final_layer.adaLN_modulation.1` yields (shift, scale), diffusers'
  `norm_out.linear` (scale, shift): the two halves of its rows swap;
- the q/k RMSNorm gains are `…norm.query_norm.scale` / `…key_norm.scale` in BFL and
  `attn.norm_q.weight` / `attn.norm_k.weight` (`norm_added_q/k` for text) in diffusers.

Every width is read from the tensors (the hidden width is `img_in`'s rows), so tiny and
full-size models convert alike. BFL -> diffusers only renames and takes row views of the fused
tensors: nothing is copied except the swapped final modulation. diffusers -> BFL concatenates
the fused parts (a copy). Meta tensors work both ways, so a map of shapes converts without
allocating weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class _Rule:
    bfl: str  # parameter path in BFL's layout, after the block's own prefix
    diffusers: tuple[str, ...]  # one name: a rename; several: BFL's rows, split in this order
    swap: bool = False  # BFL's two row halves are in the opposite order


def _linears(pairs: Mapping[str, str | tuple[str, ...]]) -> list[_Rule]:
    rules = []
    for bfl, theirs in pairs.items():
        names = (theirs,) if isinstance(theirs, str) else theirs
        for param in ("weight", "bias"):
            rules.append(_Rule(f"{bfl}.{param}", tuple(f"{n}.{param}" for n in names)))
    return rules


def _norms(pairs: Mapping[str, str]) -> list[_Rule]:
    """RMSNorm gains: BFL's `<module>.scale` is diffusers' `<module>.weight`."""
    return [_Rule(f"{bfl}.scale", (f"{ours}.weight",)) for bfl, ours in pairs.items()]


_GLOBAL = [
    *_linears(
        {
            "img_in": "x_embedder",
            "txt_in": "context_embedder",
            "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
            "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
            "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
            "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
            "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",  # dev only
            "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
            "final_layer.linear": "proj_out",
        }
    ),
    _Rule("final_layer.adaLN_modulation.1.weight", ("norm_out.linear.weight",), swap=True),
    _Rule("final_layer.adaLN_modulation.1.bias", ("norm_out.linear.bias",), swap=True),
]
_DOUBLE = [
    *_linears(
        {
            "img_mod.lin": "norm1.linear",
            "txt_mod.lin": "norm1_context.linear",
            "img_attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
            "txt_attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
            "img_attn.proj": "attn.to_out.0",
            "txt_attn.proj": "attn.to_add_out",
            "img_mlp.0": "ff.net.0.proj",
            "img_mlp.2": "ff.net.2",
            "txt_mlp.0": "ff_context.net.0.proj",
            "txt_mlp.2": "ff_context.net.2",
        }
    ),
    *_norms(
        {
            "img_attn.norm.query_norm": "attn.norm_q",
            "img_attn.norm.key_norm": "attn.norm_k",
            "txt_attn.norm.query_norm": "attn.norm_added_q",
            "txt_attn.norm.key_norm": "attn.norm_added_k",
        }
    ),
]
_SINGLE = [
    *_linears(
        {
            "modulation.lin": "norm.linear",
            "linear1": ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"),
            "linear2": "proj_out",
        }
    ),
    *_norms({"norm.query_norm": "attn.norm_q", "norm.key_norm": "attn.norm_k"}),
]

# Block kinds: BFL's name, diffusers' name, their rules. "" holds the keys outside blocks.
_SECTIONS = {"": ("", _GLOBAL), "double_blocks": ("transformer_blocks", _DOUBLE)}
_SECTIONS["single_blocks"] = ("single_transformer_blocks", _SINGLE)
_BFL_RULES = {section: {r.bfl: r for r in rules} for section, (_, rules) in _SECTIONS.items()}
_DIFFUSERS_SECTION = {theirs: ours for ours, (theirs, _) in _SECTIONS.items() if ours}
_DIFFUSERS_RULES = {
    section: {name: (rule, i) for rule in rules for i, name in enumerate(rule.diffusers)}
    for section, (_, rules) in _SECTIONS.items()
}
_BFL_BLOCK = re.compile(r"(double_blocks|single_blocks)\.(\d+)\.(.+)")
_DIFFUSERS_BLOCK = re.compile(r"(transformer_blocks|single_transformer_blocks)\.(\d+)\.(.+)")


def _swap_halves(tensor: torch.Tensor) -> torch.Tensor:
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first])


def _split_rows(tensor: torch.Tensor, parts: int, hidden: int, key: str) -> Sequence[torch.Tensor]:
    """Row views: `parts - 1` blocks of `hidden` rows, the last part the rest (the MLP's)."""
    sizes = [hidden] * (parts - 1) + [tensor.shape[0] - (parts - 1) * hidden]
    if sizes[-1] <= 0 or (parts == 3 and sizes[-1] != hidden):
        raise ValueError(
            f"{key!r} has {tensor.shape[0]} rows, which do not split into {parts} parts of a "
            f"{hidden}-wide transformer (img_in's width)"
        )
    return tensor.split(sizes, dim=0)


def transformer_from_bfl(bfl_sd: Mapping[str, torch.Tensor], prefix: str = "") -> StateDict:
    """The Flux transformer under `prefix` (BFL layout) in diffusers' names; keys outside
    `prefix` are ignored, so `prefix="model.diffusion_model."` reads an all-in-one file."""
    own = {k[len(prefix) :]: v for k, v in bfl_sd.items() if k.startswith(prefix)}
    if "img_in.weight" not in own:
        raise KeyError(f"no {prefix}img_in.weight: not a Flux transformer in BFL layout")
    hidden = int(own["img_in.weight"].shape[0])
    out: StateDict = {}
    for key, value in own.items():
        found = _BFL_BLOCK.fullmatch(key)
        section, block, rest = found.groups() if found else ("", "", key)
        rule = _BFL_RULES[section].get(rest)
        if rule is None:
            raise KeyError(f"{prefix}{key!r} has no diffusers counterpart in a Flux transformer")
        base = f"{_SECTIONS[section][0]}.{block}." if section else ""
        if len(rule.diffusers) > 1:
            parts = _split_rows(value, len(rule.diffusers), hidden, prefix + key)
        else:
            parts = [_swap_halves(value) if rule.swap else value]
        out.update({base + name: part for name, part in zip(rule.diffusers, parts, strict=True)})
    return out


def transformer_to_bfl(sd: Mapping[str, torch.Tensor], prefix: str = "") -> StateDict:
    """A FluxTransformer2DModel state dict in BFL's layout, keys under `prefix`."""
    pieces: dict[str, tuple[_Rule, list[torch.Tensor | None]]] = {}
    for key, value in sd.items():
        found = _DIFFUSERS_BLOCK.fullmatch(key)
        theirs, block, rest = found.groups() if found else ("", "", key)
        section = _DIFFUSERS_SECTION.get(theirs, "")
        match = _DIFFUSERS_RULES[section].get(rest)
        if match is None:
            raise KeyError(f"{key!r} has no BFL counterpart in a Flux transformer")
        rule, index = match
        name = f"{section}.{block}.{rule.bfl}" if section else rule.bfl
        _, parts = pieces.setdefault(name, (rule, [None] * len(rule.diffusers)))
        parts[index] = value
    out: StateDict = {}
    for name, (rule, parts) in pieces.items():
        present = [p for p in parts if p is not None]
        if len(present) != len(parts):
            missing = [n for n, p in zip(rule.diffusers, parts, strict=True) if p is None]
            raise KeyError(f"{name!r} cannot be fused: its parts {missing} are missing")
        value = present[0] if len(present) == 1 else torch.cat(present)
        out[prefix + name] = _swap_halves(value) if rule.swap else value
    return out


def bfl_modules(double_blocks: int, single_blocks: int) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Every BFL linear layer of a transformer with these block counts: its module path ->
    (the diffusers module paths its rows split into, in order; whether its halves swap).
    What a LoRA named after BFL's layers (kohya's Flux LoRAs) needs to find its targets."""
    counts = {"": 1, "double_blocks": double_blocks, "single_blocks": single_blocks}
    found: dict[str, tuple[tuple[str, ...], bool]] = {}
    for section, (theirs, rules) in _SECTIONS.items():
        for block in range(counts[section]):
            ours = f"{section}.{block}." if section else ""
            base = f"{theirs}.{block}." if section else ""
            for rule in rules:
                if rule.bfl.endswith(".weight"):
                    module = rule.bfl.removesuffix(".weight")
                    targets = tuple(base + n.removesuffix(".weight") for n in rule.diffusers)
                    found[ours + module] = (targets, rule.swap)
    return found
